"""`rasa-messaging copy`: a store moved from SQLite to PostgreSQL and back is the same store, and a
copy that was killed continues where it stopped."""

import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.demo import fill_demo_store
from rasa_messaging.store import ConversationFilter, Store

from .conftest import count_events, postgres_database
from .test_brokers import wait_for


@pytest.fixture
def filled(tmp_path):
    """A SQLite store with what reviewers leave: flags with notes, tags, review marks, annotations."""
    path = tmp_path / "source.db"
    fill_demo_store(Store(path), 120)
    return path


@pytest.fixture
def postgres(postgres_template):
    with postgres_database(postgres_template) as url:
        yield url


def everything(store) -> dict:
    """What a reviewer sees of a store, by sender (conversation ids are the store's own)."""
    total, conversations = store.conversations(ConversationFilter(), limit=None)
    return {
        "conversations": sorted(({k: v for k, v in c.items() if k != "id"} for c in conversations),
                                key=lambda c: c["sender_id"]),
        "events": {c["sender_id"]: store.events(c["sender_id"]) for c in conversations},
        "flags": store.flag_queue()[1],
        "tags": store.all_tags(),
        "reviewed": [store.review_status(c["sender_id"]) for c in conversations],
        "annotations": store.annotations()[1],
        "statistics": store.statistics(limit=1000),
        "total": total,
    }


def copy(source, destination, *args):
    return CliRunner().invoke(cli, ["copy", "--from", str(source), "--to", str(destination), *args])


def test_a_store_copied_to_postgresql_and_back_is_the_same(filled, postgres, tmp_path):
    there = copy(filled, postgres)
    assert there.exit_code == 0, there.output
    back = copy(postgres, f"sqlite:///{tmp_path / 'back.db'}")
    assert back.exit_code == 0, back.output
    original = everything(Store(filled))
    assert original["flags"] and original["tags"] and original["annotations"]
    assert any(r["reviewed"] for r in original["reviewed"])
    assert everything(Store(postgres)) == original
    assert everything(Store(tmp_path / "back.db")) == original
    counts = Store(filled).counts()
    summary = {line.split()[0]: line.split()[1:] for line in back.output.splitlines()[-len(counts):]}
    assert summary == {table: [str(n), str(n)] for table, n in counts.items()}


def test_a_second_copy_copies_nothing_twice(filled, postgres):
    assert copy(filled, postgres).exit_code == 0
    first = everything(Store(postgres))
    assert copy(filled, postgres).exit_code == 0
    assert everything(Store(postgres)) == first


def test_a_killed_copy_continues_where_it_stopped(filled, postgres):
    command = [sys.executable, "-m", "rasa_messaging.cli", "copy", "--from", str(filled), "--to", postgres,
               "--batch-size", "20"]
    copying = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: count_events(postgres) > 200, what="some batches")
    os.kill(copying.pid, signal.SIGKILL)
    copying.wait()
    killed_at = count_events(postgres)
    total = count_events(filled)
    assert killed_at < total, "killed too late to test anything"
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert everything(Store(postgres)) == everything(Store(filled))


def test_copying_a_store_onto_itself_is_refused_however_it_is_spelled(filled, postgres, monkeypatch):
    monkeypatch.chdir(filled.parent)
    (filled.parent / "link.db").symlink_to(filled)
    before = everything(Store(filled))
    for spelling in (f"sqlite:///{filled}", "source.db", "./source.db", "link.db", f"{filled.parent}/../{filled.parent.name}/source.db"):
        result = copy(filled, spelling)
        assert result.exit_code == 2 and "same store" in result.output, spelling
    assert everything(Store(filled)) == before
    other = postgres.replace("postgresql://postgres@127.0.0.1:5432/", "postgres://postgres:pw@127.0.0.1/")
    result = copy(postgres, other)
    assert result.exit_code == 2 and "same store" in result.output and "pw" not in result.output
