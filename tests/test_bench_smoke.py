"""A tiny run of the benchmark, so that `make bench` keeps working. It asserts that every row was
measured, never how fast: timings decide no test."""

import subprocess
import sys
from pathlib import Path

import pytest

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
