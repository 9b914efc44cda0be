"""What every part of the store stands on: this thread's connection, write transactions, and the
check that a conversation exists. The parts (ingest, conversations, flags, review, statistics,
analytics) are mixins of `Store` over this base."""

from sqlite_utils import Database

from .database import Connections
from .errors import ConversationNotFound


class StoreBase:
    def __init__(self, path):
        self._connections = Connections(path)
        # text (case-folded) → (bitset of matching conversations, (newest event id, erasures) then):
        # see ConversationQueries._with_text. A dict's get and set are atomic for the server's threads.
        self._text_matches: dict[str, tuple[int, tuple[int, int]]] = {}

    @property
    def db(self) -> Database:
        """This thread's connection."""
        return self._connections.db

    def transaction(self):
        return self._connections.transaction()

    def _require(self, sender_id: str) -> None:
        """Raise `ConversationNotFound` unless `sender_id` has a conversation."""
        if not self.db.execute("SELECT 1 FROM conversations WHERE sender_id = ?", [sender_id]).fetchone():
            raise ConversationNotFound(sender_id)
