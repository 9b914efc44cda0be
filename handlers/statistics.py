"""Operations tagged `Statistics`."""

from . import store


def get_conversation_statistics(limit=10):
    return store().statistics(limit=limit)
