"""Holding under abuse (issue 19): slow readers, big bodies, tokens in logs, CSV formulas, hostile
Host headers, and the low-severity items. Traffic goes to loopback only; every loop is bounded."""

import asyncio
import csv
import io
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import httpx
import pytest
from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.generate import Generator
from rasa_messaging.limits import MAX_CONCURRENT_EXPORTS, ExportSlots
from rasa_messaging.store import Store, StoreFull, prepare

from .conftest import assert_problem, import_trackers, live_server, server_log


@pytest.fixture
def big_store(db_path):
    """Enough conversations that an export overflows the sockets' buffers (about 20 MB of NDJSON)."""
    store = Store(db_path)
    import_trackers(store, Generator(seed=19).trackers(2500))
    store.close()
    return db_path


def slow_export_reader(base: str) -> socket.socket:
    """A client that asks for an export and never reads it."""
    host, port = base.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.sendall(f"GET /core/export HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return client


def test_slow_export_readers_do_not_starve_other_requests(big_store):
    with live_server(big_store) as base:
        readers = [slow_export_reader(base) for _ in range(10)]
        try:
            time.sleep(1.0)  # let the exports fill their buffers and block
            for _ in range(5):
                started = time.monotonic()
                probe = httpx.get(f"{base}/core/conversations", params={"limit": 1}, timeout=10)
                assert probe.status_code == 200 and time.monotonic() - started < 3
            refused = httpx.get(f"{base}/core/export", timeout=10)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "10"
            assert f"{MAX_CONCURRENT_EXPORTS} exports are running" in refused.json()["detail"]
        finally:
            for reader in readers:
                reader.close()
        # the exports stop when their clients go away: the slots come back
        deadline = time.monotonic() + 15
        while httpx.get(f"{base}/core/export", params={"intent": "greet"}, timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "an export kept its slot after its client left"
            time.sleep(0.2)


def test_an_export_gives_its_slot_back_when_its_reader_stalls_or_leaves():
    async def scenario(messages_after_request):
        saw = {}
        pending = list(messages_after_request)

        async def app(scope, receive, send):
            saw["gone"] = scope["extensions"]["rasa_messaging.client_gone"]
            await receive()
            for _ in range(3):
                await send({"type": "http.response.body", "body": b"x", "more_body": True})

        async def receive_then():
            if pending:
                return pending.pop(0)
            await asyncio.sleep(3600)

        async def send_never_taken(message):
            await asyncio.sleep(3600)  # a client that stopped reading

        slots = ExportSlots(app, "/core/export", limit=1, stall_seconds=0.2)
        started = time.monotonic()
        await asyncio.wait_for(slots({"type": "http", "path": "/core/export"}, receive_then, send_never_taken), 5)
        return saw["gone"].is_set(), time.monotonic() - started, slots.running

    gone, seconds, running = asyncio.run(scenario([{"type": "http.request", "body": b"", "more_body": False}]))
    assert gone and seconds < 2 and running == 0
    gone, _, running = asyncio.run(scenario([{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]))
    assert gone and running == 0


@pytest.mark.slow
def test_a_large_ingest_leaves_other_requests_answered(db_path):
    events = [{"event": "user", "timestamp": 1e9 + i, "text": "payload " * 20} for i in range(10_000)]
    with live_server(db_path) as base:
        slowest = [0.0]
        done = threading.Event()

        def probe():
            while not done.is_set():
                started = time.monotonic()
                assert httpx.get(f"{base}/core/conversations", params={"limit": 1}, timeout=30).status_code == 200
                slowest[0] = max(slowest[0], time.monotonic() - started)
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            for batch in range(3):
                shifted = [{**e, "timestamp": e["timestamp"] + batch * 1e5} for e in events]
                assert httpx.post(f"{base}/core/conversations/big/events", json=shifted, timeout=60).status_code == 200
        finally:
            done.set()
            prober.join()
        assert slowest[0] < 5, f"a probe waited {slowest[0]:.1f}s while ingests ran"
        huge = [{"event": "user", "timestamp": 1e9 + i} for i in range(300_000)]  # 14 MB: under the body limit
        started = time.monotonic()
        too_many = httpx.post(f"{base}/core/conversations/big/events", json=huge, timeout=60)
        assert too_many.status_code == 413 and "at most 10000" in too_many.json()["detail"]
        assert time.monotonic() - started < 10, "refused before 300,000 events were validated"


def test_a_token_in_the_query_never_reaches_the_access_log(db_path):
    secret = "T1-" + "s" * 60_000
    with live_server(db_path, "--token", secret) as base:
        assert httpx.get(f"{base}/core/conversations", params={"limit": 1, "token": secret}).status_code == 200
        assert httpx.get(f"{base}/core/conversations", params={"token": "wrong"}).status_code == 401
        time.sleep(0.3)
    log = server_log(db_path).read_text()
    assert "token=[redacted]" in log and secret not in log and "wrong" not in log


FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+2", "-2+3", "@SUM(1,1)", "\tTAB", "\rCR"]


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(client, store, db_path):
    events = [{"event": "user", "timestamp": 1.0 + i, "text": text} for i, text in enumerate(FORMULAS)]
    store.ingest(prepare("=cmd|calc", events))
    for body in (client.get("/core/export", params={"format": "csv"}).text,
                 CliRunner().invoke(cli, ["export", "--db", str(db_path), "--format", "csv"]).stdout):
        rows = list(csv.DictReader(io.StringIO(body)))
        assert [row["text"] for row in rows] == ["'" + text for text in FORMULAS]
        assert {row["sender_id"] for row in rows} == {"'=cmd|calc"}
        assert rows[0]["timestamp"] == "1.0"  # numbers stay numbers


def test_only_requests_for_this_servers_own_address_are_served_without_a_token(db_path):
    with live_server(db_path, "--allowed-host", "review.example.org") as base:
        for host in ("attacker.example", "evil.example:5005", "127.0.0.2"):
            refused = httpx.get(f"{base}/core/conversations", headers={"Host": host})
            assert refused.status_code == 400 and refused.json()["parameter"] == "Host", host
            assert "evil" not in refused.headers.get("location", "")
        for host in ("127.0.0.1", "localhost:5005", "review.example.org"):
            assert httpx.get(f"{base}/core/conversations", headers={"Host": host}).status_code == 200, host
    with live_server(db_path, "--token", "s3cret") as base:  # with a token, the token guards it
        answered = httpx.get(f"{base}/core/conversations", headers={"Host": "attacker.example"})
        assert answered.status_code == 401 and answered.headers["www-authenticate"].startswith("Bearer")


def test_a_lone_surrogate_in_a_flag_note_is_a_400(client, store):
    store.ingest(prepare("u1", [{"event": "user", "timestamp": 1.0, "text": "hi"}]))
    response = client.put("/core/conversations/u1/messages/1.0", content=b'{"note": "\\ud800"}',
                          headers={"Content-Type": "application/json"})
    assert_problem(response, 400, detail_contains="lone surrogate")
    emoji = client.put("/core/conversations/u1/messages/1.0", content=b'{"note": "\\ud83d\\ude00"}',
                       headers={"Content-Type": "application/json"})
    assert emoji.status_code == 201 and client.get("/core/flags").json()[0]["note"] == "😀"


@pytest.mark.parametrize("parameter", ["start", "until", "maximumConfidence"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_nan_and_infinity_are_400s_naming_the_parameter(client, parameter, value):
    body = assert_problem(client.get("/core/conversations", params={parameter: value}), 400)
    assert body["parameter"] == parameter and "finite" in body["detail"]


def test_a_tag_with_a_trailing_line_break_is_refused(client, store):
    store.ingest(prepare("u1", [{"event": "user", "timestamp": 1.0, "text": "hi"}]))
    assert_problem(client.put("/core/conversations/u1/tags/a%0A"), 400)
    assert client.get("/core/tags").json() == []


def test_a_path_that_is_not_utf8_is_a_400_not_another_conversation(db_path):
    with live_server(db_path) as base:
        assert httpx.post(f"{base}/core/conversations/%FF/events", json={"event": "user", "timestamp": 1.0}).json() == {
            "type": "about:blank", "title": "Bad Request", "status": 400, "parameter": "path",
            "detail": "The path is not UTF-8 text once its %-escapes are decoded (such as %FF): sender ids and tags "
                      "are Unicode text."}
        assert httpx.get(f"{base}/core/conversations").json() == []
        utf8 = urllib.parse.quote("ü")
        assert httpx.post(f"{base}/core/conversations/{utf8}/events", json={"event": "user", "timestamp": 1.0}).status_code == 200


def test_a_full_disk_is_a_507_saying_so(client, monkeypatch):
    """The store's real full-disk path is tested in test_new_user.py; here, what HTTP makes of it."""
    def full(*args, **kwargs):
        raise StoreFull("database or disk is full")
    monkeypatch.setattr(Store, "ingest", full)
    body = assert_problem(client.post("/core/conversations/u1/events", json={"event": "user", "timestamp": 1.0}), 507)
    assert "database or disk is full" in body["detail"] and "nothing of this request was stored" in body["detail"]


def serve_fails(*args) -> str:
    result = subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "serve", "--port", "0", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_serve_refuses_what_cannot_be_a_store_in_one_line(tmp_path):
    assert "is not a file" in serve_fails("--db", "")
    assert "is not a file" in serve_fails("--db", ":memory:")
    assert "no directory" in serve_fails("--db", str(tmp_path / "missing" / "x.db"))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all " * 1000)
    assert "is not a SQLite store" in serve_fails("--db", str(junk))


def test_serve_refuses_a_read_only_store(tmp_path):
    db = tmp_path / "locked.db"
    Store(db).close()
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        assert "is read-only" in serve_fails("--db", str(db))
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


def test_serve_refuses_an_empty_token_and_one_token_for_both_roles(tmp_path):
    db = str(tmp_path / "x.db")
    assert "empty token" in serve_fails("--db", db, "--token", "")
    assert "are the same" in serve_fails("--db", db, "--token", "X", "--review-token", "X")


def executed_instructions(store, call) -> int:
    """SQLite VM instructions `call` runs: a measure of work that no timing noise moves."""
    count = [0]

    def tick():
        count[0] += 1
        return 0
    store.db.conn.set_progress_handler(tick, 1)
    try:
        call()
    finally:
        store.db.conn.set_progress_handler(None, 1)
    return count[0]


@pytest.mark.sqlite_only("counts SQLite's virtual machine instructions")
def test_appending_an_event_costs_the_same_to_a_long_conversation_as_to_a_short_one(store):
    for sender, length in (("short", 10), ("long", 20_000)):
        store.ingest(prepare(sender, [{"event": "user", "timestamp": 1e9 + i, "text": "m"} for i in range(length)]))
    work = {sender: executed_instructions(store, lambda s=sender: store.ingest(
        prepare(s, [{"event": "user", "timestamp": 2e9, "text": "new"}]))) for sender in ("short", "long")}
    assert work["long"] < 2 * work["short"], work
    assert store.db.execute("SELECT n_user_messages FROM sessions WHERE sender_id = 'long'").fetchall() == [(20_001,)]
