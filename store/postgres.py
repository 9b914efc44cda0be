"""The PostgreSQL store (`--db postgresql://...`): the same SQL over psycopg 3.

`PostgresDatabase` offers what the store uses of sqlite-utils' `Database` (execute, executemany,
query, table_names), so the store's modules run unchanged on either backend. The store's SQL is
written with SQLite's `?` and `:name` parameters; they are rewritten to psycopg's once per
statement text.

Several servers and consumers may share one database, so:
- writers take one transaction-scoped advisory lock (`WRITE_LOCK`), as SQLite's BEGIN IMMEDIATE
  makes them queue for the file: the conversation metadata, the sets and the statistics are read
  and written in Python within the transaction, and two writers interleaving there would lose an
  update. Readers never wait for it.
- migrations run under a session advisory lock (`MIGRATE_LOCK`): a second process starting at the
  same time waits, then finds nothing left to do.
"""

import contextlib
import functools
import itertools
import re
import threading
import time
import zlib
from dataclasses import dataclass

import psycopg
import psycopg.sql
from psycopg.adapt import Loader
from psycopg.rows import dict_row
from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

from .database import without_password
from .deferred_indexes import made_at_the_end_if_new, make_missing_indexes
from .dialects import POSTGRESQL
from .errors import NotOurDatabase, StoreFull, StoreUnavailable
from .events import EVENT_COLUMNS
from .postgres_schema import MIGRATIONS, MIGRATIONS_TABLE
from .staging import copy_staged

# Arbitrary constants, the same in every process of this program (pg_advisory_lock takes a bigint).
WRITE_LOCK = 0x7261_7361_0001
MIGRATE_LOCK = 0x7261_7361_0002
SOLE_LOCKS = 0x7261_7361  # the first key of `AdvisoryLock`s (two int4 keys: this, and the name's hash)

_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?|(?<![:\w]):([A-Za-z_]\w*)|%""")


@functools.lru_cache(maxsize=1024)
def psycopg_sql(sql: str) -> str:
    """`sql` with `?` as `%s`, `:name` as `%(name)s`, and every `%` doubled (psycopg reads `%` in
    quoted text too; a `?` or `:name` there is text)."""
    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if match.group(1):
            return f"%({match.group(1)})s"
        return token.replace("%", "%%")
    return _TOKENS.sub(replace, sql)


class _WholeNumberLoader(Loader):
    """`numeric` (what PostgreSQL's sum() and avg() of integers return) as int when whole, else
    float: the API's counts are JSON integers, as SQLite gives them."""

    def load(self, data):
        text = bytes(data).decode()
        return int(text) if "." not in text else float(text)


class _TextDumper(StrDumperUnknown):
    """PostgreSQL text cannot hold NUL, which SQLite and JSON can: a NUL in a sender id, a message
    or a filter is sent as U+FFFD, the same way on the way in and on every lookup (the event's
    JSON in `data` keeps it, escaped). An error instead would park or refuse a whole batch."""

    def dump(self, obj: str):
        return super().dump(obj.replace("\x00", "\ufffd"))


class _TextBinaryDumper(StrBinaryDumper):
    __doc__ = _TextDumper.__doc__

    def dump(self, obj: str):
        return super().dump(obj.replace("\x00", "\ufffd"))


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, tuple):
        return tuple(_without_nul(item) for item in value)
    return value


def storable_rows(rows: list) -> list | None:
    """`rows` (EventRows) as `_TextDumper` will store them, or None when no text holds a NUL: the
    store keys conversations and terms by these texts in Python too, and the keys must agree."""
    # A NUL in any text of the event is escaped in its JSON (`data`); the sender id may be apart.
    if not any("\x00" in row.sender_id or "\\u0000" in row.data for row in rows):
        return None
    return [type(row)(*(_without_nul(field) for field in row)) for row in rows]


@contextlib.contextmanager
def _reachable(conn):
    """A lost connection (or a server that went away) as `StoreUnavailable`, a 503: the thread's
    next request connects again (`PostgresConnections.db`)."""
    try:
        yield
    except psycopg.OperationalError as error:
        if conn.closed or (error.sqlstate or "").startswith("08"):  # class 08: connection exception
            raise StoreUnavailable(f"the PostgreSQL server cannot be reached: {_first_line(error)}") from error
        raise


