"""GET /analytics and `rasa-messaging analytics`: sessions, bins and metrics."""

import dataclasses
import math
import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.store import Bins, Store
from rasa_messaging.store import analytics as analytics_module

from . import reference
from .conftest import REAL_TRACKER_FILES, assert_problem, ingest_trackers, load_tracker
from .story_trackers import generated_trackers

T0 = 1_600_000_000.0


def session_start(at):
    return [{"event": "action", "timestamp": T0 + at, "name": "action_session_start"},
            {"event": "session_started", "timestamp": T0 + at + 0.1},
            {"event": "action", "timestamp": T0 + at + 0.2, "name": "action_listen"}]


def said(kind, at):
    return {"event": kind, "timestamp": T0 + at, "text": f"{kind} at {at}"}


# Ana: a session at 0 s (2 user, 2 bot messages, 21 s long), and a second one at 500 s.
# Ben: one session at 250 s; its second session_started comes before anything was said, so it
#      continues the session (50 s long).
# Cem: one user message exactly at the end of the range (1000 s).
CRAFTED = [
    {"sender_id": "ana", "events": [*session_start(0), said("user", 10), said("bot", 11), said("user", 20),
                                    said("bot", 21), *session_start(500), said("user", 505), said("bot", 506)]},
    {"sender_id": "ben", "events": [*session_start(250), *session_start(255), said("user", 260), said("bot", 300)]},
    {"sender_id": "cem", "events": [said("user", 1000)]},
]


@pytest.fixture
def crafted(store):
    ingest_trackers(store, CRAFTED)


