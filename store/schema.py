"""The database schema, as ordered, named migrations run at start-up.

A database made by an older version opens with a newer one: only the migrations it has not
seen are applied. The applied names are recorded in `_sqlite_migrations` (the schema version).
"""

from collections import defaultdict

from sqlite_utils import Database
from sqlite_utils.db import Table
from sqlite_utils.migrations import Migrations

from .errors import NotOurDatabase
from .packing import DICTIONARY_TABLE_SQLITE, event_of, train_if_due
from .terms import encode

migrations = Migrations("rasa_messaging")


@migrations()
def m001_events_conversations_flags(db: Database):
    # Every event verbatim (`data`), plus the columns queries filter and order on.
    Table(db, "events").create(
        {
            "id": int, "sender_id": str, "type": str, "timestamp": float, "fingerprint": str,
            "data": str, "intent": str, "action": str, "policy": str, "confidence": float,
            "search_text": str,
        },
        pk="id",
        not_null={"sender_id", "type", "timestamp", "fingerprint", "data"},
    )
    Table(db, "events").create_index(["fingerprint"], unique=True)
    Table(db, "events").create_index(["sender_id", "timestamp", "id"])
    Table(db, "events").create_index(["sender_id", "type", "timestamp"])

    # Per-conversation metadata, kept current by every ingest (see store/ingest.py).
    Table(db, "conversations").create(
        {
            "sender_id": str,
            "latest_event_time": float,
            "latest_user_time": float,
            "latest_input_channel": str,
            "minimum_action_confidence": float,
            "n_off_training_actions": int,
            "n_user_messages": int,
            "n_events": int,
        },
        pk="sender_id",
        not_null={"latest_event_time", "minimum_action_confidence",
                  "n_off_training_actions", "n_user_messages", "n_events"},
    )
    Table(db, "conversations").create_index(["latest_event_time"])
    Table(db, "conversations").create_index(["minimum_action_confidence"])

    # Which intents, entities, actions and policies occur in which conversation: the any-of
    # filters and the unique-value lists read this instead of the events.
    Table(db, "conversation_terms").create(
        {"kind": str, "value": str, "sender_id": str},
        pk=("kind", "value", "sender_id"),
    )
    Table(db, "conversation_terms").create_index(["sender_id"])

    # Flags live apart from events, so re-importing events never touches them.
    Table(db, "flags").create(
        {"sender_id": str, "timestamp": float, "flagged": int, "updated_at": float},
        pk=("sender_id", "timestamp"),
        not_null={"flagged", "updated_at"},
    )


@migrations()
def m002_statistics(db: Database):
    # Counters behind GET /statistics, kept current by every ingest so that the request reads a
    # few rows instead of scanning events. kind: message (user/bot), intent, entity, action, policy.
    Table(db, "statistics").create({"kind": str, "name": str, "count": int}, pk=("kind", "name"),
                            not_null={"count"})
    db.execute("CREATE INDEX statistics_top ON statistics (kind, count DESC, name)")
    # A database made before this migration: count what it already holds.
    db.execute("""
        INSERT INTO statistics (kind, name, count)
        SELECT 'message', type, count(*) FROM events WHERE type IN ('user', 'bot') GROUP BY type
        UNION ALL
        SELECT 'intent', intent, count(*) FROM events WHERE type = 'user' AND intent IS NOT NULL GROUP BY intent
        UNION ALL
        SELECT 'action', action, count(*) FROM events
         WHERE type = 'action' AND action IS NOT NULL AND action != 'action_listen' GROUP BY action
        UNION ALL
        SELECT 'policy', policy, count(*) FROM events WHERE type = 'action' AND policy IS NOT NULL GROUP BY policy
        UNION ALL
        SELECT 'entity', entity, count(*) FROM (
            SELECT DISTINCT e.id, json_extract(item.value, '$.entity') AS entity
            FROM events e, json_each(e.data, '$.parse_data.entities') item
            WHERE e.type = 'user' AND json_valid(e.data) AND json_type(e.data, '$.parse_data.entities') = 'array'
              AND json_type(item.value, '$.entity') = 'text' AND json_extract(item.value, '$.entity') != ''
        ) GROUP BY entity
    """)


