"""The message inbox (issue 41): user messages not yet annotated, across conversations, grouped
by their exact text, so that a reviewer annotates "hi" once instead of in every conversation.

Two tables, derived at ingest and kept exact by annotation and erasure:
- `user_messages`: a row per user message that is language (not a button's `/intent` payload),
  with what the inbox filters on, and whether it is annotated;
- `message_texts`: a row per distinct text, with how many of its messages are not annotated (`n`)
  and the one of them with the lowest confidence (`rank`, `example`), which stands for the
  group. The unfiltered inbox, the first page a reviewer opens, reads a page of its index
  instead of grouping every message (bench/RESULTS-TEAM.md). A filtered inbox groups the
  matching messages when asked.
A text with no message left (its conversations erased) has no row: no content stays behind.
"""

import hashlib
import time
from collections import Counter
from dataclasses import dataclass

from . import sets
from .base import StoreBase
from .conversations import _text, _values
from .deferred_indexes import VALUE_KEYED_INDEXES
from .dialects import NO_LIMIT
from .errors import StoreError
from .events import EventRow, event_row
from .json_text import loads
from .packing import text_of
from .team import COMMAND_LINE, Actor, record

# The rank of a message with no confidence (no intent predicted, as CALM's command generator
# without NLU): after every scored one, in the lowest-confidence-first order.
UNSCORED = 2.0
ORDERS = ("lowest_confidence", "most_frequent")

# m023's (and p010's) tables, given each backend's self-numbering key. Texts are unique by their
# digest: PostgreSQL cannot index a text longer than a third of a page.
def inbox_tables(serial: str) -> list[str]:
    return [statement.replace("{id}", serial) for statement in _INBOX_TABLES]


_INBOX_TABLES = [
    "CREATE TABLE message_texts (id {id}, digest TEXT NOT NULL UNIQUE, text TEXT NOT NULL, n INTEGER NOT NULL, "
    "rank FLOAT NOT NULL, example BIGINT)",
    "CREATE INDEX message_texts_by_confidence ON message_texts (rank, id) WHERE n > 0",
    "CREATE INDEX message_texts_by_count ON message_texts (n DESC, id) WHERE n > 0",
    "CREATE TABLE user_messages (event_id BIGINT PRIMARY KEY, conversation_id BIGINT NOT NULL, "
    "text_id BIGINT NOT NULL, timestamp FLOAT NOT NULL, intent TEXT, confidence FLOAT, rank FLOAT NOT NULL, "
    "model_id TEXT, input_channel TEXT, commands TEXT NOT NULL, annotated INTEGER NOT NULL)",
    "CREATE INDEX user_messages_by_conversation ON user_messages (conversation_id, timestamp)",
    *VALUE_KEYED_INDEXES.values(),
]


def is_language(text) -> bool:
    """What a person typed, not a button's payload (`/greet`, `/SetSlots(...)`): Rasa reads a
    message starting with `/` as an intent (or commands) given, not as text to understand."""
    return isinstance(text, str) and bool(text.strip()) and not text.lstrip().startswith("/")


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def message_of(row: EventRow) -> tuple | None:
    """(text, intent, confidence, model id, input channel, commands) of a user event's row that is
    language, else None: read as the list's filters read it (`event_row`)."""
    if not is_language(row.text):
        return None
    return (row.text, row.intent, row.confidence, row.model_id, row.input_channel or None,
            "," + "".join(f"{command}," for command in row.commands))


def messages_by_position(rows: list[EventRow]) -> list[tuple]:
    """(position from 1, sender, timestamp, *`message_of`) of the user messages among `rows`, to
    index once they are stored in this order (`index_messages`). Derived from the rows in hand:
    read back from the store, decompressed and decoded, the inbox's messages were 13.6% of an
    import's storing process (py-spy, 100k generated)."""
    return [(position, row.sender_id, row.timestamp, *message)
            for position, row in enumerate(rows, 1) if row.type == "user" and (message := message_of(row)) is not None]


def index_messages_after(db, event_id: int, batch: int = 20_000) -> None:
    """Add the user messages stored after `event_id` to the inbox, read from the store (the
    migration that made the inbox)."""
    while True:
        rows = db.execute("SELECT e.id, c.id, c.sender_id, e.timestamp, e.data FROM events e "
                          "JOIN conversations c ON c.sender_id = e.sender_id "
                          "WHERE e.id > ? AND e.type = 'user' ORDER BY e.id LIMIT ?", [event_id, batch]).fetchall()
        if not rows:
            return
        messages = []
        for event_id, conversation_id, sender_id, timestamp, data in rows:
            text = text_of(db, data, timestamp)
            event = loads(text)
            if isinstance(event, dict) and (message := message_of(event_row(sender_id, event, text=text))) is not None:
                messages.append((event_id, conversation_id, sender_id, timestamp, *message))
        index_messages(db, messages)
        event_id = rows[-1][0]
        if len(rows) < batch:
            return


