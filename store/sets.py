"""Conversation sets: the conversations with each intent, entity, action and policy, those in the
training data, those whose lowest action confidence or number of user messages passes a level,
and those whose latest event falls in a time block, kept as bitsets of conversation ids.

Why: the list's `X-Total-Count` is the size of an intersection. SQL intersects by visiting each
member of one set and probing the others (the most common intent with TEDPolicy at 100k
conversations: 66k probes, 44 ms); the bitset of 100k conversations is 12.5 kB, which Python's
integers AND and count in microseconds. A set is stored in chunks of `CHUNK_BITS` ids, so that
an ingest rewrites a few small rows (the chunks of the conversations it touched), never a set.

Review marks (flags, review marks, tags, annotations) are kept as sets too: 2% of 100k
conversations flagged took 2 ms to list by joining flags to conversations, and grew with the store.
Their members are also kept in list order (`marked_conversations`, with the conversations' sort
keys): a page of a sparse mark is walked from there instead of sorting every member (below).

Sets are derived data, written in the transaction that changes what they are derived from:
`record_changes` and `reorder_marked` (ingest), `refresh_mark` (a review mark),
`remove_conversations` (erase), `rebuild` (the migration).
"""

import json
import math
from collections import defaultdict
from typing import NamedTuple

import numpy

CHUNK_BITS = 1024
CHUNK_BYTES = CHUNK_BITS // 8
DAY = 86_400.0
# `confidence` level k holds the conversations whose lowest action confidence is <= k / 100;
# `messages` level k those with at least k user messages (longer ones are counted in SQL).
CONFIDENCE_LEVELS = 100
MESSAGE_LEVELS = 50
# Time blocks of 1, 8, 64, ... 8^7 days (5,700 years: timestamps Rasa would never write still
# cost a few blocks): a range is a few large blocks plus up to 7 of each smaller size.
TIME_BLOCKS = tuple((f"days{8 ** level}" if level else "day", 3 * level) for level in range(8))
# What `record_changes` reads of a conversation.
ROW_COLUMNS = ("id, latest_event_time, minimum_action_confidence, n_scored_actions, n_user_messages, "
               "n_off_training_actions, n_predicted_actions")


class SetRow(NamedTuple):
    id: int
    latest_event_time: float
    minimum_action_confidence: float
    n_scored_actions: int
    n_user_messages: int
    n_off_training_actions: int
    n_predicted_actions: int


def in_training_data(row) -> bool:
    return row.n_off_training_actions == 0 and row.n_predicted_actions > 0


IN_TRAINING_DATA_SQL = "CASE WHEN c.n_off_training_actions = 0 AND c.n_predicted_actions > 0 THEN 1 ELSE 0 END"


def confidence_level(confidence: float) -> int:
    """The lowest level k with confidence <= k / 100 (101 when above every level)."""
    if confidence > 1:
        return CONFIDENCE_LEVELS + 1
    k = max(0, math.ceil(confidence * CONFIDENCE_LEVELS))
    while k > 0 and confidence <= (k - 1) / CONFIDENCE_LEVELS:
        k -= 1
    while k <= CONFIDENCE_LEVELS and confidence > k / CONFIDENCE_LEVELS:
        k += 1
    return k


def level_within(maximum: float) -> int:
    """The highest level k with k / 100 <= maximum (-1 when below every level)."""
    if maximum < 0:
        return -1
    k = min(CONFIDENCE_LEVELS, math.floor(min(maximum, 1) * CONFIDENCE_LEVELS))
    while k >= 0 and k / CONFIDENCE_LEVELS > maximum:
        k -= 1
    while k < CONFIDENCE_LEVELS and (k + 1) / CONFIDENCE_LEVELS <= maximum:
        k += 1
    return k


def period_of(timestamp: float, length: float) -> int:
    """The period p with p * length <= timestamp < (p + 1) * length, exactly as SQL compares them
    (the quotient's double can round to the next whole period)."""
    period = math.floor(timestamp / length)
    if period * length > timestamp:
        period -= 1
    elif (period + 1) * length <= timestamp:
        period += 1
    return period


