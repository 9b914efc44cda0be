"""Bad input of every kind: a clear 4xx problem+json, nothing stored half-way, still serving.

Each test takes the store's digest before and after, and ends by checking the server answers.
"""

import json
import socket
import urllib.parse

import httpx
import pytest

from rasa_messaging.limits import MAX_EVENTS_PER_REQUEST

from . import reference
from .conftest import REAL_TRACKER_FILES, assert_problem, ingest_trackers, live_server, load_tracker, store_digest

EVENTS = "/core/conversations/mysender/events"


@pytest.fixture
def filled(store):
    ingest_trackers(store, [load_tracker(p) for p in REAL_TRACKER_FILES])
    return store_digest(store)


def unchanged_and_serving(client, store, digest):
    assert store_digest(store) == digest
    assert client.get("/core/conversations").status_code == 200


def post_raw(client, body: bytes, path=EVENTS):
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("body", [b"{", b'{"event": "user"', b'[{"event": "user", "timestamp": 1}, {"ev', b"", b"nul",
                                  b'{"event": "user"}}', b"\xef\xbb\xbf{}"])
def test_malformed_and_truncated_json(client, store, filled, body):
    assert_problem(post_raw(client, body), 400)
    unchanged_and_serving(client, store, filled)


@pytest.mark.parametrize("body", [5, "user", None, [1, 2], {"event": ["user"]}, {"event": "user", "timestamp": "noon"},
                                  {"event": "user", "timestamp": [1]}, {"event": "user", "timestamp": True},
                                  [{"event": "user", "timestamp": 1.0}, "second"]])
def test_wrong_types(client, store, filled, body):
    assert_problem(client.post(EVENTS, json=body), 400)
    unchanged_and_serving(client, store, filled)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_nan_infinity_and_numbers_too_large_for_a_float(client, store, filled, literal):
    assert_problem(post_raw(client, b'{"event": "user", "timestamp": 1.5, "confidence": ' + literal + b"}"), 400)
    assert_problem(post_raw(client, b'{"event": "user", "timestamp": ' + literal + b"}"), 400)
    unchanged_and_serving(client, store, filled)


@pytest.mark.parametrize("params", [{"limit": 10**30}, {"offset": 10**20}, {"limit": -1}, {"offset": -1},
                                    {"limit": "1e3"}, {"minimumUserMessages": "lots"}])
def test_huge_and_negative_limits(client, store, filled, params):
    assert_problem(client.get("/core/conversations", params=params), 400)
    assert_problem(client.get("/core/statistics", params={"limit": next(iter(params.values()))}), 400)
    unchanged_and_serving(client, store, filled)


def test_huge_numbers_in_filters_match_nothing_rather_than_fail(client, store, filled):
    for params in ({"start": "1e308"}, {"until": "-1e308"}, {"maximumConfidence": "-1e308"}, {"minimumUserMessages": "1e308"}):
        response = client.get("/core/conversations", params=params)
        assert response.status_code == 200 and response.json() == [], params
    assert_problem(client.put("/core/conversations/mysender/messages/1e308"), 404)
    unchanged_and_serving(client, store, filled)


def test_empty_and_very_long_sender_ids(client, store, filled):
    assert_problem(client.post("/core/conversations//events", json={"event": "user", "timestamp": 1.0}), 404)
    long_id = "x" * 10_000
    assert client.post(f"/core/conversations/{long_id}/events", json={"event": "user", "timestamp": 1.0}).status_code == 200
    assert client.get(f"/core/conversations/{long_id}/events").json()[0]["timestamp"] == 1.0
    assert long_id in [c["sender_id"] for c in client.get("/core/conversations").json()]


@pytest.mark.parametrize("sender_id", ['"quoted"', "it's", "nul\ufffdlook-alike", "emoji 😀🙈", "עברית RTL",
                                       "\u202eright-to-left", "tab\tand\nnewline", "semi;colon&amp=1?x#frag"])
def test_unusual_sender_ids_round_trip(client, store, sender_id):
    """(A NUL is refused in a sender id: test_abuse_two.py.)"""
    path = f"/core/conversations/{urllib.parse.quote(sender_id, safe='')}"
    assert client.post(f"{path}/events", json={"event": "user", "timestamp": 1.0, "text": "hi"}).status_code == 200
    assert [c["sender_id"] for c in client.get("/core/conversations").json()] == [sender_id]
    assert client.get(path).json()[0]["sender_id"] == sender_id
    assert client.put(f"{path}/messages/1.0").status_code == 201


@pytest.mark.parametrize("path", ["/core/conversations/a/b/events", "/core/conversations/a%2Fb/events"])
def test_a_sender_id_with_a_slash_cannot_be_addressed_and_is_a_404(client, store, filled, path):
    assert_problem(client.post(path, json={"event": "user", "timestamp": 1.0}), 404)
    assert_problem(client.get(path), 404)
    unchanged_and_serving(client, store, filled)


