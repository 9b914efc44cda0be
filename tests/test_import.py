"""`rasa-messaging import`: every file format Rasa users have, idempotent, nothing dropped silently."""

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.generate import Generator
from rasa_messaging.store import ConversationFilter, InvalidEvent, Store, database
from rasa_messaging.store.flow_days import stored_steps
from rasa_messaging.store.packing import text_of

from . import reference
from .conftest import REAL_TRACKER_FILES, import_trackers, load_tracker, postgres_database, term_rows


def run_import(db_path, *files):
    return CliRunner().invoke(cli, ["import", "--db", str(db_path), *map(str, files)])


def snapshot(db_path):
    """Everything a user can see, as a comparable value."""
    store = Store(db_path)
    _, conversations = store.conversations(ConversationFilter(), sort_by_latest_event_time=False)
    return conversations, {c["sender_id"]: store.events(c["sender_id"]) for c in conversations}


def without_annotations(events):
    return [{k: v for k, v in e.items() if k not in ("is_flagged", "sender_id")} for e in events]


@pytest.fixture
def dump_files(tmp_path, trackers):
    paths = []
    for number, tracker in enumerate(trackers):
        path = tmp_path / f"tracker-{number}.json"
        path.write_text(json.dumps(tracker, indent=2))
        paths.append(path)
    return paths


def broker_events(trackers):
    return [{**event, "sender_id": t["sender_id"]} for t in trackers for event in t["events"]]


@pytest.mark.real_data
def test_importing_the_real_tracker_dumps_gives_the_reference_metadata(tmp_path):
    db = tmp_path / "real.db"
    result = run_import(db, *REAL_TRACKER_FILES)
    trackers = [load_tracker(p) for p in REAL_TRACKER_FILES]
    unique = reference.unique_events(trackers)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"{len(unique)} conversations, {sum(map(len, unique.values()))} events stored, "
        f"{sum(len(t['events']) for t in trackers) - sum(map(len, unique.values()))} duplicates skipped, 0 rejected"
    )
    conversations, _ = snapshot(db)
    expected = reference.all_metadata(trackers)
    assert [{k: c[k] for k in expected[c["sender_id"]]} for c in conversations] == \
        [expected[sender] for sender in sorted(expected)]


def test_every_input_format_gives_the_same_store(tmp_path, trackers, dump_files):
    array = tmp_path / "array.json"
    array.write_text(json.dumps(trackers))
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(e) for e in broker_events(trackers)) + "\n")
    tracker_store = tmp_path / "tracker_store.db"
    with sqlite3.connect(tracker_store) as conn:  # Rasa's SQLTrackerStore table
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name "
                     "VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)")
        conn.executemany("INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         [(t["sender_id"], e["event"], e["timestamp"], None, e.get("name"), json.dumps(e))
                          for t in trackers for e in t["events"]])
    event_broker = tmp_path / "event_broker.db"
    with sqlite3.connect(event_broker) as conn:  # Rasa's SQLEventBroker table
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), data TEXT)")
        conn.executemany("INSERT INTO events (sender_id, data) VALUES (?, ?)",
                         [(e["sender_id"], json.dumps(e)) for e in broker_events(trackers)])

    stores = {}
    for name, files in {"dumps": dump_files, "array": [array], "jsonl": [jsonl],
                        "tracker_store": [tracker_store], "event_broker": [event_broker]}.items():
        result = run_import(tmp_path / f"{name}-imported.db", *files)
        assert result.exit_code == 0, result.output
        conversations, events = snapshot(tmp_path / f"{name}-imported.db")
        stores[name] = (conversations, {s: without_annotations(e) for s, e in events.items()})
    assert len(stores["dumps"][0]) == len(reference.unique_events(trackers))
    for name, contents in stores.items():
        assert contents == stores["dumps"], name


@pytest.mark.slow
def test_reimporting_the_same_files_changes_nothing(tmp_path, dump_files):
    db = tmp_path / "again.db"
    run_import(db, *dump_files)
    before = snapshot(db)
    result = run_import(db, *dump_files)
    assert result.exit_code == 0
    assert ", 0 events stored," in result.output
    assert snapshot(db) == before


@pytest.mark.slow
@pytest.mark.real_data
def test_a_flag_survives_a_reimport(tmp_path, dump_files):
    db = tmp_path / "flags.db"
    run_import(db, *dump_files)
    store = Store(db)
    sender = "greet-bye-path-0"
    message = next(e for e in store.events(sender) if e["event"] == "user")
    store.flag(sender, message["timestamp"])
    run_import(db, *dump_files)
    assert store.flagged_timestamps(sender) == [message["timestamp"]]


def test_a_corrupt_line_is_reported_with_its_number_and_the_good_lines_are_stored(tmp_path, trackers):
    lines = [json.dumps(e) for e in broker_events(trackers[-2:])]
    lines[4] = lines[4][:25]  # truncated mid-object
    lines[7] = json.dumps({"event": "user", "timestamp": "noon", "sender_id": "x"})
    lines[9] = json.dumps({"event": "user", "timestamp": 1.0})  # no sender_id
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run_import(tmp_path / "mixed.db", path)
    assert result.exit_code == 1
    assert f"rejected: {path}: line 5: invalid JSON" in result.output
    assert f"rejected: {path}: line 8: 'timestamp' must be a number" in result.output
    assert f"rejected: {path}: line 10: an event without a sender_id" in result.output
    assert f"{len(lines) - 3} events stored" in result.output
    assert "3 rejected" in result.output



@pytest.mark.parametrize("workers", ["0", "2"])
def test_lines_keep_their_numbers_across_blocks_and_blank_lines(tmp_path, trackers, workers):
    """A JSON Lines file is handed to the parsers in blocks of lines: a rejected line is still
    named by its number in the file, blank lines are skipped, and a line nested too deeply for
    Python is rejected like any invalid JSON, not a crash."""
    events = [json.dumps(e) for e in broker_events(trackers[-2:])][:30]
    lines = events[:5] + ["", "   "] + events[5:12] + ["[" * 100_000 + "]" * 100_000] + events[12:] + ["{not json"]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    from rasa_messaging.store import importer
    original, importer.CHUNK_SIZE = importer.CHUNK_SIZE, 4  # the blocks split the blank lines and the deep one
    try:
        result = CliRunner().invoke(cli, ["import", "--workers", workers, "--db", str(tmp_path / "a.db"), str(path)])
    finally:
        importer.CHUNK_SIZE = original
    assert result.exit_code == 1, result.output
    rejected = [line for line in result.stderr.splitlines() if line.startswith("rejected")]
    assert [line.split(": ")[2] for line in rejected] == [f"line {len(events[:12]) + 3}", f"line {len(lines)}"]
    assert all("invalid JSON" in line for line in rejected)
    assert f"{len(set(events))} events stored" in result.stdout