@migrations()
def m003_sessions(db: Database):
    # Sessions behind GET /analytics, kept current by every ingest (store/sessions.py).
    Table(db, "sessions").create(
        {"sender_id": str, "start": float, "start_event_id": int, "end": float,
         "n_user_messages": int, "n_bot_messages": int, "is_new_user": int},
        pk=("sender_id", "start_event_id"),
        not_null={"start", "end", "n_user_messages", "n_bot_messages", "is_new_user"},
    )
    Table(db, "sessions").create_index(["start"])  # a database made before gets its sessions in m008


@migrations()
def m004_brokers(db: Database):
    # Broker messages that are not Rasa events: kept (never retried forever, never dropped
    # silently) for someone to look at.
    Table(db, "parked_messages").create(
        {"id": int, "source": str, "received_at": float, "body": str, "reason": str, "fingerprint": str},
        pk="id", not_null={"source", "received_at", "body", "reason", "fingerprint"},
    )
    Table(db, "parked_messages").create_index(["fingerprint"], unique=True)  # a redelivery is parked once
    # How far each followed SQL event broker table has been stored, written in the same
    # transaction as its events, so a restart continues exactly there.
    Table(db, "follow_positions").create({"source": str, "last_id": int}, pk="source", not_null={"last_id"})


@migrations()
def m005_review(db: Database):
    # Review marks; any new event of the conversation removes its mark (store/ingest.py).
    Table(db, "reviews").create({"sender_id": str, "reviewed_at": float}, pk="sender_id", not_null={"reviewed_at"})
    Table(db, "tags").create({"sender_id": str, "tag": str}, pk=("sender_id", "tag"))
    Table(db, "tags").create_index(["tag"])
    Table(db, "flags").add_column("note", str)
    Table(db, "flags").create_index(["flagged", "updated_at"])


@migrations()
def m006_fingerprints_by_sender(db: Database):
    # Duplicates are looked up per sender (a fingerprint covers the sender anyway): inserts into a
    # unique index keyed by a random hash touched a page anywhere in it for every event.
    Table(db, "events").create_index(["sender_id", "fingerprint"], unique=True)
    db.execute("DROP INDEX idx_events_fingerprint")


@migrations()
def m007_list_indexes_and_text_search(db: Database):
    # Page order in the index, ties included, so a page of a filtered list is read in order and
    # stops after `limit` matches; the training-data flag answered by an index for the count.
    db.execute("DROP INDEX idx_conversations_latest_event_time")
    db.execute("DROP INDEX idx_conversations_minimum_action_confidence")
    db.execute(CONVERSATIONS_BY_LATEST)
    db.execute("CREATE INDEX conversations_by_confidence ON conversations (minimum_action_confidence DESC, sender_id)")
    Table(db, "conversations").create_index(["n_off_training_actions"])
    Table(db, "flags").create_index(["flagged", "sender_id"])
    from .search import CREATE_INDEX
    db.execute(CREATE_INDEX)  # filled by m014, in the rowids it introduced


@migrations()
def m008_sessions_for_analytics(db: Database):
    # The start of the sender's previous session: a session is its sender's first in a time bin
    # iff the previous one started in an earlier bin, so a bin's senders are a sum, not a DISTINCT.
    Table(db, "sessions").add_column("previous_start", float)
    if not db.execute("SELECT 1 FROM sessions LIMIT 1").fetchone():  # a database made before m003
        from .sessions import refresh_sessions
        for (sender_id,) in db.execute("SELECT sender_id FROM conversations").fetchall():
            refresh_sessions(db, sender_id, float("-inf"))
    else:
            db.execute("UPDATE sessions SET previous_start = p.previous FROM (SELECT rowid AS id, lag(start) OVER "
                   "(PARTITION BY sender_id ORDER BY start, start_event_id) AS previous FROM sessions) p "
                   "WHERE sessions.rowid = p.id")
    # Everything /analytics reads, in time order: the request never visits the table.
    db.execute("DROP INDEX idx_sessions_start")
    db.execute(SESSIONS_FOR_ANALYTICS)


