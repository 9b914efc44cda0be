"""kill -9 in the middle of a large import: the store stays consistent and a re-run completes it."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rasa_messaging.store import ConversationFilter, Store

from . import reference
from .conftest import REAL_TRACKER_FILES, count_events, ingest_trackers, load_tracker
from .story_trackers import generated_trackers

COPIES = 45  # ≈ 50,000 events: a short first chunk (store/importer.py, 2,500 lines), then 40,000 and the rest,
# a transaction each, so the second is parsed or stored while it is killed after the first (60 copies took 40-60 s)


def big_import_file(path):
    trackers = []
    for copy in range(COPIES):
        for tracker in generated_trackers(seed=copy):
            trackers.append({"sender_id": f"{tracker['sender_id']}-copy{copy}", "events": tracker["events"]})
    with open(path, "w") as f:
        for tracker in trackers:
            for event in tracker["events"]:
                f.write(json.dumps({**event, "sender_id": tracker["sender_id"]}) + "\n")
    return trackers


def assert_intact(db_path) -> None:
    """SQLite's own check of the file (a PostgreSQL server keeps its files itself)."""
    if not str(db_path).startswith("postgresql://"):
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the parent pid, after the command name and the state
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.real_data
def test_an_import_killed_half_way_is_completed_by_running_it_again(tmp_path, db_path):
    real = [load_tracker(p) for p in REAL_TRACKER_FILES]
    store = Store(db_path)
    ingest_trackers(store, real)
    flagged = next(e["timestamp"] for e in store.events("mysender") if e["event"] == "user")
    store.flag("mysender", flagged)
    before = count_events(db_path)

    source = tmp_path / "big.jsonl"
    trackers = big_import_file(source)
    command = [sys.executable, "-m", "rasa_messaging.cli", "import", "--workers", "2", "--db", str(db_path), str(source)]
    importer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    # Killed once the first chunk is stored, while the workers parse the next: killed after 10,000,
    # it sometimes met the import past its last batch, its workers gone (PostgreSQL, once in two runs).
    while count_events(db_path) < before + 2_000:
        assert importer.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    workers = children(importer.pid)
    assert len(workers) == 2
    os.kill(importer.pid, signal.SIGKILL)
    importer.wait()
    killed_at = count_events(db_path)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # parsing workers do not outlive it
        assert time.monotonic() < deadline, "a parsing worker outlived the killed import"
        time.sleep(0.1)

    assert_intact(db_path)
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    print(f"\nkilled after {killed_at - before} of {sum(len(t['events']) for t in trackers)} events; re-run: "
          f"{rerun.stdout.strip()}")

    everything = real + trackers
    expected = reference.unique_events(everything)
    store = Store(db_path)
    assert_intact(db_path)
    assert count_events(db_path) == sum(map(len, expected.values()))
    assert store.flagged_timestamps("mysender") == [flagged]
    _, conversations = store.conversations(ConversationFilter())
    assert len(conversations) == len(expected)
    for conversation in conversations:
        wanted = reference.metadata(conversation["sender_id"], expected[conversation["sender_id"]])
        assert {k: conversation[k] for k in wanted} == wanted
    assert store.statistics(limit=1000) == reference.statistics(everything, limit=1000)
    sessions = store.db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    assert sessions == len(reference.sessions(everything))
