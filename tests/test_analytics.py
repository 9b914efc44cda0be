"""GET /analytics and `rasa-messaging analytics`: sessions, bins and metrics."""

import math
import re
import sqlite3
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.store import Bins, Store, prepare
from rasa_messaging.store import analytics as analytics_module
from rasa_messaging.store.analytics import READINGS
from rasa_messaging.store.session_hours import HOUR, hour_of

from . import reference
from .conftest import (
    REAL_TRACKER_FILES,
    assert_problem,
    forget_migration,
    import_trackers,
    ingest_trackers,
    load_tracker,
)
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
    assert_hour_sums_equal_the_sessions(store)


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

    monkeypatch.setattr(analytics_module, "CONVERSATIONS_A_BIN", 1)
    readings = {reading: store.analytics(bins, reading=reading) for reading in READINGS}
    one_by_one, grouped = readings["one_by_one"], readings["grouped"]
    for reading, result in readings.items():
        assert result.keys() == grouped.keys()
        for metric, values in grouped.items():  # lengths are means of floats, summed in any order
            assert result[metric] == (pytest.approx(values) if metric == "conversation_length" else values), \
                (reading, metric)
    assert sum(one_by_one["user_messages"]) == sum(start <= t <= bins.end for t in times) + 2 * (count - 1)
    assert any(one_by_one["sessions_per_user"][i] not in (0, 1) for i in range(count))


H0 = hour_of(T0) * HOUR  # an hour's first second


def hour_edge_trackers() -> list[dict]:
    """Sessions starting on hours' edges (an ulp or two either side), inside hours, and senders
    back for further sessions across hours and days: what the sums by hour cut."""
    times = [next_to(H0 + hour * HOUR, ulps) for hour in range(0, 60, 5) for ulps in (-2, -1, 0, 1)]
    times += [H0 + hour * HOUR + 1234.5 for hour in range(60)]
    trackers = [{"sender_id": f"once {n}", "events": [
        {"event": "user", "timestamp": t, "text": "hi"}, {"event": "bot", "timestamp": t + 7.25, "text": "hello"}]}
        for n, t in enumerate(times)]
    for n in range(40):  # back after 17 minutes to 31 hours, some of them a third time
        first = H0 + n * 1.5 * HOUR + (n % 7) * 611.0 - (n % 3)
        returns = [first + (n % 5 + 1) * 1020.0 * (1 + n % 11 * 3), first + 2 * HOUR * (n % 4 + 1) + 26 * HOUR * (n % 2)]
        events = []
        for t in [first, *returns[:1 + n % 2]]:
            events += [{"event": "session_started", "timestamp": t}, {"event": "user", "timestamp": t, "text": "a"},
                       {"event": "bot", "timestamp": t + 3.0 + n, "text": "b"}]
        trackers.append({"sender_id": f"back {n}", "events": sorted(events, key=lambda e: e["timestamp"])})
    return trackers


# Bins whose edges fall on hours, between them, and an ulp off them; widths of 2 hours (the
# least read by hour), 3 hours and a bit, and a day; a range cutting into the data.
HOURLY_BINS = [(H0, 2 * HOUR, 31), (next_to(H0, 1), 2 * HOUR, 31), (H0 - 1800.25, 3 * HOUR + 0.5, 21),
               (H0 + 7 * HOUR + 0.1, 86_400.0, 3), (H0 - 5, 86_400.0, 3)]


def assert_readings_agree(store, trackers) -> None:
    for start, width, count in HOURLY_BINS:
        bins = Bins(start, start + width * (count - 0.5), width, count)
        expected = reference.analytics(trackers, start=bins.start, end=bins.end, window=width)
        assert len(expected["newUsers"]) == count
        for reading in READINGS:
            actual = store.analytics(bins, reading=reading)
            for metric, values in expected.items():
                assert actual[metric] == pytest.approx(values), (reading, start, width, metric)
        assert sum(expected["conversations"]) > sum(expected["newUsers"])  # returns counted in later bins


def assert_hour_sums_equal_the_sessions(store) -> None:
    recomputed: dict = {}
    for start, end, new, user, bot in store.db.execute(
            'SELECT start, "end", is_new_user, n_user_messages, n_bot_messages FROM sessions').fetchall():
        sums = recomputed.setdefault(hour_of(start), [0, 0, 0, 0, 0.0])
        for i, value in enumerate((1, new, user, bot, end - start)):
            sums[i] += value
    stored = {hour: [sessions, new, user, bot, length] for hour, sessions, new, user, bot, length in
              store.db.execute("SELECT hour, sessions, new_users, user_messages, bot_messages, length_sum "
                               "FROM session_hours WHERE sessions <> 0").fetchall()}
    assert stored == {hour: [*sums[:4], pytest.approx(sums[4])] for hour, sums in recomputed.items()}