def index_messages(db, messages: list[tuple]) -> None:
    """Add stored user messages to the inbox: (event id, conversation id, sender, timestamp,
    *`message_of`) each."""
    if not messages:
        return
    ids = _text_ids(db, {message[4] for message in messages})
    annotated = _annotated(db, {message[2] for message in messages})
    new: list[tuple] = []
    for event_id, conversation_id, sender_id, timestamp, text, intent, confidence, model, channel, commands in messages:
        new.append((event_id, conversation_id, ids[text], timestamp, intent, confidence,
                    UNSCORED if confidence is None else confidence, model, channel, commands,
                    int((sender_id, timestamp) in annotated)))
    # The messages of events just stored: none is in the inbox yet (the texts' counts below take
    # each once), so PostgreSQL copies them straight in, not through a temporary table (100k
    # generated: its copy and INSERT were 4.0 s of the server's statements; the import 63.7, 62.8
    # → 60.2, 62.5 s in turns, the server's CPU 31.0, 32.4 → 30.1, 30.8 s).
    db.insert_many("user_messages", "event_id, conversation_id, text_id, timestamp, intent, confidence, rank, "
                   "model_id, input_channel, commands, annotated", new)
    # Each text gains its new unannotated messages: counted on, and the lowest-ranked kept.
    gained: dict = {}
    for event_id, _, text_id, _, _, _, rank, *_, is_annotated in new:
        if not is_annotated:
            n, best = gained.get(text_id, (0, (rank, event_id)))
            gained[text_id] = (n + 1, min(best, (rank, event_id)))
    db.executemany(
        "UPDATE message_texts SET n = n + ?, "
        "example = CASE WHEN n = 0 OR ? < rank OR (? = rank AND ? < example) THEN ? ELSE example END, "
        "rank = CASE WHEN n = 0 OR ? < rank OR (? = rank AND ? < example) THEN ? ELSE rank END WHERE id = ?",
        [(n, rank, rank, event_id, event_id, rank, rank, event_id, rank, text_id)
         for text_id, (n, (rank, event_id)) in gained.items()])


def _text_ids(db, texts: set[str]) -> dict[str, int]:
    digests = {_digest(text): text for text in texts}
    db.insert_many("message_texts", "digest, text, n, rank", [(digest, text, 0, UNSCORED) for digest, text in digests.items()],
                   skip_existing=True)
    found = {}
    keys = list(digests)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        found.update(db.execute(f"SELECT digest, id FROM message_texts WHERE digest IN ({','.join('?' * len(chunk))})",
                                chunk).fetchall())
    return {text: found[digest] for digest, text in digests.items()}


def _annotated(db, senders: set[str]) -> set[tuple[str, float]]:
    """(sender, timestamp) of the senders' annotated messages (none, for most new messages)."""
    found: set = set()
    keys = list(senders)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        found.update(db.execute(f"SELECT sender_id, timestamp FROM annotations WHERE sender_id IN "
                                f"({','.join('?' * len(chunk))})", chunk).fetchall())
    return found


def recount(db, changes: dict) -> None:
    """Move each text's count of unannotated messages by its change (`text id → change`) and find
    its lowest-ranked one again; a text with no message at all goes. By the change, not counted
    again: counting "hi"'s unannotated messages took 130 ms an annotation on PostgreSQL at 1M
    (bench/RESULTS.md); the example is the first row of an index range either way."""
    for text_id, change in changes.items():
        example = db.execute("SELECT rank, event_id FROM user_messages WHERE text_id = ? AND annotated = 0 "
                             "ORDER BY rank, event_id LIMIT 1", [text_id]).fetchone()
        db.execute("UPDATE message_texts SET n = n + ?, rank = ?, example = ? WHERE id = ?",
                   [change, *(example or (UNSCORED, None)), text_id])
        if example is None and not db.execute("SELECT 1 FROM user_messages WHERE text_id = ? LIMIT 1",
                                              [text_id]).fetchone():
            db.execute("DELETE FROM message_texts WHERE id = ?", [text_id])


