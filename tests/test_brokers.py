"""Live ingestion against the real RabbitMQ and PostgreSQL of this machine (and CI's)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

import pika
import pika.exceptions
import psycopg
import pytest

from rasa_messaging.brokers import RabbitConsumer, SourceUnusable, SqlFollower
from rasa_messaging.generate import Generator
from rasa_messaging.store import Store

from . import reference
from .conftest import count_events

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/%2F"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
MALFORMED = [b"{this is not json", b'{"hello": "no event, no sender"}', b'{"event": "user", "sender_id": "x", "timestamp": "noon"}']


def broker_events(copies=1, seed=5):
    """Events as Rasa's brokers publish them: each a JSON event carrying its sender_id."""
    events = []
    for copy in range(copies):
        for tracker in Generator(seed=seed + copy).trackers(45):
            sender = f"{tracker['sender_id']}-{copy}"
            events += [{**event, "sender_id": sender} for event in tracker["events"]]
    return events


def as_trackers(events):
    by_sender = {}
    for event in events:
        by_sender.setdefault(event["sender_id"], []).append(event)
    return [{"sender_id": s, "events": e} for s, e in by_sender.items()]


def assert_stored_exactly_once(store, events):
    expected = reference.unique_events(as_trackers(events))
    assert store.db.execute("SELECT count(*) FROM events").fetchone()[0] == sum(map(len, expected.values()))
    assert store.statistics(limit=1000) == reference.statistics(as_trackers(events), limit=1000)


def wait_for(condition, seconds=60, what="condition"):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- RabbitMQ -----------------------------------------------------------------------------------

@pytest.fixture
def rabbit():
    """A fresh exchange and queue, declared as Rasa's PikaEventBroker declares them; removed after."""
    names = {"exchange": f"test-exchange-{uuid.uuid4().hex[:8]}", "queue": f"test-queue-{uuid.uuid4().hex[:8]}"}
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
    channel = connection.channel()
    channel.exchange_declare(names["exchange"], exchange_type="fanout")
    channel.queue_declare(names["queue"], durable=True)
    channel.queue_bind(names["queue"], names["exchange"], routing_key="")

    def publish(bodies):
        for body in bodies:
            channel.basic_publish(names["exchange"], "", body if isinstance(body, bytes) else json.dumps(body).encode(),
                                  pika.BasicProperties(delivery_mode=2))  # persistent, as Rasa publishes

    names["publish"] = publish
    yield names
    try:
        connection.close()
    except pika.exceptions.AMQPError:
        pass  # a test closed it from the server side; pika only notices now
    cleanup = pika.BlockingConnection(pika.URLParameters(RABBITMQ))  # the test may have had ours closed
    cleanup.channel().queue_delete(names["queue"])
    cleanup.channel().exchange_delete(names["exchange"])
    cleanup.close()