# The server's word for a database name it does not know (psycopg gives a refused connection no
# SQLSTATE, so the message is all there is).
_MISSING_DATABASE = re.compile(r'FATAL:\s+database "([^"]*)" does not exist')


def holds_store(url: str) -> bool:
    """Whether the database at `url` has a store's tables, asked without making them: the
    commands that read a store refuse an empty database, as they refuse a missing SQLite file."""
    db = PostgresDatabase(url)
    try:
        return db.execute("SELECT to_regclass(?)", [MIGRATIONS_TABLE]).fetchone()[0] is not None
    finally:
        db.conn.close()


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# An executemany of fewer rows is sent row by row. Upserting statistics in a transaction, the temporary
# table made before: 64 rows 2.9 ms either way, 512 22.2 → 15.2 ms, 4,096 141 → 73 (its first use in
# a connection makes the table: 1.3 ms more).
_COPIED_AT_LEAST = 64
_INSERT = re.compile(r"\s*INSERT INTO (?P<table>\w+)(?P<alias> AS \w+)? \((?P<columns>[^()]*)\)\s*"
                     r"VALUES \((?P<values>[?,\s]*)\)\s*(?P<rest>.*)", re.S)
_CONFLICT_KEY = re.compile(r"ON CONFLICT \((?P<key>[^()]*)\)")


@dataclass(frozen=True)
class _InsertOfParameters:
    """`INSERT INTO table [AS alias] (columns) VALUES (?, ...) [ON CONFLICT (key) ...]`, taken apart."""

    table: str
    alias: str
    columns: str
    rest: str  # what follows VALUES: nothing, or ON CONFLICT (key) and what it does
    key: tuple[int, ...] | None  # the conflict key's places among the columns

    def takes(self, rows: list) -> bool:
        """Whether one INSERT ... SELECT of `rows` does what inserting them one by one does: where
        two rows share a conflict key, the second updates the row the first made, which one
        statement may not do (PostgreSQL: "cannot affect row a second time")."""
        if self.key is None:
            return True
        keys = {tuple(_without_nul(row[i]) for i in self.key) for row in rows}  # as PostgreSQL stores them
        return len(keys) == len(rows)


@functools.lru_cache(maxsize=256)
def _insert_of_parameters(sql: str) -> _InsertOfParameters | None:
    """`sql` taken apart where it inserts one row of parameters and then does nothing, or resolves
    a conflict on named key columns; else None (sent row by row)."""
    match = _INSERT.fullmatch(sql)
    if match is None:
        return None
    columns = [column.strip() for column in match["columns"].split(",")]
    if match["values"].count("?") != len(columns) or match["values"].replace("?", "").replace(",", "").strip():
        return None
    rest, key = match["rest"].strip(), None
    if rest:
        conflict = _CONFLICT_KEY.match(rest)
        if conflict is None:
            return None
        key_columns = [column.strip() for column in conflict["key"].split(",")]
        if not set(key_columns) <= set(columns):
            return None
        key = tuple(map(columns.index, key_columns))
    return _InsertOfParameters(match["table"], match["alias"] or "", ", ".join(columns), rest, key)


def _copy_rows(cursor, table: str, columns: str, rows) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_through_temporary_table(cursor, table: str, columns: str, rows, *, alias: str = "", rest: str = "") -> None:
    """`INSERT INTO table [alias] (columns) ... rest` of `rows` as one statement: COPY into a
    temporary table of `table`'s `columns`, then INSERT ... SELECT from it. Inside a transaction:
    the temporary table is emptied at each commit."""
    incoming = f"incoming_{table}_{zlib.crc32(columns.encode()):08x}"  # a table for each list of columns
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {incoming} ON COMMIT DELETE ROWS AS "
                   f"SELECT {columns} FROM {table} WITH NO DATA")
    _copy_rows(cursor, incoming, columns, rows)
    cursor.execute(f"INSERT INTO {table}{alias} ({columns}) SELECT {columns} FROM {incoming} {rest}")
    cursor.execute(f"DELETE FROM {incoming}")