@pytest.mark.parametrize("ending", ["\n", ""])
def test_json_lines_are_handed_over_in_ranges_of_whole_lines_numbered_as_in_the_file(tmp_path, ending):
    """Ranges are cut at line ends however long a line is (here five pieces read long), the last
    line may lack its newline, and the progress total is the lines that the ranges hold; each is
    read where it is parsed."""
    from rasa_messaging.store.sources import Source, records_of
    lines = ['{"event": "user"}', "", "  ", '{"text": "' + "x" * 5_000 + '"}', '{"a": 1}', '{"b": 2}']
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + ending).encode())
    source = Source(path)
    for first in (None, 1):  # the first range of about 256 bytes, or as long as the others
        ranges = [raw for chunk in source.raw_chunks(4, first=first) for raw in chunk]  # about 1 kB each
        records = [record for raw in ranges for record in records_of(raw)]
        assert len(ranges) >= 2 and {raw[0] for raw in ranges} == {"line range"}
        assert [(number, line.decode()) for _, number, line in records] == list(enumerate(lines, start=1))
    assert source.total == len(lines)


@pytest.mark.real_data
def test_parsing_in_worker_processes_stores_and_reports_exactly_what_parsing_here_does(tmp_path, trackers):
    lines = [json.dumps(e) for e in broker_events(trackers)]
    lines[3], lines[-2] = "{not json", json.dumps({"event": "user", "timestamp": "noon", "sender_id": "x"})
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    from rasa_messaging.store import importer
    original, importer.CHUNK_SIZE = importer.CHUNK_SIZE, 7  # many chunks, out of order if mishandled
    try:
        here = CliRunner().invoke(cli, ["import", "--workers", "0", "--db", str(tmp_path / "a.db"), str(path)])
        workers = CliRunner().invoke(cli, ["import", "--workers", "2", "--db", str(tmp_path / "b.db"), str(path)])
    finally:
        importer.CHUNK_SIZE = original
    assert here.exit_code == workers.exit_code == 1
    assert here.stdout == workers.stdout and "2 rejected" in here.stdout
    assert [line for line in here.stderr.splitlines() if line.startswith("rejected")] == \
        [line for line in workers.stderr.splitlines() if line.startswith("rejected")]
    a, b = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    # _sqlite_migrations holds when they ran, event_dictionaries when and how each store trained
    # its dictionary: the events, the conversations' terms and the flows' steps are compared as
    # the JSON they hold.
    for table in set(a.db.table_names()) - {"_sqlite_migrations", "event_dictionaries", "events", "conversation_terms",
                                            "flow_episodes"}:
        assert a.db.execute(f"SELECT * FROM {table}").fetchall() == b.db.execute(f"SELECT * FROM {table}").fetchall()
    assert term_rows(a.db) == term_rows(b.db)
    def episodes(store):
        return [(*row[:-1], stored_steps(store.db, row[-1])) for row in store.db.execute(
            "SELECT conversation_id, position, flow_id, frame_id, started_at, ended_at, outcome, last_step_id, "
            "interrupted, resumed, n_user_messages, session, steps FROM flow_episodes ORDER BY conversation_id, position")]
    assert episodes(a) == episodes(b)
    def events(store):
        return [(*row[:4], text_of(store.db, row[4], row[3]), *row[5:]) for row in store.db.execute(
            "SELECT id, sender_id, type, timestamp, data, action, search_text FROM events")]
    assert events(a) == events(b)
    stored = a.db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert stored > 1000 and f"{stored} events stored, {len(lines) - 2 - stored} duplicates skipped" in here.stdout


def test_a_file_that_is_not_rasa_data_is_rejected_not_ignored(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text('{\n  "hello": "world"\n}')
    result = run_import(tmp_path / "x.db", path)
    assert result.exit_code == 1
    assert "neither a tracker dump" in result.output


def test_an_import_on_a_sqlite_store_does_not_import_what_only_servers_and_postgresql_need(tmp_path):
    """Importing psycopg took 120 ms of a command's 300 ms start; prometheus_client (the brokers'
    metrics) and asyncio (the server's limits) 56 ms of an import's 230 ms."""
    import subprocess
    import sys
    code = ("import sys; from click.testing import CliRunner; from rasa_messaging.cli import cli; "
            f"result = CliRunner().invoke(cli, ['import', '--workers', '0', '--db', {str(tmp_path / 'a.db')!r}, "
            f"{str(tmp_path / 'e.jsonl')!r}]); "
            "print(result.exit_code, *(name in sys.modules for name in ('psycopg', 'prometheus_client', 'asyncio')))")
    (tmp_path / "e.jsonl").write_text('{"sender_id": "a", "event": "bot", "timestamp": 1.0}\n')
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == \
        ["0", "False", "False", "False"]


def test_import_shows_progress_and_help_documents_every_option():
    help_text = CliRunner().invoke(cli, ["import", "--help"]).output
    assert "--db" in help_text and "RASA_MESSAGING_DB" in help_text
    serve_help = CliRunner().invoke(cli, ["serve", "--help"]).output
    for option in ("--db", "--host", "--port", "RASA_MESSAGING_HOST", "RASA_MESSAGING_PORT"):
        assert option in serve_help


@pytest.mark.real_data
def test_a_database_that_is_not_ours_is_refused_with_a_clear_message(tmp_path):
    foreign = tmp_path / "rasa_tracker_store.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, data TEXT)")
    result = run_import(foreign, *REAL_TRACKER_FILES[:1])
    assert result.exit_code == 1
    assert "not a rasa-messaging database" in result.output
    assert "Traceback" not in result.output