def get(client, **params):
    response = client.get("/core/analytics", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_default_ten_bins_computed_by_hand(client, crafted):
    assert get(client) == {
        "newUsers":            [1, 0, 1, 0, 0, 0, 0, 0, 0, 1],  # ana's return at 500 s is no new user
        "conversations":       [1, 0, 1, 0, 0, 1, 0, 0, 0, 1],
        "user_messages":       [2, 0, 1, 0, 0, 1, 0, 0, 0, 1],
        "bot_messages":        [2, 0, 1, 0, 0, 1, 0, 0, 0, 0],
        "total_messages":      [4, 0, 2, 0, 0, 2, 0, 0, 0, 1],
        "sessions_per_user":   [1, 0, 1, 0, 0, 1, 0, 0, 0, 1],
        "conversation_length": [21, 0, 50, 0, 0, 6, 0, 0, 0, 0],
        "conversation_steps":  [2, 0, 1, 0, 0, 1, 0, 0, 0, 1],  # cem at exactly `end`: the last bin
        "bin_centers": [T0 + 50 + 100 * i for i in range(10)],
        "bin_width": 100,
    }


def test_a_window_that_does_not_divide_the_range(client, crafted):
    result = get(client, window="300")  # 1000 s → 4 bins of 300 s, the last one reaching past `end`
    assert {k: result[k] for k in ("newUsers", "conversations", "user_messages", "bot_messages",
                                   "sessions_per_user", "conversation_length", "conversation_steps")} == {
        "newUsers": [2, 0, 0, 1], "conversations": [2, 1, 0, 1], "user_messages": [3, 1, 0, 1],
        "bot_messages": [3, 1, 0, 0], "sessions_per_user": [1, 1, 0, 1],
        "conversation_length": [35.5, 6, 0, 0], "conversation_steps": [1.5, 1, 0, 1]}
    assert result["bin_width"] == 300 and result["bin_centers"] == [T0 + 150, T0 + 450, T0 + 750, T0 + 1050]


def test_several_sessions_of_one_user_in_a_bin(client, crafted):
    result = get(client, window="10m")  # 600 s: ana twice and ben once in the first bin
    assert result["sessions_per_user"] == [1.5, 1] and result["conversations"] == [2, 1]


def test_an_explicit_range_counts_only_sessions_starting_in_it(client, crafted):
    result = get(client, start=str(T0 + 100), end=str(T0 + 600), window="250")
    assert result["newUsers"] == [1, 0] and result["conversations"] == [1, 1]


def test_a_huge_range_with_default_bins_is_answered(client, crafted):
    result = get(client, end="1e100")
    assert len(result["bin_centers"]) == 10 and result["bin_width"] > 1e98
    assert sum(result["newUsers"]) == 3  # every session lands in the first bin


def test_an_empty_range_gives_zeros(client, crafted):
    result = get(client, start="2030-01-01", end="2030-01-02")
    assert all(value == 0 for metric in reference.analytics(CRAFTED) if metric.startswith(("new", "conv", "user"))
               for value in result[metric])


def test_no_data_and_no_range_is_the_seeds_404(client):
    response = client.get("/core/analytics")
    assert response.status_code == 404
    assert set(response.json()) == {"exception", "reasons"}
    assert get(client, start="0", end="100")["newUsers"] == [0] * 10  # an explicit range answers


def test_out_of_order_events_land_in_the_right_sessions(client, store, tmp_path):
    from rasa_messaging.store import Store
    in_order = Store(tmp_path / "ordered.db")
    ingest_trackers(in_order, CRAFTED)
    for tracker in CRAFTED:
        for event in reversed(tracker["events"]):  # one request per event, newest first
            client.post(f"/core/conversations/{tracker['sender_id']}/events", json=event)
    sessions = "SELECT sender_id, start, \"end\", n_user_messages, n_bot_messages, is_new_user FROM sessions ORDER BY 1, 2"
    assert store.db.execute(sessions).fetchall() == in_order.db.execute(sessions).fetchall()
    assert len(store.db.execute(sessions).fetchall()) == 4


def test_new_conversations_sessions_start_at_their_first_events_also_after_a_gap_in_the_ids(store):
    """An ingest splits its new conversations from the rows in hand and knows their ids without
    reading them back when they follow the last one; on PostgreSQL a rolled-back insert leaves a
    gap in the ids, and they are read."""
    from rasa_messaging.store.sessions import split_sessions
    ingest_trackers(store, CRAFTED[2:])
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute("INSERT INTO events (sender_id, type, timestamp, data) VALUES ('gone', 'bot', 1.0, '{}')")
        raise RuntimeError("rolled back")
    ingest_trackers(store, CRAFTED[:2])
    for sender_id in ("ana", "ben", "cem"):
        events = store.db.execute("SELECT id, type, timestamp, action FROM events WHERE sender_id = ? "
                                  "ORDER BY timestamp, id", [sender_id]).fetchall()
        stored = store.db.execute('SELECT start_event_id, start, "end", n_user_messages, n_bot_messages '
                                  "FROM sessions WHERE sender_id = ? ORDER BY start", [sender_id]).fetchall()
        assert stored == [(s.start_event_id, s.start, s.end, s.n_user_messages, s.n_bot_messages)
                          for s in split_sessions(events)]
    assert store.db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 4


def test_a_late_message_makes_a_later_session_started_split(client, store):
    ingest_trackers(store, [{"sender_id": "dan", "events": [*session_start(0), *session_start(100), said("user", 150)]}])
    assert get(client, window="1000")["newUsers"] == [1]
    assert store.db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
    client.post("/core/conversations/dan/events", json=said("user", 50))  # now the session at 100 s splits
    assert store.db.execute("SELECT start FROM sessions ORDER BY start").fetchall() == [(T0,), (T0 + 100,)]


@pytest.mark.real_data
def test_real_trackers_equal_a_brute_force_computation(client, store):
    trackers = [load_tracker(p) for p in REAL_TRACKER_FILES] + generated_trackers()
    ingest_trackers(store, trackers)
    start, end = T0 + 86_400 * 30, T0 + 86_400 * 120
    for params, expected in (({}, reference.analytics(trackers)),
                             ({"window": "1d"}, reference.analytics(trackers, window=86_400)),
                             ({"start": str(start), "end": str(end), "window": "1w"},
                              reference.analytics(trackers, start=start, end=end, window=604_800))):
        actual = get(client, **params)
        assert actual.keys() == expected.keys()
        for metric, values in expected.items():
            assert actual[metric] == pytest.approx(values), metric
        assert sum(expected["newUsers"]) > 20


def next_to(time, ulps):
    """The float `ulps` steps above (or below) `time`."""
    for _ in range(abs(ulps)):
        time = math.nextafter(time, math.inf if ulps > 0 else -math.inf)
    return time


# The last: edges near 0 from a start far below it, where an edge's double is finer than the
# differences from `start` (found by a query that never ended).
@pytest.mark.parametrize("start, width", [(T0 + 0.05, 0.1), (T0 + 0.05, 1 / 3), (T0 + 0.05, 7.0),
                                          (T0 + 0.05, 86_400.0), (-99_999_999_999.0, 1e10)])
def test_a_query_a_bin_and_one_grouped_query_put_every_session_in_the_same_bin(store, monkeypatch, start, width):
    # Sessions starting on each bin's edge as the float arithmetic computes it, and an ulp or two
    # either side: SQLite reads bins one by one in a large store, else in one grouped query.
    count = 12
    edges = [start + i * width for i in range(count + 1)]
    times = sorted({next_to(edge, ulps) for edge in edges for ulps in (-2, -1, 0, 1, 2)})
    trackers = [{"sender_id": f"once {n}", "events": [{"event": "user", "timestamp": t, "text": "hi"}]}
                for n, t in enumerate(times)]
    # Senders back for a second session an ulp or a few across an edge, or in the same bin.
    for n, edge in enumerate(edges[1:-1]):
        first, second = (next_to(edge, -1 - n % 2), next_to(edge, n % 3)) if n % 4 else (edge, edge + width / 2)
        trackers.append({"sender_id": f"twice {n}", "events": [
            {"event": "session_started", "timestamp": first}, {"event": "user", "timestamp": first, "text": "a"},
            {"event": "session_started", "timestamp": second}, {"event": "user", "timestamp": second, "text": "b"}]})
    ingest_trackers(store, trackers)
    bins = Bins(start, next_to(edges[-2], 1), width, count)

    def analytics(groups_by_sorting):
        monkeypatch.setattr(store.db, "dialect", dataclasses.replace(store.db.dialect, groups_by_sorting=groups_by_sorting))
        return store.analytics(bins)

    monkeypatch.setattr(analytics_module, "CONVERSATIONS_A_BIN", 1)
    assert store._last_conversation_id() >= count  # so SQLite reads these bins one by one
    one_by_one, grouped = analytics(True), analytics(False)
    assert one_by_one.keys() == grouped.keys()
    for metric, values in grouped.items():  # lengths are means of floats, summed in either order
        assert one_by_one[metric] == (pytest.approx(values) if metric == "conversation_length" else values), metric
    assert sum(one_by_one["user_messages"]) == sum(start <= t <= bins.end for t in times) + 2 * (count - 1)
    assert any(one_by_one["sessions_per_user"][i] not in (0, 1) for i in range(count))


@pytest.mark.parametrize("value, seconds", [
    ("2020-09-13T12:26:40", T0), ("2020-09-13T12:26:40.5", T0 + 0.5), ("2020-09-13T14:26:40+02:00", T0),
    ("2020-09-13T12:26:40Z", T0), ("2020-09-13", T0 - 44_800), ("1600000000", T0), ("1600000000.25", T0 + 0.25),
])
def test_start_and_end_accept_iso_8601_and_unix_seconds(client, crafted, value, seconds):
    assert get(client, start=value, end=str(T0 + 5000), window="5000")["bin_centers"][0] == seconds + 2500
    assert get(client, start="0", end=value, window=str(T0 * 2))["bin_centers"][0] == T0


@pytest.mark.parametrize("window, seconds", [
    ("1d", 86_400), ("2h30m", 9_000), ("90 minutes", 5_400), ("3600", 3_600), ("1.5s", 1.5),
    ("P1D", 86_400), ("PT1H", 3_600), ("P1DT2H30M", 95_400), ("P1W", 604_800), ("PT0.5S", 0.5),
])
def test_window_accepts_pytimeparse_and_iso_8601_durations(client, crafted, window, seconds):
    assert get(client, window=window, start="0", end="100")["bin_width"] == seconds


@pytest.mark.parametrize("params, parameter", [
    ({"start": "yesterday"}, "start"), ({"start": "2020-13-01"}, "start"), ({"end": "nan"}, "end"),
    ({"end": "inf"}, "end"),
    ({"start": "2020-02-01", "end": "2020-01-01"}, "end"), ({"window": "abc"}, "window"),
    ({"window": "0"}, "window"), ({"window": "-1d"}, "window"), ({"window": "P1M"}, "window"),
    ({"window": "P"}, "window"), ({"window": "1s", "start": "0", "end": "20000"}, "window"),
    ({"window": "1e-300"}, "window"), ({"start": "-1e308", "end": "1e308"}, "end"),
])
def test_each_bad_parameter_is_a_400_naming_it(client, crafted, params, parameter):
    body = assert_problem(client.get("/core/analytics", params=params), 400)
    assert body["parameter"] == parameter and body["detail"].startswith(f"{parameter}: ")


def cli_table(*args) -> tuple[list[str], dict]:
    """The analytics table the CLI prints: its bin labels, and each metric's cells by row label."""
    lines = CliRunner().invoke(cli, ["analytics", *map(str, args)]).output.splitlines()
    split = [re.split(r"  +", line.strip()) for line in lines]
    assert split[0][0] == "bin start (UTC)", lines
    return split[0][1:], {row[0]: row[1:] for row in split[1:]}


def test_the_cli_prints_the_same_table(db_path, store, crafted):
    labels, rows = cli_table("--db", db_path, "--window", "300")
    assert labels == [datetime.fromtimestamp(T0 + 300 * i, UTC).strftime("%Y-%m-%d %H:%M") for i in range(4)]
    assert rows["new users"] == ["2", "0", "0", "1"]
    assert rows["session length (s)"] == ["35.5", "6", "0", "0"]
    assert rows["sessions per user"] == ["1", "1", "0", "1"]
    assert all(label == label.lower() for label in rows), "one naming style for the rows"


def test_the_cli_labels_tell_short_bins_apart(db_path, store, crafted):
    labels, _ = cli_table("--db", db_path, "--start", T0, "--end", T0 + 100)  # 10 bins of 10 s
    assert len(set(labels)) == len(labels) == 10
    assert labels[1].endswith(datetime.fromtimestamp(T0 + 10, UTC).strftime("%H:%M:%S"))


def test_the_cli_reports_bad_input_and_no_data(tmp_path):
    Store(tmp_path / "empty.db")
    empty = CliRunner().invoke(cli, ["analytics", "--db", str(tmp_path / "empty.db")])
    assert empty.exit_code == 1 and "no conversations yet" in empty.output
    bad = CliRunner().invoke(cli, ["analytics", "--db", str(tmp_path / "empty.db"), "--window", "soon"])
    assert bad.exit_code == 2 and "window:" in bad.output


def test_a_database_from_before_sessions_gets_them_split_when_opened(tmp_path):
    import sqlite3

    from rasa_messaging.store import Store
    path = tmp_path / "old.db"
    ingest_trackers(Store(path), CRAFTED)
    before = Store(path).db.execute("SELECT * FROM sessions ORDER BY sender_id, start").fetchall()
    with sqlite3.connect(path) as conn:  # as a database of the version before sessions looked
        conn.execute("DROP TABLE sessions")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name IN ('m003_sessions', 'm008_sessions_for_analytics')")
    assert Store(path).db.execute("SELECT * FROM sessions ORDER BY sender_id, start").fetchall() == before
    assert len(before) == 4