def consumer_process(db_path, rabbit):
    return subprocess.Popen([sys.executable, "-m", "rasa_messaging.cli", "consume", "rabbitmq", "--db", str(db_path),
                             "--url", RABBITMQ, "--queue", rabbit["queue"], "--exchange", rabbit["exchange"]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_consumed_events_are_stored_exactly_once_and_malformed_ones_parked(db_path, rabbit):
    events = broker_events(copies=3)  # ≈ 3,300 events
    rabbit["publish"](events[:1000] + MALFORMED + events[1000:] + events[:200])  # and 200 redelivered
    consumer = consumer_process(db_path, rabbit)
    wait_for(lambda: count_events(db_path) == len(events), what="every event")
    time.sleep(1)  # give a wrongly doubled event time to show
    consumer.send_signal(signal.SIGTERM)
    assert consumer.wait(timeout=20) == 0, consumer.stderr.read()
    store = Store(db_path)
    assert_stored_exactly_once(store, events)
    parked = store.db.execute("SELECT body, reason FROM parked_messages ORDER BY id").fetchall()
    assert [body.encode() for body, _ in parked] == MALFORMED
    assert [reason.split(":")[0] for _, reason in parked] == ["not JSON", "no sender_id", "'timestamp' must be a number of Unix seconds, not 'noon'"]
    assert "stopped;" in consumer.stderr.read()


def test_a_consumer_killed_mid_stream_loses_and_doubles_nothing(db_path, rabbit):
    events = broker_events(copies=3)
    rabbit["publish"](events + MALFORMED)
    consumer = consumer_process(db_path, rabbit)
    wait_for(lambda: count_events(db_path) > 500, what="a first batch")
    os.kill(consumer.pid, signal.SIGKILL)
    consumer.wait()
    assert count_events(db_path) < len(events), "killed too late to test anything"
    restarted = consumer_process(db_path, rabbit)
    wait_for(lambda: count_events(db_path) == len(events), what="every event after the restart")
    time.sleep(1)
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=20) == 0
    store = Store(db_path)
    assert_stored_exactly_once(store, events)
    assert store.db.execute("SELECT count(*) FROM parked_messages").fetchone()[0] == len(MALFORMED)


def close_named_connection(name: str) -> None:
    """The broker closes the connection named `name`, and only it: the other test workers' are
    theirs (`close_all_connections` failed their consumers)."""
    listed = subprocess.run(["rabbitmqctl", "list_connections", "pid", "client_properties", "--quiet",
                             "--no-table-headers"], capture_output=True, text=True, timeout=60)
    [pid] = [line.split("\t", 1)[0] for line in listed.stdout.splitlines() if name in line]
    closed = subprocess.run(["rabbitmqctl", "close_connection", pid, "test: server-side close"],
                            capture_output=True, text=True, timeout=60)
    assert closed.returncode == 0, closed.stderr


def test_the_consumer_reconnects_when_the_broker_closes_its_connection(db_path, rabbit):
    store = Store(db_path)
    name = f"reconnect-test-{uuid.uuid4().hex}"
    url = f"{RABBITMQ}?client_properties={urllib.parse.quote(str({'connection_name': name}))}"
    consumer = RabbitConsumer(store, url, queue=rabbit["queue"], exchange=rabbit["exchange"], batch_seconds=0.1)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,))
    worker.start()
    try:
        events = broker_events()
        rabbit["publish"](events[:500])
        wait_for(lambda: count_events(db_path) == 500, what="the first 500")
        close_named_connection(name)
        wait_for(lambda: consumer.progress.reconnects >= 1, what="the consumer to notice")
        rabbit["publish"](events[500:])  # the test's own connection is still open: only the consumer's was closed
        wait_for(lambda: count_events(db_path) == len(events), what="the events sent after the reconnect")
    finally:
        stop.set()
        worker.join(timeout=20)
    assert not worker.is_alive()
    assert_stored_exactly_once(store, events)


def test_a_wrong_port_is_retried_until_stopped(db_path):
    consumer = RabbitConsumer(Store(db_path), "amqp://guest:guest@127.0.0.1:1/%2F")
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,))
    worker.start()
    time.sleep(1.5)
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()


def consume_rabbitmq(tmp_path, url, seconds: float):
    """`rasa-messaging consume rabbitmq --url URL`, as a user runs it, stopped with SIGTERM after
    `seconds` if it is still running: (exit code, standard error)."""
    process = subprocess.Popen([sys.executable, "-m", "rasa_messaging.cli", "consume", "rabbitmq", "--db",
                                str(tmp_path / "consumed.db"), "--url", url], stderr=subprocess.PIPE, text=True)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30), process.stderr.read()


@pytest.mark.parametrize("url, code, said", [
    ("amqp://guest:wrong@127.0.0.1:5672", 1, "Error: RabbitMQ at amqp://guest:***@127.0.0.1:5672 refused the user and "
                                             "password: ACCESS_REFUSED - Login was refused"),
    ("amqp://guest:guest@127.0.0.1:5672/no-such-vhost", 1, "refused access: NOT_ALLOWED - vhost no-such-vhost not found"),
    ("http://guest:guest@127.0.0.1:5672", 2, "Invalid value for --url: http://guest:***@127.0.0.1:5672 is not a "
                                            "RabbitMQ URL"),
])
def test_what_rabbitmq_refuses_is_one_line_with_the_reason(tmp_path, url, code, said):
    returncode, stderr = consume_rabbitmq(tmp_path, url, seconds=30)
    assert returncode == code and said in stderr, stderr
    assert "Traceback" not in stderr and "AMQPConnector" not in stderr and "guest:wrong" not in stderr
    assert len([line for line in stderr.splitlines() if line.startswith("Error")]) == 1
    assert "events stored" not in stderr.replace("stopped after 0 events stored", "")


def test_an_unreachable_rabbitmq_is_retried_saying_why(tmp_path):
    returncode, stderr = consume_rabbitmq(tmp_path, "amqp://guest:guest@127.0.0.1:1", seconds=2)
    assert returncode == 0 and "Traceback" not in stderr and "AMQPConnector" not in stderr
    assert "RabbitMQ at amqp://guest:***@127.0.0.1:1 unreachable (Connection refused); retrying in 0.5s" in stderr


