"""Getting events in over HTTP: idempotent, all-or-nothing, every event kept as received."""


import pytest

from rasa_messaging.generate import Generator
from rasa_messaging.store import ConversationFilter, Store, prepare

from . import reference
from .conftest import MOODBOT, assert_problem, load_tracker


def count_events(store):
    return store.db.execute("SELECT count(*) FROM events").fetchone()[0]


@pytest.mark.real_data
def test_posting_a_tracker_stores_every_event_and_reposting_stores_none(client, store):
    events = load_tracker(MOODBOT)["events"]
    first = client.post("/core/conversations/mysender/events", json=events)
    again = client.post("/core/conversations/mysender/events", json=events)
    assert first.json() == {"stored": len(events), "duplicates": 0}
    assert again.json() == {"stored": 0, "duplicates": len(events)}
    assert count_events(store) == len(events)


def test_a_single_event_object_is_accepted(client):
    response = client.post("/core/conversations/alice/events", json={"event": "user", "timestamp": 10.5, "text": "hi"})
    assert response.json() == {"stored": 1, "duplicates": 0}
    assert client.get("/core/conversations/alice/events").json() == [
        {"event": "user", "timestamp": 10.5, "text": "hi", "is_flagged": False}
    ]


def test_the_same_event_twice_in_one_request_is_stored_once(client, store):
    event = {"event": "bot", "timestamp": 3.25, "text": "hello"}
    assert client.post("/core/conversations/bob/events", json=[event, event]).json() == {"stored": 1, "duplicates": 1}
    assert count_events(store) == 1


def test_a_later_request_skips_only_the_events_stored_before_at_the_same_time(client, store):
    """Stored duplicates are found by sender and time (m017): events that share a time but not
    their content are all kept, and each one stored is skipped when it comes again."""
    said = [{"event": "user", "timestamp": 7.0, "text": "hi"}, {"event": "bot", "timestamp": 7.0, "text": "hello"}]
    assert client.post("/core/conversations/gus/events", json=said).json() == {"stored": 2, "duplicates": 0}
    again = [said[1], {"event": "bot", "timestamp": 7.0, "text": "how can I help?"},
             {"event": "user", "timestamp": 8.0, "text": "hi"}, said[0]]
    assert client.post("/core/conversations/gus/events", json=again).json() == {"stored": 2, "duplicates": 2}
    assert client.post("/core/conversations/other/events", json=said).json() == {"stored": 2, "duplicates": 0}
    assert [e["text"] for e in client.get("/core/conversations/gus/events").json()] == [
        "hi", "hello", "how can I help?", "hi"]
    assert count_events(store) == 6


def test_a_store_made_before_m019_finds_the_duplicates_of_its_events_without_their_fingerprints(db_path):
    """m019 drops the stored fingerprints: a store that had them (the column is put back, the
    migration's record taken away) loses the column when opened, and still skips every event it
    holds when they come again."""
    store = Store(db_path)
    conversations = [Generator(seed=23).conversation(number) for number in range(5)]
    for sender_id, events in conversations:
        store.ingest(prepare(sender_id, events))
    n_events = count_events(store)
    sqlite = store.db.dialect.name == "sqlite"
    table, name = ("_sqlite_migrations", "m019_events_without_fingerprints") if sqlite else \
        ("rasa_messaging_migrations", "p006_events_without_fingerprints")
    with store.transaction() as db:
        db.execute("ALTER TABLE events ADD COLUMN fingerprint TEXT")
        db.execute(f"DELETE FROM {table} WHERE name = ?", [name])
    store.close()
    reopened = Store(db_path)
    columns = ("SELECT name FROM pragma_table_info('events')" if sqlite else
               "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'")
    assert {"sender_id", "data"} <= {column for (column,) in reopened.db.execute(columns)}
    assert "fingerprint" not in {column for (column,) in reopened.db.execute(columns)}
    results = [reopened.ingest(prepare(sender_id, events)) for sender_id, events in conversations]
    assert [(r.stored, r.duplicates) for r in results] == [(0, len(events)) for _, events in conversations]
    assert count_events(reopened) == n_events