def test_an_event_is_a_duplicate_however_it_arrives_and_a_changed_one_is_not(tmp_path):
    """Events imported as broker lines (sender_id inside) are all duplicates when they come again
    as tracker dumps with their keys in another order and other spacing (m019: compared by their
    canonical JSON when sender, type and time agree). At the same time, an event whose content differs,
    by a value or by 1 against 1.0, is stored; the same one twice in a file is stored once."""
    conversations = [Generator(seed=19).conversation(number) for number in range(4)]
    n_events = sum(len(events) for _, events in conversations)
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(json.dumps({"sender_id": sender_id, **e}) + "\n"
                             for sender_id, events in conversations for e in events))
    assert f"{n_events} events stored, 0 duplicates" in run_import(tmp_path / "rasa.db", lines).output
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps([{"events": [dict(reversed(e.items())) for e in events], "sender_id": sender_id}
                                for sender_id, events in conversations], indent=1, separators=(" ,", " : ")))
    assert f"0 events stored, {n_events} duplicates" in run_import(tmp_path / "rasa.db", dump).output

    sender_id, events = conversations[0]
    action = next(e for e in events if e["event"] == "action" and e.get("confidence") not in (None, 1))
    changed = [{**action, "confidence": round(action["confidence"] + 0.01, 4)},
               {**action, "confidence": 1}, {**action, "confidence": 1.0}, {**action, "confidence": 1.0}]
    dump.write_text(json.dumps({"sender_id": sender_id, "events": [action, *changed]}))
    assert "3 events stored, 2 duplicates" in run_import(tmp_path / "rasa.db", dump).output
    store = Store(tmp_path / "rasa.db")
    at_that_time = [json.loads(text_of(store.db, data, timestamp))["confidence"] for timestamp, data in store.db.execute(
        "SELECT timestamp, data FROM events WHERE sender_id = ? AND timestamp = ? ORDER BY id",
        [sender_id, action["timestamp"]])]
    assert at_that_time == [action["confidence"], *(e["confidence"] for e in changed[:3])]
    assert [type(c) for c in at_that_time[2:]] == [int, float]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_key_null_in_one_copy_and_absent_in_another_is_the_same_event(tmp_path, db, request):
    """Rasa's two moodbot dumps hold the same actions, one with `"action_text": null`, the other
    without the key: imported one after the other, they are stored once. A key with a value, null
    against a value, or a null in a list still makes another event."""
    db_path = tmp_path / "rasa.db" if db == "sqlite" else request.getfixturevalue("postgres_test_database").emptied()
    action = {"event": "action", "timestamp": 1700000000.5, "name": "utter_greet", "policy": "RulePolicy",
              "confidence": 1.0}
    first = [{**action, "action_text": None, "hide_rule_turn": False},
             {"event": "user", "timestamp": 1700000001.0, "text": "hi", "parse_data": {"intent": {"name": "greet"},
                                                                                       "entities": []}}]
    again = [{**action, "hide_rule_turn": False},
             {"event": "user", "timestamp": 1700000001.0, "text": "hi", "parse_data": {
                 "intent": {"name": "greet", "confidence": None}, "entities": [], "message_id": None}}]
    different = [{**action, "action_text": "Hey!", "hide_rule_turn": False},
                 {**action, "hide_rule_turn": None, "action_text": None, "policy": None},
                 {"event": "user", "timestamp": 1700000001.0, "text": "hi", "parse_data": {
                     "intent": {"name": "greet"}, "entities": [None]}}]
    for events, expected in ((first, "2 events stored, 0 duplicates"), (again, "0 events stored, 2 duplicates"),
                             (different, "3 events stored, 0 duplicates")):
        dump = tmp_path / "dump.json"
        dump.write_text(json.dumps({"sender_id": "moody", "events": events}))
        assert expected in run_import(db_path, dump).output


@pytest.mark.real_data
def test_rasas_two_moodbot_dumps_share_their_actions(tmp_path):
    files = [p for p in REAL_TRACKER_FILES if p.name.startswith("tracker_moodbot")]
    assert len(files) == 2
    run_import(tmp_path / "rasa.db", *files)
    expected = reference.unique_events([load_tracker(p) for p in files])
    stored = Store(tmp_path / "rasa.db").db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert stored == sum(map(len, expected.values()))
    assert stored == max(len(load_tracker(p)["events"]) for p in files)  # the longer dump holds the other's events


def test_an_imported_line_is_kept_as_it_came_and_nan_or_a_lone_surrogate_in_it_is_still_refused(tmp_path):
    line = '{"sender_id": "ann", "event": "bot", "timestamp": 1700000000.5, "text": "caf\\u00e9, ok?"}'
    bad = ['{"sender_id": "ann", "event": "action", "timestamp": 1700000001, "name": "x", "confidence": NaN}',
           '{"sender_id": "ann", "event": "user", "timestamp": 1700000002, "parse_data": {"intent": {"confidence": -Infinity}}}',
           '{"sender_id": "ann", "event": "user", "timestamp": 1700000003, "text": "\\ud800"}']
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([line, *bad]) + "\n")
    result = run_import(tmp_path / "rasa.db", path)
    assert "line 2" in result.output and "line 3" in result.output and "not JSON compliant" in result.output
    assert "line 4" in result.output and "surrogates not allowed" in result.output
    store = Store(tmp_path / "rasa.db")
    # As it came, but for its sender id, which is the conversation's key (events.py `NOT_KEPT`).
    assert [text_of(store.db, data, timestamp) for timestamp, data in store.db.execute("SELECT timestamp, data FROM events")] == \
        [line.replace('"sender_id": "ann", ', "")]
    assert store.events("ann")[0]["text"] == "café, ok?"