def refresh_annotated_messages(db, sender_id: str, timestamp: float) -> None:
    """After the annotation of a message of `sender_id` at `timestamp` was set or taken away."""
    is_annotated = int(db.execute("SELECT 1 FROM annotations WHERE sender_id = ? AND timestamp = ?",
                                  [sender_id, timestamp]).fetchone() is not None)
    rows = db.execute("SELECT m.event_id, m.text_id FROM user_messages m JOIN conversations c ON c.id = m.conversation_id "
                      "WHERE c.sender_id = ? AND m.timestamp = ? AND m.annotated <> ?",
                      [sender_id, timestamp, is_annotated]).fetchall()
    db.executemany("UPDATE user_messages SET annotated = ? WHERE event_id = ?", [(is_annotated, e) for e, _ in rows])
    changes: Counter = Counter()
    for _, text_id in rows:
        changes[text_id] += -1 if is_annotated else 1
    recount(db, changes)


def forget_messages(db, conversation_ids: list[int]) -> None:
    """Take erased conversations' messages out of the inbox (their texts too, where they were
    the last)."""
    changes: Counter = Counter()
    for conversation_id in conversation_ids:
        for text_id, unannotated in db.execute("SELECT text_id, count(*) - sum(annotated) FROM user_messages "
                                               "WHERE conversation_id = ? GROUP BY text_id", [conversation_id]):
            changes[text_id] -= unannotated
    db.executemany("DELETE FROM user_messages WHERE conversation_id = ?", [(i,) for i in conversation_ids])
    recount(db, changes)


class GroupNotFound(StoreError):
    status = 404
    title = "Message group not found"

    def __init__(self, position: int):
        super().__init__(f"groups[{position}]: the inbox has no message not yet annotated with this text")
        self.extra = {"parameter": "groups"}