@migrations()
def m009_conversation_ids(db: Database):
    # Conversations get an integer id (kept through VACUUM, unlike a bare rowid), and the term sets
    # the list filters read and probe hold it instead of the sender id: smaller keys, and a probe or
    # lookup compares integers (an intent+policy+confidence count at 100k took half the time).
    db.execute("""
        CREATE TABLE conversations_by_id (
            id INTEGER PRIMARY KEY, sender_id TEXT NOT NULL UNIQUE, latest_event_time FLOAT NOT NULL,
            latest_user_time FLOAT, latest_input_channel TEXT, minimum_action_confidence FLOAT NOT NULL,
            n_off_training_actions INTEGER NOT NULL, n_user_messages INTEGER NOT NULL, n_events INTEGER NOT NULL)
    """)
    db.execute("INSERT INTO conversations_by_id SELECT rowid, sender_id, latest_event_time, latest_user_time, "
               "latest_input_channel, minimum_action_confidence, n_off_training_actions, n_user_messages, n_events "
               "FROM conversations")
    db.execute("""
        CREATE TABLE terms_by_id (kind TEXT NOT NULL, value TEXT NOT NULL, conversation_id INTEGER NOT NULL,
                                  PRIMARY KEY (kind, value, conversation_id)) WITHOUT ROWID
    """)
    db.execute("INSERT INTO terms_by_id SELECT t.kind, t.value, c.id FROM conversation_terms t "
               "JOIN conversations_by_id c USING (sender_id)")
    db.execute("DROP TABLE conversation_terms")
    db.execute("ALTER TABLE terms_by_id RENAME TO conversation_terms")
    db.execute("CREATE INDEX conversation_terms_by_conversation ON conversation_terms (conversation_id)")
    db.execute("DROP TABLE conversations")
    db.execute("ALTER TABLE conversations_by_id RENAME TO conversations")
    db.execute(CONVERSATIONS_BY_LATEST)
    db.execute("CREATE INDEX conversations_by_confidence ON conversations (minimum_action_confidence DESC, sender_id)")
    db.execute("CREATE INDEX conversations_by_training ON conversations (n_off_training_actions)")


@migrations()
def m010_fewer_event_indexes(db: Database):
    # Every per-type read of a conversation (its messages, its last restart, short text needles)
    # walks (sender_id, timestamp, id) as well; one index less on the largest table is an import
    # that writes less.
    db.execute("DROP INDEX idx_events_sender_id_type_timestamp")


@migrations()
def m011_predicted_actions(db: Database):
    # A conversation with no action yet (only user messages) has no action confidence and nothing
    # predicted from training data: its metadata says so (null, false) instead of 1.0 and true.
    Table(db, "conversations").add_column("n_scored_actions", int, not_null_default=0)
    Table(db, "conversations").add_column("n_predicted_actions", int, not_null_default=0)
    db.execute("""
        UPDATE conversations SET
            n_scored_actions = (SELECT count(*) FROM events e WHERE e.sender_id = conversations.sender_id
                                AND e.type = 'action' AND e.confidence IS NOT NULL),
            n_predicted_actions = (SELECT count(*) FROM events e WHERE e.sender_id = conversations.sender_id
                                   AND e.type = 'action' AND e.policy IS NOT NULL)
    """)



@migrations()
def m012_latest_message(db: Database):
    # The inbox shows each conversation's latest user message without reading its events.
    Table(db, "conversations").add_column("latest_message", str)
    db.execute("""
        UPDATE conversations SET latest_message = (
            SELECT json_extract(e.data, '$.text') FROM events e
            WHERE e.sender_id = conversations.sender_id AND e.type = 'user' AND json_valid(e.data)
            ORDER BY e.timestamp DESC, e.id DESC LIMIT 1)
    """)


@migrations()
def m013_annotations(db: Database):
    # A reviewer's correct intent and entities of a user message (entities NULL: the predicted
    # ones are right). Apart from events, like flags, so a re-import never touches them.
    Table(db, "annotations").create(
        {"sender_id": str, "timestamp": float, "intent": str, "entities": str, "annotated_at": float},
        pk=("sender_id", "timestamp"), not_null={"intent", "annotated_at"})
    db.execute("CREATE INDEX annotations_newest ON annotations (annotated_at DESC)")

@migrations()
def m014_conversation_sets(db: Database):
    # The list's filters and counts intersect bitsets of conversations (store/sets.py) instead of
    # probing row by row: at 100k conversations the slowest pair of filters took 45 ms that way.
    db.execute("CREATE TABLE conversation_sets (kind TEXT NOT NULL, value TEXT NOT NULL, chunk INTEGER NOT NULL, "
               "bits BLOB NOT NULL, PRIMARY KEY (kind, value, chunk)) WITHOUT ROWID")
    # Counts the store keeps of itself: `erasures` tells a kept text search it may be stale,
    # `sets` a decoded set (counted by every write of the sets, the rebuild's below too).
    db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    from .sets import rebuild
    rebuild(db)
    # Beyond the message levels the sets keep, `minimumUserMessages` is answered by this index.
    db.execute("CREATE INDEX conversations_by_user_messages ON conversations (n_user_messages)")
    # The text index names each message's conversation in its rowid (store/search.py): re-made.
    from .search import index_events_after
    db.execute("INSERT INTO user_text (user_text) VALUES ('delete-all')")
    index_events_after(db, 0)


