"""What only the PostgreSQL store needs: its parameter style, its locks, its schema's shape."""

import concurrent.futures
import json

import httpx
import psycopg
import pytest

from rasa_messaging.store import NotOurDatabase, Store
from rasa_messaging.store.ingest import _UPSERT_CONVERSATION
from rasa_messaging.store.postgres import _insert_of_parameters, psycopg_sql
from rasa_messaging.store.postgres_schema import MIGRATIONS

from .conftest import ingest_trackers, live_server, postgres_database, server_log
from .contract import CheckedClient


@pytest.mark.parametrize("sqlite, postgresql", [
    ("SELECT 1 FROM t WHERE a = ? AND b IN (?, ?)", "SELECT 1 FROM t WHERE a = %s AND b IN (%s, %s)"),
    ("SELECT min(x, :count - 1) FROM t WHERE s BETWEEN :start AND :end",
     "SELECT min(x, %(count)s - 1) FROM t WHERE s BETWEEN %(start)s AND %(end)s"),
    ("SELECT CAST(? AS jsonb), x::bigint", "SELECT CAST(%s AS jsonb), x::bigint"),
    ("SELECT 'a?b :c 50%' || ? FROM t WHERE x LIKE ?", "SELECT 'a?b :c 50%%' || %s FROM t WHERE x LIKE %s"),
    ("SELECT 'it''s ?', \"end\" FROM sessions", "SELECT 'it''s ?', \"end\" FROM sessions"),
    ("SELECT x % 2 FROM t", "SELECT x %% 2 FROM t"),
])
def test_sqlite_parameters_become_psycopg_ones(sqlite, postgresql):
    assert psycopg_sql(sqlite) == postgresql


@pytest.mark.parametrize("sql, parts", [
    (_UPSERT_CONVERSATION, ("conversations", " AS c", (0,))),
    ("INSERT INTO flow_step_days (day, flow_id, step_id, outcome, reached) VALUES (?, ?, ?, ?, ?) "
     "ON CONFLICT (flow_id, day, step_id, outcome) DO UPDATE SET reached = excluded.reached",
     ("flow_step_days", "", (1, 0, 2, 3))),
    ("INSERT INTO tags (sender_id, tag) VALUES (?,?)", ("tags", "", None)),
    ("INSERT INTO tags (sender_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING", None),  # which key: unknown
    ("INSERT INTO t (a, b) VALUES (?, 'x') ON CONFLICT (a) DO NOTHING", None),  # not parameters alone
    ("INSERT INTO t (a) VALUES (?) ON CONFLICT (a, b) DO NOTHING", None),  # a key column not given
    ("INSERT INTO t (a) VALUES (?) RETURNING a", None),
    ("INSERT INTO t (a) SELECT ? FROM u", None),
    ("UPDATE t SET a = ? WHERE b = ?", None),
])
def test_an_insert_of_parameters_is_taken_apart_to_go_through_copy(sql, parts):
    insert = _insert_of_parameters(sql)
    assert (insert and (insert.table, insert.alias, insert.key)) == parts


def _statistics(db) -> dict:
    return {(kind, name): count for kind, name, count in db.execute("SELECT kind, name, count FROM statistics")}


_ADD_COUNTS = ("INSERT INTO statistics (kind, name, count) VALUES (?, ?, ?) "
               "ON CONFLICT (kind, name) DO UPDATE SET count = statistics.count + excluded.count")
_INCOMING_TABLES = ("SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema() "
                    "AND relname LIKE 'incoming\\_statistics\\_%'")


def write_broker_lines(path, trackers) -> None:
    """`trackers`' events as the JSON Lines of Rasa's brokers, each with its sender id."""
    path.write_text("".join(json.dumps({**e, "sender_id": t["sender_id"]}) + "\n" for t in trackers for e in t["events"]))


