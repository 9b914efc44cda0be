"""Peak memory of a streaming export: does `rasa-messaging export` stay flat as conversations grow?

Fills a store with N conversations (default 10,000, ~20 events each, shaped like a Rasa bot's),
then runs `rasa-messaging export` (NDJSON and CSV) in a child process and prints its peak RSS next
to the peak RSS of a child that only opens the store, and the output size.

    .venv/bin/python bench/export_memory.py [--conversations N]
"""

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rasa_messaging.store import Store, prepare


def fill(db_path: Path, conversations: int) -> int:
    rng = random.Random(7)
    store, batch, events_total = Store(db_path), [], 0
    for number in range(conversations):
        clock = 1_600_000_000 + number * 37.0
        events = [{"event": "action", "timestamp": clock, "name": "action_session_start"},
                  {"event": "session_started", "timestamp": clock + 0.01}]
        for _turn in range(rng.randint(2, 8)):
            clock += rng.uniform(1, 60)
            text = " ".join(rng.choice(["I", "want", "to", "pay", "my", "card", "bill", "balance", "please"])
                            for _ in range(rng.randint(3, 12)))
            events += [{"event": "user", "timestamp": clock, "text": text, "input_channel": "rest",
                        "parse_data": {"intent": {"name": f"intent_{rng.randint(0, 30)}", "confidence": rng.random()},
                                       "entities": [], "text": text}},
                       {"event": "action", "timestamp": clock + 0.2, "name": f"utter_{rng.randint(0, 40)}",
                        "policy": "policy_1_TEDPolicy", "confidence": rng.random()},
                       {"event": "bot", "timestamp": clock + 0.3, "text": "Sure, let me check that for you."}]
        batch += prepare(f"user-{number}", events)
        events_total += len(events)
        if len(batch) >= 5000:
            store.ingest(batch)
            batch = []
    store.ingest(batch)
    return events_total


def peak_rss_mb(command: list[str], output: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    with open(output, "wb") as out:
        subprocess.run(command, stdout=out, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak, before) / 1024, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "export.db"
        events = fill(db, args.conversations)
        cli = [sys.executable, "-m", "rasa_messaging.cli"]
        # Each measurement in its own child; RUSAGE_CHILDREN keeps the largest, so run the smallest first.
        baseline, _ = peak_rss_mb([*cli, "export", "--db", str(db), "--intent", "no_such_intent"], Path(tmp) / "none")
        rows = []
        for fmt in ("ndjson", "csv"):
            out = Path(tmp) / f"export.{fmt}"
            peak, seconds = peak_rss_mb([*cli, "export", "--db", str(db), "--format", fmt], out)
            rows.append((fmt, peak, seconds, out.stat().st_size / 1e6))
        print(f"{args.conversations} conversations, {events} events")
        print(f"baseline (export of nothing): peak RSS {baseline:.0f} MB")
        for fmt, peak, seconds, size in rows:
            print(f"export --format {fmt}: peak RSS {peak:.0f} MB, {seconds:.1f} s, {size:.0f} MB written")


if __name__ == "__main__":
    main()