@migrations()
def m015_confidence_walk_in_the_index(db: Database):
    # A page by confidence walks this index; the walk's other conditions (a scored action, the
    # time range) read each walked row from the table (1.4 µs a row on the bench machine) until
    # the index held them: time range + in_training_data=false at 100k real-shaped conversations,
    # 9.0 → 2.1-3.3 ms.
    db.execute("DROP INDEX conversations_by_confidence")
    db.execute(CONFIDENCE_WALK_INDEX)


@migrations()
def m016_marked_conversations_in_list_order(db: Database):
    # A page of a sparse review mark is walked in list order from its members, not read and sorted
    # whole (store/sets.py): is_flagged at 100k real-shaped conversations, 2.9 → 0.8 ms.
    from .sets import MARKED_TABLE, fill_marked
    for statement in MARKED_TABLE + fill_marked():
        db.execute(statement)


@migrations()
def m017_duplicates_found_by_time(db: Database):
    # A stored duplicate has the same timestamp (the fingerprint covers it), so the index the
    # events are read by, (sender_id, timestamp, id), finds it; the unique index of fingerprints
    # was a third copy of every event's key to keep at import. The storing process, 100k
    # generated conversations in-process: 21.5 -> 17.9 us an event.
    db.execute("DROP INDEX idx_events_sender_id_fingerprint")


@migrations()
def m018_terms_by_conversation(db: Database):
    # A conversation's terms keyed by its id first: an import's new conversations have the
    # highest ids, so their term rows are appended to one tree instead of inserted all over a
    # (kind, value) key and an index by conversation; a term row comes with every 2.2 events
    # (real-shaped). Which terms exist at all is read from the sets (`unique_terms`).
    for statement in terms_by_conversation(" WITHOUT ROWID"):
        db.execute(statement)


@migrations()
def m019_events_without_fingerprints(db: Database):
    # Whether two events are the same is decided when they share a sender, a type and a time, by
    # their canonical JSON (store/events.py `identity`), computed then from `data`. Hashing every
    # event's canonical JSON, for a column nothing else read, was half of parsing: without it,
    # 123k -> 59k instructions a real-shaped event, 96k -> 54k a generated one (callgrind), and
    # storing costs the same. SQLite rewrites the table to drop a column: 2.0 s for 391k
    # real-shaped events.
    db.execute("ALTER TABLE events DROP COLUMN fingerprint")


@migrations()
def m020_input_channels_as_terms(db: Database):
    # The input channels of a conversation's user messages, a filter and a field of the list
    # (issue 38): derived at ingest from now on, here for the conversations stored before.
    input_channel_terms(db)
    from .sets import add_term_sets
    add_term_sets(db, "input_channel")


@migrations()
def m021_flags_resolved(db: Database):
    # A flag a reviewer has dealt with stays, marked done (issue 38): the queue lists open ones.
    db.execute("ALTER TABLE flags ADD COLUMN resolved_at FLOAT")


@migrations()
def m022_flows(db: Database):
    # CALM (issue 39): a conversation's flow episodes and the patterns pushed, derived at ingest
    # from its stack events (store/flow_data.py), and how many flow events it has (0: classic,
    # never replayed). Commands and model ids are terms from now on; a store that kept CALM
    # events before gets them all here.
    for statement in FLOW_TABLES:
        db.execute(statement)
    from .flow_data import derive_event_terms, rederive_all
    derive_event_terms(db)
    rederive_all(db)


@migrations()
def m023_team(db: Database):
    # Issue 41: named people and the audit of who wrote what (store/team.py), assignments and
    # claims (store/assignments.py), and the message inbox (store/inbox.py), filled here from the
    # user messages a store already holds.
    from .inbox import inbox_tables, index_messages_after
    from .team import team_tables
    for statement in team_tables(SQLITE_SERIAL) + inbox_tables(SQLITE_SERIAL):
        db.execute(statement)
    index_messages_after(db, 0)