def day_of(timestamp: float) -> int:
    """The day d with d * DAY <= timestamp < (d + 1) * DAY."""
    return period_of(timestamp, DAY)


# Changes are written chunk by chunk, and built that way: chunk → the bits of its CHUNK_BITS ids
# (bit i: id chunk × CHUNK_BITS + i). Built as one integer, a bit of id 100,000 is a 12.5 kB
# integer, and every OR copies it: the sets took 3.5 µs an event of importing 100k generated
# conversations against 1.4 at 10k (chunk by chunk: 2.3 and 1.3).

def add_id(chunks: dict[int, int], conversation_id: int) -> None:
    chunk, bit = divmod(conversation_id, CHUNK_BITS)
    chunks[chunk] = chunks.get(chunk, 0) | 1 << bit


def chunked(ids) -> dict[int, int]:
    chunks: dict[int, int] = {}
    for conversation_id in ids:
        add_id(chunks, conversation_id)
    return chunks


def adding(chunks: dict[int, int]) -> dict[int, tuple[int, int]]:
    """A change (chunk → (added bits, removed bits)) that adds `chunks`."""
    return {chunk: (bits, 0) for chunk, bits in chunks.items()}


def removing(chunks: dict[int, int]) -> dict[int, tuple[int, int]]:
    return {chunk: (0, bits) for chunk, bits in chunks.items()}


