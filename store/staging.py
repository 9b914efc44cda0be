"""An import's batches handed from the process that parses them to the one that stores them as
SQLite databases (SQLite stores only; PostgreSQL's imports store rows, `IngestMixin.ingest`).

The parsing side writes a batch's rows into an in-memory database and hands over its bytes
(`sqlite3.Connection.serialize`); the storing side opens them as the schema `staging` of its
connection (`Connections.load_staging`) and copies them into `events` with one INSERT … SELECT.
Handed over as Python rows, every field of every row was unpickled, made a row again and bound in
the storing process, the bottleneck: 243,550 generated events' batches took it 1.8-2.0 s that
way and 0.85-0.87 s this way, while the parsing side's share grew from 0.28 to 0.71 s (best of 2,
in-process).
"""

import sqlite3
from dataclasses import dataclass

from . import json_text
from .database import SqliteDatabase
from .events import EVENT_COLUMNS, EventRow, event_row, insert_rows
from .packing import text_of

# Without types: each value keeps the storage class it was bound with, as `events` would store it.
_CREATE = f"CREATE TABLE events ({EVENT_COLUMNS})"

_SENDERS_A_QUERY = 500  # within SQLite's limit of bound values

COPY_STAGED = f"INSERT INTO main.events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM staging.events ORDER BY rowid"


@dataclass
class StagedBatch:
    """Events to store in one transaction, and what their conversations need beside them."""

    database: bytes  # `serialized(rows)`: the rows in `events`, their order in the rowids 1, 2, ...
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


def may_repeat_stored_events(db, senders: list[str]) -> bool:
    """Whether a staged event of one of `senders` shares its sender, type and time with a stored
    event, and so may be stored already: `staged_rows` then decides, event by event. The senders
    are bound one by one (SQLite's JSON functions end a text at an escaped NUL)."""
    for start in range(0, len(senders), _SENDERS_A_QUERY):
        chunk = senders[start:start + _SENDERS_A_QUERY]
        if db.execute(
            "SELECT EXISTS (SELECT 1 FROM staging.events s "
            f"WHERE s.sender_id IN ({','.join('?' * len(chunk))}) AND EXISTS (SELECT 1 FROM main.events e "
            "WHERE e.sender_id = s.sender_id AND e.timestamp = s.timestamp AND e.type = s.type))", chunk,
        ).fetchone()[0]:
            return True
    return False


def staged_rows(db) -> list[EventRow]:
    """The staged rows, derived again from their JSON texts (as stored: strict JSON, validated)."""
    rows = []
    for sender_id, data in db.execute("SELECT sender_id, data FROM staging.events ORDER BY rowid"):
        text = text_of(db, data)
        rows.append(event_row(sender_id, json_text.loads(text), text=text))
    return rows