@migrations()
def m024_flow_days(db: Database):
    # Issue 42: /flows and the funnels read per-day sums of the episodes (store/flow_days.py):
    # reading every episode took 887 ms at 1M conversations.
    from .flow_days import FLOW_DAY_TABLES, fill_flow_days
    for statement in FLOW_DAY_TABLES:
        db.execute(statement)
    fill_flow_days(db)


@migrations()
def m025_session_hours(db: Database):
    # Issue 42: /analytics reads per-hour sums of the sessions, kept by triggers
    # (store/session_hours.py): reading every session of a range took 534 ms at 1M conversations.
    from .session_hours import SQLITE
    for statement in SQLITE:
        db.execute(statement)


@migrations()
def m026_packed_events(db: Database):
    # Issue 42: events' JSON packed with zstd and a dictionary trained on the store's own events
    # (store/packing.py), 0.19× its size. A store that holds events trains its dictionary here;
    # they stay plain, readable as before, until `rasa-messaging vacuum` packs them.
    db.execute(DICTIONARY_TABLE_SQLITE)
    train_if_due(db)


@migrations()
def m027_smaller_events(db: Database):
    # Issue 42: what an event's row kept that nothing read. Its intent, policy and confidence are
    # derived into the sets and statistics at ingest and never read from the table (its JSON holds
    # them). The index events are read by, (sender_id, timestamp): every entry ends with its rowid,
    # which orders the events of one time as `id` did, in the same query plans; `id` in it was a
    # second copy. 100k generated conversations imported: 973 -> 924 MB (0.81x -> 0.77x its JSON
    # Lines), and 59.2 -> 54.4 s.
    # SQLite rewrites the table to drop a column: minutes for a store of millions of events.
    db.execute("DROP INDEX IF EXISTS idx_events_sender_id_timestamp_id")
    db.execute("CREATE INDEX IF NOT EXISTS events_by_sender_time ON events (sender_id, timestamp)")
    db.execute("ALTER TABLE events DROP COLUMN intent")
    db.execute("ALTER TABLE events DROP COLUMN policy")
    db.execute("ALTER TABLE events DROP COLUMN confidence")


@migrations()
def m028_terms_a_row_a_conversation(db: Database):
    # Issue 42: a conversation's terms in one row (store/terms.py) instead of a row a term. The
    # generated set's stores: 3.2 s at 100k conversations, 35 s at 1M (PostgreSQL's p015: 3.4 s at
    # 100k), while the store is opened.
    terms_a_row_a_conversation(db, "INTEGER PRIMARY KEY")


@migrations()
def m029_conversations_sort_keys(db: Database):
    # Issue 42: the list's sort keys by conversation id, for a page of a set of ids (store/
    # conversations.py `_rows`), 32 MB at 1M generated conversations against the table's 85.
    db.execute(SORT_KEYS_SQLITE)


SORT_KEYS_SQLITE = ("CREATE INDEX conversations_sort_keys ON conversations "
                    "(id, minimum_action_confidence, sender_id, latest_event_time)")
SORT_KEYS_POSTGRESQL = ("CREATE INDEX conversations_sort_keys ON conversations (id) "
                        "INCLUDE (minimum_action_confidence, sender_id, latest_event_time)")


SQLITE_SERIAL = "INTEGER PRIMARY KEY"
POSTGRESQL_SERIAL = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"


FLOW_EPISODES_FOR_ANALYTICS = ("CREATE INDEX flow_episodes_for_analytics ON flow_episodes "
                               "(started_at, flow_id, outcome, interrupted, n_user_messages)")
FLOW_EPISODES_BY_FLOW = "CREATE INDEX flow_episodes_by_flow ON flow_episodes (flow_id, started_at)"
# m022's (and p009's) tables. An episode's `steps` are a JSON list of the step ids reached, in the
# order first reached; `flow_episodes_for_analytics` holds what /flows counts, so that it reads the
# index alone.
FLOW_TABLES = [
    "ALTER TABLE conversations ADD COLUMN n_flow_events INTEGER NOT NULL DEFAULT 0",
    "CREATE TABLE flow_episodes (conversation_id BIGINT NOT NULL, position INTEGER NOT NULL, flow_id TEXT NOT NULL, "
    "frame_id TEXT NOT NULL, started_at FLOAT NOT NULL, ended_at FLOAT, outcome TEXT NOT NULL, last_step_id TEXT, "
    "steps TEXT NOT NULL, interrupted INTEGER NOT NULL, resumed INTEGER NOT NULL, n_user_messages INTEGER NOT NULL, "
    "session INTEGER NOT NULL, PRIMARY KEY (conversation_id, position))",
    FLOW_EPISODES_FOR_ANALYTICS,
    FLOW_EPISODES_BY_FLOW,
    "CREATE TABLE conversation_patterns (conversation_id BIGINT NOT NULL, pattern TEXT NOT NULL, "
    "count INTEGER NOT NULL, PRIMARY KEY (conversation_id, pattern))",
]