@dataclass(frozen=True)
class MessageFilter:
    """The filters of GET /messages, on each message (all optional, ANDed): which messages of a
    text count. `text` is a part of the text after Unicode case folding, as the list's `text`."""

    intents: tuple = ()
    maximum_confidence: float | None = None
    model_ids: tuple = ()
    input_channels: tuple = ()
    commands: tuple = ()
    start: float | None = None
    until: float | None = None
    text: str | None = None

    @classmethod
    def from_parameters(cls, *, intent=None, maximum_confidence=None, model_id=None, input_channel=None, command=None,
                        start=None, until=None, text=None) -> "MessageFilter":
        """The filter from GET /messages' parameters: comma-separated lists, as the list's."""
        return cls(intents=_values("intent", intent), maximum_confidence=maximum_confidence,
                   model_ids=_values("model_id", model_id), input_channels=_values("input_channel", input_channel),
                   commands=_values("command", command), start=start, until=until, text=_text(text))

    def where(self, dialect) -> tuple[str, list]:
        """The filters on each message but `text`, as SQL over `user_messages m`. `text` is on the
        text: every message of a text passes it or none does (`texts_containing`)."""
        clauses: list[str] = ["m.annotated = 0"]
        params: list = []
        for column, values in (("m.intent", self.intents), ("m.model_id", self.model_ids),
                               ("m.input_channel", self.input_channels)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params += values
        if self.commands:
            clauses.append("(" + " OR ".join(f"{dialect.position}(m.commands, ?) > 0" for _ in self.commands) + ")")
            params += [f",{command}," for command in self.commands]
        for clause, value in (("m.confidence <= ?", self.maximum_confidence), ("m.timestamp >= ?", self.start),
                              ("m.timestamp <= ?", self.until)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return " AND ".join(clauses), params

    def __bool__(self) -> bool:
        return self != MessageFilter()


def texts_containing(db, text: str) -> list[int]:
    """The ids of the texts with a message not yet annotated that contain `text` after Unicode
    case folding (as the list's `text`), read and folded here, the same on both backends (SQLite's
    lower() folds ASCII only). Found once a request: as a clause repeated in each text's example,
    SQLite read every text again 20 times a page (`text=help`, 100k real-shaped conversations:
    634 ms). 60k texts there: 78 ms on SQLite, 80 on PostgreSQL; the events' trigram index, which
    scales with the matches instead, took as long for a common word on SQLite (`card`: 116k
    messages, 147 ms) and longer on PostgreSQL (466 ms)."""
    needle = text.casefold()
    return [text_id for text_id, body in db.execute("SELECT id, text FROM message_texts WHERE n > 0")
            if needle in body.casefold()]


class InboxMixin(StoreBase):
    def message_groups(self, filters: MessageFilter, *, order: str = "lowest_confidence", limit=None,
                       offset: int = 0) -> tuple[int, list[dict]]:
        """(how many groups, the page): the texts of user messages not yet annotated that pass
        `filters`, each with how many such messages it has and the one with the lowest
        confidence (its predicted intent and commands, where it is), lowest confidence or most
        frequent first; ties by the text's first appearance."""
        db = self.db
        limit = NO_LIMIT if limit is None else limit
        if not filters:
            total = db.execute("SELECT count(*) FROM message_texts WHERE n > 0").fetchone()[0]
            by = "t.rank, t.id" if order == "lowest_confidence" else "t.n DESC, t.id"
            page = [(text_id, n, example) for text_id, n, example in db.execute(
                f"SELECT t.id, t.n, t.example FROM message_texts t WHERE t.n > 0 ORDER BY {by} LIMIT ? OFFSET ?",
                [limit, offset])]
        else:
            where, params = filters.where(db.dialect)
            of_texts, texts = "", []
            if filters.text is not None:
                of_texts, texts = f" AND m.text_id {db.dialect.any_id}", [db.dialect.id_list(texts_containing(db, filters.text))]
            grouped = (f"SELECT m.text_id AS text_id, count(*) AS n, min(m.rank) AS rank FROM user_messages m "
                       f"WHERE {where}{of_texts} GROUP BY m.text_id")
            by = "g.rank, g.text_id" if order == "lowest_confidence" else "g.n DESC, g.text_id"
            # One pass: the groups' number comes with the page (an empty page: counted apart).
            rows = db.execute(f"SELECT g.text_id, g.n, count(*) OVER () FROM ({grouped}) g ORDER BY {by} "
                              "LIMIT ? OFFSET ?", [*params, *texts, limit, offset]).fetchall()
            total = rows[0][2] if rows else db.execute(f"SELECT count(*) FROM ({grouped}) g", [*params, *texts]).fetchone()[0]
            page = [(text_id, n, db.execute(
                f"SELECT m.event_id FROM user_messages m WHERE m.text_id = ? AND {where} "
                "ORDER BY m.rank, m.event_id LIMIT 1", [text_id, *params]).fetchone()[0]) for text_id, n, _ in rows]
        return total, [self._group(text_id, n, example) for text_id, n, example in page]

    def _group(self, text_id: int, n: int, example: int) -> dict:
        text, sender_id, timestamp, intent, confidence, commands = self.db.execute(
            "SELECT t.text, c.sender_id, m.timestamp, m.intent, m.confidence, m.commands FROM user_messages m "
            "JOIN message_texts t ON t.id = m.text_id JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.event_id = ?", [example]).fetchone()
        return {"text": text, "count": n, "intent": intent, "confidence": confidence,
                "commands": [command for command in commands.split(",") if command],
                "example": {"sender_id": sender_id, "timestamp": timestamp}}

    def annotate_texts(self, groups: list[dict], *, by: Actor = COMMAND_LINE) -> dict:
        """Annotate every message not yet annotated of each group's text (`{text, intent}`) with
        its intent (its entities as predicted), in one transaction; one audit line a group.
        Returns how many messages and conversations were annotated. Raises `GroupNotFound`
        for a text with no message to annotate (then nothing is annotated)."""
        from .annotations import INTENT_NAME, InvalidAnnotation
        now = time.time()
        annotated_messages, conversations = 0, set[str]()
        with self.transaction() as db:
            for position, group in enumerate(groups):
                if not INTENT_NAME.match(group["intent"]):
                    raise InvalidAnnotation("intent", f"groups[{position}]: intent {group['intent']!r} is not a name "
                                                      "Rasa takes (no spaces, quotes or brackets)")
                row = db.execute("SELECT id FROM message_texts WHERE digest = ? AND n > 0",
                                 [_digest(group["text"])]).fetchone()
                if row is None:
                    raise GroupNotFound(position)
                messages = db.execute(
                    "SELECT m.event_id, c.id, c.sender_id, m.timestamp FROM user_messages m "
                    "JOIN conversations c ON c.id = m.conversation_id WHERE m.text_id = ? AND m.annotated = 0",
                    [row[0]]).fetchall()
                db.executemany("INSERT INTO annotations (sender_id, timestamp, intent, entities, annotated_at, "
                               "annotated_by) VALUES (?, ?, ?, NULL, ?, ?) ON CONFLICT (sender_id, timestamp) DO NOTHING",
                               [(sender_id, timestamp, group["intent"], now, by.name)
                                for _, _, sender_id, timestamp in messages])
                db.executemany("UPDATE user_messages SET annotated = 1 WHERE event_id = ?",
                               [(event_id,) for event_id, *_ in messages])
                recount(db, {row[0]: -len(messages)})
                sets.add_marks(db, "annotated", [conversation_id for _, conversation_id, *_ in messages])
                record(db, by, "annotate_texts", intent=group["intent"], messages=len(messages))
                annotated_messages += len(messages)
                conversations.update(sender_id for _, _, sender_id, _ in messages)
        return {"messages": annotated_messages, "conversations": len(conversations), "groups": len(groups)}

