"""What a new user hit (issue 14) and the defects found in review (issue 13): each test fails on the
code before its fix."""

import json
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from bench.server import free_port
from rasa_messaging.cli import cli
from rasa_messaging.exports import csv_lines
from rasa_messaging.generate import Generator
from rasa_messaging.store import ConversationFilter, Store, StoreFull, prepare

from .conftest import POSTGRES, assert_problem, ingest_trackers, postgres_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def generated(store):
    trackers = Generator(seed=9).trackers(30)
    ingest_trackers(store, trackers)
    return trackers


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(arg) for arg in args], input=input)


# Silent wrong answers


@pytest.mark.parametrize("params, unknown", [({"intnet": "greet"}, "intnet"), ({"minimumConfidence": "0.4"},
                                                                                 "minimumConfidence")])
def test_an_unknown_query_parameter_is_a_400_naming_it(client, generated, params, unknown):
    body = assert_problem(client.get("/core/conversations", params=params), 400)
    assert body["parameter"] == unknown and "intent" in body["detail"]
    assert_problem(client.get("/core/export", params=params), 400)
    assert_problem(client.get("/core/statistics", params={"limt": 3}), 400, detail_contains="'limt'")


def test_an_unknown_event_type_is_stored_and_reported_by_every_import_format(tmp_path):
    """The type, how many, and where the first one was: a newer Rasa's events are never lost."""
    events = [{"sender_id": "u1", "event": "user", "timestamp": 1.0, "text": "hi"},
              {"sender_id": "u1", "event": "usr", "timestamp": 2.0},
              {"sender_id": "u1", "event": "usr", "timestamp": 3.0},
              {"sender_id": "u1", "event": "Not A Type", "timestamp": 4.0}]
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(json.dumps(e) + "\n" for e in events))
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"sender_id": "u2", "events": [{k: v for k, v in e.items() if k != "sender_id"}
                                                              for e in events]}))
    for workers in ("0", "2"):
        db = tmp_path / f"a{workers}.db"
        result = run("import", "--db", db, "--workers", workers, lines, dump)
        assert result.exit_code == 1 and "line 4: 'event' 'Not A Type' is not an event type" in result.stderr
        assert f"unknown event type 'usr': 4 events stored as they came (the first at {lines}: line 2)" in result.stderr
        assert "6 events stored" in result.stdout and "2 rejected" in result.stdout
        assert Store(db).db.execute("SELECT count(*) FROM events WHERE type = 'usr'").fetchone()[0] == 4


def test_a_broker_message_of_an_unknown_type_is_stored_and_one_of_no_type_parked():
    from rasa_messaging.brokers import read_message
    row, reason = read_message(json.dumps({"sender_id": "u1", "event": "usr", "timestamp": 2.0}))
    assert reason is None and row.type == "usr"
    row, reason = read_message(json.dumps({"sender_id": "u1", "event": "USR", "timestamp": 2.0}))
    assert row is None and "is not an event type" in reason


def test_the_csv_export_names_policies_as_everywhere_else(store, generated):
    rows = "".join(csv_lines(store.export(ConversationFilter()))).splitlines()
    policies = {line.split(",")[7] for line in rows[1:]} - {""}
    assert policies and not any(policy.startswith("policy_") for policy in policies)
    assert "TEDPolicy" in policies


# Dangerous defaults


def test_prune_refuses_a_duration_without_a_unit(db_path, generated):
    result = run("prune", "--db", db_path, "--older-than", "90", "--yes")
    assert result.exit_code == 2 and "no unit" in result.output
    assert Store(db_path).db.execute("SELECT count(*) FROM conversations").fetchone()[0] == 30


READING_COMMANDS = [["erase", "someone"], ["prune", "--older-than", "90d"], ["export"], ["analytics"], ["vacuum"],
                    ["training-data"], ["test-stories"]]


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_commands_that_read_a_store_refuse_a_missing_one_and_create_nothing(tmp_path, command):
    missing = tmp_path / "typo.db"
    result = run(command[0], "--db", missing, *command[1:])
    assert result.exit_code == 1 and f"no store at {missing}" in result.output
    assert not missing.exists()


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_commands_that_read_a_store_refuse_an_empty_postgresql_database_and_create_nothing(command, postgres_template):
    with postgres_database() as url:
        result = run(command[0], "--db", url, *command[1:])
        assert result.exit_code == 1 and f"no store at {url}: the database has no rasa-messaging tables" \
            in result.output, result.output
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_a_postgresql_database_that_does_not_exist_or_a_scheme_of_another_kind_is_said_as_such(tmp_path,
                                                                                              postgres_template):
    url = f"{POSTGRES}/no_such_database_{uuid.uuid4().hex[:8]}"
    empty = tmp_path / "nothing.jsonl"
    empty.write_text("")
    for command in (["export"], ["import", empty]):
        result = run(command[0], "--db", url, *command[1:])
        assert result.exit_code == 1 and f"the database '{url.rsplit('/', 1)[1]}' does not exist on that server" \
            in result.output and "cannot be reached" not in result.output, result.output
    for command in (["export"], ["import", empty], ["serve"]):
        result = run(command[0], "--db", "mysql://rasa:secret@localhost/rasa", *command[1:])
        assert result.exit_code == 1 and "the scheme mysql:// is not supported" in result.output, result.output
        assert "secret" not in result.output