def test_an_import_checkpoints_the_log_as_before_once_it_ends_or_fails(tmp_path, monkeypatch):
    """An import lets SQLite's write-ahead log grow to 64 MB between checkpoints (store/database.py,
    `bulk_writes`); afterwards the connection is back to SQLite's 4 MB, a failed import too."""
    from rasa_messaging.store.errors import StoreFull
    from rasa_messaging.store.importer import ImportSummary, import_source
    from rasa_messaging.store.sources import Source

    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"event": "user", "timestamp": float(n), "text": "hi", "sender_id": f"s{n % 3}"})
                            + "\n" for n in range(30)))
    store = Store(tmp_path / "rasa.db")

    def pages_between_checkpoints():
        return store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

    stored = store.ingest_staged
    during = []
    def ingest_staged(batch):
        during.append(pages_between_checkpoints())
        return stored(batch)
    monkeypatch.setattr(store, "ingest_staged", ingest_staged)
    summary = ImportSummary()
    import_source(store, Source(path), summary, batch_size=10)
    assert (summary.result.stored, during, pages_between_checkpoints()) == (30, [16384] * 3, 1000)

    def full(batch):
        raise StoreFull("database or disk is full")
    monkeypatch.setattr(store, "ingest_staged", full)
    with pytest.raises(StoreFull):
        import_source(store, Source(path), ImportSummary(), batch_size=10)
    assert pages_between_checkpoints() == 1000


def test_an_import_into_a_new_store_makes_the_indexes_whose_keys_come_in_no_order_at_its_end(db_path, tmp_path, monkeypatch):
    """The inbox's by text, intent and confidence; the conversations', sessions' and flow
    episodes' by time or confidence, and PostgreSQL's users' texts by trigram: an import into a
    store without events drops them and makes them once it ends (store/deferred_indexes.py), also
    when it fails; the text filter finds the messages meanwhile; an import into a store
    with events keeps them throughout; and a store whose import was stopped before its end (the
    process killed) has them again when it is next opened."""
    from rasa_messaging.store.deferred_indexes import index_names, made_at_the_end
    from rasa_messaging.store.errors import StoreFull
    from rasa_messaging.store.importer import ImportSummary, import_source
    from rasa_messaging.store.inbox import MessageFilter
    from rasa_messaging.store.sources import Source

    def lines(first):
        return "".join(json.dumps({"event": "user", "timestamp": float(n), "text": f"hi {n % 4}", "sender_id": f"s{n % 3}",
                                   "parse_data": {"intent": {"name": "greet", "confidence": 0.5 + n / 100}}}) + "\n"
                       for n in range(first, first + 30))
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(lines(0))
    second.write_text(lines(30))
    store = Store(db_path)
    deferred = made_at_the_end(store.db.dialect)
    assert ("user_text" in deferred) == (store.db.dialect.name == "postgresql")

    def deferred_indexes(store):
        return sorted(set(deferred) & index_names(store.db))
    stored, during, found = store.ingest_staged, [], []
    def ingest_staged(batch):
        during.append(deferred_indexes(store))
        found.append(store.conversations(ConversationFilter(text="hi 1"))[0])
        return stored(batch)
    monkeypatch.setattr(store, "ingest_staged", ingest_staged)
    import_source(store, Source(first), ImportSummary(), batch_size=10)
    assert during == [[]] * 3 and deferred_indexes(store) == sorted(deferred)
    assert found == [0, 3, 3]  # before each batch: "hi 1" is n = 1, 5, 9 of s1, s2, s0, then more
    during.clear()
    import_source(store, Source(second), ImportSummary(), batch_size=10)
    assert during == [sorted(deferred)] * 3
    total, groups = store.message_groups(MessageFilter(intents=("greet",)))
    assert total == 4 and sorted(group["count"] for group in groups) == [15] * 4

    for name in deferred:  # as an import killed half-way leaves them
        store.db.execute(f"DROP INDEX {name}")
    assert deferred_indexes(Store(db_path)) == sorted(deferred)

    for sender_id in ("s0", "s1", "s2"):  # a store without events again, whose next import fails
        store.erase(sender_id)
    def full(batch):
        raise StoreFull("database or disk is full")
    monkeypatch.setattr(store, "ingest_staged", full)
    with pytest.raises(StoreFull):
        import_source(store, Source(first), ImportSummary(), batch_size=10)
    assert deferred_indexes(store) == sorted(deferred)