class PostgresDatabase:
    dialect = POSTGRESQL

    def __init__(self, url: str):
        try:
            self.conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as error:
            missing = _MISSING_DATABASE.search(str(error))
            if missing:  # the server answered: no retry will help
                raise StoreUnavailable(f"the database {missing[1]!r} does not exist on that server: create it first "
                                       f"(createdb {missing[1]})") from error
            raise StoreUnavailable(f"the PostgreSQL server cannot be reached: {_first_line(error)}") from error
        self.conn.adapters.register_loader("numeric", _WholeNumberLoader)
        self.conn.adapters.register_dumper(str, _TextBinaryDumper)
        self.conn.adapters.register_dumper(str, _TextDumper)  # the last registered is the default

    def execute(self, sql: str, parameters=None):
        with _reachable(self.conn):
            if parameters is None:  # sent as it is: no parameters to rewrite
                return self.conn.execute(sql)
            return self.conn.execute(psycopg_sql(sql), parameters)

    def stream(self, sql: str, chunk: int):
        """The rows of `sql` (no parameters), sent `chunk` at a time: the list's order of a million
        conversations, fetched whole, held 85 MB more in the server process at its peak."""
        with _reachable(self.conn):
            yield from self.conn.cursor().stream(sql, size=chunk)

    def executemany(self, sql: str, rows) -> None:
        """`sql` once for each of `rows`. Many rows of an INSERT of parameters, in a transaction,
        go through COPY instead (`_insert_of_parameters`): an import's batches upserted their
        conversations, sets, statistics and flow sums a row at a time, 420k statements for 100k
        generated conversations. That import's storing process: 48 → 39 s of CPU, the server's
        89 → 87 s; its time unchanged (150-155 s), as the parsing workers take what is freed of
        the two cores (2026-12-07, two runs each in turns). COPY reads each value's text as its
        column's type, so a value must be of that type (2.0 is no integer, as a parameter's
        assignment would take it)."""
        rows = list(rows)
        if not rows:
            return
        with _reachable(self.conn), self.conn.cursor() as cursor:
            insert = _insert_of_parameters(sql) if len(rows) >= _COPIED_AT_LEAST and self.in_transaction else None
            if insert is not None and insert.takes(rows):
                _insert_through_temporary_table(cursor, insert.table, insert.columns, rows,
                                                alias=insert.alias, rest=insert.rest)
            else:
                cursor.executemany(psycopg_sql(sql), rows)

    def insert_many(self, table: str, columns: str, rows, *, skip_existing: bool = False,
                    without_nul: bool = False) -> None:
        """Add `rows` (values of `columns`, a comma-separated list) to `table` with COPY: an
        import's events as rows of an INSERT were its slowest part (cProfile, 422k generated
        events: 16.4 of 51 s in `executemany`, most of it psycopg binding each row). With
        `skip_existing`, those whose key is there already are left out: COPY into a temporary
        table of the columns, then one INSERT ... ON CONFLICT DO NOTHING from it. `without_nul`:
        no text of `rows` holds a NUL (`storable_rows` saw to it), so psycopg's own text dumper
        writes them, in C, instead of `_TextDumper`, in Python."""
        rows = iter(rows)
        if (first := next(rows, None)) is None:
            return
        with _reachable(self.conn), self.conn.cursor() as cursor:
            if without_nul:
                cursor.adapters.register_dumper(str, StrDumperUnknown)
            rows = itertools.chain([first], rows)
            if skip_existing:
                _insert_through_temporary_table(cursor, table, columns, rows, rest="ON CONFLICT DO NOTHING")
            else:
                _copy_rows(cursor, table, columns, rows)

    def copy_binary(self, sql: str, data: bytes) -> None:
        """Send `data`, rows in COPY's binary format, to the `COPY ... FROM STDIN` of `sql`."""
        with _reachable(self.conn), self.conn.cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(data)

    def query(self, sql: str, params=None):
        with _reachable(self.conn), self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(psycopg_sql(sql) if params is not None else sql, params)
            rows = cursor.fetchall()
        yield from rows

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def table_names(self) -> list[str]:
        return [name for (name,) in self.conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]


# The indexes an import or a prune leaves half full (`rebuild_indexes`); `events_pkey` and the
# terms' key take their ids in order and stay full. The sets', the statistics' and the inbox's
# texts' rows are updated by every batch, each update an entry in their keys: 100k generated
# conversations, `conversation_sets_pkey` 4.5 → 2.3 MB, `statistics_top` 1.4 and the texts' two
# indexes 2.2 MB → 0.05, the store 906.6 → 900.8 MB (0.753× → 0.749× its JSON Lines).
_REBUILT_INDEXES = ("events_by_sender", "user_text")
_TABLES_REBUILT = ("user_messages", "conversations", "sessions", "flow_episodes", "conversation_sets", "statistics",
                   "message_texts")  # each of their indexes


