"""The review workflow: reviewed marks, tags, flag notes and the queue, paged transcripts,
erasure and retention, streaming export."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.store import ConversationFilter, Store

from . import reference
from .conftest import assert_problem, ingest_trackers, store_digest


@pytest.fixture
def loaded(stored_trackers):
    return stored_trackers


def senders(client, **params):
    return sorted(c["sender_id"] for c in client.get("/core/conversations", params=params).json())


def metadata(client, sender):
    return next(c for c in client.get("/core/conversations").json() if c["sender_id"] == sender)


# --- reviewed -----------------------------------------------------------------------------------

@pytest.mark.real_data
def test_a_review_mark_shows_filters_and_goes_away_when_new_events_arrive(client, loaded):
    marked = client.put("/core/conversations/mysender/reviewed").json()
    assert marked["reviewed"] is True and marked["reviewed_at"] > 0
    assert metadata(client, "mysender")["reviewed"] is True
    assert senders(client, reviewed="true") == ["mysender"]
    assert "mysender" not in senders(client, reviewed="false") and len(senders(client, reviewed="false")) > 10
    client.post("/core/conversations/mysender/events", json={"event": "user", "timestamp": 1517821800.0, "text": "back"})
    assert metadata(client, "mysender")["reviewed"] is False and metadata(client, "mysender")["reviewed_at"] is None
    assert senders(client, reviewed="true") == []


@pytest.mark.real_data
def test_reimporting_known_events_keeps_the_review_mark(client, store, loaded):
    client.put("/core/conversations/mysender/reviewed")
    ingest_trackers(store, loaded)  # nothing new
    assert metadata(client, "mysender")["reviewed"] is True


@pytest.mark.real_data
def test_unmarking_and_unknown_conversations(client, loaded):
    client.put("/core/conversations/mysender/reviewed")
    assert client.delete("/core/conversations/mysender/reviewed").json() == {
        "sender_id": "mysender", "reviewed": False, "reviewed_at": None}
    assert_problem(client.put("/core/conversations/nobody/reviewed"), 404)
    assert_problem(client.delete("/core/conversations/nobody/reviewed"), 404)


# --- tags ---------------------------------------------------------------------------------------

@pytest.mark.real_data
def test_tags_are_listed_counted_and_filtered_by_any_of(client, loaded):
    assert client.put("/core/conversations/mysender/tags/needs-nlu").json() == ["needs-nlu"]
    assert client.put("/core/conversations/mysender/tags/bug:42").json() == ["bug:42", "needs-nlu"]
    assert client.put("/core/conversations/someone/tags/needs-nlu").json() == ["needs-nlu"]
    assert client.put("/core/conversations/someone/tags/needs-nlu").json() == ["needs-nlu"]  # idempotent
    assert client.get("/core/tags").json() == [{"name": "bug:42", "count": 1}, {"name": "needs-nlu", "count": 2}]
    assert senders(client, tags="bug:42") == ["mysender"]
    assert senders(client, tags="bug:42,needs-nlu") == ["mysender", "someone"]
    assert senders(client, tags="nothing") == []
    assert metadata(client, "mysender")["tags"] == ["bug:42", "needs-nlu"]
    assert client.delete("/core/conversations/mysender/tags/needs-nlu").json() == ["bug:42"]
    assert client.get("/core/tags").json() == [{"name": "bug:42", "count": 1}, {"name": "needs-nlu", "count": 1}]


@pytest.mark.parametrize("tag", ["with space", "-leading-dash", "x" * 65, "ünï", "semi;colon", "%27"])
def test_invalid_tag_names_are_400(client, store, loaded, tag):
    import urllib.parse
    digest = store_digest(store)
    assert_problem(client.put(f"/core/conversations/mysender/tags/{urllib.parse.quote(tag, safe='')}"), 400)
    assert store_digest(store) == digest


def test_tagging_an_unknown_conversation_is_404(client, loaded):
    assert_problem(client.put("/core/conversations/nobody/tags/x"), 404)


# --- flag notes and the review queue --------------------------------------------------------------

@pytest.mark.real_data
def test_the_flag_queue_lists_flags_newest_first_with_their_notes(client, store, loaded):
    first = next(e for e in store.events("mysender") if e["event"] == "user")
    bot = next(e for e in store.events("greet-bye-path-0") if e["event"] == "bot")
    assert client.put(f"/core/conversations/mysender/messages/{first['timestamp']}",
                      json={"note": "wrong intent: should be greet"}).status_code == 201
    assert client.put(f"/core/conversations/greet-bye-path-0/messages/{bot['timestamp']}").status_code == 201
    response = client.get("/core/flags")
    queue = response.json()
    assert response.headers["X-Total-Count"] == "2"
    assert [(f["sender_id"], f["timestamp"], f["event"], f["note"]) for f in queue] == [
        ("greet-bye-path-0", bot["timestamp"], "bot", None),
        ("mysender", first["timestamp"], "user", "wrong intent: should be greet")]
    assert queue[1]["text"] == first["text"] and queue[1]["intent"] == "greet"
    assert queue[0]["flagged_at"] >= queue[1]["flagged_at"]
    # re-flagging without a note keeps the note; unflagging leaves the queue
    client.put(f"/core/conversations/mysender/messages/{first['timestamp']}")
    assert client.get("/core/flags", params={"limit": 1}).json()[0]["note"] == "wrong intent: should be greet"
    client.delete(f"/core/conversations/mysender/messages/{first['timestamp']}")
    assert [f["sender_id"] for f in client.get("/core/flags").json()] == ["greet-bye-path-0"]


@pytest.mark.real_data
def test_a_note_longer_than_2000_characters_is_400(client, store, loaded):
    first = next(e for e in store.events("mysender") if e["event"] == "user")
    assert_problem(client.put(f"/core/conversations/mysender/messages/{first['timestamp']}", json={"note": "x" * 2001}), 400)
    assert client.get("/core/flags").json() == []


# --- paged transcripts ----------------------------------------------------------------------------

def test_limit_returns_the_last_events_and_pages_backwards_with_until(client, store):
    events = [{"event": "user" if i % 2 else "bot", "timestamp": 1000.0 + i, "text": f"m{i}"} for i in range(5000)]
    ingest_trackers(store, [{"sender_id": "long", "events": events}])
    page = client.get("/core/conversations/long/events", params={"limit": 100})
    assert page.headers["X-Total-Count"] == "5000"
    assert [e["timestamp"] for e in page.json()] == [1000.0 + i for i in range(4900, 5000)]
    seen = page.json()
    while len(seen) < 5000:
        before = client.get("/core/conversations/long/events", params={"limit": 100, "until": seen[0]["timestamp"] - 1e-6})
        seen = before.json() + seen
    assert [e["timestamp"] for e in seen] == [e["timestamp"] for e in events]
    messages = client.get("/core/conversations/long/messages", params={"limit": 3, "until": 1010})
    assert messages.headers["X-Total-Count"] == "11" and [m["text"] for m in messages.json()] == ["m8", "m9", "m10"]
    assert client.get("/core/conversations/long/events", params={"limit": 0}).json() == []


# --- erasure and retention ------------------------------------------------------------------------

@pytest.mark.real_data
def test_erasing_a_conversation_removes_everything_and_keeps_counts_exact(client, store, loaded):
    message = next(e for e in store.events("mysender") if e["event"] == "user")
    client.put(f"/core/conversations/mysender/messages/{message['timestamp']}", json={"note": "x"})
    client.put("/core/conversations/mysender/tags/gdpr")
    client.put("/core/conversations/mysender/reviewed")
    assert client.delete("/core/conversations/mysender").status_code == 204
    assert_problem(client.get("/core/conversations/mysender"), 404)
    assert_problem(client.delete("/core/conversations/mysender"), 404)
    for table in ("events", "conversations", "flags", "sessions", "reviews", "tags"):
        assert store.db.execute(f"SELECT count(*) FROM {table} WHERE sender_id = 'mysender'").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM conversation_terms "
                            "WHERE conversation_id NOT IN (SELECT id FROM conversations)").fetchone()[0] == 0
    remaining = [t for t in loaded if t["sender_id"] != "mysender"]
    assert client.get("/core/statistics", params={"limit": 1000}).json() == reference.statistics(remaining, limit=1000)
    actual = client.get("/core/analytics", params={"window": "1d"}).json()
    expected = reference.analytics(remaining, window=86_400)
    for metric, values in expected.items():
        assert actual[metric] == pytest.approx(values), metric
    assert client.get("/core/flags").json() == [] and client.get("/core/tags").json() == []
    assert client.get("/core/conversations", params={"text": message["text"]}).json() == []
    if store.db.dialect.name == "sqlite":  # PostgreSQL keeps its text index itself
        store.db.execute("INSERT INTO user_text (user_text) VALUES ('integrity-check')")  # raises if the index is off


@pytest.mark.real_data
def test_the_cli_erases_named_conversations(db_path, store, loaded):
    result = CliRunner().invoke(cli, ["erase", "--db", str(db_path), "mysender", "nobody"])
    assert result.exit_code == 1
    assert "erased 'mysender'" in result.output and "no conversation 'nobody'" in result.output
    assert "mysender" not in [c["sender_id"] for c in store.conversations(ConversationFilter())[1]]


@pytest.mark.real_data
def test_prune_is_a_dry_run_unless_told_yes(db_path, store, loaded):
    before = store_digest(store)
    dry = CliRunner().invoke(cli, ["prune", "--db", str(db_path), "--older-than", "3000d"])
    assert dry.exit_code == 0 and "would erase 'mysender'" in dry.output and "dry run" in dry.output
    assert store_digest(store) == before
    # the moodbot trackers are from 2018, the financial demo's and generated ones from 2020-21
    real = CliRunner().invoke(cli, ["prune", "--db", str(db_path), "--older-than", "2500d", "--yes"])
    assert real.exit_code == 0 and "erased 'mysender'" in real.output
    left = {c["sender_id"] for c in store.conversations(ConversationFilter())[1]}
    assert "mysender" not in left and "someone" in left
    assert store.statistics(limit=1000) == reference.statistics([t for t in loaded if t["sender_id"] != "mysender"], limit=1000)
    bad = CliRunner().invoke(cli, ["prune", "--db", str(db_path), "--older-than", "soon"])
    assert bad.exit_code == 2 and "--older-than" in bad.output


def test_vacuum_gives_space_back(db_path, store, loaded):
    size_before = store.size()
    for conversation in store.conversations(ConversationFilter())[1]:
        store.erase(conversation["sender_id"])
    result = CliRunner().invoke(cli, ["vacuum", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert store.size() < size_before


# --- export ---------------------------------------------------------------------------------------

def test_an_ndjson_export_imports_back_as_the_same_conversations(db_path, store, loaded, tmp_path):
    exported = CliRunner().invoke(cli, ["export", "--db", str(db_path)])
    assert exported.exit_code == 0
    lines = exported.output.splitlines()
    assert len(lines) == len(reference.unique_events(loaded))
    path = tmp_path / "export.ndjson"
    path.write_text(exported.output)
    fresh = tmp_path / "fresh.db"
    assert CliRunner().invoke(cli, ["import", "--db", str(fresh), str(path)]).exit_code == 0
    original, copy = store, Store(fresh)
    assert copy.conversations(ConversationFilter())[1] == original.conversations(ConversationFilter())[1]
    for line in lines:
        sender = json.loads(line)["sender_id"]
        assert copy.events(sender) == original.events(sender)
    assert copy.statistics(limit=1000) == original.statistics(limit=1000)


def test_the_http_export_streams_the_filtered_conversations(client, loaded):
    response = client.get("/core/export", params={"intent": "greet", "format": "ndjson"})
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    exported = [json.loads(line)["sender_id"] for line in response.text.splitlines()]
    assert exported == senders(client, intent="greet")


@pytest.mark.real_data
def test_the_csv_export_has_a_row_per_message(client, store, loaded):
    response = client.get("/core/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    messages = sum(1 for events in reference.unique_events(loaded).values() for e in events if e["event"] in ("user", "bot"))
    assert len(rows) == messages
    greeting = next(r for r in rows if r["sender_id"] == "greet-bye-path-0" and r["type"] == "bot")
    assert greeting["action"] == "utter_greet" and greeting["policy"] == "RulePolicy"
    hi = next(r for r in rows if r["sender_id"] == "greet-bye-path-0" and r["type"] == "user")
    assert (hi["text"], hi["intent"], hi["flagged"]) == ("hi", "greet", "False")
