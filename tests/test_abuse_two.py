"""Holding under abuse, round two (issue 37): filters that cannot mean anything, needles and lists
too long, NUL in sender ids, paths that skip the router. Both backends; loopback only."""

import json
import urllib.parse

import httpx
import pytest
from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.generate import Generator
from rasa_messaging.store import ConversationFilter, Store, prepare
from rasa_messaging.store.conversations import MAX_FILTER_VALUES, MAX_TEXT_LENGTH

from .conftest import assert_problem, import_trackers, live_server

TOKEN = "abuse-two-token"


@pytest.fixture
def filled(store):
    trackers = Generator(seed=37).trackers(30)
    import_trackers(store, trackers)
    return trackers


@pytest.mark.parametrize("query, parameter", [
    ("intent=", "intent"), ("intent=%2C", "intent"), ("entity=%20", "entity"), ("action=,,", "action"),
    ("policies=%2C", "policies"), ("tags=%2C%2C", "tags"), ("text=", "text"), ("text=%20%20", "text"),
])
def test_an_empty_filter_value_is_a_400_naming_it_not_the_unfiltered_list(client, filled, query, parameter):
    for path in ("/core/conversations", "/core/export"):
        problem = assert_problem(client.get(f"{path}?{query}"), 400)
        assert problem["parameter"] == parameter


def test_the_cli_refuses_an_empty_filter_naming_the_option(db_path, filled):
    result = CliRunner().invoke(cli, ["export", "--db", str(db_path), "--tags", ","])
    assert result.exit_code == 2 and "Invalid value for --tags" in result.output and "names no value" in result.output


@pytest.mark.parametrize("parameter", ["intent", "entity", "action", "policies", "tags"])
def test_a_list_filter_of_more_values_than_it_takes_is_a_400_and_one_at_the_limit_is_answered(client, filled, parameter):
    """SQLite answered 999 values with a 500 ('Expression tree is too large'); PostgreSQL took 7,000."""
    expected = {"intent": "intents", "entity": "entities", "action": "actions", "policies": "policies", "tags": "tags"}
    some = sorted({v for t in filled for v in _terms(t, expected[parameter])})[:3] or ["regression"]
    at_limit = some + [f"nothing_{n}" for n in range(MAX_FILTER_VALUES - len(some))]
    answered = client.get("/core/conversations", params={parameter: ",".join(at_limit), "limit": 1000})
    assert answered.status_code == 200
    too_many = at_limit + ["one_more"]
    problem = assert_problem(client.get("/core/conversations", params={parameter: ",".join(too_many)}), 400)
    assert problem["parameter"] == parameter and f"at most {MAX_FILTER_VALUES}" in problem["detail"]


def _terms(tracker, kind):
    events = tracker["events"]
    if kind == "intents":
        return [e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"]
    if kind == "actions":
        return [e["name"] for e in events if e["event"] == "action"]
    return []


def test_a_needle_longer_than_the_limit_is_a_400_and_a_long_one_within_it_is_found(client, store):
    """PostgreSQL's trigram index is asked for the needle's first characters only (a 20,000-character
    needle took seconds); the whole needle must still match exactly."""
    long_text = "please " + "transfer the money to my savings account " * 8
    close = long_text[:-3] + "xyz"  # the same first 300 characters, another end
    store.ingest(prepare("long", [{"event": "user", "timestamp": 1.0, "text": long_text}]) +
                 prepare("close", [{"event": "user", "timestamp": 2.0, "text": close}]))
    needle = long_text.strip()[-MAX_TEXT_LENGTH:].upper()
    assert len(needle) > 300
    found = client.get("/core/conversations", params={"text": needle})
    assert [c["sender_id"] for c in found.json()] == ["long"]
    assert [c["sender_id"] for c in client.get("/core/conversations", params={"text": "to my savings"}).json()] == \
        ["close", "long"]
    problem = assert_problem(client.get("/core/conversations", params={"text": "x" * (MAX_TEXT_LENGTH + 1)}), 400)
    assert problem["parameter"] == "text"


def test_a_sender_id_with_nul_is_refused_on_every_way_in(client, store, db_path, tmp_path):
    """PostgreSQL stored `nul\\x00sender` as `nul\\ufffdsender`: two senders were one conversation there."""
    event = {"event": "user", "timestamp": 1.0, "text": "hi"}
    assert_problem(client.post("/core/conversations/nul%00sender/events", json=event), 400)
    assert client.post("/core/conversations/nul%EF%BF%BDsender/events", json=event).status_code == 200
    lines = tmp_path / "events.jsonl"
    lines.write_text(json.dumps({**event, "sender_id": "nul\x00sender"}) + "\n"
                     + json.dumps({"sender_id": "nul\x00dump", "events": [event]}) + "\n")
    result = CliRunner().invoke(cli, ["import", "--db", str(db_path), str(lines)])
    assert result.exit_code == 1 and result.output.count("a sender_id cannot hold a NUL character") == 2
    assert [c["sender_id"] for c in Store(db_path).conversations(ConversationFilter())[1]] == ["nul\ufffdsender"]


@pytest.mark.parametrize("path", ["//core/conversations", "//core/conversations/x/events", "//core/health",
                                  "//metrics", "///"])
def test_a_path_starting_with_two_slashes_is_a_404_before_any_view_runs(db_path, path):
    with live_server(db_path, "--token", TOKEN) as base:
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            response = httpx.get(f"{base}{path}", headers=headers)
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"


def test_a_token_in_the_query_is_redacted_by_its_decoded_name(db_path):
    """`?%74oken=` is `?token=` to the server, and authenticated; the access log printed it whole."""
    secret = "do-not-log-this-secret"
    from .conftest import server_log
    with live_server(db_path, "--token", secret) as base:
        for query in (f"%74oken={secret}", f"%74%6Fken={secret}", f"a=1&TOKEN={secret}", f"x=1;token={secret}",
                      f"token={urllib.parse.quote(secret)}&limit=1"):
            httpx.get(f"{base}/core/conversations?{query}")
    assert secret not in server_log(db_path).read_text()
