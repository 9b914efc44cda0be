"""Opening the SQLite file: one connection per thread, WAL, and explicit write transactions."""

import contextlib
import sqlite3
import threading

from sqlite_utils import Database

from .errors import StoreFull
from .schema import migrate

BUSY_TIMEOUT_MS = 30_000


def connect(path) -> Database:
    """A connection in autocommit mode, so that `transaction()` alone decides what is atomic."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    # 32 MB of pages per connection (the default 2 MB re-read the list and analytics indexes of a
    # 100k-conversation store from the OS for every request).
    conn.execute("PRAGMA cache_size = -32768")
    return Database(conn)


class Connections:
    """Hands each thread its own connection: sqlite3 connections must not be shared while in use,
    and the server answers requests on a pool of threads."""

    def __init__(self, path):
        self.path = path
        self._local = threading.local()
        first = connect(path)
        first.execute("PRAGMA journal_mode = WAL")
        migrate(first, path)
        self._local.db = first

    @property
    def db(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

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
