"""The performance benchmark: our server, as users run it, beside its peers on the same data.

For each size (default 1k, 10k, 100k conversations of rasa_messaging/generate.py data) it
- imports the data with `rasa-messaging import` and, as the ingest peer, inserts the same rows with
  plain `executemany` into a bare table (events/s for both);
- flags about 2% of user messages, starts `rasa-messaging serve` (uvicorn) and measures p50/p95 of
  every read operation over real HTTP, plus flag/unflag and HTTP ingest batches;
- runs the same queries as raw SQLite on our own schema (the floor on this machine) and through
  Datasette serving the same file (what a user might use instead), and reports our ratio to each;
- reads the server's peak RSS.
Writes bench/RESULTS.md and prints it. Timings never decide a test.

    .venv/bin/python bench/run.py [--sizes 1000,10000,100000] [--repeat 30]
"""

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

from rasa_messaging.generate import Generator
from rasa_messaging.store import ConversationFilter, Store

LIST_QUERIES = {  # name → (API parameters, the ConversationFilter the API builds from them)
    "no filter": ({}, ConversationFilter()),
    "one intent": ({"intent": "transfer_money"}, ConversationFilter(intents=("transfer_money",))),
    "intent+policy+maximumConfidence": ({"intent": "transfer_money", "policies": "TEDPolicy", "maximumConfidence": 0.6},
                                        ConversationFilter(intents=("transfer_money",), policies=("TEDPolicy",),
                                                           maximum_confidence=0.6)),
    "text": ({"text": "transfer money"}, ConversationFilter(text="transfer money")),
    "in_training_data=false by confidence": ({"in_training_data": "false"}, ConversationFilter(in_training_data=False)),
    "is_flagged": ({"is_flagged": "true"}, ConversationFilter(is_flagged=True)),
}


def timed(call, repeat):
    call()  # warm up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, process):
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


def inline(sql, params):
    """The query with its parameters written in, for Datasette's ?sql= (our own constants only)."""
    for value in params:
        literal = str(int(value)) if isinstance(value, bool) else (
            repr(value) if isinstance(value, (int, float)) else "'" + str(value).replace("'", "''") + "'")
        sql = sql.replace("?", literal, 1)
    return sql


def datasette_query(store, filters):
    """One self-contained query for Datasette: the page, with the total count as a column (ours
    hands the text matches from query to query, which one query cannot)."""
    (count_sql, count_params), (page_sql, page_params) = store.conversation_queries(
        filters, limit=20, read_text_index_once=False)
    return inline(f"SELECT page.*, ({count_sql}) AS total FROM ({page_sql}) page", [*count_params, *page_params])