def _union(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    return {chunk: a.get(chunk, 0) | b.get(chunk, 0) for chunk in a.keys() | b.keys()}


def membership(rows) -> dict[tuple[str, str], dict[int, int]]:
    """(kind, value) → the given conversations (SetRows) in each row-derived set, by chunk."""
    sets: dict = defaultdict(dict)
    lowest_level: dict = defaultdict(dict)  # confidence level → conversations entering there
    most_messages: dict = defaultdict(dict)  # message level → conversations reaching no further
    for row in rows:
        add_id(sets["all", ""], row.id)
        if in_training_data(row):
            add_id(sets["training", ""], row.id)
        if row.n_scored_actions:
            add_id(lowest_level[confidence_level(row.minimum_action_confidence)], row.id)
        add_id(most_messages[min(row.n_user_messages, MESSAGE_LEVELS)], row.id)
        day = day_of(row.latest_event_time)
        for kind, shift in TIME_BLOCKS:
            add_id(sets[kind, str(day >> shift)], row.id)
    running: dict[int, int] = {}
    for k in range(CONFIDENCE_LEVELS + 1):  # levels are cumulative: a member of k is one of k + 1
        if k in lowest_level:
            running = _union(running, lowest_level[k])
        if running:
            sets["confidence", str(k)] = running
    running = {}
    for k in range(MESSAGE_LEVELS, 0, -1):
        if k in most_messages:
            running = _union(running, most_messages[k])
        if running:
            sets["messages", str(k)] = running
    return sets


def record_changes(db, before: list, after: list, also: dict | None = None) -> None:
    """Bring the sets up to date for conversations that were `before` and are now `after`
    (SetRows), and make the changes `also` ((kind, value) → chunk → (added bits, removed bits))."""
    old, new = membership(before), membership(after)
    changes = dict(also or {})
    for key in old.keys() | new.keys():
        was, now = old.get(key, {}), new.get(key, {})
        for chunk in was.keys() | now.keys():
            added, removed = now.get(chunk, 0) & ~was.get(chunk, 0), was.get(chunk, 0) & ~now.get(chunk, 0)
            if added or removed:
                changes.setdefault(key, {})[chunk] = (added, removed)
    _apply(db, changes)


# The review marks kept as sets: kind → (the mark's rows by conversation id and value, whether
# a sender has the mark of a value). Tags are one set per tag; the others have the value "".
MARKS = {
    "flagged": ("SELECT c.id AS id, '' AS value FROM flags m JOIN conversations c USING (sender_id) "
                "WHERE m.flagged = 1", "SELECT 1 FROM flags WHERE sender_id = ? AND ? = '' AND flagged = 1"),
    "reviewed": ("SELECT c.id AS id, '' AS value FROM reviews m JOIN conversations c USING (sender_id)",
                 "SELECT 1 FROM reviews WHERE sender_id = ? AND ? = ''"),
    "annotated": ("SELECT c.id AS id, '' AS value FROM annotations m JOIN conversations c USING (sender_id)",
                  "SELECT 1 FROM annotations WHERE sender_id = ? AND ? = ''"),
    "tag": ("SELECT c.id AS id, m.tag AS value FROM tags m JOIN conversations c USING (sender_id)",
            "SELECT 1 FROM tags WHERE sender_id = ? AND tag = ?"),
}
# The marks of m014's (and p003's) time: what those migrations fill. m023 adds one set per person
# (issue 41): whom a conversation is assigned to, who marked it reviewed; none exists before.
MARKS_OF_M014 = dict(MARKS)
MARKS |= {
    "assignee": ("SELECT c.id AS id, m.assignee AS value FROM assignments m JOIN conversations c USING (sender_id)",
                 "SELECT 1 FROM assignments WHERE sender_id = ? AND assignee = ?"),
    "reviewed_by": ("SELECT c.id AS id, m.reviewed_by AS value FROM reviews m JOIN conversations c USING (sender_id) "
                    "WHERE m.reviewed_by IS NOT NULL", "SELECT 1 FROM reviews WHERE sender_id = ? AND reviewed_by = ?"),
}


# A mark's members with the list's sort keys, so that a page of them is a walk of an index in list
# order: is_flagged (2,000 of 100k real-shaped conversations) read and sorted every member, 2.9 ms
# against 0.8 ms at 10k. The list is in order of confidence only for conversations out of the
# training data, so that index starts with `in_training_data` (a walk from the top met 700
# members in the training data for 20 out of it). `id` is the conversation's id, as in
# `conversations`, so that a walk reads either table alike. PostgreSQL has the same
# (store/postgres_schema.py).
MARKED_TABLE = [
    "CREATE TABLE marked_conversations (kind TEXT NOT NULL, value TEXT NOT NULL, id BIGINT NOT NULL, "
    "latest_event_time FLOAT NOT NULL, minimum_action_confidence FLOAT NOT NULL, in_training_data INTEGER NOT NULL, "
    "sender_id TEXT NOT NULL, PRIMARY KEY (kind, value, id))",
    "CREATE INDEX marked_by_latest ON marked_conversations (kind, value, latest_event_time DESC, sender_id, id)",
    "CREATE INDEX marked_by_confidence ON marked_conversations "
    "(kind, value, in_training_data, minimum_action_confidence DESC, sender_id, id)",
    "CREATE INDEX marked_by_conversation ON marked_conversations (id)",
]
_MARKED_COLUMNS = "kind, value, id, latest_event_time, minimum_action_confidence, in_training_data, sender_id"
_MARKED_VALUES = f"c.id, c.latest_event_time, c.minimum_action_confidence, {IN_TRAINING_DATA_SQL}, c.sender_id"


def fill_marked() -> list[str]:
    """The statements that fill `marked_conversations` from the marks (its migrations)."""
    return [f"INSERT INTO marked_conversations ({_MARKED_COLUMNS}) SELECT DISTINCT '{kind}', m.value, "
            f"{_MARKED_VALUES} FROM ({rows_sql}) m JOIN conversations c ON c.id = m.id"
            for kind, (rows_sql, _) in MARKS_OF_M014.items()]


def reorder_marked(db, rows: list) -> None:
    """After an ingest: marked conversations take their new sort keys (SetRows)."""
    db.executemany("UPDATE marked_conversations SET latest_event_time = ?, minimum_action_confidence = ?, "
                   "in_training_data = ? WHERE id = ?",
                   [(row.latest_event_time, row.minimum_action_confidence, int(in_training_data(row)), row.id)
                    for row in rows])


def refresh_mark(db, sender_id: str, kind: str, value: str = "") -> None:
    """After a review mark of `sender_id` changed: its conversation joins or leaves the set."""
    refresh_marks(db, [sender_id], kind, value)


def add_marks(db, kind: str, ids: list[int], value: str = "") -> None:
    """Conversations that certainly have a review mark now join its set."""
    _apply(db, {(kind, value): adding(chunked(ids))})


def refresh_marks(db, senders: list[str], kind: str, value: str = "") -> None:
    """After a review mark of each of `senders` changed (an assignment of many, an annotation of
    a text many conversations share): each joins or leaves the set, in one write of it."""
    _, has_mark = MARKS[kind]
    marked: list[int] = []
    unmarked: list[int] = []
    for sender_id in senders:
        row = db.execute("SELECT id FROM conversations WHERE sender_id = ?", [sender_id]).fetchone()
        if row is not None:
            (marked if db.execute(has_mark, [sender_id, value]).fetchone() else unmarked).append(row[0])
    added, removed = chunked(marked), chunked(unmarked)
    _apply(db, {(kind, value): {chunk: (added.get(chunk, 0), removed.get(chunk, 0))
                                for chunk in added.keys() | removed.keys()}})


_CHUNKS_A_QUERY = 500  # within SQLite's limit of bound values


def remove_conversations(db, ids: list[int]) -> None:
    """Take conversations out of every set they are in (before their rows are deleted)."""
    gone: dict = defaultdict(int)
    for conversation_id in ids:
        gone[conversation_id // CHUNK_BITS] |= 1 << (conversation_id % CHUNK_BITS)
    # The sets' rows are keyed by (kind, value, chunk): a chunk's rows are found by reading them all.
    # Read once for a batch's chunks, not once a chunk: the 100 oldest of 1M conversations lie in
    # 94 chunks, 42 ms a read, 4.0 of the 5.5 s their erasure took (cProfile).
    touched = list(gone)
    for start in range(0, len(touched), _CHUNKS_A_QUERY):
        chunk = touched[start:start + _CHUNKS_A_QUERY]  # of the touched chunks' numbers
        rows = db.execute(f"SELECT kind, value, chunk, bits FROM conversation_sets "
                          f"WHERE chunk IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        _write(db, [(kind, value, number, _int(stored) & ~gone[number]) for kind, value, number, stored in rows
                    if _int(stored) & gone[number]])
    db.executemany("DELETE FROM marked_conversations WHERE id = ?", [(conversation_id,) for conversation_id in ids])


def rebuild(db, batch: int = 20_000) -> None:
    """Make every set from the conversations and their terms (a store made before the sets)."""
    db.execute("DELETE FROM conversation_sets")
    last = 0
    while rows := [SetRow(*r) for r in db.execute(
            f"SELECT {ROW_COLUMNS} FROM conversations WHERE id > ? ORDER BY id LIMIT ?", [last, batch]).fetchall()]:
        terms: dict = defaultdict(dict)
        for kind, value, conversation_id in db.execute(
                "SELECT kind, value, conversation_id FROM conversation_terms WHERE conversation_id > ? "
                "AND conversation_id <= ?", [last, rows[-1].id]):
            add_id(terms[kind, value], conversation_id)
        record_changes(db, [], rows, {key: adding(chunks) for key, chunks in terms.items()})
        last = rows[-1].id
    marks: dict = defaultdict(dict)
    for kind, (rows_sql, _) in MARKS_OF_M014.items():
        for conversation_id, value in db.execute(rows_sql):
            add_id(marks[kind, value], conversation_id)
    # Not in list order: the migration that made the sets (m014) came before that table (m016).
    _apply(db, {key: adding(chunks) for key, chunks in marks.items()}, in_list_order=False)


def add_term_sets(db, kind: str) -> None:
    """Make the sets of one kind of term from `conversation_terms` (a migration that derives a
    new kind for the conversations stored before it)."""
    terms: dict = defaultdict(dict)
    for value, conversation_id in db.execute("SELECT value, conversation_id FROM conversation_terms WHERE kind = ?",
                                             [kind]):
        add_id(terms[kind, value], conversation_id)
    _apply(db, {key: adding(chunks) for key, chunks in terms.items()})


def apply_changes(db, changes: dict) -> None:
    """Make `changes` ((kind, value) → chunk → (added bits, removed bits)) to the sets."""
    _apply(db, changes)


def version(db) -> int:
    """How many times the sets were written: what a set decoded earlier is valid as of."""
    row = db.execute("SELECT value FROM counters WHERE name = 'sets'").fetchone()
    return row[0] if row else 0


def read(db, kind: str, value: str = "") -> int:
    """The set (kind, value) as one bitset."""
    rows = db.execute("SELECT chunk, bits FROM conversation_sets WHERE kind = ? AND value = ? ORDER BY chunk",
                      [kind, value]).fetchall()
    if not rows:
        return 0
    buffer = bytearray(CHUNK_BYTES * (rows[-1][0] + 1))
    for chunk, bits in rows:
        buffer[chunk * CHUNK_BYTES:chunk * CHUNK_BYTES + len(bits)] = bits
    return int.from_bytes(buffer, "little")


def read_any(db, kind: str, values) -> int:
    """The union of the sets (kind, value) for `values`."""
    return read_union(db, [(kind, value) for value in values])


def read_union(db, keys: list[tuple[str, str]]) -> int:
    """The union of the sets (kind, value) of `keys`, in one query: a time range is the union of up
    to 16 blocks, and a query costs a PostgreSQL round trip (60 µs here) where SQLite's is 10 µs."""
    if len(keys) <= 1:
        return read(db, *keys[0]) if keys else 0
    chunks: dict[int, int] = defaultdict(int)
    # ORed key conditions: both planners read each from the primary key (a join with the JSON
    # list made PostgreSQL scan the table).
    any_key = " OR ".join(["(kind = ? AND value = ?)"] * len(keys))
    for chunk, bits in db.execute(f"SELECT chunk, bits FROM conversation_sets WHERE {any_key}",
                                  [part for key in keys for part in key]):
        chunks[chunk] |= int.from_bytes(bits, "little")
    if not chunks:
        return 0
    buffer = bytearray(CHUNK_BYTES * (max(chunks) + 1))
    for chunk, bits in chunks.items():
        buffer[chunk * CHUNK_BYTES:(chunk + 1) * CHUNK_BYTES] = bits.to_bytes(CHUNK_BYTES, "little")
    return int.from_bytes(buffer, "little")


def time_blocks(first_day: int, last_day: int) -> list[tuple[str, str]]:
    """The sets (kind, value) whose union is exactly the days first_day..last_day: the largest
    aligned blocks that fit, smaller ones at the edges."""
    blocks, day = [], first_day
    while day <= last_day:
        for kind, shift in reversed(TIME_BLOCKS):
            size = 1 << shift
            if day % size == 0 and day + size - 1 <= last_day:
                blocks.append((kind, str(day >> shift)))
                day += size
                break
    return blocks


def bits_of(ids) -> int:
    """A bitset of conversation ids."""
    ids = list(ids)
    if not ids:
        return 0
    buffer = bytearray((max(ids) >> 3) + 1)
    for conversation_id in ids:
        buffer[conversation_id >> 3] |= 1 << (conversation_id & 7)
    return int.from_bytes(buffer, "little")


def ids_of(bits: int) -> list[int]:
    """The conversation ids of a bitset, ascending, found by numpy: the 64-bit words that hold
    any, their bytes that hold any, those bytes' bits. Found with `bin` before, whose string of
    every digit cost 0.6 ms for a 1M-bit set whatever it held: a page of a time range with a term
    at 1M generated conversations reads a day's few hundred candidates, whose ids span the store
    (0.58 of its 1.6 ms in-process). A 1M-bit set: 200 ids 0.63 → 0.17 ms, 7,400 ids 2.0 → 0.7."""
    if not bits:
        return []
    words = numpy.frombuffer(bits.to_bytes((bits.bit_length() + 63) // 64 * 8, "little"), numpy.uint64)
    held_words = numpy.flatnonzero(words)
    octets = words[held_words].view(numpy.uint8)  # each held word's 8 bytes, lowest first
    held_octets = numpy.flatnonzero(octets)
    ones = numpy.flatnonzero(numpy.unpackbits(octets[held_octets], bitorder="little"))
    octet = held_octets[ones >> 3]
    return (held_words[octet >> 3] * 64 + (octet & 7) * 8 + (ones & 7)).tolist()


def contains(bits: int):
    """A membership test of a bitset for a walk over many conversations (a bit of a byte string is
    found in constant time; shifting a 100k-bit integer copies it)."""
    members = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    return lambda conversation_id: (conversation_id >> 3 < len(members)
                                    and members[conversation_id >> 3] >> (conversation_id & 7) & 1)


def _int(blob: bytes) -> int:
    return int.from_bytes(blob, "little")


def _apply(db, changes: dict, in_list_order: bool = True) -> None:
    """Add and remove bits: each touched (set, chunk) row is read once and written once. A mark's
    members also join or leave `marked_conversations`."""
    if in_list_order:
        _order_marks(db, {key: change for key, change in changes.items() if key[0] in MARKS})
    touched = {(kind, value, chunk): change for (kind, value), by_chunk in changes.items()
               for chunk, change in by_chunk.items() if change != (0, 0)}
    if not touched:
        return
    # A lookup per key, as a subquery: joined with the JSON list, PostgreSQL scans the whole table
    # (HTTP ingest at 100k conversations: 301 events/s that way).
    stored = {(kind, value, chunk): _int(bits) for kind, value, chunk, bits in db.execute(
        "SELECT j.value ->> 0, j.value ->> 1, CAST(j.value ->> 2 AS BIGINT), (SELECT s.bits FROM conversation_sets s "
        "WHERE s.kind = j.value ->> 0 AND s.value = j.value ->> 1 AND s.chunk = CAST(j.value ->> 2 AS BIGINT)) "
        f"FROM {db.dialect.json_rows} j", [json.dumps(list(touched))]) if bits is not None}
    _write(db, [(*key, (stored.get(key, 0) | added) & ~removed) for key, (added, removed) in touched.items()])


def _order_marks(db, changes: dict) -> None:
    for (kind, value), by_chunk in changes.items():
        db.executemany("DELETE FROM marked_conversations WHERE kind = ? AND value = ? AND id = ?",
                       [(kind, value, chunk * CHUNK_BITS + bit) for chunk, (_, removed) in by_chunk.items()
                        for bit in ids_of(removed)])
        db.executemany(f"INSERT INTO marked_conversations ({_MARKED_COLUMNS}) SELECT ?, ?, {_MARKED_VALUES} "
                       "FROM conversations c WHERE c.id = ? ON CONFLICT DO NOTHING",
                       [(kind, value, chunk * CHUNK_BITS + bit) for chunk, (added, _) in by_chunk.items()
                        for bit in ids_of(added)])


def _write(db, rows) -> None:
    db.execute("INSERT INTO counters (name, value) VALUES ('sets', 1) "
               "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1")
    db.executemany("DELETE FROM conversation_sets WHERE kind = ? AND value = ? AND chunk = ?",
                        [(kind, value, chunk) for kind, value, chunk, bits in rows if not bits])
    db.executemany(
        "INSERT INTO conversation_sets (kind, value, chunk, bits) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (kind, value, chunk) DO UPDATE SET bits = excluded.bits",
        [(kind, value, chunk, bits.to_bytes((bits.bit_length() + 7) // 8, "little"))
         for kind, value, chunk, bits in rows if bits])
