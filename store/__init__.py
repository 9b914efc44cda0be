"""The store: one SQLite file holding Rasa events and what is derived from them.

All SQL of the project lives in this package. `Store` reads like the data model; its methods
return plain dicts and lists a handler can return as they are.
"""

from .analytics import METRICS, AnalyticsMixin, AnalyticsNotFound, Bins
from .annotations import InvalidAnnotation
from .assignments import AssignmentsMixin
from .conversations import TERM_KINDS, ConversationFilter
from .errors import (
    ConversationNotFound,
    InvalidEvent,
    MessageNotFound,
    NotOurDatabase,
    StoreError,
    StoreFull,
    StoreNotReady,
    StoreUnavailable,
)
from .flow_analytics import FlowAnalyticsMixin
from .inbox import ORDERS as MESSAGE_ORDERS
from .inbox import InboxMixin, MessageFilter
from .ingest import IngestResult, prepare
from .review import ReviewMixin
from .statistics import StatisticsMixin
from .team import ROLES, Actor, InvalidPerson, UnknownPerson, token_hash
from .transfer import TransferMixin


class Store(TransferMixin, ReviewMixin, StatisticsMixin, AnalyticsMixin, FlowAnalyticsMixin, AssignmentsMixin,
            InboxMixin):
    def check_writable(self) -> None:
        """Raise the backend's error if the store cannot be written (a read-only file or role)."""
        self._connections.check_writable()

    def readiness(self) -> dict:
        """What `/core/ready` reports: the backend and how many migrations its schema has had.
        Raises `StoreNotReady` while one is still to run (another process is migrating)."""
        applied, pending = self._connections.migrations()
        if pending:
            raise StoreNotReady(f"the schema waits for migrations {', '.join(pending)}")
        return {"backend": self.db.dialect.name, "migrations": len(applied)}

    def wal_position(self) -> int:
        """PostgreSQL: how far the write-ahead log goes here, in bytes (written on a primary,
        replayed on a replica): what read replicas are routed by (rasa_messaging/replicas.py)."""
        return self._connections.wal_position()

    def close(self) -> None:
        """Close this thread's connection (the store opens a new one if used again)."""
        self._connections.close()


__all__ = [
    "Store", "Bins", "METRICS", "AnalyticsNotFound", "ConversationFilter", "TERM_KINDS", "IngestResult", "prepare",
    "StoreError", "StoreFull", "Actor", "ROLES", "InvalidPerson", "UnknownPerson", "token_hash", "MessageFilter",
    "MESSAGE_ORDERS", "StoreNotReady", "StoreUnavailable", "InvalidAnnotation", "NotOurDatabase", "ConversationNotFound", "MessageNotFound", "InvalidEvent",
]