def test_consuming_an_unsupported_or_missing_sql_source_is_one_line_and_a_failure(tmp_path):
    for url, said in [(f"sqlite:///{tmp_path}/nosuch.db", "no SQLite file"), ("mysql://h/db", "not a sqlite:///path")]:
        result = subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "consume", "sql", "--until-caught-up",
                                 "--db", str(tmp_path / "s.db"), "--url", url], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert "events stored" not in result.stdout + result.stderr


def test_a_rabbitmq_queue_declared_otherwise_stops_the_consumer_instead_of_retrying(db_path):
    """A queue Rasa did not declare (here: not durable) makes RabbitMQ refuse ours (PRECONDITION_FAILED)."""
    pika = pytest.importorskip("pika")
    queue = f"rasa-messaging-test-{free_port()}"
    connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672"))
    connection.channel().queue_declare(queue, durable=False, auto_delete=True)
    try:
        result = subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "consume", "rabbitmq", "--db", str(db_path),
                                 "--queue", queue], capture_output=True, text=True, timeout=60)
    finally:
        connection.close()
    assert result.returncode == 1 and "PRECONDITION_FAILED" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# Unclear errors and output


@pytest.mark.parametrize("params, parameter, expected", [
    ({"limit": "abc"}, "limit", "'limit' must be a whole number"),
    ({"maximumConfidence": "high"}, "maximumConfidence", "'maximumConfidence' must be a number"),
    ({"limit": "-5"}, "limit", "'limit' must be a whole number from 0 to 1,000,000,000, not -5."),
])
def test_parameter_errors_name_the_parameter_in_one_sentence(client, params, parameter, expected):
    body = assert_problem(client.get("/core/conversations", params=params), 400)
    assert body["parameter"] == parameter and body["detail"].startswith(expected)
    assert "Failed validating" not in body["detail"] and "schema" not in body["detail"]


def test_body_errors_name_the_event_and_the_field(client):
    events = [{"event": "user", "timestamp": 1.0}, {"event": "user", "timestamp": "noon"}]
    body = assert_problem(client.post("/core/conversations/u1/events", json=events), 400)
    assert body["detail"] == "event 1: 'timestamp' must be a number, not 'noon'."
    body = assert_problem(client.post("/core/conversations/u1/events", json={"timestamp": 1.0}), 400)
    assert body["detail"] == "'event' is required."


@pytest.mark.sqlite_only("the write-ahead log is a file beside the SQLite store")
def test_vacuum_counts_the_write_ahead_log(db_path, generated):
    result = run("vacuum", "--db", db_path)
    before, after = (int(n) for n in result.output.split(" bytes")[0].split(" → "))
    assert result.exit_code == 0 and after <= before


def test_an_empty_import_file_says_so(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    result = run("import", "--db", tmp_path / "a.db", empty)
    assert result.exit_code == 1 and "empty file" in result.stderr and "Expecting value" not in result.stderr


def test_counts_are_in_the_singular_for_one(tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"sender_id": "u1", "events": [{"event": "user", "timestamp": 1.0, "text": "hi"}]}))
    assert run("import", "--db", tmp_path / "a.db", one).stdout.startswith("1 conversation, 1 event stored, 0 duplicates")


def test_serve_on_a_taken_port_says_only_that(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "serve", "--db", str(tmp_path / "s.db"),
                                 "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "serving" not in result.stderr and "Traceback" not in result.stderr


# Defects found in review (issue 13)


@pytest.mark.sqlite_only("PRAGMA max_page_count fills a SQLite file; a PostgreSQL disk cannot be filled here")
def test_a_full_disk_is_reported_as_such_and_stores_nothing(store, generated):
    before = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages + 1}")
    events = [{"event": "user", "timestamp": 1e9 + i, "text": "x" * 500} for i in range(2000)]
    with pytest.raises(StoreFull, match="database or disk is full"):
        store.ingest(prepare("big", events))
    assert store.db.execute("SELECT count(*) FROM events").fetchone()[0] == before
    assert not store.db.conn.in_transaction


def test_an_export_misses_no_conversation_when_one_is_erased_while_it_runs(store, generated):
    senders = sorted(t["sender_id"] for t in generated)
    exported = []
    for metadata, _ in store.export(ConversationFilter(), page_size=4):
        exported.append(metadata["sender_id"])
        if len(exported) == 2:
            store.erase(senders[0])  # already exported: a page read by offset would now skip one
    assert exported == senders


