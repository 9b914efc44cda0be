import json
import warnings
from pathlib import Path

import pytest

from rasa_messaging.app import create_app, load_spec
from store import Store, prepare

from .contract import CheckedClient, SpecContract

RASA_DATA = Path(__file__).resolve().parents[2] / "shared" / "rasa-data"
REAL_TRACKER_FILES = sorted(RASA_DATA.glob("**/*.json"))


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
