"""Operations tagged `Statistics`."""

from connexion.problem import problem


def get_conversation_statistics():
    return problem(501, "Not Implemented", "Conversation statistics are not built yet.")