class CopiedBatch:
    """An import's staged batch in a transaction (`PostgresConnections.staged_transaction`),
    copied straight into `events` unless it must be read first (`readable`): then into this
    connection's temporary table `staged_events`, which the transaction's end empties (ON COMMIT
    DELETE ROWS). A TRUNCATE of its own before each batch committed a new file for the table and
    waited for the log (100k generated conversations: 4.4 s of an 80 s import, py-spy); the copy
    into it and from it into `events`, 3.2 s and a sort of each batch's rows."""

    def __init__(self, db: PostgresDatabase, data: bytes):
        self.db, self._data, self._in_table = db, data, False

    def readable(self) -> None:
        """Make the batch's rows readable as `staged_events`, in their order by `position`."""
        if self._in_table:
            return
        if self.db.execute("SELECT to_regclass('pg_temp.staged_events')").fetchone()[0] is None:
            self.db.execute("CREATE TEMPORARY TABLE staged_events ON COMMIT DELETE ROWS AS "
                            f"SELECT {EVENT_COLUMNS} FROM events WITH NO DATA")
            self.db.execute("ALTER TABLE pg_temp.staged_events ADD COLUMN position BIGINT GENERATED ALWAYS AS IDENTITY")
        self.db.copy_binary(f"COPY pg_temp.staged_events ({EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)", self._data)
        self._in_table = True

    def copy_into_events(self) -> None:
        """Store the batch's rows in `events`, in their order."""
        if self._in_table:
            copy_staged(self.db)
        else:
            self.db.copy_binary(f"COPY events ({EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)", self._data)


