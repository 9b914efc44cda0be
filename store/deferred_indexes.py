"""Indexes an import into a new store makes at its end instead of batch by batch.

The inbox's indexes keyed by a message's text, intent or confidence, the indexes of
conversations, sessions and flow episodes by time or confidence, and PostgreSQL's index of the
users' texts by trigram take each batch's rows all over their pages. An import into a store with
no events drops them first and makes them once it ends (`Connections.bulk_writes` on both
backends); a store opened after such an import was stopped before its end makes them then.
"""

import contextlib

from .schema import (
    CONFIDENCE_WALK_INDEX,
    CONVERSATIONS_BY_LATEST,
    FLOW_EPISODES_BY_FLOW,
    FLOW_EPISODES_FOR_ANALYTICS,
    SESSIONS_FOR_ANALYTICS,
)
from .search import CREATE_INDEX_POSTGRESQL
from .session_hours import RETURNING_INDEX

# The inbox by predicted intent or by a confidence bar, its commonest filters, reads only the
# messages that pass. 100k generated conversations (434k messages), SQLite, in-process, a page of
# 20: intent=greet 442 → 0.6 ms, maximum_confidence=0.5 464 → 8.0 ms (and text=help, its texts
# found first, 131 → 0.8 ms). A command (CALM) is still a scan: 240 ms.
VALUE_KEYED_INDEXES = {
    "user_messages_by_text": "CREATE INDEX user_messages_by_text ON user_messages (text_id, annotated, rank, event_id)",
    "user_messages_by_intent": "CREATE INDEX user_messages_by_intent ON user_messages (intent, annotated, text_id, rank)",
    "user_messages_by_confidence":
        "CREATE INDEX user_messages_by_confidence ON user_messages (annotated, confidence, text_id, rank)",
}
# Keyed by a time or a confidence, which the conversations of a file do not come in the order of:
# a batch of 48k events (1,100 conversations) changed most of their pages once they had grown. 50k
# generated conversations more into a store of 1M wrote 3.6 GB of them to SQLite's log, against
# 0.6 GB of the events and their index by sender (2026-12-07, the log's frames counted by page).
TIME_KEYED_INDEXES = {
    "conversations_by_latest": CONVERSATIONS_BY_LATEST,
    "conversations_by_confidence": CONFIDENCE_WALK_INDEX,
    "sessions_for_analytics": SESSIONS_FOR_ANALYTICS,
    "sessions_returning": RETURNING_INDEX,
    "flow_episodes_for_analytics": FLOW_EPISODES_FOR_ANALYTICS,
    "flow_episodes_by_flow": FLOW_EPISODES_BY_FLOW,
}
MADE_AT_THE_END = {**VALUE_KEYED_INDEXES, **TIME_KEYED_INDEXES}
# PostgreSQL's users' texts by trigram (GIN): 1M events copied into a table with it took 4.7 s,
# without it 3.4 s and 0.6 s to make it after (2026-12-08). SQLite's text index is a table of
# its own (FTS5, store/search.py), filled in the events' order.
MADE_AT_THE_END_POSTGRESQL = {**MADE_AT_THE_END, "user_text": CREATE_INDEX_POSTGRESQL}
_DROP = {name: f"DROP INDEX IF EXISTS {name}" for name in MADE_AT_THE_END_POSTGRESQL}


def made_at_the_end(dialect) -> dict[str, str]:
    """The indexes an import into a new store of `dialect` makes at its end: name → statement."""
    return MADE_AT_THE_END_POSTGRESQL if dialect.name == "postgresql" else MADE_AT_THE_END


@contextlib.contextmanager
def made_at_the_end_if_new(db):
    """Around an import: where the store has no events, the indexes whose keys come in no order
    (`made_at_the_end`) are dropped, and made once the import ends or fails. Each batch wrote
    most of their pages again, and more of them the larger they grew. The inbox's (325 MB at 1M
    generated conversations on SQLite): that import took 637 s, 230 of them the kernel's, and
    took 504, 119; PostgreSQL's 1M import 803 → 733 s (2026-12-07, one run each; SQLite at
    100k: no difference). Yields the names of the indexes it makes (none where the store had
    events): made whole, they need no rebuild (store/postgres.py)."""
    new = db.execute("SELECT id FROM events LIMIT 1").fetchone() is None
    made = set(made_at_the_end(db.dialect)) if new else set()
    for name, drop in _DROP.items():
        if name in made:
            db.execute(drop)
    try:
        yield made
    finally:
        if new:
            make_missing_indexes(db)


def make_missing_indexes(db) -> None:
    """Make those of the indexes an import drops (`made_at_the_end`) that are missing: after an
    import, or when a store is opened after an import was stopped before its end. A sort each."""
    present = index_names(db)
    for name, statement in made_at_the_end(db.dialect).items():
        if name not in present:
            db.execute(statement)


def index_names(db) -> set[str]:
    """The names of the store's indexes."""
    return {name for (name,) in db.execute(db.dialect.index_names)}