def test_a_missing_timestamp_gets_the_receive_time(client):
    import time
    before = time.time()
    client.post("/core/conversations/carol/events", json={"event": "user", "text": "no time"})
    [event] = client.get("/core/conversations/carol/events").json()
    assert before <= event["timestamp"] <= time.time()


def test_unknown_fields_are_stored_and_returned_as_received(client):
    event = {"event": "slot", "timestamp": 5.0, "name": "x", "payload": {"nested": [1, "two", None]}}
    client.post("/core/conversations/dora/events", json=event)
    assert client.get("/core/conversations/dora/events").json() == [event]


@pytest.mark.parametrize("bad_event, reason", [
    ({"timestamp": 1.0}, "'event'"),
    ({"event": "", "timestamp": 1.0}, ""),
    ({"event": 5, "timestamp": 1.0}, ""),
    ({"event": "user", "timestamp": "yesterday"}, ""),
    ({"event": "user", "timestamp": True}, "timestamp"),
    ({"event": "user", "timestamp": 1e300}, ""),  # the spec's bounds refuse it first
    ({"event": "user", "timestamp": 1.0, "sender_id": "someone-else"}, "sender_id"),
    ("user", ""),
])
def test_one_invalid_event_stores_nothing_of_the_request(client, store, bad_event, reason):
    good = {"event": "user", "timestamp": 1.0, "text": "fine"}
    response = client.post("/core/conversations/eve/events", json=[good, bad_event])
    assert_problem(response, 400, detail_contains=reason)
    assert count_events(store) == 0
    assert_problem(client.get("/core/conversations/eve/events"), 404)


@pytest.mark.parametrize("body", [b"{not json", b'[{"event": "user", "timestamp": 1.0}', b"",
                                  b'{"event": "user", "timestamp": NaN}', b'{"event": "user", "timestamp": Infinity}',
                                  b'{"event": "user", "text": "\\ud800", "timestamp": 1.0}'])
def test_malformed_or_unstorable_json_is_a_400_and_stores_nothing(client, store, body):
    response = client.post("/core/conversations/frank/events", content=body,
                           headers={"Content-Type": "application/json"})
    assert_problem(response, 400)
    assert count_events(store) == 0


@pytest.mark.real_data
def test_metadata_does_not_depend_on_the_order_events_arrive_in(tmp_path):
    from rasa_messaging.store import Store
    tracker = load_tracker(MOODBOT)
    in_one_batch, one_by_one = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    in_one_batch.ingest(prepare("mysender", tracker["events"]))
    for event in reversed(tracker["events"]):
        one_by_one.ingest(prepare("mysender", [event]))
    everything = ConversationFilter()
    assert one_by_one.conversations(everything) == in_one_batch.conversations(everything)
    expected = reference.metadata("mysender", tracker["events"])
    [actual] = in_one_batch.conversations(everything)[1]
    assert {k: actual[k] for k in expected} == expected


@pytest.mark.real_data
def test_events_come_back_exactly_as_received_in_timestamp_order(client):
    events = load_tracker(MOODBOT)["events"]
    client.post("/core/conversations/mysender/events", json=events)
    returned = client.get("/core/conversations/mysender/events").json()
    without_flags = [{k: v for k, v in e.items() if k != "is_flagged"} for e in returned]
    assert without_flags == sorted(events, key=lambda e: e["timestamp"])


@pytest.mark.parametrize("timestamp", [1e11 + 1, -1e11 - 1, 1_600_000_000_000.0])
def test_the_store_refuses_timestamps_that_are_not_unix_seconds(timestamp):
    from rasa_messaging.store import InvalidEvent
    with pytest.raises(InvalidEvent, match="plausible Unix time"):
        prepare("x", [{"event": "user", "timestamp": timestamp}])