def input_channel_terms(db, batch: int = 20_000) -> None:
    """m020's (and p007's) terms: each distinct input channel of a conversation's user messages.
    Read in Python, not with SQL's JSON functions: the events may be packed (store/packing.py)."""
    last = 0
    while rows := db.execute("SELECT e.id, c.id, e.timestamp, e.data FROM events e JOIN conversations c "
                             "ON c.sender_id = e.sender_id WHERE e.type = 'user' AND e.id > ? ORDER BY e.id LIMIT ?",
                             [last, batch]).fetchall():
        terms = {(conversation_id, channel) for _, conversation_id, timestamp, data in rows
                 if isinstance(channel := event_of(db, data, timestamp).get("input_channel"), str) and channel}
        db.executemany("INSERT INTO conversation_terms (conversation_id, kind, value) VALUES (?, 'input_channel', ?) "
                       "ON CONFLICT DO NOTHING", sorted(terms))
        last = rows[-1][0]


def terms_by_conversation(table_options: str = "") -> list[str]:
    """m018's statements (PostgreSQL's p005 without `table_options`)."""
    return [
        "CREATE TABLE terms_by_conversation (conversation_id BIGINT NOT NULL, kind TEXT NOT NULL, "
        f"value TEXT NOT NULL, PRIMARY KEY (conversation_id, kind, value)){table_options}",
        "INSERT INTO terms_by_conversation (conversation_id, kind, value) "
        "SELECT conversation_id, kind, value FROM conversation_terms ORDER BY conversation_id, kind, value",
        "DROP TABLE conversation_terms",
        "ALTER TABLE terms_by_conversation RENAME TO conversation_terms",
    ]


def terms_a_row_a_conversation(db, key: str, batch: int = 20_000) -> None:
    """m028's (and p015's) move of `conversation_terms` from a row a term to a row a conversation
    (store/terms.py), `batch` conversations a statement; `key`: the conversation id's type and
    key."""
    db.execute(f"CREATE TABLE term_lists (conversation_id {key}, terms TEXT NOT NULL)")
    last = 0
    while ids := [i for (i,) in db.execute("SELECT id FROM conversations WHERE id > ? ORDER BY id LIMIT ?",
                                           [last, batch])]:
        held: dict = defaultdict(set)
        for conversation_id, kind, value in db.execute(
                "SELECT conversation_id, kind, value FROM conversation_terms WHERE conversation_id > ? "
                "AND conversation_id <= ?", [last, ids[-1]]):
            held[conversation_id].add((kind, value))
        db.insert_many("term_lists", "conversation_id, terms", [(i, encode(held[i])) for i in sorted(held)])
        last = ids[-1]
    db.execute("DROP TABLE conversation_terms")
    db.execute("ALTER TABLE term_lists RENAME TO conversation_terms")


# Indexes both backends have as they are (store/deferred_indexes.py makes them after an import).
CONVERSATIONS_BY_LATEST = "CREATE INDEX conversations_by_latest ON conversations (latest_event_time DESC, sender_id)"
SESSIONS_FOR_ANALYTICS = ('CREATE INDEX sessions_for_analytics ON sessions (start, previous_start, is_new_user, '
                          'n_user_messages, n_bot_messages, "end")')
CONFIDENCE_WALK_INDEX = ("CREATE INDEX conversations_by_confidence ON conversations "
                         "(minimum_action_confidence DESC, sender_id, n_scored_actions, latest_event_time)")


def migrate(db: Database, path) -> None:
    """Bring the schema up to date. Raises `NotOurDatabase` for a file of another program."""
    if db.table_names() and migrations.migrations_table not in db.table_names():
        raise NotOurDatabase(path)
    migrations.apply(db)
