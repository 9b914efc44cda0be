"""Retention (`prune`) erases a batch of conversations a transaction (issue 42): its meaning is
today's - whole conversations with no event for the given time - and what it leaves is exact."""

import time

import pytest
from click.testing import CliRunner

from rasa_messaging.cli import PRUNE_BATCH, cli
from rasa_messaging.generate import Generator
from rasa_messaging.generate_calm import CalmGenerator
from rasa_messaging.periods import make_bins
from rasa_messaging.store import ConversationFilter, MessageFilter, Store
from rasa_messaging.store.analytics import READINGS

from . import reference
from .conftest import import_trackers


def latest(tracker) -> float:
    return max(float(e["timestamp"]) for e in tracker["events"])


def vacuums_of_sessions(store) -> int:
    """How many times PostgreSQL vacuumed the sessions table by command (0 on SQLite)."""
    if store.db.dialect.name != "postgresql":
        return 0
    return store.db.execute("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'sessions'").fetchone()[0]


def test_prune_erases_in_batches_leaves_no_row_of_what_it_erased_and_keeps_everything_else_exact(db_path, client):
    trackers = Generator(seed=42).trackers(PRUNE_BATCH + 60) + CalmGenerator(seed=42).trackers(40)
    times = sorted(latest(t) for t in trackers)
    split = len(times) * 3 // 4  # three quarters are older: more than one batch
    cutoff = (times[split - 1] + times[split]) / 2  # between two conversations' ends (--older-than is whole seconds)
    assert times[split] - times[split - 1] > 2
    # A conversation that spans the cutoff: old events, and one after it. It is never cut.
    spanning = next(t for t in trackers if latest(t) < cutoff)
    spanning["events"].append({"event": "bot", "timestamp": cutoff + 10, "text": "still here"})
    store = Store(db_path)
    import_trackers(store, trackers)
    store.flag(trackers[0]["sender_id"], next(e for e in trackers[0]["events"] if e["event"] == "user")["timestamp"])
    old = {t["sender_id"] for t in trackers if latest(t) < cutoff}
    kept = [t for t in trackers if t["sender_id"] not in old]
    assert len(old) > PRUNE_BATCH and spanning in kept
    ids = dict(store.db.execute("SELECT sender_id, id FROM conversations").fetchall())
    vacuums = vacuums_of_sessions(store)

    pruned = CliRunner().invoke(cli, ["prune", "--db", str(db_path), "--older-than", f"{int(time.time() - cutoff)}s",
                                      "--yes"])
    assert pruned.exit_code == 0, pruned.output
    assert f"{len(old)} conversations erased" in pruned.output

    store = Store(db_path)
    # PostgreSQL's readers count sessions from an index alone again: the prune vacuumed them.
    assert vacuums_of_sessions(store) == vacuums + (store.db.dialect.name == "postgresql")
    assert {c["sender_id"] for c in store.conversations(ConversationFilter())[1]} == {t["sender_id"] for t in kept}
    assert len(store.events(spanning["sender_id"])) == len(reference.unique_events([spanning])[spanning["sender_id"]])
    # No row of an erased conversation in any table (the audit's line naming it aside, by design).
    gone_ids = {ids[s] for s in old}
    for table in store.db.table_names():
        if table == "audit":
            continue
        columns = [row["name"] for row in store.db.query(
            f"SELECT column_name AS name FROM information_schema.columns WHERE table_name = '{table}'")] \
            if store.db.dialect.name == "postgresql" else [c[1] for c in store.db.execute(f'PRAGMA table_info("{table}")')]
        for column in {"sender_id", "conversation_id"} & set(columns):
            held = {value for (value,) in store.db.execute(f'SELECT DISTINCT "{column}" FROM "{table}"')}
            assert not held & (old if column == "sender_id" else gone_ids), (table, column)
    assert [line["detail"] for line in store.audit(action="erase", limit=1)[1]] == [{"reason": "prune"}]
    assert store.audit(action="erase")[0] == len(old)
    # Statistics, analytics, flows and the inbox are those of what is left.
    assert store.statistics(limit=1000) == reference.statistics(kept, limit=1000)
    analytics = client.get("/core/analytics").json()
    expected = reference.analytics(kept)
    for metric, values in expected.items():
        assert analytics[metric] == pytest.approx(values), metric
    # ...by every reading, the sums by hour among them (store/session_hours.py), a day a bin.
    start, end = store.data_range()
    expected = reference.analytics(kept, window=86_400)
    for reading in READINGS:
        analytics = store.analytics(make_bins(start, end, 86_400), reading=reading)
        for metric, values in expected.items():
            assert analytics[metric] == pytest.approx(values), (reading, metric)
    groups = {g["text"]: g["count"] for g in store.message_groups(MessageFilter())[1]}
    assert groups == {text: count for text, (count, _, _) in reference.message_groups(kept, set()).items()}