def test_many_upserted_rows_go_through_copy_and_end_as_upserted_one_by_one(postgres_template):
    """Inside a transaction, many rows of an upsert are copied into a temporary table and upserted
    from it in one statement; where two rows share a key (a NUL is stored as U+FFFD, so 'a\\0'
    and 'a\\ufffd' do), or outside a transaction, they go one by one. Either way the table ends
    as the rows upserted one after another leave it."""
    first = [("intent", f"intent_{i}", i) for i in range(100)]
    second = [("intent", f"intent_{i}", 1000) for i in range(50, 150)]  # half of them there already
    shared_key = [*(("entity", f"e{i}", 1) for i in range(70)), ("entity", "a\x00", 2), ("entity", "a\ufffd", 3)]
    expected = {**{key[:2]: key[2] for key in first}, **{("intent", f"intent_{i}"): 1000 for i in range(100, 150)},
                **{("intent", f"intent_{i}"): i + 1000 for i in range(50, 100)},
                **{key[:2]: 1 for key in shared_key[:70]}, ("entity", "a\ufffd"): 5}
    with postgres_database(postgres_template) as url:
        store = Store(url)
        with store.transaction() as db:
            db.executemany(_ADD_COUNTS, first)
            db.executemany(_ADD_COUNTS, second)
            assert db.execute(_INCOMING_TABLES).fetchone() == (1,)  # one table for that list of columns
            db.executemany(_ADD_COUNTS, shared_key)
        assert _statistics(store.db) == expected
        outside = [("action", f"action_{i}", 1) for i in range(80)]
        store.db.executemany(_ADD_COUNTS, outside)  # autocommit: a temporary table's rows would go at once
        assert _statistics(Store(url).db) == {**expected, **{key[:2]: 1 for key in outside}}


def test_a_percent_in_quoted_text_reaches_postgresql_as_one(postgres_template):
    with postgres_database(postgres_template) as url:
        store = Store(url)
        assert store.db.execute("SELECT '50%' || ?, ?", ["!", "?"]).fetchone() == ("50%!", "?")


def test_processes_starting_on_a_new_database_at_once_migrate_it_once(postgres_template):  # a server is up
    with postgres_database() as url, concurrent.futures.ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: Store(url), range(4)))
        assert {store.readiness()["migrations"] for store in stores} == {len(MIGRATIONS)}
        assert stores[0].db.execute("SELECT count(*) FROM rasa_messaging_migrations").fetchone() == (len(MIGRATIONS),)


def test_a_database_of_another_program_is_refused_without_showing_the_password(postgres_template):
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE their_table (x int)")
        with pytest.raises(NotOurDatabase) as refused:
            Store(url.replace("postgres@", "postgres:secret@"))  # trust: any password is let in
    assert "not a rasa-messaging database" in refused.value.detail and "secret" not in refused.value.detail


@pytest.mark.parametrize("url, says", [
    ("postgresql://postgres:secret@127.0.0.1:1/nowhere", "cannot use the PostgreSQL store"),
    ("postgresql://postgres:secret@127.0.0.1:5432/rasa_messaging_no_such_database", "does not exist"),
])
def test_a_postgresql_store_that_cannot_be_used_is_one_line_and_an_exit(url, says, postgres_template):
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    for command in (["erase", "someone"], ["import", __file__]):
        result = CliRunner().invoke(cli, [command[0], "--db", url, *command[1:]])
        assert result.exit_code == 1 and says in result.output, result.output
        assert "secret" not in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_the_server_names_its_postgresql_store_without_the_password(postgres_template, contract):
    with postgres_database(postgres_template) as url:
        with_password = url.replace("postgres@", "postgres:secret@")  # trust: any password is let in
        with live_server(with_password) as base:
            http = CheckedClient(httpx.Client(base_url=base), contract)
            assert http.get("/core/ready").json()["backend"] == "postgresql"
        log = server_log(with_password).read_text()
    assert "serving postgresql://postgres:***@" in log and "secret" not in log


def test_an_import_leaves_the_planner_statistics_of_what_it_loaded(postgres_template, tmp_path):
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    from rasa_messaging.generate import Generator
    events = tmp_path / "events.jsonl"
    write_broker_lines(events, Generator(seed=2).trackers(20))
    with postgres_database(postgres_template) as url:
        analyzed = "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'events' AND last_analyze IS NOT NULL"
        assert Store(url).db.execute(analyzed).fetchone() == (0,)
        assert CliRunner().invoke(cli, ["import", "--db", url, str(events)]).exit_code == 0
        assert Store(url).db.execute(analyzed).fetchone() == (1,)


