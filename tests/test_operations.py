"""What a load balancer and an operator use: /core/health, /core/ready, /metrics, JSON logs."""

import json
import threading
import time
import warnings

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from rasa_messaging.app import create_app
from rasa_messaging.brokers import RabbitConsumer
from rasa_messaging.store import Store

from .conftest import assert_problem, count_events, live_server, server_log
from .contract import CheckedClient
from .test_brokers import RABBITMQ, broker_events, rabbit, wait_for  # noqa: F401 (rabbit: a fixture)

FULL = "operator-test-token"
MIGRATIONS = {"sqlite": "_sqlite_migrations", "postgresql": "rasa_messaging_migrations"}  # the applied ones
EVENTS = [{"event": "user", "timestamp": 1.0, "text": "hi"}, {"event": "bot", "timestamp": 2.0, "text": "hello"}]


def samples(client) -> dict:
    """Every sample /metrics shows, by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_health_and_ready_need_no_token(db_path, contract):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        secured = CheckedClient(create_app(db_path, validate_responses=True, token=FULL).test_client(), contract)
    assert secured.get("/core/health").json() == {"status": "alive"}
    ready = secured.get("/core/ready").json()
    store = Store(db_path)
    assert ready["status"] == "ready" and ready["backend"] == store.db.dialect.name
    assert ready["migrations"] == store.db.execute(f"SELECT count(*) FROM {MIGRATIONS[ready['backend']]}").fetchone()[0]
    assert_problem(secured.get("/core/conversations"), 401)  # the rest of the API stays closed
    assert secured.get("/metrics").status_code == 200


def test_ready_is_a_503_while_a_migration_is_still_to_run(client, db_path):
    # As a replica sees the database while another process, of a newer version, migrates it.
    store = Store(db_path)
    table = MIGRATIONS[store.db.dialect.name]
    (last,) = store.db.execute(f"SELECT max(name) FROM {table}").fetchone()
    store.db.execute(f"DELETE FROM {table} WHERE name = ?", [last])
    assert_problem(client.get("/core/ready"), 503, detail_contains=last)
    assert client.get("/core/health").status_code == 200


def test_metrics_count_requests_per_operation_and_status(client):
    before = samples(client)
    client.post("/core/conversations/op-1/events", json=EVENTS)
    client.post("/core/conversations/op-1/events", json=EVENTS)  # both are duplicates now
    client.get("/core/conversations/op-1/messages")
    client.get("/core/conversations/nobody/messages")
    client.get("/core/conversations?maximumConfidence=high")
    after = samples(client)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("rasa_messaging_requests_total", operation="ingestEvents", status="200") == 2
    assert grew("rasa_messaging_requests_total", operation="getMessages", status="200") == 1
    assert grew("rasa_messaging_requests_total", operation="getMessages", status="404") == 1
    assert grew("rasa_messaging_requests_total", operation="getConversations", status="400") == 1
    assert grew("rasa_messaging_request_duration_seconds_count", operation="getMessages") == 2
    assert grew("rasa_messaging_events_total", source="http", outcome="stored") == 2
    assert grew("rasa_messaging_events_total", source="http", outcome="duplicate") == 2
    # A path no operation serves is one label, whatever the path: clients cannot grow the label set.
    client.get("/core/no-such-thing-1")
    client.get("/core/no-such-thing-2")
    assert samples(client)[("rasa_messaging_requests_total", (("operation", "-"), ("status", "404")))] >= 2


def test_consumed_events_and_the_queue_lag_are_metrics(db_path, rabbit):  # noqa: F811
    events = broker_events()
    source = f"rabbitmq:{rabbit['queue']}"
    stored_before = REGISTRY.get_sample_value("rasa_messaging_events_total", {"source": source, "outcome": "stored"})
    assert stored_before is None  # a new queue: nothing counted yet
    rabbit["publish"](events + [b"not json"])
    consumer = RabbitConsumer(Store(db_path), RABBITMQ, queue=rabbit["queue"], exchange=rabbit["exchange"],
                              batch_size=100)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: count_events(db_path) == len(events), what="every event")
        wait_for(lambda: REGISTRY.get_sample_value("rasa_messaging_consumer_lag_messages", {"source": source}) == 0,
                 what="the lag to reach 0")
    finally:
        stop.set()
        thread.join(timeout=20)
    value = lambda outcome: REGISTRY.get_sample_value("rasa_messaging_events_total",  # noqa: E731
                                                      {"source": source, "outcome": outcome})
    assert value("stored") == len(events)
    assert value("parked") == 1


def test_json_logs_have_one_line_per_request_without_the_query(db_path, contract):
    with live_server(db_path, "--log-format", "json", "--token", FULL) as base:
        http = CheckedClient(httpx.Client(base_url=base), contract)
        assert http.get(f"/core/conversations?limit=3&token={FULL}").status_code == 200
        assert http.get("/core/conversations/nobody/messages", headers={"Authorization": f"Bearer {FULL}"}
                        ).status_code == 404
        time.sleep(0.3)
    lines = [json.loads(line) for line in server_log(db_path).open(encoding="utf-8") if line.strip()]
    requests = [line for line in lines if line["logger"] == "rasa_messaging.requests"]
    listed = [line for line in requests if line.get("operation") == "getConversations"]
    assert len(listed) == 1 and listed[0]["status"] == 200 and listed[0]["path"] == "/core/conversations"
    assert listed[0]["duration_ms"] > 0 and listed[0]["method"] == "GET"
    assert [line["status"] for line in requests if line.get("operation") == "getMessages"] == [404]
    assert any("serving" in line["message"] for line in lines if line["logger"] == "rasa_messaging.serve")
    assert FULL not in server_log(db_path).open(encoding="utf-8").read()
