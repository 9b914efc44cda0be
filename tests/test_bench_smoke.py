"""A tiny run of the benchmark, so that `make bench` keeps working. It asserts that every row was
measured, never how fast: timings decide no test."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rasa_messaging.generate import Generator
from rasa_messaging.store import Store

RUN = Path(__file__).resolve().parents[1] / "bench" / "run.py"


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_on_a_small_store(tmp_path):
    out = tmp_path / "RESULTS.md"
    result = subprocess.run([sys.executable, str(RUN), "--sizes", "200", "--repeat", "2", "--datasets", "generated",
                             "--out", str(out), "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    kept = tmp_path / "generated-200.jsonl"  # --data-dir keeps the data set for the next run, an event a line
    events = next(row for row in out.read_text().splitlines() if row.startswith("| events |"))
    assert events.count(f"{len(kept.read_text().splitlines()):,}") == 2
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line]
    figures = [row for row in rows if not row.startswith(("| figure |", "| filters |"))]
    # 26 figures (/flows, a funnel, the Kafka consume rate, the message inbox's four, the store's size and a
    # prune while serving among them), 5 summary rows, and every filter alone (18), unfiltered (1) and in pairs (153).
    assert len(figures) == 26 + 5 + 18 + 1 + 153
    prune = next(row for row in figures if row.startswith("| prune of the oldest tenth"))
    pruned = [int(cell.split(" in ")[0]) for cell in prune.strip("|").split("|")[1:]]
    assert len(pruned) == 2 and all(20 <= n <= 40 for n in pruned), "about a tenth of 200 (to the hour), on both stores"
    # Both stores, side by side, and the growth of no size (one size only).
    assert rows[0].count("PostgreSQL") == 1 and rows[0].count("SQLite") == 1
    assert all(cell.strip() for row in figures for cell in row.strip("|").split("|")), "every cell has a figure"


@pytest.mark.slow
def test_the_benchmark_measures_a_store_as_it_is(tmp_path):
    """--store: a store imported before, measured without importing (1M conversations take 16-25
    minutes to import), its prune stopped after --prune-seconds."""
    data, db, out = tmp_path / "events.jsonl", tmp_path / "kept.db", tmp_path / "RESULTS.md"
    with open(data, "w") as lines:
        generator = Generator(seed=7)
        lines.writelines(json.dumps(event) + "\n" for number in range(150) for event in generator.conversation(number)[1])
    subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "import", "--db", str(db), str(data)], check=True,
                   capture_output=True)
    result = subprocess.run([sys.executable, str(RUN), "--store", str(db), "--repeat", "2", "--prune-seconds", "0",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row.split("|")[1].strip(): row.split("|")[2].strip() for row in out.read_text().splitlines()
            if row.startswith("| ") and "---" not in row}
    assert rows["figure"] == rows["filters"] == "store 150"  # its column: the store's size
    assert rows["import, CLI (events/s)"] == "—" and float(rows["/statistics"].split(" / ")[0]) > 0
    pruned, seconds = rows["prune of the oldest tenth: conversations, s"].removesuffix(" s (stopped)").split(" in ")
    assert 0 <= int(pruned) <= 15, "at most the oldest tenth"
    store = Store(db)
    assert store.db.execute("SELECT count(*) FROM conversations").fetchone() == \
        store.db.execute("SELECT count(DISTINCT sender_id) FROM events").fetchone() == (150 + 50 - int(pruned),)