def test_the_events_ids_index_fills_its_pages_as_the_ids_come_in_order(postgres_template, tmp_path):
    """p020: an index whose keys only grow splits only its rightmost page, which the default
    fill factor leaves 90% full; `events_pkey` keeps them full."""
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    from rasa_messaging.generate import Generator
    events = tmp_path / "events.jsonl"
    write_broker_lines(events, Generator(seed=4).trackers(400))
    with postgres_database(postgres_template) as url:
        assert CliRunner().invoke(cli, ["import", "--db", url, str(events)]).exit_code == 0
        db = Store(url).db
        db.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        leaf_pages, density = db.execute("SELECT leaf_pages, avg_leaf_density FROM pgstatindex('events_pkey')").fetchone()
        # 94.8% here, 86.0 with the default: the first `TRAIN_AT` events, packed once the store
        # has trained its dictionary, are new rows, whose entries split pages among the first ids.
        assert leaf_pages >= 20 and density > 92


def test_a_senders_latest_session_is_found_by_the_sessions_key(postgres_template):
    """p021: one index of sessions by sender, their key in order, finds a sender's latest session
    (for a new sender too: without an index by sender PostgreSQL walked the analytics' index
    backwards, 37 ms at 100k) and the sessions a late event splits again."""
    from rasa_messaging.generate import Generator

    from .conftest import ingest_trackers
    with postgres_database(postgres_template) as url:
        store = Store(url)
        ingest_trackers(store, Generator(seed=5).trackers(300))
        db = store.db
        db.execute("ANALYZE sessions")
        by_sender = [name for name, definition in db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sessions'") if "(sender_id" in definition]
        assert by_sender == ["sessions_pkey"]
        for sender_id in ("facebook-0000007", "someone new"):
            plan = "\n".join(line for (line,) in db.execute(
                'EXPLAIN SELECT start_event_id, "end" FROM sessions WHERE sender_id = ? '
                "ORDER BY start DESC, start_event_id DESC LIMIT 1", [sender_id]))
            assert "Index Scan Backward using sessions_pkey" in plan, plan


def test_the_events_rows_made_again_keep_every_event_its_id_and_the_next_id(postgres_template):
    """p018 rewrites a store's events whose table still holds dropped columns (as p006 and p014
    left every store before it): only the live columns, fixed-width first, every event as it was,
    the ids and the next one (past an erased newest conversation's) kept, the indexes made, the
    text filter answering from its index."""
    from rasa_messaging.generate import Generator
    from rasa_messaging.store import ConversationFilter, prepare
    from rasa_messaging.store.postgres_schema import MIGRATIONS_TABLE
    columns = "id, timestamp, sender_id, type, data, action, search_text"
    attributes = ("SELECT attname, attisdropped FROM pg_attribute WHERE attrelid = 'events'::regclass "
                  "AND attnum > 0 ORDER BY attnum")
    with postgres_database(postgres_template) as url:
        store = Store(url)
        trackers = Generator(seed=5).trackers(12)
        ingest_trackers(store, trackers)
        store.erase(trackers[-1]["sender_id"])  # the newest ids go with it; they are not given again
        db = store.db
        db.execute("ALTER TABLE events ADD COLUMN left_behind INTEGER")
        db.execute("ALTER TABLE events DROP COLUMN left_behind")
        db.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE name = 'p018_events_rows_made_again'")
        assert any(dropped for _, dropped in db.execute(attributes))
        events = db.execute(f"SELECT {columns} FROM events ORDER BY id").fetchall()
        next_id = db.execute("SELECT last_value + 1 FROM events_id_seq").fetchone()[0]
        assert next_id > events[-1][0] + 1
        needle = next(e["text"] for t in trackers[:-1] for e in t["events"] if e["event"] == "user" and e.get("text"))
        found = store.conversations(ConversationFilter(text=needle))
        store.close()

        reopened = Store(url)  # migrates
        db = reopened.db
        assert db.execute(attributes).fetchall() == [(name, False) for name in columns.split(", ")]
        assert db.execute(f"SELECT {columns} FROM events ORDER BY id").fetchall() == events
        assert {name for (name,) in db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'events'")} == {"events_pkey", "events_by_sender", "user_text"}
        assert reopened.conversations(ConversationFilter(text=needle)) == found and found[0] > 0
        reopened.ingest(prepare("newcomer", [{"event": "user", "timestamp": 1_800_000_000.0, "text": "hello"}]))
        assert db.execute("SELECT id FROM events WHERE sender_id = 'newcomer'").fetchone()[0] == next_id


def test_an_event_stored_while_the_events_rows_are_made_again_is_kept(postgres_template):
    """p018 copies the events into a new table and drops the old one: an event another process
    stores meanwhile waits for it and lands in the new table, instead of going with the old
    (without the migration's lock, its DROP waited for the writer and took the event with it)."""
    import threading
    import time

    from rasa_messaging.store.postgres_schema import MIGRATIONS_TABLE
    with postgres_database(postgres_template) as url:
        store = Store(url)
        ingest_trackers(store, [{"sender_id": "ann", "events": [{"event": "user", "timestamp": 1.0, "text": "hi"}]}])
        store.db.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE name = 'p018_events_rows_made_again'")
        store.close()
        writer = psycopg.connect(url)  # another process, half-way through storing an event
        writer.execute("INSERT INTO events (sender_id, type, timestamp, data) "
                       "VALUES ('ann', 'bot', 2.0, convert_to('{\"event\": \"bot\"}', 'UTF8'))")
        migrating = threading.Thread(target=lambda: Store(url).close())
        migrating.start()
        waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass AND NOT granted"
        with psycopg.connect(url, autocommit=True) as watcher:  # until the migration waits for the writer
            for _ in range(300):
                if watcher.execute(waiting).fetchone()[0]:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the migration never waited for the writer")
        writer.commit()
        writer.close()
        migrating.join(timeout=60)
        assert not migrating.is_alive()
        rows = Store(url).db.execute("SELECT sender_id, type, timestamp FROM events ORDER BY id").fetchall()
        assert rows == [("ann", "user", 1.0), ("ann", "bot", 2.0)]


INDEX_STATE = ("SELECT c.relname, c.oid, pg_relation_size(c.oid), i.indisvalid FROM pg_index i "
               "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid IN ('events'::regclass, "
               "'conversation_sets'::regclass) ORDER BY c.relname")


def test_a_bulk_import_rebuilds_the_indexes_it_left_half_full_a_small_one_does_not(postgres_template, tmp_path):
    """The import of most of a store rebuilds the indexes whose keys came in no order: smaller
    than the same import leaves them, the events' ids' index (in order) untouched, and those an
    import into a new store made at its end (store/deferred_indexes.py) left as made; an import
    of less than a fifth of the store rebuilds nothing."""
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    from rasa_messaging.generate import Generator
    from rasa_messaging.store.deferred_indexes import made_at_the_end
    from rasa_messaging.store.importer import ImportSummary, import_source
    from rasa_messaging.store.sources import Source
    trackers = Generator(seed=3).trackers(330)
    bulk, small = tmp_path / "bulk.jsonl", tmp_path / "small.jsonl"
    for path, part in ((bulk, trackers[:300]), (small, trackers[300:])):
        write_broker_lines(path, part)
    with postgres_database(postgres_template) as url, postgres_database(postgres_template) as unbuilt:
        unbuilt_store, summary = Store(unbuilt), ImportSummary()
        import_source(unbuilt_store, Source(str(bulk)), summary)
        left = {name: size for name, _, size, _ in Store(unbuilt).db.execute(INDEX_STATE)}
        every_index = "SELECT CAST(indexrelid AS regclass)::text, indexrelid FROM pg_index WHERE indexrelid >= 16384"
        made = dict(unbuilt_store.db.execute(every_index).fetchall())
        unbuilt_store.after_bulk_load(summary.result.stored)
        remade = dict(unbuilt_store.db.execute(every_index).fetchall())
        whole = made_at_the_end(unbuilt_store.db.dialect)
        assert "user_text" in whole and {name: remade[name] for name in whole} == {name: made[name] for name in whole}
        assert remade["events_by_sender"] != made["events_by_sender"]
        assert remade["user_messages_pkey"] != made["user_messages_pkey"]
        before = {name: oid for name, oid, _, _ in Store(url).db.execute(INDEX_STATE)}
        result = CliRunner().invoke(cli, ["import", "--db", url, str(bulk)])
        assert result.exit_code == 0 and "rebuilding the indexes" in result.stderr
        rebuilt = {name: (oid, size, valid) for name, oid, size, valid in Store(url).db.execute(INDEX_STATE)}
        assert rebuilt.keys() == before.keys() and all(valid for _, _, valid in rebuilt.values())
        assert rebuilt["events_pkey"][0] == before["events_pkey"]
        assert rebuilt["events_by_sender"][0] != before["events_by_sender"]
        assert rebuilt["events_by_sender"][1] < left["events_by_sender"]
        # The sets' key, an entry for every update a batch made of a set's row.
        assert rebuilt["conversation_sets_pkey"][0] != before["conversation_sets_pkey"]
        assert rebuilt["conversation_sets_pkey"][1] < left["conversation_sets_pkey"], (rebuilt, left)

        result = CliRunner().invoke(cli, ["import", "--db", url, str(small)])
        assert result.exit_code == 0 and "rebuilding" not in result.stderr
        assert {name: oid for name, oid, _, _ in Store(url).db.execute(INDEX_STATE)} == {
            name: oid for name, (oid, _, _) in rebuilt.items()}


def test_an_imports_batches_commit_without_waiting_for_the_log_and_its_end_waits_for_all_of_them(postgres_template, tmp_path):
    """During an import each batch's commit leaves the log's flush to the server (as SQLite's
    synchronous=NORMAL); once it ends, the connection's setting is the server's again and the log
    is on disk up to the last batch's commit."""
    from rasa_messaging.generate import Generator
    from rasa_messaging.store.importer import ImportSummary, import_source
    from rasa_messaging.store.sources import Source
    path = tmp_path / "events.jsonl"
    write_broker_lines(path, Generator(seed=5).trackers(30))
    with postgres_database(postgres_template) as url:
        store = Store(url)
        default = store.db.execute("SELECT current_setting('synchronous_commit')").fetchone()
        stored, seen = store.ingest_staged, []
        def ingest_staged(batch):
            result = stored(batch)
            seen.append(store.db.execute("SELECT current_setting('synchronous_commit'), "
                                         "pg_current_wal_insert_lsn()").fetchone())
            return result
        store.ingest_staged = ingest_staged
        import_source(store, Source(str(path)), ImportSummary(), batch_size=200)
        assert len(seen) > 3 and {settings[0] for settings in seen} == {"off"}
        assert store.db.execute("SELECT current_setting('synchronous_commit'), "
                                "pg_current_wal_flush_lsn() >= ?", [seen[-1][1]]).fetchone() == (*default, True)
        assert store.counts()["conversations"] == 30


def test_vacuum_rebuilds_the_indexes_and_drops_what_a_rebuild_cut_short_left(postgres_template, tmp_path):
    """A rebuild stopped half-way leaves an invalid copy `…_ccnew`, which every write keeps up to
    date for nothing and which PostgreSQL's next concurrent rebuild skips: `vacuum` drops it."""
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    from rasa_messaging.generate import Generator
    with postgres_database(postgres_template) as url:
        store = Store(url)
        ingest_trackers(store, Generator(seed=4).trackers(2))
        with pytest.raises(psycopg.errors.UniqueViolation):  # how an interrupted build leaves an index
            store.db.execute("CREATE UNIQUE INDEX CONCURRENTLY events_by_sender_ccnew ON events (sender_id)")
        assert [valid for name, _, _, valid in store.db.execute(INDEX_STATE)
                if name == "events_by_sender_ccnew"] == [False]
        assert CliRunner().invoke(cli, ["vacuum", "--db", url]).exit_code == 0
        assert [(name, valid) for name, _, _, valid in Store(url).db.execute(INDEX_STATE)] == [
            ("conversation_sets_pkey", True), ("events_by_sender", True), ("events_pkey", True), ("user_text", True)]


def test_a_lost_database_connection_is_a_503_and_the_next_request_connects_again(postgres_template, contract):
    import warnings

    from rasa_messaging.app import create_app

    from .conftest import POSTGRES, assert_problem
    with postgres_database(postgres_template) as url:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            client = CheckedClient(create_app(url, validate_responses=True).test_client(), contract)
        assert client.get("/core/conversations").status_code == 200
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:  # as a failover would
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                          [url.rsplit("/", 1)[1]])
        assert_problem(client.get("/core/ready"), 503, detail_contains="cannot be reached")
        assert client.get("/core/ready").json()["status"] == "ready"
        assert client.get("/core/conversations").status_code == 200
