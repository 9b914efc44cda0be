"""The benchmark's data generator: deterministic, shaped like Rasa data, importable."""

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from rasa_messaging.cli import cli

GENERATE = Path(__file__).resolve().parents[1] / "bench" / "generate.py"


def generate(tmp_path, name, conversations=300, seed=4):
    out = tmp_path / f"{name}.jsonl"
    flags = tmp_path / f"{name}.flags"
    with open(out, "w") as f:
        subprocess.run([sys.executable, str(GENERATE), "--conversations", str(conversations), "--seed", str(seed),
                        "--flags", str(flags)], stdout=f, check=True)
    return out, flags


def test_the_generator_is_deterministic_and_shaped_like_rasa_data(tmp_path):
    first, flags = generate(tmp_path, "a")
    second, _ = generate(tmp_path, "b")
    assert first.read_bytes() == second.read_bytes()
    events = [json.loads(line) for line in first.read_text().splitlines()]
    senders = {e["sender_id"] for e in events}
    assert len(senders) == 300 and 15 <= len(events) / len(senders) <= 40
    kinds = {e["event"] for e in events}
    assert {"user", "bot", "action", "slot", "session_started", "restart"} <= kinds
    intents = {e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"}
    assert 20 <= len(intents) <= 51
    policies = {e["policy"] for e in events if e["event"] == "action" and e["policy"]}
    assert 3 <= len(policies) <= 5
    assert len({e["input_channel"] for e in events if e["event"] == "user"}) >= 3
    times = [e["timestamp"] for e in events]
    assert max(times) - min(times) > 90 * 86_400
    assert flags.read_text().strip()


def test_generated_data_imports_without_a_rejection(tmp_path):
    data, _ = generate(tmp_path, "import", conversations=100)
    result = CliRunner().invoke(cli, ["import", "--db", str(tmp_path / "bench.db"), str(data)])
    assert result.exit_code == 0 and "100 conversations" in result.output and " 0 rejected" in result.output
