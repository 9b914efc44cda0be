"""An import's batches handed from the processes that parse them to the one that stores them,
as a table to copy from.

The parsing side writes a batch's rows into an in-memory SQLite database and hands over its bytes
(`sqlite3.Connection.serialize`); the storing side opens them as the schema `staging` of its
connection (`Connections.staged_transaction`) and copies them into `events` with one INSERT … SELECT.
Handed over as Python rows, every field of every row was unpickled, made a row again and bound in
the storing process, the bottleneck: 243,550 generated events' batches took it 1.8-2.0 s that
way and 0.85-0.87 s this way, while the parsing side's share grew from 0.28 to 0.71 s (best of 2,
in-process). For PostgreSQL the parsing side writes the rows as COPY's binary format
(`copy_data`), which the storing side copies into `events` as they are, or into a temporary
table where they must be read first (postgres.CopiedBatch); before, it made each row's packed
text and COPY line itself, and found the batch's repeats, sessions and messages: 78 s of a 94 s
import of the 100k generated set (py-spy).

Either way the storing side holds a batch as an object with `db` (the transaction's), `readable()`
(the rows readable as `db.dialect.staged_events`) and `copy_into_events()`.
"""

import sqlite3
import struct
from dataclasses import dataclass

from . import json_text
from .database import SqliteDatabase
from .events import EVENT_COLUMNS, EventRow, event_row, insert_rows, stored_action
from .packing import text_of

# Without types: each value keeps the storage class it was bound with, as `events` would store it.
_CREATE = f"CREATE TABLE events ({EVENT_COLUMNS})"

_SENDERS_A_QUERY = 500  # within SQLite's limit of bound values

# COPY's binary format (PostgreSQL's documentation, "Binary Format"): a signature, no flags and
# no header extension; then each row's number of fields, each field's length and bytes (-1: NULL);
# the end of the data.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_END = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)
_COPY_ROW = struct.Struct("!hi")  # 6 fields; the sender id's length
_DOUBLE = struct.Struct("!id")


def copy_staged(db) -> None:
    """Copy the staged batch (`staged_transaction`) into `events`, in its order."""
    d = db.dialect
    db.execute(f"INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM {d.staged_events} "
               f"ORDER BY {d.staged_order}")


@dataclass
class AttachedBatch:
    """SQLite's staged batch in a transaction: attached before it began
    (`database.Connections.staged_transaction`), and so readable throughout."""

    db: SqliteDatabase

    def readable(self) -> None:
        pass

    def copy_into_events(self) -> None:
        copy_staged(self.db)


@dataclass
class StagedBatch:
    """Events to store in one transaction, and what their conversations need beside them."""

    database: bytes  # `serialized(rows)` (SQLite) or `copy_data(rows)` (PostgreSQL)
    n_rows: int
    n_repeats: int  # rows left out of `database` as repeats of earlier rows of the batch
    packed: bool  # whether `database`'s JSON texts are packed (store/packing.py) or plain
    deltas: dict  # `deltas_of(rows)` (store/ingest.py)
    sessions: list  # `sessions_by_position(rows, every sender)` (store/sessions.py)
    messages: list  # `messages_by_position(rows)` (store/inbox.py)
    replays: dict  # `replays_of(rows, deltas)` (store/flow_data.py)


def serialized(rows: list[EventRow], pack) -> bytes:
    """A database holding `rows` (their `events` columns, `data` made by `pack`) in the table
    `events`."""
    db = SqliteDatabase(sqlite3.connect(":memory:"))
    try:
        db.execute(_CREATE)
        with db.conn:
            insert_rows(db, rows, pack)
        return db.conn.serialize()
    finally:
        db.conn.close()


def storable_rows(dialect: str, rows: list[EventRow]) -> list[EventRow]:
    """`rows` as the store will hold them: PostgreSQL's texts hold no NUL (store/postgres.py)."""
    if dialect != "postgresql":
        return rows
    from .postgres import storable_rows as without_nul  # psycopg is loaded only for PostgreSQL
    return without_nul(rows) or rows


def staged_database(dialect: str, rows: list[EventRow], pack) -> bytes:
    """`rows` as the storing side of an import takes them on its store: `serialized` for SQLite,
    `copy_data` for PostgreSQL."""
    return copy_data(rows, pack) if dialect == "postgresql" else serialized(rows, pack)


def copy_data(rows: list[EventRow], pack) -> bytes:
    """`rows` in COPY's binary format, as the `events` columns (`data` made by `pack`). Their
    texts hold no NUL (`postgres.storable_rows`)."""
    parts = [_COPY_SIGNATURE]
    append = parts.append
    for row in rows:
        sender_id, kind, data = row[0].encode(), row[1].encode(), pack(row[3], row[2])
        append(_COPY_ROW.pack(6, len(sender_id)))
        append(sender_id)
        append(struct.pack("!i", len(kind)))
        append(kind)
        append(_DOUBLE.pack(8, row[2]))
        append(struct.pack("!i", len(data)))
        append(data)
        for text in (stored_action(row), row[8]):  # action, search_text
            if text is None:
                append(_NULL)
            else:
                encoded = text.encode()
                append(struct.pack("!i", len(encoded)))
                append(encoded)
    append(_COPY_END)
    return b"".join(parts)


def may_repeat_stored_events(db, senders: list[str]) -> bool:
    """Whether a staged event of one of `senders` shares its sender, type and time with a stored
    event, and so may be stored already: `staged_rows` then decides, event by event. The senders
    are bound one by one (SQLite's JSON functions end a text at an escaped NUL)."""
    for start in range(0, len(senders), _SENDERS_A_QUERY):
        chunk = senders[start:start + _SENDERS_A_QUERY]
        if db.execute(
            f"SELECT EXISTS (SELECT 1 FROM {db.dialect.staged_events} s "
            f"WHERE s.sender_id IN ({','.join('?' * len(chunk))}) AND EXISTS (SELECT 1 FROM events e "
            "WHERE e.sender_id = s.sender_id AND e.timestamp = s.timestamp AND e.type = s.type))", chunk,
        ).fetchone()[0]:
            return True
    return False


def staged_rows(db) -> list[EventRow]:
    """The staged rows, derived again from their JSON texts (as stored: strict JSON, validated)."""
    rows = []
    d = db.dialect
    for sender_id, timestamp, data in db.execute(
            f"SELECT sender_id, timestamp, data FROM {d.staged_events} ORDER BY {d.staged_order}"):
        text = text_of(db, data, timestamp)
        rows.append(event_row(sender_id, json_text.loads(text), text=text))
    return rows
