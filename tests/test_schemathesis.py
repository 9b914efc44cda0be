"""schemathesis, a contract tester nobody here wrote, against the live server on real data.

Every operation of openapi/openapi.yaml, every check, every phase (examples, coverage, fuzzing,
stateful via the spec's links), 25 examples per operation (tests/schemathesis.toml), on a store pre-filled with the real
trackers and the conversations generated from the real conversation tests. Target: 0 failures.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rasa_messaging.app import load_spec
from rasa_messaging.resolver import spec_operations

from .conftest import REAL_TRACKER_FILES, live_server
from .story_trackers import generated_trackers

HERE = Path(__file__).resolve().parent
SEED = 20261125


@pytest.fixture
def prefilled(tmp_path):
    db = tmp_path / "contract.db"
    dumps = tmp_path / "generated.json"
    dumps.write_text(json.dumps(generated_trackers()))
    cli = [sys.executable, "-m", "rasa_messaging.cli", "import", "--db", str(db)]
    subprocess.run([*cli, *map(str, REAL_TRACKER_FILES), str(dumps)], check=True, capture_output=True)
    return db


def run_schemathesis(base: str, report: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(HERE / "schemathesis.toml"),
               "run", f"{base}/core/openapi.json", "--seed", str(SEED),
               "--report", "junit", "--report-junit-path", str(report), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def summary(output: str) -> str:
    return "\n".join(line for line in output.splitlines()
                     if any(word in line for word in ("generated", "Selected", "Tested", "failures", "passed", "✅", "❌", "⏭")))


@pytest.mark.slow
@pytest.mark.real_data
def test_schemathesis_finds_no_failure(prefilled, tmp_path):
    with live_server(prefilled) as base:
        # An open server (no token, no person) serves a request whatever token it brings, by
        # design (rasa_messaging/auth.py): its spec still names the tokens a secured one needs.
        # The run with tokens below checks auth on every operation.
        result = run_schemathesis(base, tmp_path / "junit.xml", "--exclude-checks", "ignored_auth")
    print(summary(result.stdout))
    assert result.returncode == 0, result.stdout[-20000:]
    operations = sum(1 for _ in spec_operations(load_spec()))
    assert f"Tested: {operations}" in result.stdout


@pytest.mark.slow
@pytest.mark.real_data
def test_schemathesis_finds_no_failure_with_tokens(prefilled, tmp_path):
    """With auth on: the full token in the header, so every check (ignored auth included) runs.
    10 examples per operation, not 25: the fuzzing itself is the test above's (this one was the
    suite's slowest, 97 s on a slow machine, at 20), and auth is checked on every operation either way."""
    with live_server(prefilled, "--token", "contract-test-token", "--review-token", "review-only") as base:
        result = run_schemathesis(base, tmp_path / "junit-auth.xml", "-H", "Authorization: Bearer contract-test-token",
                                  "--max-examples", "10")
    print(summary(result.stdout))
    assert result.returncode == 0, result.stdout[-20000:]