@pytest.mark.parametrize("bins_a_query", [analytics_module.BINS_A_QUERY, 4])
def test_whole_hours_read_from_their_sums_equal_a_brute_force_computation_as_sessions_change(store, monkeypatch,
                                                                                              bins_a_query):
    """store/session_hours.py: the sums by hour that triggers keep, as sessions are made, extended
    (across hours) and erased; every reading of /analytics against the reference, the bins read
    by hours also a few to a query."""
    monkeypatch.setattr(analytics_module, "BINS_A_QUERY", bins_a_query)
    trackers = hour_edge_trackers()
    ingest_trackers(store, trackers)
    assert_hour_sums_equal_the_sessions(store)
    assert_readings_agree(store, trackers)
    # Extended by an event hours after a session's end, and erased.
    late = {"back 3": {"event": "user", "timestamp": H0 + 40 * HOUR, "text": "later"},
            "once 7": {"event": "bot", "timestamp": next_to(H0 + 50 * HOUR, -1), "text": "much later"}}
    for sender_id, event in late.items():
        store.ingest(prepare(sender_id, [event]))
    for tracker in trackers:
        if tracker["sender_id"] in late:
            tracker["events"] = [*tracker["events"], late[tracker["sender_id"]]]
    erased = [t["sender_id"] for t in trackers[::9]]
    store.erase_many(erased)
    trackers = [t for t in trackers if t["sender_id"] not in erased]
    assert_hour_sums_equal_the_sessions(store)
    assert_readings_agree(store, trackers)


def test_sqlite_stores_a_batchs_sessions_many_rows_a_statement_and_the_sums_still_hold(tmp_path):
    """Inside a transaction SQLite journals the pages a statement changes when its trigger (the
    sums by hour's) may fail it half-way, so a batch's sessions go as many rows to a statement as
    the statement can bind (store/database.py `insert_many`): 62 here, SQLite's limit lowered to
    the 500 values the store's other statements bind at most."""
    store = Store(tmp_path / "rasa-messaging.db")
    store.db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 500)  # a session's row binds 8
    inserts = []
    store.db.conn.set_trace_callback(lambda sql: inserts.append(sql) if sql.startswith("INSERT INTO sessions") else None)
    trackers = hour_edge_trackers()
    import_trackers(store, trackers, per_transaction=len(trackers))
    n_sessions = store.db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    # Python traces a statement again each time its trigger runs: the statements are the texts.
    assert n_sessions > 2 * 62 and len(set(inserts)) == math.ceil(n_sessions / 62)
    assert_hour_sums_equal_the_sessions(store)
    assert_readings_agree(store, trackers)


@pytest.mark.parametrize("time", [-99_999_999_999.0, -3600.0, next_to(-3600.0, 1), next_to(-3600.0, -1), -0.5,
                                  0.0, next_to(7200.0, -1), 7200.0, next_to(H0, -1), H0, 99_999_999_999.0])
def test_a_sessions_hour_is_the_same_in_sql_as_in_python(store, time):
    ingest_trackers(store, [{"sender_id": "edge", "events": [{"event": "user", "timestamp": time, "text": "hi"}]}])
    assert store.db.execute("SELECT hour FROM session_hours WHERE sessions = 1").fetchall() == [(hour_of(time),)]
    assert hour_of(time) * HOUR <= time < (hour_of(time) + 1) * HOUR


def test_a_store_made_before_the_sums_by_hour_gets_them_when_opened(db_path):
    """m025 / p012: a store holding sessions before /analytics read sums by hour makes them when opened."""
    store = Store(db_path)
    trackers = hour_edge_trackers()
    ingest_trackers(store, trackers)
    with store.transaction() as db:
        if store.db.dialect.name == "sqlite":
            for trigger in ("added", "removed", "changed"):
                db.execute(f"DROP TRIGGER session_hours_{trigger}")
        else:
            db.execute("DROP FUNCTION session_hours_added, session_hours_removed, session_hours_changed CASCADE")
        db.execute("DROP TABLE session_hours")
        db.execute("DROP INDEX sessions_returning")
        forget_migration(db, "m025_session_hours", "p012_session_hours")
    store.close()
    reopened = Store(db_path)
    assert_hour_sums_equal_the_sessions(reopened)
    assert_readings_agree(reopened, trackers)


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
