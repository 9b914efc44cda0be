"""Operations tagged `Analytics`."""

from connexion.problem import problem


def user_analytics(start=None, end=None, window=None):
    return problem(501, "Not Implemented", "Analytics are not built yet.")
