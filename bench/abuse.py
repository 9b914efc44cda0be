"""Abuse figures (issue 19), measured the same way before and after: a server on loopback with a
store of generated conversations, and
- 10 clients that request `GET /core/export` and never read: the latency of `GET
  /core/conversations?limit=1` while they hold, and how many exports were refused (503);
- the server's peak RSS during that;
- 3 ingests of 10,000 events while a prober lists conversations: the slowest probe;
- one-event ingests over HTTP into conversations of 0, 5,000 and 60,000 events (ms each);
- (issue 37) readers that never read large answers: 30 of a 50,000-event conversation's events,
  20 of the whole list; the server's RSS with them, and how many were refused.
Prints a table; timings decide no test.

    .venv/bin/python bench/abuse.py [--conversations 20000] [--server "python -m rasa_messaging.cli"]

`--server` with `--cwd` runs another checkout's server against the same kind of store (the
"before" figures were taken that way on the commit before issue 19).
"""

import argparse
import json
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import httpx

from rasa_messaging.generate import Generator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.server import running_server  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def probe_while(base: str, seconds: float) -> list[float]:
    """Latencies (ms) of limit=1 listings for `seconds`; a timeout counts as 30,000 ms."""
    latencies, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            httpx.get(f"{base}/core/conversations", params={"limit": 1}, timeout=30)
            latencies.append((time.perf_counter() - started) * 1000)
        except httpx.TimeoutException:
            latencies.append(30_000.0)
        time.sleep(0.1)
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--server", default=f"{sys.executable} -m rasa_messaging.cli")
    parser.add_argument("--cwd", default=None, help="where to run --server (another checkout)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="abuse-"))
    events = work / "events.jsonl"
    generator = Generator(seed=19)
    with open(events, "w") as out:
        for number in range(args.conversations):
            out.write("".join(json.dumps(e) + "\n" for e in generator.conversation(number)[1]))
    db = work / "store.db"
    subprocess.run([*shlex.split(args.server), "import", "--db", str(db), str(events)], cwd=args.cwd, check=True,
                   capture_output=True)
    rows = []
    with open(work / "server.log", "wb") as log, running_server(
            "--db", str(db), command=shlex.split(args.server), cwd=args.cwd, log=log) as (base, server):
        idle = statistics.median(probe_while(base, 2))
        rss_before = rss_mb(server.pid)
        readers = []
        for _ in range(10):
            client = socket.create_connection(("127.0.0.1", urllib.parse.urlsplit(base).port))
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.sendall(b"GET /core/export HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            readers.append(client)
        peak = [rss_before]
        stop = threading.Event()

        def watch_rss():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(server.pid))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch_rss)
        watcher.start()
        time.sleep(2)
        held = probe_while(base, 10)
        refused = sum(1 for reader in readers if _status(reader) == 503)
        for reader in readers:
            reader.close()
        left = time.monotonic()
        while time.monotonic() - left < 180:  # until a probe is answered within a second again
            try:
                started = time.monotonic()
                httpx.get(f"{base}/core/conversations", params={"limit": 1}, timeout=30)
                if time.monotonic() - started < 1:
                    break
            except httpx.TimeoutException:
                pass
        recovered = time.monotonic() - left
        stop.set()
        watcher.join()
        rows += [("seconds until probes are fast again after the readers left", f"{recovered:.1f}"),("probe p50 idle (ms)", f"{idle:.1f}"),
                 ("probe p50 / max while 10 export readers hold (ms)",
                  f"{statistics.median(held):.1f} / {max(held):.0f}"),
                 ("exports refused with 503 of 10", str(refused)),
                 ("server RSS before → peak with the readers (MB)", f"{rss_before:.0f} → {peak[0]:.0f}")]

        rows += slow_readers_of_large_answers(base, server)

        batch = [{"event": "user", "timestamp": 1.7e9 + i, "text": "payload " * 20} for i in range(10_000)]
        slowest, done = [0.0], threading.Event()

        def prober():
            while not done.is_set():
                started = time.perf_counter()
                try:
                    httpx.get(f"{base}/core/conversations", params={"limit": 1}, timeout=60)
                except httpx.TimeoutException:
                    pass  # counted as the time it waited
                slowest[0] = max(slowest[0], (time.perf_counter() - started) * 1000)
                time.sleep(0.05)

        thread = threading.Thread(target=prober)
        thread.start()
        started = time.perf_counter()
        for copy in range(3):
            response = httpx.post(f"{base}/core/conversations/bulk/events", timeout=120,
                                  json=[{**e, "timestamp": e["timestamp"] + copy * 1e5} for e in batch])
            response.raise_for_status()
        ingest_seconds = time.perf_counter() - started
        done.set()
        thread.join()
        rows += [("3 ingests of 10,000 events (s)", f"{ingest_seconds:.1f}"),
                 ("slowest probe during them (ms)", f"{slowest[0]:.0f}")]

        for length in (0, 5_000, 60_000):
            sender = f"long-{length}"
            for start in range(0, length, 10_000):
                httpx.post(f"{base}/core/conversations/{sender}/events", timeout=120, json=[
                    {"event": "user", "timestamp": 1.6e9 + i, "text": "m"} for i in range(start, min(length, start + 10_000))])
            samples = []
            for k in range(20):
                started = time.perf_counter()
                httpx.post(f"{base}/core/conversations/{sender}/events", json={"event": "user", "timestamp": 1.8e9 + k})
                samples.append((time.perf_counter() - started) * 1000)
            rows.append((f"one-event ingest into a {length:,}-event conversation, p50 (ms)",
                         f"{statistics.median(samples):.1f}"))
    width = max(len(name) for name, _ in rows)
    print(f"{args.conversations:,} conversations, {args.server} {('in ' + args.cwd) if args.cwd else ''}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


def stalled_readers(base: str, path: str, count: int) -> list[socket.socket]:
    """`count` clients that ask for `path` and never read (a 4 kB receive buffer)."""
    readers = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", urllib.parse.urlsplit(base).port))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        readers.append(client)
        time.sleep(0.2)  # one after the other, as the answers are made
    return readers


def slow_readers_of_large_answers(base: str, server) -> list[tuple[str, str]]:
    """Issue 37: 30 readers of a 50,000-event conversation's events (8 MB) and 20 of the whole
    list (`limit=1000000`) that never read: the server's RSS, answers refused, a probe meanwhile."""
    sender = "fifty-thousand"
    for start in range(0, 50_000, 10_000):
        httpx.post(f"{base}/core/conversations/{sender}/events", timeout=120, json=[
            {"event": "user", "timestamp": 1.5e9 + i, "text": f"message number {i} of a long conversation",
             "parse_data": {"intent": {"name": "inform", "confidence": 0.9}, "entities": []}}
            for i in range(start, start + 10_000)]).raise_for_status()
    size = len(httpx.get(f"{base}/core/conversations/{sender}/events", timeout=120).content)
    rows = []
    for label, path, count in ((f"30 readers of one conversation's events ({size / 1e6:.1f} MB)",
                                f"/core/conversations/{sender}/events", 30),
                               ("20 readers of the whole list (limit=1000000)", "/core/conversations?limit=1000000", 20)):
        before = rss_mb(server.pid)
        readers = stalled_readers(base, path, count)
        time.sleep(3)
        peak = rss_mb(server.pid)
        probe = statistics.median(probe_while(base, 3))
        refused = sum(1 for reader in readers if _status(reader) == 503)
        for reader in readers:
            reader.close()
        rows += [(f"{label}: server RSS before → with them (MB)", f"{before:.0f} → {peak:.0f}"),
                 (f"{label}: refused with 503", f"{refused} of {count}"),
                 (f"{label}: probe p50 meanwhile (ms)", f"{probe:.1f}")]
    return rows


def _status(reader: socket.socket) -> int | None:
    reader.settimeout(0.5)
    try:
        head = reader.recv(64)
    except (TimeoutError, OSError):
        return None
    return int(head.split()[1]) if head.startswith(b"HTTP/1.1") else None


if __name__ == "__main__":
    main()