def test_staged_batches_store_exactly_what_rows_do(db_path, tmp_path, monkeypatch, request):
    """An import hands its batches over as tables to copy from (store/staging.py: a serialized
    SQLite database, or rows in PostgreSQL's binary COPY format); HTTP and the brokers store rows
    (`Store.ingest`). Both must leave the same tables and counts: for a first import whose
    conversations span batches and which repeats a line within a batch, and for a second file
    that overlaps the first (its repeats of stored events and an event that only shares its time
    with one are compared, event by event, in the staged batches of conversations that exist)."""
    from rasa_messaging.store import importer, staging
    from rasa_messaging.store.importer import ImportSummary, derive, import_source
    from rasa_messaging.store.sources import Source

    conversations = [Generator(seed=23).conversation(number) for number in range(12)]
    conversations[6] = ("with\x01control", conversations[6][1])  # senders are bound one by one, not as JSON
    # PostgreSQL's texts hold no NUL (store/postgres.py): staged, a message's NUL goes as it goes in rows.
    said = next(e for e in conversations[7][1] if e["event"] == "user")
    said.update(text="where is my card\x00 now", parse_data={**said["parse_data"], "text": "where is my card\x00 now"})
    def lines(numbers, extra=()):
        events = [{**e, "sender_id": conversations[n][0]} for n in numbers for e in conversations[n][1]]
        events[30:30] = [events[29]]  # the same line twice in a row: a repeat within one batch
        return "".join(json.dumps(e) + "\n" for e in [*events, *extra])
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(lines(range(8)))
    sender_id, events = conversations[6]
    action = {**next(e for e in events if e["event"] == "action" and e.get("confidence")), "sender_id": sender_id}
    # At the end, in a batch of new conversations: an event stored before, one at its time that is
    # not it, and a new message with a NUL (compared one by one, as the staged rows read back).
    said_again = {**said, "sender_id": conversations[7][0], "timestamp": said["timestamp"] + 0.5}
    second.write_text(lines(range(5, 12), [action, {**action, "confidence": action["confidence"] / 2}, said_again]))
    # Then events of a stored conversation before its latest which repeat none: read from the
    # staged batch (PostgreSQL: a temporary table) to be sure, then copied from there in order.
    late_sender, late_events = conversations[9]
    third = tmp_path / "third.jsonl"
    third.write_text("".join(json.dumps({"event": "bot", "text": f"late {n}", "sender_id": late_sender,
                                         "timestamp": late_events[1]["timestamp"] + n / 10}) + "\n" for n in (3, 1, 2)))

    compared_one_by_one = []
    def counted(db):
        compared_one_by_one.append(db)
        return staging_rows(db)
    staging_rows = staging.staged_rows
    monkeypatch.setattr("rasa_messaging.store.ingest.staged_rows", counted)
    # Chunks of about 40 lines (10 kB; the first 2), each one batch either way: PostgreSQL's conversation ids
    # have gaps where an upsert found its row, so batches cut otherwise give other ids.
    monkeypatch.setattr(importer, "CHUNK_SIZE", 40)
    with contextlib.ExitStack() as stack:
        if str(db_path).startswith("postgresql://"):
            rows_at = stack.enter_context(postgres_database(request.getfixturevalue("postgres_template")))
        else:
            rows_at = tmp_path / "rows.db"
        staged, rows = Store(db_path), Store(rows_at)
        results, compared = {}, []
        read_first, may_repeat = [], staging.may_repeat_stored_events
        monkeypatch.setattr("rasa_messaging.store.ingest.may_repeat_stored_events",
                            lambda db, senders: read_first.append(senders) or may_repeat(db, senders))
        for path in (first, second, third):
            summary, already = ImportSummary(), len(compared_one_by_one)
            import_source(staged, Source(path), summary, batch_size=1_000)
            results.setdefault("staged", []).append((summary.result.stored, summary.result.duplicates,
                                                     len(summary.result.senders)))
            compared.append(len(compared_one_by_one) - already)
            stored = [rows.ingest(derive(chunk)[0]) for chunk in importer.chunks_of(Source(path))]
            results.setdefault("rows", []).append((sum(r.stored for r in stored), sum(r.duplicates for r in stored),
                                                   len(set().union(*(r.senders for r in stored)))))
        n_batches = len(list(importer.chunks_of(Source(second))))
        assert compared[0] == 0 and 0 < compared[1] < n_batches and compared[2] == 0
        assert results["staged"] == results["rows"] and results["staged"][2] == (3, 0, 1)
        # Only a batch with events at or before a stored conversation's latest is read before it
        # is copied: none of the first file's, whose conversations continue across its batches.
        assert read_first[-1] == [late_sender] and len(read_first) == compared[1] + 1
        assert results["staged"][0][:2] == (sum(len(e) for _, e in conversations[:8]), 1)
        assert results["staged"][1][:2] == (sum(len(e) for _, e in conversations[8:]) + 2,
                                            sum(len(e) for _, e in conversations[5:8]) + 2)
        # The sets' version and the text index's segments count writes, which differ where batches
        # end: every other table, the text index's documents (`user_text_docsize`) among them, is
        # the same.
        for table in set(staged.db.table_names()) - {"_sqlite_migrations", "rasa_messaging_migrations", "counters",
                                                      "user_text_data", "user_text_idx"}:
            assert sorted(map(repr, staged.db.execute(f"SELECT * FROM {table}").fetchall())) == \
                sorted(map(repr, rows.db.execute(f"SELECT * FROM {table}").fetchall())), table
        assert staged.db.execute("SELECT count(*) FROM events WHERE search_text LIKE 'where is my card%'").fetchone()[0] == 2
        # The `action` column names an action only where it opens a session (store/events.py).
        assert {name for (name,) in staged.db.execute("SELECT DISTINCT action FROM events")} == \
            {None, "action_session_start"}
        if isinstance(db_path, Path):
            assert "staging" not in [name for _, name, _ in staged.db.execute("PRAGMA database_list")]
        else:
            assert staged.db.execute("SELECT to_regclass('pg_temp.staged_events')").fetchone()[0] is None
        staged.close()
        rows.close()


def test_an_import_into_a_new_store_packs_its_events_as_it_stores_them_but_the_first_few(db_path, tmp_path, monkeypatch):
    """A new store trains its packing dictionary on its first events (store/packing.py); the
    workers pack what they are handed out after that. The first chunk is stored before the others
    are handed out, so that only its events are stored plain and packed afterwards: packed once
    stored, an event leaves its first version behind on PostgreSQL, a dead row."""
    from rasa_messaging.store import importer, packing
    from rasa_messaging.store.importer import ImportSummary, import_source
    from rasa_messaging.store.sources import Source, records_of
    events = broker_events(Generator(seed=4).trackers(500))
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    repacked = []
    def counted(db, dictionary, **kwargs):
        repacked.append(pack_stored(db, dictionary, **kwargs))
        return repacked[-1]
    pack_stored = packing.pack_stored
    monkeypatch.setattr(packing, "pack_stored", counted)
    # Chunks as an import cuts them: the first of about 2,500 lines (640 kB), then 10 MB.
    assert importer.CHUNK_SIZE // 16 > packing.TRAIN_AT
    store = Store(db_path)
    summary = ImportSummary()
    import_source(store, Source(path), summary, workers=2)
    assert summary.result.stored == len(events) > 10_000
    [first_chunk] = next(importer.chunks_of(Source(path)))
    assert packing.TRAIN_AT <= sum(repacked) == len(records_of(first_chunk)) < len(events) // 3
    assert all(packing.is_packed(data) for (data,) in store.db.execute("SELECT data FROM events"))
    store.close()


def general_row(line: bytes):
    """The row the general way derives from a JSON line (`items_of`, `validate_event`,
    `event_row`), or None where it rejects the line or reads it as something else."""
    from rasa_messaging.store.events import event_row, kept_text, validate_event
    from rasa_messaging.store.sources import SourceEvent, items_of
    items = items_of(("line", 1, line))
    if len(items) != 1 or not isinstance(items[0], SourceEvent):
        return None
    try:
        event = validate_event(items[0].event, received_at=0.0)
    except InvalidEvent:
        return None
    return event_row(items[0].sender_id, event, text=kept_text(items[0].text, items[0].sender_id, items[0].event, event))


def as_brokers_write(event: dict) -> bytes:
    """A JSON line of `event` with its sender id last, as Rasa's brokers write it."""
    return json.dumps({**{k: v for k, v in event.items() if k != "sender_id"},
                       **({"sender_id": event["sender_id"]} if "sender_id" in event else {})}).encode()


