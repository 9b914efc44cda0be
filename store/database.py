"""Opening the store: a SQLite file (one connection per thread, WAL, explicit write transactions),
or a PostgreSQL database (store/postgres.py), named by `--db`."""

import contextlib
import fcntl
import hashlib
import os
import re
import sqlite3
import threading
from pathlib import Path
from typing import TextIO
from urllib.parse import urlparse

from sqlite_utils import Database

from .deferred_indexes import made_at_the_end_if_new, make_missing_indexes
from .dialects import SQLITE
from .errors import StoreFull, StoreUnavailable
from .schema import migrate, migrations

# Before binding a None, Python 3.11's sqlite3 looks for an adapter in its registry, then asks the
# protocol and None itself for one: two AttributeErrors formatted and dropped, about 2,000
# instructions a value. Found in the registry, the search ends there. An event row binds three to
# four Nones: 8% of the instructions that store an import (callgrind, 2k generated conversations).
sqlite3.register_adapter(type(None), lambda value: value)

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite:///"  # sqlite:///relative.db, sqlite:////absolute/path.db


def store_location(location) -> tuple[str, str]:
    """("postgresql", url) or ("sqlite", file path) for what `--db` names."""
    text = str(location)
    if text.startswith(POSTGRESQL_SCHEMES):
        return "postgresql", text
    return "sqlite", text.removeprefix(SQLITE_SCHEME)


def store_identity(location) -> str:
    """One name for a store however `--db` spells it: a SQLite file's resolved path (relative,
    absolute, through a link), or a PostgreSQL database's `postgresql_identity`."""
    backend, where = store_location(location)
    return postgresql_identity(where) if backend == "postgresql" else f"sqlite:///{Path(where).resolve()}"


def postgresql_identity(url: str) -> str:
    """`postgresql://user@host:port/db?query`: without the password, with the default port, the
    scheme and host as PostgreSQL reads them (`postgres://` is `postgresql://`, hosts ignore case)."""
    parsed = urlparse(url)
    user = f"{parsed.username}@" if parsed.username else ""
    host = f"{parsed.hostname}:{parsed.port or 5432}" if parsed.hostname else ""
    return f"postgresql://{user}{host}{parsed.path}" + (f"?{parsed.query}" if parsed.query else "")


def without_password(url: str) -> str:
    """`url` fit for a message: its password starred."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def open_connections(location, *, replica: bool = False):
    """The connections of the store at `location` (see `store_location`), migrated; a `replica`
    (a PostgreSQL hot standby, read-only) is read as it is: its primary's migrations reach it."""
    backend, where = store_location(location)
    if backend == "postgresql":
        from .postgres import PostgresConnections
        return PostgresConnections(where, migrate_schema=not replica)
    if replica:
        raise StoreUnavailable(f"{location}: a read replica is a PostgreSQL streaming replica (postgresql://...)")
    return Connections(where)

BUSY_TIMEOUT_MS = 30_000
# A new store's pages (SQLite's default: 4 KB; a store made before keeps its own). An import's
# commits write a quarter as many frames to the log. On a noisy machine, interleaved pairs: the
# storing process at 100k generated conversations 25.6, 34.4, 26.4 -> 21.0, 26.6, 25.3 s of CPU;
# CLI at 10k 3.63, 3.13, 2.95, 3.64 -> 2.85, 2.85, 2.81, 3.94 s. The 92 list filters and pairs,
# analytics and a conversation's events read as fast (in-process at 100k: median 16 KB/4 KB 0.98).
PAGE_SIZE = 16_384
# A connection's cache of pages, in KiB, at least and at most (`page_cache_kib`).
PAGE_CACHE_KIB = 32 * 1024
PAGE_CACHE_AT_MOST_KIB = 128 * 1024


class SqliteDatabase(Database):
    """sqlite-utils' Database, with what the store asks of both backends: `dialect`,
    `executemany` and `insert_many` (store/postgres.py has the same for PostgreSQL)."""

    dialect = SQLITE

    def executemany(self, sql: str, rows) -> None:
        self.conn.executemany(sql, rows)

    def insert_many(self, table: str, columns: str, rows, *, skip_existing: bool = False,
                    without_nul: bool = False) -> None:
        """Add `rows` (values of `columns`, a comma-separated list) to `table`; with
        `skip_existing`, those whose key is there already are left out. (`without_nul` is
        PostgreSQL's: SQLite stores a NUL as it is.)

        Into a table with a trigger, rows go as many to a statement as it can bind: inside a
        transaction, a statement whose trigger may fail half-way keeps a journal of the pages it
        changes, to undo it alone, in a temporary file; a statement a row wrote the pages of the
        table, its indexes and the trigger's table there for every row. The sessions' (store/
        session_hours.py) of the 100k generated set's import: 125,672 statements, 9.2 of the
        13.5 GB that import's storing process wrote (strace; 2026-12-07)."""
        n_columns = len(columns.split(","))
        row_marks = f"({', '.join('?' * n_columns)})"
        if not self._has_trigger(table):
            self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES {row_marks}"
                                  f"{' ON CONFLICT DO NOTHING' if skip_existing else ''}", rows)
            return
        rows = list(rows)
        step = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // n_columns
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            self.conn.execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_marks] * len(chunk))}"
                              f"{' ON CONFLICT DO NOTHING' if skip_existing else ''}",
                              [value for row in chunk for value in row])

    def _has_trigger(self, table: str) -> bool:
        """Whether a trigger fires on changes to `table`."""
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                                 [table]).fetchone() is not None

    def stream(self, sql: str, chunk: int):
        """The rows of `sql` (no parameters), made as they are read (`chunk` is PostgreSQL's)."""
        return self.conn.execute(sql)

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction


