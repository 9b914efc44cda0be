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


def nested(depth: int):
    """A slot value that makes its event nest `depth` levels (the event's object is one)."""
    value: object = "bottom"
    for _ in range(depth - 1):
        value = [value]
    return value


def test_an_event_nested_past_the_limit_is_refused_and_one_at_the_limit_is_written_as_yaml(client, store, tmp_path,
                                                                                          db_path):
    from rasa_messaging.store.events import MAX_NESTING
    at_limit = {"event": "slot", "timestamp": 1.0, "name": "deep", "value": nested(MAX_NESTING)}
    too_deep = {"event": "slot", "timestamp": 2.0, "name": "deeper", "value": nested(MAX_NESTING + 1)}
    problem = assert_problem(client.post("/core/conversations/deep/events", json=too_deep), 400)
    assert f"deeper than {MAX_NESTING} levels" in problem["detail"]
    assert client.post("/core/conversations/deep/events", json=at_limit).status_code == 200
    for suffix in ("/test-story.yml", "/debug-dump.yml"):
        written = client.get(f"/core/conversations/deep{suffix}")
        assert written.status_code == 200
    lines = tmp_path / "deep.jsonl"
    lines.write_text(json.dumps({**too_deep, "sender_id": "line"}) + "\n" +
                     json.dumps({"sender_id": "dump", "events": [too_deep]}) + "\n")
    result = CliRunner().invoke(cli, ["import", "--db", str(db_path), str(lines)])
    assert result.exit_code == 1 and result.output.count(f"deeper than {MAX_NESTING} levels") == 2


def test_one_conversation_that_cannot_be_written_leaves_the_other_test_stories_whole(db_path, filled):
    """A slot value nested 900 deep, stored before ingest refused such events: the CLI wrote 0
    bytes for every conversation; now it leaves that one out and says so."""
    store = Store(db_path)
    deep = '{"event": "slot", "timestamp": 5.0, "name": "x", "value": ' + "[" * 900 + '"bottom"' + "]" * 900 + "}"
    store.ingest(prepare("too-deep", [{"event": "user", "timestamp": 4.0, "text": "hi"}]))
    with store.transaction() as db:
        db.execute("INSERT INTO events (sender_id, type, timestamp, data) VALUES (?, ?, ?, ?)",
                   ["too-deep", "slot", 5.0, deep])
    result = CliRunner().invoke(cli, ["test-stories", "--db", str(db_path)])
    assert result.exit_code == 1
    assert "left out: 'too-deep': its events nest too deep to be written as YAML" in result.stderr
    import yaml
    written = yaml.safe_load(result.stdout)["stories"]
    assert sorted(story["story"] for story in written) == sorted(t["sender_id"] for t in filled)
    assert result.stderr.endswith(f"{len(filled)} test stories\n")


def test_answers_go_out_in_pieces_within_a_budget_and_a_stalled_reader_gives_its_bytes_back():
    """PendingResponses: readers that stop reading hold at most the budget (a new answer past it is
    a 503), each answer is handed over in pieces, and a reader that takes nothing for the stall
    time is dropped, giving its bytes back."""
    import asyncio

    from rasa_messaging.limits import PendingResponses

    body = b"x" * 300_000

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"300000")]})
        await send({"type": "http.response.body", "body": body})

    async def scenario():
        bounded = PendingResponses(app, budget=500_000, stall_seconds=0.3, chunk_bytes=65_536)
        stalled, taken, refused = asyncio.Event(), [], []

        async def stalls_after_a_piece(message):
            taken.append(message)
            if len(taken) > 2:
                await stalled.wait()  # the reader stopped reading

        async def reads(message):
            refused.append(message)

        first = asyncio.create_task(bounded({"type": "http"}, None, stalls_after_a_piece))
        await asyncio.sleep(0.1)
        assert bounded.pending == 300_000 and [len(m.get("body", b"")) for m in taken] == [0, 65_536, 65_536]
        await bounded({"type": "http"}, None, reads)  # 300,000 more would pass 500,000
        assert refused[0]["status"] == 503 and b"try again" in refused[1]["body"]
        await first  # dropped after 0.3 s without progress
        assert bounded.pending == 0
        whole = []
        await bounded({"type": "http"}, None, lambda message: asyncio.sleep(0, whole.append(message)))
        assert b"".join(m.get("body", b"") for m in whole[1:]) == body and not whole[-1].get("more_body")
        assert max(len(m.get("body", b"")) for m in whole) == 65_536

    asyncio.run(scenario())
