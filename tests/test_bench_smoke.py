"""A tiny run of the benchmark, so that `make bench` keeps working. It asserts that every row was
measured, never how fast: timings decide no test."""

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def test_the_benchmark_runs_end_to_end_on_a_small_store(tmp_path):
    out = tmp_path / "RESULTS.md"
    result = subprocess.run([sys.executable, str(RUN), "--sizes", "200", "--repeat", "3", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(table) == 17
    assert all(cells.split("|")[2].strip() for cells in table), "every operation has a figure"