class PostgresConnections:
    """One connection per thread (psycopg connections serve one thread at a time)."""

    def __init__(self, url: str, *, migrate_schema: bool = True):
        self.url = url
        self._local = threading.local()
        self._made_whole: frozenset[str] = frozenset()  # by the last import (`bulk_writes`)
        if migrate_schema:
            migrate(self.db, url)
            make_missing_indexes(self.db)  # an import into a new store stopped before its end

    @property
    def db(self) -> PostgresDatabase:
        db = getattr(self._local, "db", None)
        if db is None or db.conn.closed:
            db = self._local.db = PostgresDatabase(self.url)
        return db

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction, after every other writer's (see WRITE_LOCK)."""
        db = self.db
        db.execute("BEGIN")
        try:
            db.execute("SELECT pg_advisory_xact_lock(?)", [WRITE_LOCK])
            yield db
            db.execute("COMMIT")
        except BaseException as error:
            if not db.conn.closed and db.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                db.conn.execute("ROLLBACK")
            if isinstance(error, psycopg.errors.DiskFull):
                raise StoreFull(str(error).strip()) from error
            raise

    @contextlib.contextmanager
    def bulk_writes(self):
        """PostgreSQL's checkpoints are the server's own (SQLite: store/database.py); an
        import's last staged batch is dropped with its table. An import into a new store makes
        the indexes whose keys come in no order at its end (store/deferred_indexes.py)."""
        db = self.db
        # A batch's commit does not wait for the log to reach the disk: a crash of the server
        # may lose the last batches, whole (an import run again stores them), as SQLite's
        # synchronous=NORMAL may on a crash of the machine. The end waits for the log, and with
        # it for every batch before, by committing a record of its own (a message, which only
        # logical decoding reads).
        db.execute("SET synchronous_commit = off")
        try:
            with made_at_the_end_if_new(db) as made:
                self._made_whole = frozenset(made)
                yield
        finally:
            db.execute("RESET synchronous_commit")
            db.execute("SELECT pg_logical_emit_message(true, 'rasa-messaging', 'import')")
            db.execute("DROP TABLE IF EXISTS pg_temp.staged_events")

    @contextlib.contextmanager
    def staged_transaction(self, database: bytes):
        """A write transaction (`transaction`) holding the staged batch `database` (COPY's binary
        format, store/staging.py) as a `CopiedBatch`."""
        with self.transaction() as db:
            yield CopiedBatch(db, database)

    @staticmethod
    def storable_rows(rows: list) -> list | None:
        return storable_rows(rows)

    def sole(self, name: str) -> "AdvisoryLock":
        return AdvisoryLock(self.url, name)

    def check_writable(self) -> None:
        """Raise psycopg's error if this role or server cannot write the store (a read-only role or
        replica): an UPDATE of no row is still checked for both."""
        with self.transaction() as db:
            db.execute("UPDATE counters SET value = value WHERE FALSE")

    def migrations(self) -> tuple[list[str], list[str]]:
        applied = {name for (name,) in self.db.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        return sorted(applied), [name for name, _ in MIGRATIONS if name not in applied]

    def size(self) -> int:
        return self.db.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    def wal_position(self) -> int:
        """How far this server's write-ahead log goes (bytes): on a primary, what it has written;
        on a streaming replica, what it has replayed (readable by its clients)."""
        return self.db.execute("SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
                               "ELSE pg_current_wal_lsn() END, '0/0')").fetchone()[0]

    def after_bulk_load(self, n_stored: int, on_rebuilding) -> None:
        """The planner's statistics refreshed, and the indexes rebuilt where the load made at least
        a fifth of the events the store now holds (as the refreshed statistics count them)."""
        self.db.execute("ANALYZE")
        (n_events,) = self.db.execute("SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass").fetchone()
        if n_stored and n_stored * 5 >= n_events:
            on_rebuilding()
            self.rebuild_indexes(made_whole=self._made_whole)

    def rebuild_indexes(self, made_whole: frozenset[str] = frozenset()) -> None:
        """Rebuild the indexes whose keys arrive in no order (sender ids, texts, confidences), while
        readers and writers go on (CONCURRENTLY). A B-tree page split in the middle leaves both
        halves half full, and nothing later fills them: 100k generated conversations imported into
        a new store, 1,695 → 1,448 MB (1.41× → 1.20× their JSON Lines; events by sender and time
        383 → 220 MB) for 7.5 s more import (88.0 → 95.5 s). A rebuild cut short leaves an invalid
        copy (`…_ccnew`), which writers keep up to date for nothing and a later rebuild would skip:
        those are dropped first. `made_whole`: indexes the last import made at its end
        (store/deferred_indexes.py), which are whole already (100k generated: 4.3 s of 11)."""
        leftovers = self.db.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid "
            "AND n.nspname = current_schema() AND c.relname ~ '_ccnew[0-9]*$'").fetchall()
        for (name,) in leftovers:
            self.db.conn.execute(psycopg.sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(psycopg.sql.Identifier(name)))
        rebuilt = {name for (name,) in self.db.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY(?)",
            [list(_TABLES_REBUILT)])}
        for name in sorted((rebuilt | set(_REBUILT_INDEXES)) - made_whole):
            self.db.conn.execute(psycopg.sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(psycopg.sql.Identifier(name)))

    def vacuum(self) -> None:
        self.db.execute("VACUUM ANALYZE")
        self.rebuild_indexes()

    def tidy_after_erasures(self) -> None:
        self.db.execute("VACUUM sessions")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None


class AdvisoryLock:
    """A session advisory lock on a connection of its own: PostgreSQL releases it when that
    connection ends, so a process killed while holding it does not keep it."""

    def __init__(self, url: str, name: str):
        self.url, self.name = url, name
        self._conn: psycopg.Connection | None = None

    def try_acquire(self) -> bool:
        conn = psycopg.connect(self.url, autocommit=True)
        (acquired,) = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [SOLE_LOCKS, self.name]).fetchall()[0]
        if not acquired:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def migrate(db: PostgresDatabase, url: str) -> None:
    """Apply the migrations this database has not had, each in a transaction, one process at a
    time. Raises `NotOurDatabase` for a database holding other tables and none of ours."""
    db.conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK])
    try:
        tables = db.table_names()
        if tables and MIGRATIONS_TABLE not in tables:
            raise NotOurDatabase(without_password(url))
        db.conn.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                        "(name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
        applied = {name for (name,) in db.conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        for name, statements in MIGRATIONS:
            if name in applied:
                continue
            with db.conn.transaction():
                for statement in statements:
                    statement(db) if callable(statement) else db.conn.execute(statement)
                db.conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (%s, %s)",
                                [name, time.time()])
    finally:
        db.conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK])