def measure_size(conversations, repeat, workdir: Path):
    rows = []
    generator = Generator(seed=conversations)
    data, db = workdir / "events.jsonl", workdir / "rasa.db"
    flags, sample_sender = [], None
    with open(data, "w") as out:
        for number in range(conversations):
            sender_id, events = generator.conversation(number)
            out.write("".join(json.dumps(e) + "\n" for e in events))
            flags += generator.flags(sender_id, events)
            sample_sender = sample_sender or sender_id
    n_events = sum(1 for _ in open(data))

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "import", "--db", str(db), str(data)],
                   check=True, capture_output=True)
    ours = n_events / (time.perf_counter() - started)
    peer = sqlite3.connect(workdir / "peer.db")
    peer.execute("CREATE TABLE events (sender_id TEXT, type TEXT, timestamp REAL, data TEXT)")
    started = time.perf_counter()
    with open(data) as source, peer:
        peer.executemany("INSERT INTO events VALUES (?, ?, ?, ?)",
                         ((e["sender_id"], e["event"], e["timestamp"], json.dumps(e)) for e in map(json.loads, source)))
    executemany = n_events / (time.perf_counter() - started)
    rows.append(("ingest: CLI import (events/s)", f"{ours:,.0f}", "", f"{ours / executemany:.0%} of executemany "
                 f"({executemany:,.0f}/s)", ""))

    store = Store(db)
    for sender_id, timestamp in flags:
        store.flag(sender_id, timestamp)
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

    port, datasette_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "rasa_messaging.cli", "serve", "--db", str(db), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    datasette = subprocess.Popen([str(Path(sys.executable).with_name("datasette")), "serve", str(db), "--port",
                                  str(datasette_port), "--immutable", str(db), "--setting", "sql_time_limit_ms", "20000"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, dbase = f"http://127.0.0.1:{port}/core", f"http://127.0.0.1:{datasette_port}"
    try:
        wait_until_up(f"{base}/openapi.json", server)
        wait_until_up(f"{dbase}/-/versions.json", datasette)
        http, dhttp = httpx.Client(base_url=base, timeout=60), httpx.Client(base_url=dbase, timeout=60)

        def row(name, api, raw_call=None, datasette_sql=None):
            p50, p95 = timed(api, repeat)
            floor = timed(raw_call, repeat)[0] if raw_call else None
            peer = timed(lambda: dhttp.get("/rasa.json", params={"sql": datasette_sql, "_shape": "array"}).raise_for_status(),
                         repeat)[0] if datasette_sql else None
            rows.append((name, f"{p50:.1f}", f"{p95:.1f}", f"{p50 / floor:.1f}× ({floor:.2f} ms)" if floor else "",
                         f"{p50 / peer:.2f}× ({peer:.1f} ms)" if peer else ""))

        for name, (params, filters) in LIST_QUERIES.items():
            queries = store.conversation_queries(filters, limit=20)  # exactly what the server runs
            row(f"getConversations {name}, limit=20",
                lambda params=params: http.get("/conversations", params={**params, "limit": 20}).raise_for_status(),
                lambda queries=queries: [raw.execute(sql, values).fetchall() for sql, values in queries],
                datasette_query(store, filters))
        stats_sql = "SELECT kind, name, count FROM statistics ORDER BY kind, count DESC, name"
        row("/statistics", lambda: http.get("/statistics").raise_for_status(),
            lambda: raw.execute(stats_sql).fetchall(), stats_sql)
        row("/analytics (10 bins)", lambda: http.get("/analytics").raise_for_status())
        row("/analytics window=1d", lambda: http.get("/analytics", params={"window": "1d"}).raise_for_status())
        quoted = urllib.parse.quote(sample_sender, safe="")
        events_sql = "SELECT data FROM events WHERE sender_id = ? ORDER BY timestamp, id"
        row("one conversation's events", lambda: http.get(f"/conversations/{quoted}/events").raise_for_status(),
            lambda: raw.execute(events_sql, [sample_sender]).fetchall(), inline(events_sql, [sample_sender]))
        row("one conversation's messages", lambda: http.get(f"/conversations/{quoted}/messages").raise_for_status())
        row("debug-dump.json", lambda: http.get(f"/conversations/{quoted}/debug-dump.json").raise_for_status())
        row("debug-dump.md", lambda: http.get(f"/conversations/{quoted}/debug-dump.md").raise_for_status())
        message = next(e for e in store.events(sample_sender) if e["event"] == "user")["timestamp"]
        row("flag + unflag", lambda: (http.put(f"/conversations/{quoted}/messages/{message}").raise_for_status(),
                                      http.delete(f"/conversations/{quoted}/messages/{message}").raise_for_status()))
        batch_generator = Generator(seed=-conversations)
        batches = [batch_generator.conversation(10_000_000 + i) for i in range(50)]
        started, sent = time.perf_counter(), 0
        for sender_id, events in batches:
            http.post(f"/conversations/{urllib.parse.quote(sender_id, safe='')}/events", json=events).raise_for_status()
            sent += len(events)
        rows.append(("ingest: HTTP, a conversation per request (events/s)", f"{sent / (time.perf_counter() - started):,.0f}",
                     "", "", ""))
        with open(f"/proc/{server.pid}/status") as status:
            peak = next(line for line in status if line.startswith("VmHWM")).split()[1]
        rows.append(("server peak RSS (MB)", f"{int(peak) / 1024:.0f}", "", "", ""))
    finally:
        for process in (server, datasette):
            process.terminate()
            process.wait(timeout=20)
    return n_events, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    lines = ["# Benchmark results", "",
             f"`bench/run.py --sizes {args.sizes} --repeat {args.repeat}` on {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d')}. Latencies in ms over HTTP (uvicorn, keep-alive); ratios are our p50 "
             "over the raw SQLite query on our schema (the floor) and over Datasette serving the same file.", ""]
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            n_events, rows = measure_size(size, args.repeat, Path(tmp))
        lines += [f"## {size:,} conversations ({n_events:,} events)", "",
                  "| operation | p50 | p95 | ratio to raw SQL | ratio to Datasette |", "|---|---|---|---|---|"]
        lines += [f"| {' | '.join(row)} |" for row in rows]
        lines.append("")
        print("\n".join(lines[-len(rows) - 4:]), flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
