import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest

from rasa_messaging.app import create_app, load_spec
from rasa_messaging.generate import Generator
from rasa_messaging.store import Store, prepare

from .contract import CheckedClient, SpecContract

# Real Rasa data, beside the checkout (../shared/rasa-data) where this team has it; a clone on its
# own has none, and the tests that need it skip (under CI=true its absence fails the run).
RASA_DATA = Path(os.environ.get("RASA_MESSAGING_REAL_DATA",
                                Path(__file__).resolve().parents[2] / "shared" / "rasa-data"))
REAL_DATA_PRESENT = RASA_DATA.is_dir()
REAL_TRACKER_FILES = sorted(RASA_DATA.glob("**/*.json"))
MOODBOT = RASA_DATA / "rasa" / "data" / "test_trackers" / "tracker_moodbot.json"
NO_REAL_DATA = (f"needs the real Rasa data at {RASA_DATA} (../shared/rasa-data beside the checkout), "
                "which a clone on its own does not have")


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data: needs ../shared/rasa-data; skipped without it, except under CI=true")
    if os.environ.get("CI") == "true" and not REAL_DATA_PRESENT:
        raise pytest.UsageError(f"CI=true, and {NO_REAL_DATA}: CI must run every test")


def pytest_collection_modifyitems(config, items):
    if not REAL_DATA_PRESENT:
        for item in items:
            if "real_data" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=NO_REAL_DATA))


@pytest.fixture(scope="session")
def contract():
    return SpecContract(load_spec())


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "rasa-messaging.db"


@pytest.fixture
def store(db_path):
    return Store(db_path)


@pytest.fixture
def trackers():
    """Conversations from the project's own generator; with the real data beside the checkout, also
    the real tracker dumps and the conversations generated from the real conversation tests."""
    own = Generator(seed=5).trackers(40)
    if not REAL_DATA_PRESENT:
        return own
    from .story_trackers import generated_trackers
    return [load_tracker(p) for p in REAL_TRACKER_FILES] + generated_trackers() + own


@pytest.fixture
def stored_trackers(store, trackers):
    """`trackers`, ingested into `store`."""
    ingest_trackers(store, trackers)
    return trackers


@pytest.fixture
def app(db_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_app(db_path, validate_responses=True)


@pytest.fixture
def client(app, contract):
    return CheckedClient(app.test_client(), contract)


def assert_problem(response, status: int, *, detail_contains: str = ""):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in response.text
    assert detail_contains in body.get("detail", "")
    return body


def load_tracker(path) -> dict:
    return json.loads(Path(path).read_text())


def ingest_trackers(store, trackers) -> None:
    for tracker in trackers:
        store.ingest(prepare(tracker["sender_id"], tracker["events"]))


def store_digest(store) -> str:
    """A hash of everything the store holds: equal digests mean nothing was stored or changed."""
    digest = hashlib.sha256()
    for table in sorted(store.db.table_names()):
        for row in sorted(map(repr, store.db.execute(f'SELECT * FROM "{table}"'))):
            digest.update(row.encode())
    return digest.hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(base: str, server: subprocess.Popen, log_path: Path, seconds: float = 30) -> None:
    """Until `server` answers at `base`; fails with its log if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{base}/core/openapi.json")
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()
            time.sleep(0.1)


@contextlib.contextmanager
def live_server(db_path, *args, env=None):
    """`rasa-messaging serve` in a subprocess, as users run it; yields its base URL. Its log goes
    to a file beside the database (a pipe nobody reads would fill up and stall the server)."""
    port = free_port()
    log_path = Path(f"{db_path}.server.log")
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "rasa_messaging.cli", "serve", "--db", str(db_path), "--port", str(port), *args],
            cwd=Path(__file__).resolve().parents[1], env={**os.environ, **(env or {})}, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server, log_path)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
