"""Flagging messages: visible everywhere, durable, 404 for no such message, 400 for no number."""

import pytest

from .conftest import assert_problem, ingest_trackers

EVENTS = [
    {"event": "user", "timestamp": 1607396994.448949, "text": "pay my card", "parse_data": {"intent": {"name": "pay_cc"}}},
    {"event": "action", "timestamp": 1607396994.5, "name": "utter_ask", "policy": "RulePolicy", "confidence": 1.0},
    {"event": "bot", "timestamp": 1607396994.61234, "text": "Which card?"},
]
USER_TS, ACTION_TS, BOT_TS = (e["timestamp"] for e in EVENTS)


@pytest.fixture
def loaded(store):
    ingest_trackers(store, [{"sender_id": "kim", "events": EVENTS},
                            {"sender_id": "lee", "events": [{"event": "user", "timestamp": 5.0, "text": "hey"}]}])


def flag(client, timestamp, sender="kim"):
    return client.put(f"/core/conversations/{sender}/messages/{timestamp}")


def unflag(client, timestamp, sender="kim"):
    return client.delete(f"/core/conversations/{sender}/messages/{timestamp}")


def metadata(client, sender="kim"):
    return next(c for c in client.get("/core/conversations").json() if c["sender_id"] == sender)


def test_a_flag_shows_in_events_messages_metadata_tracker_and_the_filter(client, loaded):
    assert flag(client, USER_TS).status_code == 201
    events = client.get("/core/conversations/kim/events").json()
    assert [e.get("is_flagged") for e in events] == [True, None, False]
    assert [m["is_flagged"] for m in client.get("/core/conversations/kim/messages").json()] == [True, False]
    assert metadata(client)["flagged_messages"] == [USER_TS]
    assert client.get("/core/conversations/kim").json()[0]["flagged_messages"] == [USER_TS]
    assert [c["sender_id"] for c in client.get("/core/conversations", params={"is_flagged": "true"}).json()] == ["kim"]
    assert len(client.get("/core/conversations", params={"is_flagged": "false"}).json()) == 2


def test_unflagging_moves_the_message_to_unflagged_messages(client, loaded):
    flag(client, USER_TS)
    flag(client, BOT_TS)
    assert unflag(client, USER_TS).status_code == 200
    assert (metadata(client)["flagged_messages"], metadata(client)["unflagged_messages"]) == ([BOT_TS], [USER_TS])
    assert [m["is_flagged"] for m in client.get("/core/conversations/kim/messages").json()] == [False, True]
    unflag(client, BOT_TS)
    assert client.get("/core/conversations", params={"is_flagged": "true"}).json() == []


def test_flagging_twice_and_unflagging_an_unflagged_message_are_harmless(client, loaded):
    assert flag(client, BOT_TS).status_code == 201
    assert flag(client, BOT_TS).status_code == 201
    assert unflag(client, USER_TS).status_code == 200
    assert (metadata(client)["flagged_messages"], metadata(client)["unflagged_messages"]) == ([BOT_TS], [])


def test_a_timestamp_cut_to_four_decimals_finds_the_message(client, loaded):
    assert flag(client, "1607396994.4489").status_code == 201
    assert metadata(client)["flagged_messages"] == [USER_TS]


def test_a_flag_never_rewrites_the_stored_event(client, store, loaded):
    before = store.db.execute("SELECT data FROM events ORDER BY id").fetchall()
    flag(client, USER_TS)
    assert store.db.execute("SELECT data FROM events ORDER BY id").fetchall() == before


@pytest.mark.parametrize("timestamp", [ACTION_TS, 1607396994.45, 5.0, 0, -1])
def test_no_message_at_that_timestamp_is_a_404(client, loaded, timestamp):
    assert_problem(flag(client, timestamp), 404, detail_contains="no user or bot message")
    assert_problem(unflag(client, timestamp), 404)


def test_an_unknown_sender_is_a_404(client, loaded):
    assert_problem(flag(client, USER_TS, sender="nobody"), 404, detail_contains="No conversation")


@pytest.mark.parametrize("timestamp", ["abc", "12abc", "1.2.3", "%27%20OR%201=1"])
def test_a_timestamp_that_is_not_a_number_is_a_400_not_a_404(client, loaded, timestamp):
    assert_problem(flag(client, timestamp), 400)
    assert_problem(unflag(client, timestamp), 400)
    assert metadata(client)["flagged_messages"] == []


def test_a_resolved_flag_stays_a_flag_leaves_the_open_queue_and_opens_again_when_flagged(client, loaded):
    resolved = f"/core/conversations/kim/messages/{USER_TS}/resolved"
    assert_problem(client.put(resolved), 404, detail_contains="no flagged message")  # not flagged yet
    client.put(f"/core/conversations/kim/messages/{USER_TS}", json={"note": "wrong intent"})
    done = client.put(resolved).json()
    assert (done["sender_id"], done["timestamp"], done["note"]) == ("kim", USER_TS, "wrong intent")
    assert done["resolved_at"] > done["flagged_at"] - 1
    assert metadata(client)["flagged_messages"] == [USER_TS]  # kept, marked done
    assert client.get("/core/flags").json() == [] and client.get("/core/flags", params={"resolved": "true"}).json() == [done]
    assert client.delete(resolved).json()["resolved_at"] is None
    client.put(resolved)
    flag(client, USER_TS)  # flagged again: open again
    [again] = client.get("/core/flags").json()
    assert again["resolved_at"] is None and again["note"] == "wrong intent"
    assert_problem(client.put("/core/conversations/kim/messages/999.0/resolved"), 404)
