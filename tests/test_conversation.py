"""One conversation: events, messages, `until`, `use_history`, the tracker state."""

import pytest

from .conftest import REAL_TRACKER_FILES, assert_problem, ingest_trackers, load_tracker

# A crafted conversation: a first session, a restart, then a second one. Listed out of order.
EVENTS = [
    {"event": "action", "timestamp": 100.0, "name": "action_session_start", "policy": None, "confidence": 1.0},
    {"event": "session_started", "timestamp": 100.1},
    {"event": "user", "timestamp": 101.0, "text": "hi", "input_channel": "rest",
     "parse_data": {"intent": {"name": "greet", "confidence": 0.9}, "entities": []}},
    {"event": "slot", "timestamp": 101.5, "name": "city", "value": "Berlin"},
    {"event": "action", "timestamp": 102.0, "name": "utter_greet", "policy": "policy_0_MemoizationPolicy", "confidence": 1.0},
    {"event": "bot", "timestamp": 102.1, "text": "Hello!", "data": {}},
    {"event": "restart", "timestamp": 103.0},
    {"event": "user", "timestamp": 104.0, "text": "book", "input_channel": "slack",
     "parse_data": {"intent": {"name": "book", "confidence": 0.8}, "entities": []}},
    {"event": "active_loop", "timestamp": 104.5, "name": "booking_form"},
    {"event": "slot", "timestamp": 104.6, "name": "people", "value": 2},
    {"event": "slot", "timestamp": 104.7, "name": "empty", "value": None},
    {"event": "action", "timestamp": 105.0, "name": "utter_ask_date", "policy": "policy_1_TEDPolicy", "confidence": 0.6},
    {"event": "bot", "timestamp": 105.1, "text": None, "data": {"buttons": [{"title": "today"}]}},
    {"event": "agent", "timestamp": 106.0, "text": "a human here"},
]
SHUFFLED = EVENTS[7:] + EVENTS[:7]


@pytest.fixture
def loaded(store):
    ingest_trackers(store, [{"sender_id": "anna", "events": SHUFFLED}])


def timestamps(response):
    assert response.status_code == 200, response.text
    return [e["timestamp"] for e in response.json()]


def test_events_come_in_timestamp_order_whatever_the_arrival_order(client, loaded):
    assert timestamps(client.get("/core/conversations/anna/events")) == [e["timestamp"] for e in EVENTS]


def test_equal_timestamps_keep_arrival_order(client, store):
    same = [{"event": "bot", "timestamp": 7.0, "text": text} for text in ("first", "second", "third")]
    ingest_trackers(store, [{"sender_id": "tie", "events": same}])
    assert [e["text"] for e in client.get("/core/conversations/tie/events").json()] == ["first", "second", "third"]


@pytest.mark.parametrize("params, expected", [
    ({"until": 102.1}, [100.0, 100.1, 101.0, 101.5, 102.0, 102.1]),
    ({"until": 99}, []),
    ({"use_history": "false"}, [104.0, 104.5, 104.6, 104.7, 105.0, 105.1, 106.0]),
    ({"use_history": "true"}, [e["timestamp"] for e in EVENTS]),
    ({"use_history": "false", "until": 102.5}, [100.0, 100.1, 101.0, 101.5, 102.0, 102.1]),  # restart is later
    ({"use_history": "false", "until": 104.55}, [104.0, 104.5]),
])
def test_until_and_use_history(client, loaded, params, expected):
    assert timestamps(client.get("/core/conversations/anna/events", params=params)) == expected


def test_messages_are_the_user_bot_and_agent_events_each_with_is_flagged(client, loaded):
    messages = client.get("/core/conversations/anna/messages").json()
    assert [(m["event"], m["timestamp"]) for m in messages] == [
        ("user", 101.0), ("bot", 102.1), ("user", 104.0), ("bot", 105.1), ("agent", 106.0)]
    assert [m.get("is_flagged") for m in messages] == [False, False, False, False, None]
    assert timestamps(client.get("/core/conversations/anna/messages", params={"use_history": "false", "until": 105})) == [104.0]


def test_the_tracker_state_is_replayed_from_the_events(client, loaded):
    [conversation] = client.get("/core/conversations/anna").json()
    assert {k: v for k, v in conversation.items() if k != "events"} == {
        "sender_id": "anna",
        "latest_event_time": 106.0,
        "latest_message": "book",
        "paused": False,
        "followup_action": None,
        "slots": [{"name": "people", "value": 2}],  # the restart cleared city; empty has no value
        "latest_input_channel": "slack",
        "latest_action_name": "utter_ask_date",
        "active_form": "booking_form",
        "flagged_messages": [],
    }
    assert [e["timestamp"] for e in conversation["events"]] == [e["timestamp"] for e in EVENTS]


def test_pause_followup_and_reset_slots_are_replayed(client, store):
    ingest_trackers(store, [{"sender_id": "ben", "events": [
        {"event": "slot", "timestamp": 1.0, "name": "a", "value": 1},
        {"event": "reset_slots", "timestamp": 2.0},
        {"event": "slot", "timestamp": 3.0, "name": "b", "value": "x"},
        {"event": "followup", "timestamp": 4.0, "name": "action_check"},
        {"event": "pause", "timestamp": 5.0},
    ]}])
    [conversation] = client.get("/core/conversations/ben").json()
    assert (conversation["slots"], conversation["followup_action"], conversation["paused"]) == (
        [{"name": "b", "value": "x"}], "action_check", True)


@pytest.mark.parametrize("path", ["/core/conversations/{}", "/core/conversations/{}/events",
                                  "/core/conversations/{}/messages"])
@pytest.mark.parametrize("sender", ["nobody", "with space", "ünïcödé-😀"])
def test_an_unknown_sender_is_a_404_problem(client, loaded, path, sender):
    assert_problem(client.get(path.format(sender)), 404, detail_contains="No conversation")


def test_sender_ids_with_slashes_quotes_and_emoji_are_served(client):
    sender = 'a"b\'c 😀 שלום'
    client.post(f"/core/conversations/{sender}/events", json={"event": "user", "timestamp": 1.0, "text": "x"})
    assert [c["sender_id"] for c in client.get("/core/conversations").json()] == [sender]
    assert client.get(f"/core/conversations/{sender}/events").status_code == 200


@pytest.mark.parametrize("path", REAL_TRACKER_FILES, ids=lambda p: p.name)
def test_every_real_tracker_is_served_and_valid_against_the_spec(client, store, path):
    tracker = load_tracker(path)
    ingest_trackers(store, [tracker])
    [conversation] = client.get(f"/core/conversations/{tracker['sender_id']}").json()
    # max of the event timestamps (one real file's own latest_event_time is stale)
    assert conversation["latest_event_time"] == max(e["timestamp"] for e in tracker["events"])
    assert conversation["paused"] == tracker["paused"]
    assert len(client.get(f"/core/conversations/{tracker['sender_id']}/events").json()) == len(tracker["events"])
