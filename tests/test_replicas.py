"""Issue 42: reads from a PostgreSQL streaming replica (`serve --db-read`), for real: a hot standby
made from the test setup (tests/pg_replica.py)."""

import os
import re
import time
import warnings

import psycopg
import pytest

from rasa_messaging.app import create_app
from rasa_messaging.store import Store, prepare

from . import pg_replica
from .conftest import assert_problem
from .contract import CheckedClient


@pytest.fixture(scope="module")
def standby(worker_id):
    """(primary URL, standby URL, standby cluster name): a store on a primary, streaming to its
    hot standby. Skipped, saying why, where no cluster can be made; under CI=true that fails."""
    reason = pg_replica.why_not()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}: the replica test must run")
        pytest.skip(reason)
    with pg_replica.primary_and_standby(f"rm_{worker_id}") as (primary_port, standby_port, name):
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{primary_port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE replicated")
        pg_replica.wait_until_accepting(standby_port, database="replicated")  # replayed there
        yield (f"postgresql://postgres@127.0.0.1:{primary_port}/replicated",
               f"postgresql://postgres@127.0.0.1:{standby_port}/replicated", name)


def caught_up(primary: Store, replica: Store, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while replica.wal_position() < primary.wal_position():
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.05)


def reads(client) -> dict[str, float]:
    found = re.findall(r'^rasa_messaging_reads_total\{store="(\w+)"\} ([0-9.e+]+)$', client.get("/metrics").text, re.M)
    return {store: float(count) for store, count in found}


def events(sender_id: str, start: float) -> list[dict]:
    return [{"event": "user", "timestamp": start + k, "text": f"message {k}",
             "parse_data": {"intent": {"name": "greet", "confidence": 0.9}}} for k in range(5)]


@pytest.mark.slow
def test_reads_go_to_the_replica_a_reviewers_writes_are_theirs_at_once_and_a_stopped_replica_costs_nothing(
        standby, contract):
    primary_url, standby_url, standby_name = standby
    primary = Store(primary_url)
    primary.ingest([row for k in range(30) for row in prepare(f"r{k}", events(f"r{k}", 1000.0 + 10 * k))])
    tokens = {name: primary.add_user(name, role) for name, role in (("rita", "reviewer"), ("vera", "viewer"))}
    replica = Store(standby_url, replica=True)
    caught_up(primary, replica)
    assert replica.users() == primary.users()  # it holds the store, streamed
    with pytest.raises(Exception, match="read-only"):
        replica.mark_reviewed("r0")  # a hot standby takes no write
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app = create_app(primary_url, validate_responses=True, read_replicas=(standby_url,))
    client = CheckedClient(app.test_client(), contract)
    rita, vera = ({"Authorization": f"Bearer {tokens[name]}"} for name in ("rita", "vera"))

    before = reads(client)
    for _ in range(10):
        assert int(client.get("/core/conversations?limit=0", headers=vera).headers["X-Total-Count"]) == 30
    after = reads(client)
    assert after.get("replica", 0) - before.get("replica", 0) >= 10  # the replica served them
    ready = client.get("/core/ready").json()
    assert [(r["status"], r["lag_bytes"] >= 0) for r in ready["replicas"]] == [("streaming", True)]

    # A reviewer's write is in their next read, every time, however far the replica is behind.
    for k in range(30):
        sender = f"r{k}"
        assert client.put(f"/core/conversations/{sender}/tags/checked", headers=rita).status_code == 200
        assert "checked" in client.get(f"/core/conversations?sender_id={sender}", headers=rita).json()[0]["tags"]
        assert client.put(f"/core/conversations/{sender}/messages/{1000.0 + 10 * k}", headers=rita).status_code == 201
        flags = client.get(f"/core/flags?sender_id={sender}", headers=rita).json()
        assert [flag["flagged_by"] for flag in flags] == ["rita"]

    # The replica stops: reads are served by the primary, and /core/ready says so.
    pg_replica.control(standby_name, "stop")
    try:
        before = reads(client)
        for _ in range(5):
            assert int(client.get("/core/conversations?limit=0", headers=vera).headers["X-Total-Count"]) == 30
        after = reads(client)
        assert after["primary"] - before.get("primary", 0) >= 5
        ready = client.get("/core/ready").json()
        assert ready["status"] == "ready" and ready["replicas"][0]["status"] == "unreachable"
        assert_problem(client.get("/core/conversations?limit=x", headers=vera), 400)  # still answered as ever
    finally:
        pg_replica.control(standby_name, "start")
    pg_replica.wait_until_accepting(int(standby_url.rsplit(":", 1)[1].split("/")[0]))
    time.sleep(5.1)  # the replica is left out for RETRY_SECONDS after it failed
    # Back in service once it has replayed to a consistent state: a standby accepts connections
    # before it takes reads ("the database system is starting up"), and each refusal leaves it
    # out for RETRY_SECONDS again (CI on a slow machine: 5 reads after 5.1 s all went to the primary).
    before, deadline = reads(client), time.monotonic() + 30
    while reads(client).get("replica", 0) == before.get("replica", 0):
        assert time.monotonic() < deadline, "the restarted replica never served a read again"
        client.get("/core/conversations?limit=0", headers=vera)
        time.sleep(0.2)


def test_read_replicas_of_a_sqlite_store_are_refused_before_the_server_listens(tmp_path):
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "x.db"), "--port", "0",
                                      "--db-read", "postgresql://postgres@127.0.0.1:5432/nothing"])
    assert result.exit_code == 1 and "replicas of a PostgreSQL --db" in result.output
