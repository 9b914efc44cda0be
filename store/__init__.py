"""The store: one SQLite file holding Rasa events and what is derived from them.

All SQL of the project lives in this package. `Store` reads like the data model; its methods
return plain dicts and lists a handler can return as they are.
"""

from .analytics import METRICS, AnalyticsMixin, AnalyticsNotFound, Bins
from .conversations import TERM_KINDS, ConversationFilter, ConversationQueries
from .database import Connections
from .errors import ConversationNotFound, InvalidEvent, MessageNotFound, NotOurDatabase, StoreError
from .flags import FlagsMixin
from .ingest import IngestMixin, IngestResult, prepare
from .review import ReviewMixin, message_rows
from .schema import schema_version
from .statistics import StatisticsMixin


class Store(IngestMixin, ConversationQueries, FlagsMixin, StatisticsMixin, AnalyticsMixin, ReviewMixin):
    def __init__(self, path):
        self.path = path
        self._connections = Connections(path)

    @property
    def db(self):
        """This thread's connection."""
        return self._connections.db

    def transaction(self):
        return self._connections.transaction()

    def schema_version(self) -> list[str]:
        return schema_version(self.db)


__all__ = [
    "Store", "Bins", "message_rows", "METRICS", "AnalyticsNotFound", "ConversationFilter", "TERM_KINDS", "IngestResult", "prepare",
    "StoreError", "NotOurDatabase", "ConversationNotFound", "MessageNotFound", "InvalidEvent",
]
