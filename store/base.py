"""What every part of the store stands on: this thread's connection, write transactions, and the
check that a conversation exists. The parts (ingest, conversations, flags, review, statistics,
analytics) are mixins of `Store` over this base."""

import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from .database import open_connections
from .dialects import Dialect
from .errors import ConversationNotFound
from .order_blocks import OrderBlocks


class StoreDatabase(Protocol):
    """What the store asks of a connection, on either backend: sqlite-utils' `Database` (with
    store/database.py's `executemany`) or store/postgres.py's `PostgresDatabase`."""

    dialect: Dialect

    def execute(self, sql: str, parameters: Any = None) -> Any: ...

    def executemany(self, sql: str, rows: Iterable) -> None: ...

    def stream(self, sql: str, chunk: int) -> Iterator[Any]: ...

    def insert_many(self, table: str, columns: str, rows: Iterable, *, skip_existing: bool = False) -> None: ...

    def query(self, sql: str, params: Any = None) -> Iterator[dict]: ...

    def table_names(self) -> list[str]: ...

    @property
    def in_transaction(self) -> bool: ...


def all_of(conditions) -> tuple[str, list]:
    """(SQL condition, parameters) of the (clause, value) pairs whose value is given, ANDed."""
    given = [(clause, value) for clause, value in conditions if value is not None]
    return " AND ".join(clause for clause, _ in given) or "TRUE", [value for _, value in given]


class StoreBase:
    def __init__(self, location, *, replica: bool = False):
        self._connections = open_connections(location, replica=replica)
        # ("text", case-folded text) or ("time", start, until) → (bitset of matching conversations,
        # `_newest()` then): see ConversationQueries._with_text and _latest_event_between. A
        # dict's get and set are atomic for the server's threads.
        self._kept: dict[tuple, tuple[int, tuple[int, int, int]]] = {}
        # (kind, value) → (the set decoded, the sets' version then): see ConversationQueries._set;
        # the version this thread's request read once (`_with_one_sets_version`).
        self._decoded: dict[tuple[str, str], tuple[int, int]] = {}
        # The list's confidence order in blocks, read when a page first needs it (store/order_blocks.py).
        self._confidence_order: OrderBlocks | None = None
        self._reading_confidence_order = threading.Lock()
        self._sets_read = threading.local()

    @property
    def db(self) -> StoreDatabase:
        """This thread's connection."""
        return self._connections.db

    def transaction(self):
        return self._connections.transaction()

    def bulk_writes(self):
        """A context for many write transactions in a row from this thread, such as an import."""
        return self._connections.bulk_writes()

    def _last_conversation_id(self) -> int:
        """About how many conversations there are (an erasure leaves a gap), from the index: what
        the list's and the analytics' plans weigh their costs against."""
        return self.db.execute("SELECT max(id) FROM conversations").fetchone()[0] or 0

    def _require(self, sender_id: str) -> None:
        """Raise `ConversationNotFound` unless `sender_id` has a conversation."""
        if not self.db.execute("SELECT 1 FROM conversations WHERE sender_id = ?", [sender_id]).fetchone():
            raise ConversationNotFound(sender_id)