ODD_LINES = [  # (event, whether the quick way takes it)
    ({"event": "user", "timestamp": 1, "sender_id": "s", "text": "Ça VA, Straße?", "parse_data": {
        "intent": {"name": "greet", "confidence": 1}, "entities": [{"entity": "b"}, {"entity": "a"}, {"entity": "a"},
                                                                   {"value": 1}, {"entity": ""}]}}, True),
    ({"event": "user", "timestamp": 1.5, "sender_id": "a\x00b", "text": None, "input_channel": None}, False),  # refused
    ({"event": "user", "timestamp": 1.5, "sender_id": "s", "parse_data": {"intent": {"name": ""}, "entities": []}}, True),
    # The intent's confidence (the inbox ranks by it): a number's, not a flag's or a text's; none without an intent.
    ({"event": "user", "timestamp": 1.5, "sender_id": "s", "text": "hm", "parse_data": {"intent": {"name": "a", "confidence": True}}},
     True),
    ({"event": "user", "timestamp": 1.5, "sender_id": "s", "parse_data": {"intent": {"name": "a", "confidence": "high"}}}, True),
    ({"event": "user", "timestamp": 1.5, "sender_id": "s", "parse_data": {"intent": {"name": None, "confidence": 0.0}}}, True),
    ({"event": "user", "timestamp": 1.5, "sender_id": "s", "parse_data": "oops"}, False),
    ({"event": "user", "timestamp": 1.5, "sender_id": "s", "parse_data": {"intent": "greet"}}, False),
    ({"event": "user", "timestamp": 1.5, "sender_id": "s", "parse_data": {"entities": [5]}}, False),
    ({"event": "user", "timestamp": 1.5, "sender_id": "s", "text": 5}, False),
    ({"event": "action", "timestamp": 2, "sender_id": "s", "name": "", "policy": "policy_2_TEDPolicy", "confidence": 1},
     True),
    ({"event": "action", "timestamp": 2, "sender_id": "s", "name": "a", "confidence": 1e-400}, True),
    ({"event": "action", "timestamp": 2, "sender_id": "s", "name": "a", "confidence": True}, False),
    ({"event": "action", "timestamp": 2, "sender_id": "s", "name": {"x": 1}}, False),
    ({"event": "bot", "timestamp": 3, "sender_id": "s", "text": "hi", "metadata": {"deep": [[[[[[{"a": [1]}]]]]]]}},
     True),
    ({"event": "bot", "timestamp": 3, "sender_id": "s", "is_flagged": True}, False),  # stripped: the line is not the event
    ({"event": "bot", "sender_id": "s"}, False),  # dated when it arrives
    ({"event": "bot", "timestamp": 1e12, "sender_id": "s"}, False),
    ({"event": "bot", "timestamp": "noon", "sender_id": "s"}, False),
    ({"event": "bot", "timestamp": True, "sender_id": "s"}, False),
    ({"event": "usr", "timestamp": 3, "sender_id": "s"}, False),
    ({"event": "bot", "timestamp": 3}, False),
    ({"event": "bot", "timestamp": 3, "sender_id": ""}, False),
    ({"event": "bot", "timestamp": 3, "sender_id": "s", "events": []}, False),  # a tracker dump
    ({"event": "bot", "timestamp": 3, "sender_id": "s", "metadata": json.loads("[" * 120 + "]" * 120)}, False),
    ({"event": "bot", "timestamp": 3, "sender_id": "s", "metadata": {"brackets": "[" * 120}}, True),  # in a string
]
RAW_ODD_LINES = [  # lines json.dumps does not write
    (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "metadata": {"x": 1e400}}', False),
    (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "metadata": {"x": 1.5E+0309}}', False),
    (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "metadata": {"x": ' + b"9" * 400 + b"}}", False),
    (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "metadata": {"x": NaN}}', False),
    (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "text": "\\ud800"}', False),
    (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "text": "\xff"}', False),
    (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}", False),
    (b'{"event": "user", "event": "bot", "timestamp": 3, "text": "the last one counts", "sender_id": "s"}', True),
    (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "text": "hi"}', False),  # its sender id in the middle
    (b'  {"event": "bot", "timestamp": 3, "sender_id": "s"}  \r', True),
    (b'[{"event": "bot", "timestamp": 3, "sender_id": "s"}]', False),
    (b"", False),
]


def test_every_line_with_a_number_out_of_range_goes_the_general_way_and_a_hex_id_does_not():
    """`_maybe_out_of_range` must find every number msgspec refuses as out of range, on random
    numbers beside hex ids, and answer as the whole-line regular expression it replaced did."""
    import random
    import re

    import msgspec

    from rasa_messaging.store.events import _DIGITS_AS_ZERO, _maybe_out_of_range, lines_maybe_out_of_range
    from rasa_messaging.store.sources import records_of
    whole_line = re.compile(rb"(?<![0-9A-Za-z_.])-?0+(?:\.0*)?e\+?000")
    rng = random.Random(11)

    def number() -> bytes:
        mantissa = rng.choice(["0", "1", "42", "-7", "123"]) + rng.choice(["", ".5", ".000"])
        exponent = rng.choice(["", "e", "E"])
        if exponent:
            exponent += rng.choice(["", "+", "-"]) + str(rng.choice([1, 30, 307, 308, 309, 400, 999, 1200])).zfill(
                rng.choice([1, 3, 4]))
        return (mantissa + exponent).encode()

    refused, lines = 0, []
    for _ in range(3000):
        model_id = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        line = (b'{"event": "bot", "timestamp": 3, "sender_id": "s", "metadata": {"model_id": "' + model_id.encode()
                + b'", "x": ' + number() + b', "y": [' + number() + b"]}}")
        lines.append(line)
        try:
            msgspec.json.decode(line)
        except msgspec.DecodeError as error:
            assert "out of range" in str(error), line
            refused += 1
            assert _maybe_out_of_range(line), line
        shape = line.translate(_DIGITS_AS_ZERO)
        assert _maybe_out_of_range(line) == bool((b"0e000" in shape or b"0e+000" in shape) and whole_line.search(shape))
    assert refused > 100
    in_range = b'{"metadata": {"model_id": "f8861b5922cc4f588c018b18ed79e485"}, "confidence": 1e30}'  # its hex id looks like 1e485
    assert not _maybe_out_of_range(in_range)
    # A block of lines is searched whole: the same lines, numbered as `records_of` numbers them.
    # Numbers at a line's either end, and 308 digits on each side of a newline, test its edges.
    lines += [in_range, b"1e400", b"-0.e000 x", b"7" * 308, b"7" * 308, b"0" * 309 + b"1", b"ab1e400", b"", b"1e+400"]
    block = b"\n".join(rng.sample(lines, len(lines))) + rng.choice([b"", b"\n"])
    numbered = records_of(("lines", 17, block))
    assert {n for _, n, line in numbered if _maybe_out_of_range(line)} == lines_maybe_out_of_range(block, 17)


def test_a_broker_event_line_is_derived_the_quick_way_exactly_as_the_general_way(trackers):
    """`row_of_line` decodes only the fields a row keeps (store/events.py); every line it takes
    must give the row the general way gives, and every line it leaves to the general way is one
    that way rejects, changes or reads otherwise (or may: a hex id that looks like an exponent)."""
    from rasa_messaging.store.events import row_of_line
    lines = [json.dumps(e).encode() for e in broker_events(trackers)]
    taken, general = [row_of_line(line) for line in lines], [general_row(line) for line in lines]
    assert all(quick in (None, slow) for quick, slow in zip(taken, general, strict=True))
    assert sum(quick is not None for quick in taken) > 0.9 * len(lines)  # the quick way is the usual one
    odd = [(as_brokers_write(e), quick) for e, quick in ODD_LINES] + RAW_ODD_LINES
    assert [row_of_line(line) is not None for line, _ in odd] == [quick for _, quick in odd]
    for line, quick in odd:
        if quick:
            assert row_of_line(line) == general_row(line), line
    assert general_row(odd[6][0]).intent is None and general_row(odd[15][0]) is not None  # taken the general way
    assert [row_of_line(odd[n][0]).confidence for n in (0, 3, 4, 5)] == [1.0, None, None, None]


@pytest.mark.parametrize("sender_id", ["s", "calm-0000001", 'say "hi"', "a\\b", "tab\tbed", "Straße", "a/b", "🙂"])
def test_a_lines_sender_id_is_cut_where_it_comes_first_or_last_as_the_store_would_quote_it(sender_id):
    """`_without_sender` (store/events.py) keeps a line as it came, its sender id cut, where the
    sender id comes first or last written as the store writes JSON (`_DATA_JSON`); a line that
    quotes it otherwise (escaped as ASCII, with other spaces) goes the general way (None)."""
    from rasa_messaging.store.events import _DATA_JSON, _without_sender
    event = {"event": "bot", "timestamp": 3.5, "text": "hi"}
    for ensure_ascii in (False, True):
        for separators in ((", ", ": "), (",", ":")):
            for first in (True, False):
                items = [("sender_id", sender_id), *event.items()] if first else [*event.items(), ("sender_id", sender_id)]
                line = json.dumps(dict(items), ensure_ascii=ensure_ascii, separators=separators)
                cut = _without_sender(line, sender_id)
                assert (cut is not None) == (_DATA_JSON(sender_id) in line), line
                if cut is not None:
                    assert json.loads(cut) == event and cut.strip("{}") in line, line
    assert _without_sender('{"sender_id": "ab", "event": "bot"}', "a") is None
    assert _without_sender('{"sender_id": "a", "event": "bot", "sender_id": "a"}', "a") is None


def test_a_new_store_has_16_kb_pages_and_one_made_with_4_kb_keeps_them_and_imports(tmp_path):
    """Pages of 16 KB made an import's commits cheaper (store/database.py, PAGE_SIZE); SQLite sets
    a file's page size when the file is made, so an older store keeps its 4 KB pages."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"sender_id": "s", "event": "bot", "timestamp": float(n), "text": "hi"}) + "\n"
                            for n in range(50)))
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("PRAGMA journal_mode = WAL")
    for name, page_size in (("new.db", 16_384), ("old.db", 4_096)):
        assert run_import(tmp_path / name, path).exit_code == 0
        with sqlite3.connect(tmp_path / name) as conn:
            assert conn.execute("PRAGMA page_size").fetchone()[0] == page_size
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 50


def test_a_large_stores_connections_keep_more_pages_up_to_a_bound(tmp_path):
    """A connection caches a 128th of its store's file, at least 32 MB and at most 128 MB: the
    list's indexes grow with the conversations (store/database.py, `page_cache_kib`)."""
    store = Store(tmp_path / "small.db")
    assert store.db.execute("PRAGMA cache_size").fetchone()[0] == -32 * 1024
    store.close()
    for gigabytes, kib in ((0.5, 32 * 1024), (8.5, int(8.5 * 2**30) // 128 // 1024), (100, 128 * 1024)):
        large = tmp_path / f"{gigabytes}.db"
        with open(large, "wb") as file:  # sparse: only its size is read
            file.truncate(int(gigabytes * 2**30))
        assert database.page_cache_kib(large) == kib
    assert database.page_cache_kib(tmp_path / "none.db") == 32 * 1024


@pytest.fixture
def target(db_path, tmp_path, request):
    """A second, empty store on the backend of `db_path`."""
    if str(db_path).startswith("postgresql://"):
        with postgres_database(request.getfixturevalue("postgres_template")) as url:
            yield url
    else:
        yield tmp_path / "restored.db"


def test_an_ndjson_export_imported_into_a_new_store_restores_the_reviewers_work(client, store, tmp_path, target):
    """A backup restores all of it: flags with their notes (and one unflagged), tags, review marks
    with their times, annotations; the summary says what was restored. Imported again, the marks
    are as they were."""
    from rasa_messaging.store import Store

    trackers = Generator(seed=36).trackers(6)
    import_trackers(store, trackers)
    first, second = trackers[0]["sender_id"], trackers[1]["sender_id"]
    messages = [e for e in trackers[0]["events"] if e["event"] in ("user", "bot")]
    user = next(e for e in trackers[0]["events"] if e["event"] == "user")
    client.put(f"/core/conversations/{first}/messages/{messages[0]['timestamp']}", json={"note": "wrong answer"})
    client.put(f"/core/conversations/{first}/messages/{messages[1]['timestamp']}")
    assert client.put(f"/core/conversations/{first}/messages/{messages[1]['timestamp']}/resolved").status_code == 200
    client.put(f"/core/conversations/{first}/messages/{messages[2]['timestamp']}")
    client.delete(f"/core/conversations/{first}/messages/{messages[2]['timestamp']}")
    client.put(f"/core/conversations/{first}/tags/regression")
    client.put(f"/core/conversations/{first}/tags/billing")
    client.put(f"/core/conversations/{second}/tags/regression")
    client.put(f"/core/conversations/{first}/messages/{user['timestamp']}/annotation", json={"intent": "greet"})
    client.put(f"/core/conversations/{second}/reviewed")
    backup = tmp_path / "backup.ndjson"
    backup.write_text(client.get("/core/export").text)

    result = run_import(target, backup)
    assert result.exit_code == 0, result.output
    assert "restored: 1 annotation, 3 flags, 3 tags, 1 review mark" in result.output
    restored = Store(target)
    # A backup holds the work, not who did it (that is the audit's: a copy keeps both).
    for table, columns in (("flags", 6), ("tags", 2), ("reviews", 2)):
        assert [row[:columns] for row in restored.review_rows(table)] == \
            [row[:columns] for row in store.review_rows(table)], table
    assert [(a["sender_id"], a["timestamp"], a["intent"]) for a in restored.annotations()[1]] == \
        [(a["sender_id"], a["timestamp"], a["intent"]) for a in store.annotations()[1]]
    for params in ({"is_flagged": "true"}, {"tags": "regression"}, {"reviewed": "true"}, {"annotated": "true"}):
        assert [c["sender_id"] for c in restored.conversations(ConversationFilter.from_parameters(**params))[1]] == \
            [c["sender_id"] for c in store.conversations(ConversationFilter.from_parameters(**params))[1]], params
    assert restored.flag_queue() == store.flag_queue()
    assert "wrong answer" in [flag["note"] for flag in restored.flag_queue()[1]]
    again = run_import(target, backup)
    assert "0 events stored" in again.output and restored.review_rows("flags") == store.review_rows("flags")


def test_a_backup_whose_marks_do_not_fit_is_rejected_by_conversation_and_stores_the_rest(tmp_path):
    events = [{"event": "user", "timestamp": 1700000000.0, "text": "hi", "parse_data": {"intent": {"name": "greet"}}}]
    lines = [{"sender_id": "fine", "events": events, "tags": ["ok"], "flags": [{"timestamp": 1700000000.0, "note": "n"}]},
             {"sender_id": "bad-tag", "events": events, "tags": ["not a tag"]},
             {"sender_id": "no-message", "events": events, "flags": [{"timestamp": 1600000000.0}]},
             {"sender_id": "bad-time", "events": events, "reviewed": True, "reviewed_at": "yesterday"}]
    backup = tmp_path / "backup.ndjson"
    backup.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run_import(tmp_path / "rasa.db", backup)
    assert result.exit_code == 1 and "3 rejected" in result.output and "restored: 1 flag, 1 tag" in result.output
    assert "'not a tag' is not a tag" in result.output and "has no user or bot message at timestamp 1600000000.0" \
        in result.output and "`reviewed_at` Unix seconds" in result.output
    store = Store(tmp_path / "rasa.db")
    assert [row[:2] for row in store.review_rows("tags")] == [("fine", "ok")] and len(store.review_rows("flags")) == 1


def test_the_stores_tag_rule_is_the_specs():
    from rasa_messaging.app import load_spec
    from rasa_messaging.store.review import TAG_NAME
    [tag] = [p for p in load_spec()["components"]["parameters"].values() if p["name"] == "tag"]
    assert TAG_NAME.pattern.replace("\\Z", r"$(?!\n)") == tag["schema"]["pattern"]
    assert TAG_NAME.match("regression") and not TAG_NAME.match("regression\n")


def test_every_rasa_event_type_is_imported_from_every_format(tmp_path):
    """Broker lines, a tracker dump and the SQL event broker's table: no type rejected."""
    events = reference.every_event_type()
    lines = tmp_path / "lines.jsonl"
    lines.write_text("".join(json.dumps({"sender_id": "lines", **e}) + "\n" for e in events))
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"sender_id": "dump", "events": events}))
    broker = tmp_path / "broker.db"
    with sqlite3.connect(broker) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255), data TEXT)")
        conn.executemany("INSERT INTO events (sender_id, data) VALUES (?, ?)",
                         [("table", json.dumps({"sender_id": "table", **e})) for e in events])
    result = run_import(tmp_path / "rasa.db", lines, dump, broker)
    assert result.exit_code == 0 and f"3 conversations, {3 * len(events)} events stored" in result.output, result.output
    store = Store(tmp_path / "rasa.db")
    for sender in ("lines", "dump", "table"):
        assert [{k: v for k, v in e.items() if k not in ("sender_id", "is_flagged")} for e in store.events(sender)] == events


@pytest.mark.real_data
def test_the_calm_conversations_import_whole_from_each_file_kind(tmp_path):
    """rasa-pro 3.21's own events (../shared/rasa-data/calm): tracker dumps, broker JSON Lines and
    the SQL event broker's file each store every event the manifest counts, and reject none."""
    from .conftest import RASA_DATA
    calm = RASA_DATA / "calm"
    manifest = json.loads((calm / "manifest.json").read_text())
    expected = {c["sender_id"]: c["events_total"] for c in manifest["conversations"].values()}
    assert all(sum(c["events_by_type"].values()) == c["events_total"] for c in manifest["conversations"].values())
    for name, files in (("trackers", sorted((calm / "trackers").glob("*.json"))),
                        ("lines", [calm / "broker_events.jsonl"]), ("sql", [calm / "sql_event_broker.db"])):
        result = run_import(tmp_path / f"{name}.db", *files)
        assert result.exit_code == 0 and " 0 rejected" in result.output, (name, result.output[-2000:])
        store = Store(tmp_path / f"{name}.db")
        stored = dict(store.db.execute("SELECT sender_id, count(*) FROM events GROUP BY sender_id").fetchall())
        assert stored == expected, name