def test_invalid_utf8(client, store, filled):
    assert_problem(post_raw(client, b'{"event": "user", "timestamp": 1.0, "text": "\xff\xfe"}'), 400)
    assert_problem(post_raw(client, b'{"event": "user", "timestamp": 1.0, "text": "\\udc80 lone"}'), 400)
    assert_problem(client.get("/core/conversations/%FF%FE/events"), 400, detail_contains="not UTF-8")
    unchanged_and_serving(client, store, filled)


@pytest.mark.parametrize("body", [b"[" * 10_000 + b"]" * 10_000,
                                  b'{"event": "x", "timestamp": 1, "deep": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001])
def test_json_nested_10000_levels_deep(client, store, filled, body):
    assert_problem(post_raw(client, body), 400, detail_contains="nested too deeply")
    unchanged_and_serving(client, store, filled)


def test_the_largest_batch_is_stored_in_one_transaction_and_a_larger_one_is_a_413(client, store):
    limit = MAX_EVENTS_PER_REQUEST
    events = [{"event": "user", "timestamp": 1_600_000_000 + i / 1000, "text": f"m{i}"} for i in range(limit)]
    assert client.post("/core/conversations/bulk/events", json=events).json() == {"stored": limit, "duplicates": 0}
    assert store.db.execute("SELECT count(*) FROM events").fetchone()[0] == limit
    invalid = events[:limit // 2] + [{"event": "user", "timestamp": "late"}] + [
        {**e, "timestamp": e["timestamp"] + 1000} for e in events[limit // 2 + 1:]]
    digest = store_digest(store)
    assert_problem(client.post("/core/conversations/bulk/events", json=invalid), 400)
    too_many = [{**e, "timestamp": e["timestamp"] + 2000} for e in events] + events[:1]
    body = assert_problem(client.post("/core/conversations/bulk/events", json=too_many), 413)
    assert body["parameter"] == "body" and f"at most {limit}" in body["detail"]
    unchanged_and_serving(client, store, digest)


def test_an_ill_formed_event_type_is_refused_naming_the_event_and_the_field(client, store, filled):
    for bad in ("User", "", "user!", "9lives", 5, None):
        events = [{"event": "user", "timestamp": 1.0, "text": "hi"}, {"event": bad, "timestamp": 1700000000}]
        body = assert_problem(client.post("/core/conversations/new/events", json=events), 400)
        assert body["detail"].startswith("event 1: 'event'"), bad
    assert_problem(client.get("/core/conversations/new/events"), 404)
    unchanged_and_serving(client, store, filled)


def test_an_unknown_well_formed_type_is_stored_served_back_and_reported(client, store):
    """A newer Rasa's type, or a typo: stored and reported, never lost (it was refused)."""
    events = [{"event": "user", "timestamp": 1.0, "text": "hi"}, {"event": "usr", "timestamp": 2.0, "text": "typo"},
              {"event": "agent_handover_v2", "timestamp": 3.0, "to": "billing"},
              {"event": "usr", "timestamp": 4.0}]
    answer = client.post("/core/conversations/new/events", json=events).json()
    assert answer == {"stored": 4, "duplicates": 0, "unknown_types": {"usr": 2, "agent_handover_v2": 1}}
    served = client.get("/core/conversations/new/events").json()
    assert [{k: v for k, v in e.items() if k != "is_flagged"} for e in served] == events
    again = client.post("/core/conversations/new/events", json=events[1]).json()
    assert again == {"stored": 0, "duplicates": 1, "unknown_types": {"usr": 1}}
    assert "unknown_types" not in client.post("/core/conversations/new/events", json=events[0]).json()


def test_every_rasa_event_type_is_accepted_and_served_back_unchanged(client, contract):
    """Rasa Pro 3.21's 59 types among them (`bot_turn_ended` ends every CALM turn); the spec's
    enum of IncomingEvent is the same list."""
    from rasa_messaging.store.events import RASA_EVENT_TYPES

    from .reference import RASA_PRO_3_21_TYPES, every_event_type
    assert len(set(RASA_PRO_3_21_TYPES)) == 59 and set(RASA_PRO_3_21_TYPES) <= set(RASA_EVENT_TYPES)
    assert contract.spec["components"]["schemas"]["IncomingEvent"]["properties"]["event"]["x-known-types"] == \
        list(RASA_EVENT_TYPES)
    events = every_event_type()
    assert client.post("/core/conversations/new/events", json=events).json() == {"stored": len(events), "duplicates": 0}
    served = client.get("/core/conversations/new/events").json()
    assert [{k: v for k, v in e.items() if k != "is_flagged"} for e in served] == events  # messages carry is_flagged


SQL_METACHARACTERS = ["' OR '1'='1", "x'; DROP TABLE events; --", '"; DELETE FROM flags; --', "%", "_", "\\", "*",
                      "' UNION SELECT sql FROM sqlite_master --", "1) OR (1=1", "?", ":start", "$1"]


@pytest.mark.parametrize("value", SQL_METACHARACTERS)
def test_sql_metacharacters_in_every_string_parameter(client, store, filled, value):
    for name in ("intent", "entity", "action", "policies"):
        response = client.get("/core/conversations", params={name: value})
        assert response.status_code == 200 and response.json() == [], (name, response.text)
    said = {s: reference.user_texts(e) for s, e in reference.unique_events(
        [load_tracker(p) for p in REAL_TRACKER_FILES]).items()}
    literally_in = sorted(s for s, texts in said.items() if any(value.casefold() in t.casefold() for t in texts))
    assert sorted(c["sender_id"] for c in client.get("/core/conversations", params={"text": value}).json()) == literally_in
    for name in ("start", "end", "window"):
        assert_problem(client.get("/core/analytics", params={name: value}), 400)
    for name in ("start", "until", "maximumConfidence", "minimumUserMessages", "limit"):
        assert_problem(client.get("/core/conversations", params={name: value}), 400)
    quoted = urllib.parse.quote(value, safe="")
    for path in ("", "/events", "/messages", "/debug-dump.json", "/debug-dump.md", "/debug-dump.yml"):
        assert_problem(client.get(f"/core/conversations/{quoted}{path}"), 404)
    assert_problem(client.put(f"/core/conversations/mysender/messages/{quoted}"), 400)
    unchanged_and_serving(client, store, filled)
    client.post(f"/core/conversations/{quoted}/events", json={"event": "user", "timestamp": 2.0, "text": value})
    found = [c["sender_id"] for c in client.get("/core/conversations", params={"text": value}).json()]
    assert sorted(found) == sorted(literally_in + [value])


# --- Bodies too large: the real server, so that nothing buffers the body for us ---------------

def raw_request(base: str, head: bytes, chunks=(), timeout=20.0) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking the rest: what we want
        return sock.recv(65536)


def test_a_body_over_the_limit_is_a_413_before_it_is_read(db_path, store):
    digest = store_digest(store)
    with live_server(db_path, "--max-body-size", "1000000") as base:
        declared = raw_request(base, b"POST /core/conversations/big/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n")
        assert declared.startswith(b"HTTP/1.1 413") and b"application/problem+json" in declared

        megabyte = b" " * 1_048_576
        streamed = raw_request(base, b"POST /core/conversations/big/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                               (b"%x\r\n%s\r\n" % (len(megabyte), megabyte) for _ in range(100)))
        assert streamed.startswith(b"HTTP/1.1 413")
        event = json.dumps({"event": "user", "timestamp": 2.0, "text": "chunked"}).encode()
        chunked = raw_request(base, b"POST /core/conversations/chunky/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                              [b"%x\r\n%s\r\n" % (len(event), event), b"0\r\n\r\n"])
        assert chunked.startswith(b"HTTP/1.1 200"), chunked  # a small chunked body is taken whole
        assert httpx.get(f"{base}/core/conversations").status_code == 200
        small = httpx.post(f"{base}/core/conversations/ok/events", json={"event": "user", "timestamp": 1.0})
        assert small.status_code == 200
    assert store_digest(store) != digest  # only the small requests were stored
    assert [r[0] for r in store.db.execute("SELECT sender_id FROM conversations ORDER BY 1")] == ["chunky", "ok"]


def test_literal_percent_sequences_in_sender_ids_reach_the_right_conversation(db_path):
    """Through uvicorn, as users call it (starlette's test client decodes paths twice)."""
    with live_server(db_path) as base:
        for sender in ("%2F-literal", "%41", "50%"):
            path = f"{base}/core/conversations/{urllib.parse.quote(sender, safe='')}"
            assert httpx.post(f"{path}/events", json={"event": "user", "timestamp": 1.0}).status_code == 200
            assert httpx.get(path).json()[0]["sender_id"] == sender
        assert sorted(c["sender_id"] for c in httpx.get(f"{base}/core/conversations").json()) == ["%2F-literal", "%41", "50%"]


@pytest.mark.parametrize("query", ["limit=1&limit=2", "intent=greet&intent=bye", "since=abc&since=3", "%6Cimit=1&limit=2"])
def test_a_parameter_of_one_value_given_twice_is_a_400_naming_it(client, query):
    """`since=abc&since=3` was read as 3: the first value went unseen, however wrong."""
    path = "/core/training-data/nlu.yml" if "since" in query else "/core/conversations"
    problem = assert_problem(client.get(f"{path}?{query}"), 400)
    assert problem["parameter"] == query.split("=")[-2].split("&")[-1] and "given 2 times" in problem["detail"]
