"""Several servers and consumers over one PostgreSQL database (issue 18): what one replica changes,
the next request to another sees; competing consumers store every event once, even when one is
killed mid-stream; the derived counts equal a recomputation from the raw events."""

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from rasa_messaging.store import Store

from . import reference
from .conftest import count_events, live_server, postgres_database
from .contract import CheckedClient
from .test_brokers import (  # noqa: F401 (rabbit: a fixture)
    RABBITMQ,
    as_trackers,
    assert_stored_exactly_once,
    broker_events,
    rabbit,
    wait_for,
)


@pytest.fixture
def database(postgres_template):
    with postgres_database(postgres_template) as url:
        yield url


def consumer(url, rabbit):  # noqa: F811
    return subprocess.Popen([sys.executable, "-m", "rasa_messaging.cli", "consume", "rabbitmq", "--db", url,
                             "--url", RABBITMQ, "--queue", rabbit["queue"], "--exchange", rabbit["exchange"],
                             "--batch-size", "50"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_servers_and_two_consumers_on_one_database(database, rabbit, contract):  # noqa: F811
    events = broker_events(copies=3)  # ≈ 3,300 events of 135 conversations, as Rasa's pika broker publishes them
    with live_server(database) as first, live_server(database) as second:
        a, b = (CheckedClient(httpx.Client(base_url=base, timeout=30), contract) for base in (first, second))
        consumers = [consumer(database, rabbit), consumer(database, rabbit)]

        def publish_as_a_bot_talks():  # in steps, so that the flags below are set while events arrive
            for start in range(0, len(events), 100):
                rabbit["publish"](events[start:start + 100])
                time.sleep(0.1)

        publisher = threading.Thread(target=publish_as_a_bot_talks)
        publisher.start()
        wait_for(lambda: count_events(database) > 300, what="a first batch")

        # One consumer dies mid-stream; its unacknowledged messages go to the other.
        os.kill(consumers[0].pid, signal.SIGKILL)
        consumers[0].wait()
        killed_at = count_events(database)
        print(f"\none consumer killed at {killed_at} of {len(events)} events stored")

        # While events arrive: flags and tags through one server, seen at once through the other.
        flagged = {}
        for number, conversation in enumerate(a.get("/core/conversations", params={"limit": 12}).json()):
            sender = conversation["sender_id"]
            writer, reader = (a, b) if number % 2 else (b, a)
            message = writer.get(f"/core/conversations/{sender}/messages").json()[0]
            assert writer.put(f"/core/conversations/{sender}/messages/{message['timestamp']}").status_code == 201
            assert writer.put(f"/core/conversations/{sender}/tags/replica-{number % 2}").status_code == 200
            flagged[sender] = message["timestamp"]
            listed = reader.get("/core/conversations", params={"is_flagged": "true", "limit": 100}).json()
            assert sender in {c["sender_id"] for c in listed}
            tagged = reader.get("/core/conversations", params={"tags": f"replica-{number % 2}", "limit": 100}).json()
            assert sender in {c["sender_id"] for c in tagged}
        flagged_while_arriving = count_events(database)
        publisher.join()
        assert killed_at < flagged_while_arriving < len(events), "the events arrived too fast to test anything"
        wait_for(lambda: count_events(database) == len(events), what="every event, through the surviving consumer")
        time.sleep(1)  # give a wrongly doubled event time to show
        consumers[1].send_signal(signal.SIGTERM)
        assert consumers[1].wait(timeout=20) == 0, consumers[1].stderr.read()

        # Review marks and erasure, one replica to the other.
        reviewed = next(iter(flagged))
        assert a.put(f"/core/conversations/{reviewed}/reviewed").status_code in (200, 201)
        assert [c["sender_id"] for c in b.get("/core/conversations", params={"reviewed": "true"}).json()] == [reviewed]
        erased = sorted(flagged)[-1]
        assert b.delete(f"/core/conversations/{erased}").status_code in (200, 204)
        assert a.get(f"/core/conversations/{erased}/messages").status_code == 404
        text = next(e["text"] for e in events if e["sender_id"] == erased and e["event"] == "user" and e.get("text"))
        assert erased not in {c["sender_id"] for c in a.get("/core/conversations", params={"text": text}).json()}

        remaining = [e for e in events if e["sender_id"] != erased]
        store = Store(database)
        assert_stored_exactly_once(store, remaining)
        flags = {(f["sender_id"], f["timestamp"]) for f in b.get("/core/flags", params={"limit": 100}).json()}
        assert flags == {(sender, timestamp) for sender, timestamp in flagged.items() if sender != erased}
        expected = reference.all_metadata(as_trackers(remaining))
        listed = a.get("/core/conversations", params={"limit": 1000}).json()
        assert {c["sender_id"]: {k: c[k] for k in expected[c["sender_id"]]} for c in listed} == expected
        for client in (a, b):
            assert client.get("/core/statistics", params={"limit": 1000}).json() == \
                reference.statistics(as_trackers(remaining), limit=1000)
            actual = client.get("/core/analytics", params={"window": "1d"}).json()
            for metric, values in reference.analytics(as_trackers(remaining), window=86_400).items():
                assert actual[metric] == pytest.approx(values), metric