@pytest.mark.slow
def test_consumer_throughput(db_path, rabbit):
    events = broker_events(copies=20)
    rabbit["publish"](events)
    consumer = RabbitConsumer(Store(db_path), RABBITMQ, queue=rabbit["queue"], exchange=rabbit["exchange"])
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,))
    started = time.monotonic()
    worker.start()
    wait_for(lambda: count_events(db_path) == len(events), seconds=120, what="every event")
    seconds = time.monotonic() - started
    stop.set()
    worker.join(timeout=20)
    print(f"\nRabbitMQ consumer: {len(events)} events in {seconds:.1f} s = {len(events) / seconds:.0f} events/s")


# --- SQL event broker -----------------------------------------------------------------------------

def write_sql_broker_rows(execute, events, placeholder):
    execute(f"INSERT INTO events (sender_id, data) VALUES ({placeholder}, {placeholder})",
            [(e.get("sender_id"), json.dumps(e)) for e in events])


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_broker(request, tmp_path):
    """Rasa's SQLEventBroker table, in a SQLite file or in its own PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "rasa_events.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255), data TEXT)")
        yield f"sqlite:///{path}", lambda events: write_sql_broker_rows(conn.executemany, events, "?")
        conn.close()
    else:
        schema = f"test_{uuid.uuid4().hex[:8]}"
        conn = psycopg.connect(POSTGRES, autocommit=True)
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.events (id SERIAL PRIMARY KEY, sender_id VARCHAR(255), data TEXT)")
        insert = lambda events: write_sql_broker_rows(
            lambda sql, rows: conn.cursor().executemany(sql.replace("INTO events", f"INTO {schema}.events"), rows), events, "%s")
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}", insert
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


def follow(db_path, url):
    follower = SqlFollower(Store(db_path), url, poll_seconds=0.01, batch_size=300)
    follower.run(threading.Event(), until_caught_up=True)
    return follower.progress


def test_the_sql_follower_stores_every_row_and_continues_where_it_stopped(db_path, sql_broker):
    url, insert = sql_broker
    events = broker_events(copies=2)
    half = len(events) // 2
    insert(events[:half])
    first = follow(db_path, url)
    assert first.stored == sum(map(len, reference.unique_events(as_trackers(events[:half])).values()))
    insert(events[half:] + [{"no": "event"}])
    second = follow(db_path, url)  # a restart: only the new rows are read
    assert second.duplicates == 0 and second.parked == 1
    assert first.stored + second.stored == count_events(db_path)
    assert_stored_exactly_once(Store(db_path), events)


def test_a_second_follower_of_a_source_waits_for_the_first_and_takes_over(db_path, sql_broker):
    url, insert = sql_broker
    events = broker_events()
    unique = lambda some: sum(map(len, reference.unique_events(as_trackers(some)).values()))  # noqa: E731
    followers = [SqlFollower(Store(db_path), url, poll_seconds=0.01, batch_size=100) for _ in range(2)]
    stops = [threading.Event(), threading.Event()]
    threads = [threading.Thread(target=f.run, args=(stop,)) for f, stop in zip(followers, stops, strict=True)]
    insert(events[:500])
    threads[0].start()
    wait_for(lambda: count_events(db_path) == unique(events[:500]), what="the first follower")
    threads[1].start()
    with pytest.raises(SourceUnusable, match="another follower"):  # a third, told to catch up, says why it cannot
        SqlFollower(Store(db_path), url).run(threading.Event(), until_caught_up=True)
    insert(events[500:1000])
    wait_for(lambda: count_events(db_path) == unique(events[:1000]), what="the rows that came next")
    assert followers[1].progress.stored == 0  # it waits
    stops[0].set()
    threads[0].join(timeout=20)
    insert(events[1000:])
    wait_for(lambda: count_events(db_path) == unique(events), what="the second follower to take over")
    stops[1].set()
    threads[1].join(timeout=20)
    assert followers[1].progress.stored == unique(events) - unique(events[:1000])
    assert_stored_exactly_once(Store(db_path), events)


def test_the_sql_follower_killed_mid_way_resumes_exactly(db_path, tmp_path):
    source = tmp_path / "rasa_events.db"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255), data TEXT)")
    events = broker_events(copies=8)
    write_sql_broker_rows(conn.executemany, events, "?")
    conn.commit()
    command = [sys.executable, "-m", "rasa_messaging.cli", "consume", "sql", "--db", str(db_path),
               "--url", f"sqlite:///{source}", "--batch-size", "200", "--until-caught-up"]
    follower = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: count_events(db_path) > 1000, what="some rows")
    os.kill(follower.pid, signal.SIGKILL)
    follower.wait()
    assert count_events(db_path) < len(events)
    assert subprocess.run(command, capture_output=True).returncode == 0
    store = Store(db_path)
    assert_stored_exactly_once(store, events)
    assert store.follow_position(f"sql:sqlite:///{source}") == len(events)


def test_serve_consumes_in_the_server_process(db_path, tmp_path):
    import httpx

    from .conftest import live_server
    source = tmp_path / "rasa_events.db"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255), data TEXT)")
    events = broker_events()
    write_sql_broker_rows(conn.executemany, events, "?")
    conn.commit()
    with live_server(db_path, "--consume", f"sqlite:///{source}") as base:
        wait_for(lambda: count_events(db_path) == len(events), what="the served store to fill")
        assert len(httpx.get(f"{base}/core/conversations").json()) == len(as_trackers(events))


def test_one_sql_broker_table_named_by_a_relative_an_absolute_and_a_linked_path_is_read_once(db_path, tmp_path,
                                                                                            monkeypatch):
    """The position is kept by the table, not by its URL's text: a store that followed the file by
    one spelling goes on where it stopped by another, and stores no event twice. A position kept
    under the URL's text (before) is taken over."""
    source = tmp_path / "rasa_events.db"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255), data TEXT)")
    events = broker_events()
    write_sql_broker_rows(conn.executemany, events[:100], "?")
    conn.commit()
    (tmp_path / "link.db").symlink_to(source)
    monkeypatch.chdir(tmp_path)
    assert follow(db_path, "sqlite:///rasa_events.db").stored == 100
    write_sql_broker_rows(conn.executemany, events[100:150], "?")
    conn.commit()
    progress = follow(db_path, f"sqlite:///{source}")
    assert (progress.stored, progress.duplicates) == (50, 0)
    assert (follow(db_path, "sqlite:///link.db").stored, count_events(db_path)) == (0, 150)
    store = Store(db_path)
    with store.transaction() as db:  # as a store kept it before: under the URL's text
        db.execute("UPDATE follow_positions SET source = 'sql:sqlite:///rasa_events.db'")
    write_sql_broker_rows(conn.executemany, events[150:160], "?")
    conn.commit()
    progress = follow(db_path, "sqlite:///rasa_events.db")
    assert (progress.stored, progress.duplicates) == (10, 0)