class FileLock:
    """An flock on a file beside the store: released by the kernel when its process dies, however.
    (A lock on the store file itself would be undone by SQLite closing its own descriptors.)"""

    def __init__(self, path: str):
        self.path = path
        self._file: TextIO | None = None

    def try_acquire(self) -> bool:
        file = open(self.path, "a")  # noqa: SIM115 (held open while locked)
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._file = file
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _has_staging(db) -> bool:
    return any(name == "staging" for _, name, _ in db.execute("PRAGMA database_list"))


def connect(path) -> SqliteDatabase:
    """A connection in autocommit mode, so that `transaction()` alone decides what is atomic."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = -{page_cache_kib(path)}")
    return SqliteDatabase(conn)


def page_cache_kib(path) -> int:
    """A connection's own cache of pages, in KiB: 32 MB (the default 2 MB re-read the list and
    analytics indexes of a 100k-conversation store from the OS for every request), or a 128th of a
    larger store's file, up to 128 MB. The list's indexes grow with the conversations: at 1M
    generated conversations (8.5 GB) a page of `in_training_data=false` with an intent probes the
    index of sort keys (32 MB) beside the walked one, and with 32 MB each request read most of
    them again (in-process p50 in rounds: 32.5 ms with 32 MB, 24.6 with 64, 19.5 with 128)."""
    size = os.path.getsize(path) if os.path.exists(path) else 0
    return min(PAGE_CACHE_AT_MOST_KIB, max(PAGE_CACHE_KIB, size // 128 // 1024))


class Connections:
    """Hands each thread its own connection: sqlite3 connections must not be shared while in use,
    and the server answers requests on a pool of threads."""

    def __init__(self, path):
        self.path = path
        self._local = threading.local()
        first = connect(path)
        first.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file's; before WAL, which fixes it
        first.execute("PRAGMA journal_mode = WAL")
        migrate(first, path)
        make_missing_indexes(first)  # an import into a new store stopped before its end
        self._local.db = first

    @property
    def db(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    def check_writable(self) -> None:
        """Raise sqlite3.OperationalError (SQLITE_READONLY) if the file cannot be written. A write
        is tried and rolled back: taking the write lock alone succeeds on a read-only WAL store."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute(f"PRAGMA user_version = {version}")
        finally:
            if db.conn.in_transaction:
                db.conn.rollback()

    def migrations(self) -> tuple[list[str], list[str]]:
        """(applied, pending) migration names."""
        return ([m.name for m in migrations.applied(self.db)], [m.name for m in migrations.pending(self.db)])

    def sole(self, name: str) -> "FileLock":
        """A lock only one process on this store holds at a time (see `Store.sole`)."""
        digest = hashlib.blake2b(name.encode(), digest_size=8).hexdigest()
        return FileLock(f"{self.path}-{digest}.lock")

    @staticmethod
    def storable_rows(rows: list) -> list | None:
        """SQLite stores any text as it is (PostgreSQL: store/postgres.py)."""
        return None

    def size(self) -> int:
        """Bytes on disk: the file and its write-ahead log."""
        return sum(os.path.getsize(path) for path in (self.path, f"{self.path}-wal") if os.path.exists(path))

    def after_bulk_load(self, n_stored: int, on_rebuilding) -> None:
        """Nothing: SQLite plans without sampled statistics, and its store takes 0.74× its JSON
        Lines as imported; `VACUUM` rebuilds every index with the file."""

    def tidy_after_erasures(self) -> None:
        pass

    def vacuum(self) -> None:
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the rewritten pages sit in the WAL until then

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    @contextlib.contextmanager
    def bulk_writes(self):
        """Many write transactions in a row, from this thread (an import): the write-ahead log is
        copied back into the file every 64 MB instead of SQLite's 4 MB, so that an index page many
        batches change is copied, and the file synced, fewer times. Storing 100k generated
        conversations in-process, two runs each: 64-69 -> 52-55 s. An import into a new store
        makes the indexes whose keys come in no order at its end (store/deferred_indexes.py)."""
        db = self.db
        db.execute("PRAGMA wal_autocheckpoint = 16384")
        try:
            with made_at_the_end_if_new(db):
                yield
        finally:
            db.execute("PRAGMA wal_autocheckpoint = 1000")
            if _has_staging(db):
                db.execute("DETACH staging")  # and the last batch's memory with it
            # The log's last pages copied back and the log emptied: after 100k generated
            # conversations it held 328 MB (a third of the store) until the next checkpoint. A
            # reader in the middle of a transaction makes it copy what it can and return.
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextlib.contextmanager
    def staged_transaction(self, database: bytes):
        """A write transaction (`transaction`) that sees the staged batch `database`
        (store/staging.py) as the schema `staging` of this thread's connection (an
        `AttachedBatch`). Opened before the transaction begins: SQLite replaces no schema a
        transaction reads."""
        db = self.db
        if not _has_staging(db):
            db.execute("ATTACH ':memory:' AS staging")
        db.conn.deserialize(database, name="staging")
        from .staging import AttachedBatch  # which needs this module's SqliteDatabase
        with self.transaction() as db:
            yield AttachedBatch(db)

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction: taken with BEGIN IMMEDIATE so that two writers wait for each
        other at the start (bounded by the busy timeout) instead of failing half-way. A full disk
        raises `StoreFull`, after the rollback."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as error:
            # SQLite may have rolled back by itself (a full disk, a failed COMMIT): a second ROLLBACK
            # would fail with "no transaction is active" and hide the error that matters.
            if db.conn.in_transaction:
                db.conn.rollback()
            if isinstance(error, sqlite3.OperationalError) and error.sqlite_errorname == "SQLITE_FULL":
                raise StoreFull(str(error)) from error
            raise