def test_the_cli_shares_no_code_with_the_http_handlers_and_export_prints_no_warning(db_path, generated):
    probe = ("import sys, rasa_messaging.cli; "
             "print(sorted(m for m in sys.modules if m.startswith(('rasa_messaging.handlers', 'connexion'))))")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"
    result = subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "export", "--db", str(db_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "" and len(result.stdout.splitlines()) == 30


def test_a_sqlite_file_of_another_kind_or_a_missing_directory_is_one_line(tmp_path):
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("hello, this is not a database at all " * 100)
    result = run("import", "--db", not_sqlite, not_sqlite)
    assert result.exit_code == 1 and "is not a SQLite store" in result.output and "Traceback" not in result.output
    result = run("import", "--db", tmp_path / "no" / "such" / "dir.db", not_sqlite)
    assert result.exit_code == 1 and "no directory" in result.output
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE x (a)")
    assert "not a rasa-messaging database" in run("export", "--db", tmp_path / "other.db").output


def test_a_long_value_is_quoted_short_in_the_error(client, store):
    store.ingest(prepare("u1", [{"event": "user", "timestamp": 1.0, "text": "hi"}]))
    body = assert_problem(client.put("/core/conversations/u1/messages/1.0", json={"note": "x" * 5000}), 400)
    assert body["detail"].startswith("'note' must be text of at most 2000 characters, not 'xxx")
    assert len(body["detail"]) < 200


@pytest.mark.parametrize("body", [b"{", b"", b'{"event": "user", "timestamp": "noon"}', b"\xff"])
def test_every_body_error_names_the_body_or_its_field(client, body):
    problem = assert_problem(client.post("/core/conversations/u1/events", content=body,
                                         headers={"Content-Type": "application/json"}), 400)
    assert problem["parameter"] in ("body", "timestamp")


def test_export_takes_its_times_as_iso_8601_or_unix_seconds_as_analytics_does(db_path, generated):
    times = sorted(c["latest_event_time"] for c in Store(db_path).conversations(ConversationFilter(), limit=None)[1])
    start, until = times[5], times[20]
    iso = [datetime.fromtimestamp(t, UTC).isoformat() for t in (start, until)]
    naive = [datetime.fromtimestamp(t, UTC).replace(tzinfo=None).isoformat() for t in (start, until)]
    other_zone = [datetime.fromtimestamp(t, timezone(timedelta(hours=5, minutes=30))).isoformat() for t in (start, until)]
    exported = {}
    for name, (since, up_to) in {"unix": (repr(start), repr(until)), "iso": iso, "naive": naive, "zone": other_zone}.items():
        result = run("export", "--db", db_path, "--start", since, "--until", up_to)
        assert result.exit_code == 0, result.output
        exported[name] = [json.loads(line)["sender_id"] for line in result.stdout.splitlines()]
    assert len(exported["unix"]) == 16 and all(senders == exported["unix"] for senders in exported.values())


@pytest.mark.parametrize("command, option, value, said", [
    ("training-data", "--since", "yesterday", "'yesterday' is neither ISO-8601"),
    ("export", "--start", "2026-13-01", "'2026-13-01' is neither ISO-8601"),
    ("prune", "--older-than", "90", "'90' has no unit: write 90d, 12w, 36h or P90D"),
    ("prune", "--older-than", "ninety days", "'ninety days' is not a duration with a unit: write 90d, 12w, 36h or P90D"),
])
def test_a_bad_option_value_is_said_once_with_a_hint_the_option_takes(db_path, generated, command, option, value, said):
    result = run(command, "--db", db_path, option, value)
    assert result.exit_code == 2 and said in result.output, result.output
    assert result.output.count(option) == 1 and "3600" not in result.output


def test_the_help_names_both_kinds_of_store():
    assert "a SQLite file or a" in " ".join(run("--help").output.split())


def test_the_default_port_is_not_rasas_and_the_readme_states_every_default_the_code_has():
    """Rasa's `rasa run` listens on 5005 and its action server on 5055: a developer with a local bot
    must be able to start both. The README's defaults are the code's."""
    from rasa_messaging.limits import DEFAULT_MAX_BODY_BYTES
    readme = (ROOT / "README.md").read_text()
    [port] = [p for p in cli.commands["serve"].params if p.name == "port"]
    assert port.default not in (5005, 5055)
    assert f"| `--port` (serve) | `RASA_MESSAGING_PORT` | `{port.default}`" in readme
    assert "make run PORT=" in readme and f"PORT ?= {port.default}" in (ROOT / "Makefile").read_text()
    assert f"| `--max-body-size` (serve) | `RASA_MESSAGING_MAX_BODY_SIZE` | {DEFAULT_MAX_BODY_BYTES} bytes " \
           f"({DEFAULT_MAX_BODY_BYTES // 2**20} MiB)" in readme


def test_the_documents_stand_on_their_own_in_a_clone():
    """docs/semantics.md is read in a clone, where nothing beside the checkout exists."""
    semantics = (ROOT / "docs" / "semantics.md").read_text()
    assert "../shared" not in semantics and "SEMANTICS.md" not in semantics
    assert "## GET /conversations filters" in semantics and "# Part 2: our decisions" in semantics
    assert (ROOT / "LICENSE").read_text().startswith("\n                                 Apache License")
