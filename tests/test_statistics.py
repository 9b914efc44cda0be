"""GET /statistics: counters kept at ingest equal a recomputation from the raw events."""

import json

import pytest
from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.store import Store
from rasa_messaging.store.events import event_row
from rasa_messaging.store.packing import text_of

from . import reference
from .conftest import REAL_TRACKER_FILES, assert_problem, ingest_trackers, load_tracker
from .story_trackers import generated_trackers


def test_an_empty_store_has_zero_statistics(client):
    assert client.get("/core/statistics").json() == {
        "user_messages": 0, "bot_messages": 0,
        "top_intents": [], "top_entities": [], "top_actions": [], "top_policies": [],
        "top_flows": [], "top_commands": [], "top_patterns": []}


@pytest.mark.real_data
def test_moodbot_statistics_computed_by_hand(client, store):
    ingest_trackers(store, [load_tracker(p) for p in REAL_TRACKER_FILES if p.name == "tracker_moodbot.json"])
    assert client.get("/core/statistics").json() == {
        "user_messages": 2, "bot_messages": 0,
        "top_intents": [{"name": "greet", "count": 1}, {"name": "mood_great", "count": 1}],
        "top_entities": [],
        "top_actions": [{"name": "utter_greet", "count": 1}, {"name": "utter_happy", "count": 1}],
        "top_policies": [{"name": "MemoizationPolicy", "count": 1}, {"name": "TEDPolicy", "count": 1}],
        "top_flows": [], "top_commands": [], "top_patterns": [],
    }


@pytest.mark.real_data
def test_real_data_statistics_equal_counts_from_the_raw_files(client, store):
    trackers = [load_tracker(p) for p in REAL_TRACKER_FILES] + generated_trackers()
    ingest_trackers(store, trackers)
    assert client.get("/core/statistics").json() == reference.statistics(trackers)
    assert client.get("/core/statistics", params={"limit": 3}).json() == reference.statistics(trackers, limit=3)
    assert client.get("/core/statistics", params={"limit": 1000}).json() == reference.statistics(trackers, limit=1000)


@pytest.mark.real_data
def test_counters_stay_exact_through_imports_reimports_http_ingests_and_flags(client, store, db_path, tmp_path):
    trackers = generated_trackers(seed=11)
    first, second, third = trackers[:20], trackers[20:40], trackers[40:]
    dump_file = tmp_path / "first.json"
    dump_file.write_text(json.dumps(first))
    jsonl = tmp_path / "second.jsonl"
    jsonl.write_text("\n".join(json.dumps({**e, "sender_id": t["sender_id"]}) for t in second for e in t["events"]))

    runner = CliRunner()
    runner.invoke(cli, ["import", "--db", str(db_path), str(dump_file)])
    for tracker in third:
        half = len(tracker["events"]) // 2
        client.post(f"/core/conversations/{tracker['sender_id']}/events", json=tracker["events"][:half])
    runner.invoke(cli, ["import", "--db", str(db_path), str(jsonl), str(dump_file)])  # a re-import
    for tracker in third:  # overlapping second halves: the first events again, then the rest
        client.post(f"/core/conversations/{tracker['sender_id']}/events", json=tracker["events"][2:])
        message = next(e for e in tracker["events"] if e["event"] == "user")
        client.put(f"/core/conversations/{tracker['sender_id']}/messages/{message['timestamp']}")
    client.post(f"/core/conversations/{first[0]['sender_id']}/events", json=first[0]["events"])  # nothing new

    assert client.get("/core/statistics", params={"limit": 1000}).json() == reference.statistics(trackers, limit=1000)


def test_ties_are_ordered_by_name(client, store):
    events = [{"event": "user", "timestamp": float(i), "parse_data": {"intent": {"name": name}}}
              for i, name in enumerate(["b", "a", "c", "a", "b"])]
    ingest_trackers(store, [{"sender_id": "x", "events": events}])
    assert client.get("/core/statistics").json()["top_intents"] == [
        {"name": "a", "count": 2}, {"name": "b", "count": 2}, {"name": "c", "count": 1}]


@pytest.mark.parametrize("limit", [-1, "many", 10001])
def test_a_bad_limit_is_a_400(client, limit):
    assert_problem(client.get("/core/statistics", params={"limit": limit}), 400)


@pytest.mark.real_data
def test_a_database_from_before_the_statistics_counters_gets_them_backfilled(tmp_path):
    """m002 counts what an m001-only database already holds."""
    path = tmp_path / "old.db"
    trackers = [load_tracker(p) for p in REAL_TRACKER_FILES] + generated_trackers()
    ingest_trackers(Store(path), trackers)
    store = Store(path)
    with store.transaction() as db:  # undo m002, as a database of the first version looked
        # Its events plain, with the columns m002 counts (m026 and m027 made them what they are, and
        # `action` names only the actions that open a session now).
        rows = [(text, row.intent, row.action, row.policy, row.confidence, event_id)
                for event_id, sender_id, timestamp, data in db.execute(
                    "SELECT id, sender_id, timestamp, data FROM events").fetchall()
                for text in [text_of(db, data, timestamp)] for row in [event_row(sender_id, json.loads(text))]]
        for column in ("intent TEXT", "policy TEXT", "confidence FLOAT"):
            db.execute(f"ALTER TABLE events ADD COLUMN {column}")
        db.executemany("UPDATE events SET data = ?, intent = ?, action = ?, policy = ?, confidence = ? WHERE id = ?", rows)
        db.execute("DROP TABLE statistics")
        db.execute("DROP TABLE event_dictionaries")
        db.execute("DELETE FROM _sqlite_migrations WHERE name IN ('m002_statistics', 'm026_packed_events', "
                    "'m027_smaller_events')")
    store.close()
    assert Store(path).statistics(limit=1000) == reference.statistics(trackers, limit=1000)