def test_one_postgresql_broker_table_has_one_name_however_its_url_is_spelled():
    from rasa_messaging.store.database import store_identity as source_key
    spellings = ["postgresql://rasa:secret@DB.internal:5432/events", "postgres://rasa:other@db.internal/events",
                 "postgresql://rasa@db.internal:5432/events"]
    assert {source_key(url) for url in spellings} == {"postgresql://rasa@db.internal:5432/events"}
    assert source_key("postgresql://rasa@db.internal/events?options=-csearch_path%3Dx") != source_key(spellings[0])


def test_every_rasa_event_type_goes_through_both_consumers_unchanged(db_path, rabbit, sql_broker):
    """Rasa Pro 3.21's types among them: a consumer parked what it did not know."""
    events = reference.every_event_type()
    url, insert = sql_broker
    insert([{**e, "sender_id": "from-sql"} for e in events])
    rabbit["publish"]([{**e, "sender_id": "from-rabbit"} for e in events])
    assert follow(db_path, url).parked == 0
    consumer = RabbitConsumer(Store(db_path), RABBITMQ, queue=rabbit["queue"], exchange=rabbit["exchange"])
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,))
    worker.start()
    wait_for(lambda: count_events(db_path) == 2 * len(events), what="both consumers' events")
    stop.set()
    worker.join(timeout=30)
    assert consumer.progress.parked == 0
    store = Store(db_path)
    for sender in ("from-sql", "from-rabbit"):
        assert [{k: v for k, v in e.items() if k not in ("sender_id", "is_flagged")} for e in store.events(sender)] \
            == events


def test_a_consumer_stores_an_unknown_type_says_so_and_counts_it(db_path, sql_broker, caplog):
    from prometheus_client import REGISTRY

    from rasa_messaging.store.database import store_identity
    url, insert = sql_broker
    counted = {"source": f"sql:{store_identity(url)}"}
    before = REGISTRY.get_sample_value("rasa_messaging_unknown_event_types_total", counted) or 0
    insert([{"sender_id": "newer", "event": "skill_handover", "timestamp": 1.0, "to": "billing"},
            {"sender_id": "newer", "event": "user", "timestamp": 2.0, "text": "hi"},
            {"sender_id": "newer", "event": "Not A Type", "timestamp": 3.0}])
    with caplog.at_level("WARNING", logger="rasa_messaging.brokers"):
        progress = follow(db_path, url)
    assert (progress.stored, progress.parked) == (2, 1)
    assert "types this version does not know (a newer Rasa's, or a typo): skill_handover (1)" in caplog.text
    store = Store(db_path)
    assert [e["event"] for e in store.events("newer")] == ["skill_handover", "user"]
    assert REGISTRY.get_sample_value("rasa_messaging_unknown_event_types_total", counted) == before + 1
