"""The performance benchmark: our server, as users run it, on two data sets at several sizes.

Data sets: `generated` (rasa_messaging/generate.py) and `real` (bench/real_trackers.py: the real
trackers of ../shared/rasa-data, scaled; left out, with a note, where that folder is missing).
For each data set and size (default 1k, 10k, 100k conversations) it
- imports the JSON Lines file with `rasa-messaging import` and, as the baseline, reads the same
  file with `json.loads` per line and inserts (sender_id, timestamp, type, line) with one
  `executemany` into one table indexed on (sender_id, timestamp), in one transaction;
- marks some conversations (bench/filters.py: flags, review marks, tags, annotations), starts
  `rasa-messaging serve` and measures the p50 over HTTP of every single list filter and every
  pair, each also in-process (the store's own time), plus statistics, analytics, one
  conversation's reads, flag + unflag and HTTP ingest;
- measures the framework floor (the smallest request the app serves, `GET /session`) and the
  server's peak RSS.
Writes bench/RESULTS.md (one table per kind of figure, the data sets side by side) and prints it.
Timings never decide a test.

    .venv/bin/python bench/run.py [--sizes 1000,10000,100000] [--repeat 15] [--datasets generated,real]
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
sys.path.insert(0, str(ROOT))

from bench.filters import as_filter, filter_combinations, mark_some  # noqa: E402
from bench.server import running_server  # noqa: E402
from rasa_messaging.generate import Generator  # noqa: E402
from rasa_messaging.store import Store  # noqa: E402

# What follows this line in RESULTS.md is kept when the tables are written again.
KEPT = "<!-- written by hand: kept by bench/run.py -->"


def timed(call, repeat) -> float:
    """p50 in ms, after one warm-up call."""
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def write_data(dataset: str, conversations: int, path: Path) -> int:
    """Write the data set's JSON Lines; returns the number of events."""
    with open(path, "w") as out:
        if dataset == "real":
            from bench.real_trackers import RealTrackers
            return RealTrackers(conversations).write_jsonl(out)
        generator, n_events = Generator(seed=conversations), 0
        for number in range(conversations):
            _, events = generator.conversation(number)
            out.write("".join(json.dumps(e) + "\n" for e in events))
            n_events += len(events)
        return n_events


def baseline_import(path: Path, db: Path) -> float:
    """Events/s of the plain-Python baseline the issue names (see the module docstring)."""
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE events (sender_id TEXT, timestamp REAL, type TEXT, line TEXT)")
    conn.execute("CREATE INDEX events_by_sender ON events (sender_id, timestamp)")
    started, n = time.perf_counter(), 0
    with open(path) as source, conn:
        def rows():
            nonlocal n
            for line in source:
                event = json.loads(line)
                n += 1
                yield event["sender_id"], event["timestamp"], event["event"], line
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows())
    conn.close()
    return n / (time.perf_counter() - started)


def measure(dataset: str, conversations: int, repeat: int, workdir: Path) -> dict:
    """name → figure, for one data set at one size."""
    figures: dict = {}
    data, db = workdir / "events.jsonl", workdir / "rasa.db"
    n_events = write_data(dataset, conversations, data)
    figures["events"] = n_events
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "import", "--db", str(db), str(data)],
                   check=True, capture_output=True)
    figures["import"] = n_events / (time.perf_counter() - started)
    figures["baseline"] = baseline_import(data, workdir / "baseline.db")
    data.unlink()

    store = Store(db)
    mark_some(store)
    filters = filter_combinations(store)
    sample = store.db.execute("SELECT sender_id FROM conversations ORDER BY n_events DESC LIMIT 1").fetchone()[0]
    for name, params in filters.items():
        parsed = as_filter(params)
        figures["store " + name] = timed(lambda: store.conversations(parsed, limit=20), repeat)  # noqa: B023
    text = as_filter({"text": "help"})
    figures["text, first request in-process"] = timed(lambda: Store(db).conversations(text, limit=20), repeat)
    store.close()

    with running_server("--db", str(db)) as (base, server):
        http = httpx.Client(base_url=f"{base}/core", timeout=60)

        def get(path, **params):
            return lambda: http.get(path, params=params).raise_for_status()

        figures["floor"] = timed(get("/session"), repeat)
        for name, params in filters.items():
            figures["http " + name] = timed(get("/conversations", **params, limit=20), repeat)
        figures["/statistics"] = timed(get("/statistics"), repeat)
        figures["/analytics"] = timed(get("/analytics"), repeat)
        figures["/analytics window=1d"] = timed(get("/analytics", window="1d"), repeat)
        quoted = urllib.parse.quote(sample, safe="")
        for what in ("events", "messages", "debug-dump.json", "debug-dump.md"):
            figures[f"longest conversation's {what}"] = timed(get(f"/conversations/{quoted}/{what}"), repeat)
        message = next(e for e in Store(db).events(sample) if e["event"] == "user")["timestamp"]
        figures["flag + unflag"] = timed(lambda: (http.put(f"/conversations/{quoted}/messages/{message}").raise_for_status(),
                                                  http.delete(f"/conversations/{quoted}/messages/{message}").raise_for_status()),
                                         repeat)
        batch_generator = Generator(seed=-conversations)
        started, sent = time.perf_counter(), 0
        for number in range(50):
            sender_id, events = batch_generator.conversation(10_000_000 + number)
            http.post(f"/conversations/{urllib.parse.quote(sender_id, safe='')}/events", json=events).raise_for_status()
            sent += len(events)
        figures["HTTP ingest"] = sent / (time.perf_counter() - started)
        with open(f"/proc/{server.pid}/status") as status:
            figures["rss"] = int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024
    return figures


def report(results: dict, filter_names: list, args) -> str:
    """results[(dataset, size)] → figures; the tables of RESULTS.md."""
    columns = list(results)
    head = " | ".join(f"{d} {s // 1000}k" if s >= 1000 else f"{d} {s}" for d, s in columns)
    growth_of = [(d, a, b) for d in {d for d, _ in columns} for a, b in [(10_000, 100_000)]
                 if (d, a) in results and (d, b) in results]

    def table(rows, title):
        lines = [f"## {title}", "", f"| figure | {head} |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(cell(results[c]) for c in columns) + " |" for name, cell in rows]
        return lines + [""]

    def number(key, fmt="{:,.1f}"):
        return lambda figures: fmt.format(figures[key])

    lines = ["# Benchmark results", "",
             f"`bench/run.py --sizes {args.sizes} --repeat {args.repeat} --datasets {args.datasets}` on "
             f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, one run. Latencies are p50 in ms of "
             f"{args.repeat} requests over HTTP (uvicorn, keep-alive) after a warm-up, `limit=20`; `store` is "
             "the same call in-process (the store's own time); `floor` is the smallest request the app serves "
             "(`GET /session`).", ""]
    lines += table([
        ("events", number("events", "{:,.0f}")),
        ("import, CLI (events/s)", number("import", "{:,.0f}")),
        ("baseline: json.loads + executemany (events/s)", number("baseline", "{:,.0f}")),
        ("import / baseline", lambda f: f"{f['import'] / f['baseline']:.2f}×"),
        ("HTTP ingest, a conversation per request (events/s)", number("HTTP ingest", "{:,.0f}")),
        ("server peak RSS (MB)", number("rss", "{:,.0f}")),
        ("framework floor: GET /session", number("floor", "{:.2f}")),
        ("/statistics", number("/statistics", "{:.2f}")),
        ("/analytics (10 bins)", number("/analytics")),
        ("/analytics window=1d", number("/analytics window=1d")),
        *[(f"longest conversation's {w}", number(f"longest conversation's {w}", "{:.2f}"))
          for w in ("events", "messages", "debug-dump.json", "debug-dump.md")],
        ("flag + unflag", number("flag + unflag", "{:.2f}")),
        ("text=help, first request, in-process", number("text, first request in-process", "{:.2f}")),
    ], "Ingest, statistics, analytics, reads")

    worst = {c: max((results[c]["http " + n], n) for n in filter_names) for c in columns}
    over_floor = {c: max((results[c]["http " + n] - results[c]["store " + n] - results[c]["floor"], n)
                         for n in filter_names) for c in columns}
    lines += ["## List filters: summary", "", f"| figure | {head} |", "|---" * (len(columns) + 1) + "|",
              "| slowest p50 | " + " | ".join(f"{worst[c][0]:.2f} ({worst[c][1]})" for c in columns) + " |",
              "| most over store + floor | " + " | ".join(f"{over_floor[c][0]:+.2f} ({over_floor[c][1]})"
                                                        for c in columns) + " |", ""]
    for dataset, small, large in growth_of:
        ratios = sorted(((results[(dataset, large)]["http " + n] / results[(dataset, small)]["http " + n], n)
                         for n in filter_names), reverse=True)
        lines.append(f"Growth 10k → 100k, {dataset}: largest {ratios[0][0]:.2f}× ({ratios[0][1]}), "
                     f"median {statistics.median(r for r, _ in ratios):.2f}×.")
    lines.append("")
    growth_head = "".join(f" | {d} 100k/10k" for d, _, _ in growth_of)
    lines += ["## Every list filter and pair: HTTP p50 (store in-process)", "",
              f"| filters | {head}{growth_head} |", "|---" * (len(columns) + 1 + len(growth_of)) + "|"]
    for name in filter_names:
        cells = [f"{results[c]['http ' + name]:.2f} ({results[c]['store ' + name]:.2f})" for c in columns]
        cells += [f"{results[(d, b)]['http ' + name] / results[(d, a)]['http ' + name]:.2f}×" for d, a, b in growth_of]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="numbers of conversations, comma-separated")
    parser.add_argument("--repeat", type=int, default=15, help="requests per figure (after one warm-up)")
    parser.add_argument("--datasets", default="generated,real", help="generated, real, or both")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"), help="where to write the tables")
    args = parser.parse_args()
    from bench.real_trackers import REAL_DATA_PRESENT
    datasets = [d for d in args.datasets.split(",") if d != "real" or REAL_DATA_PRESENT]
    if len(datasets) < len(args.datasets.split(",")):
        print("no ../shared/rasa-data here: the real data set is left out", file=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",")]
    results, filter_names = {}, []
    for dataset in datasets:
        for size in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                results[dataset, size] = measure(dataset, size, args.repeat, Path(tmp))
            filter_names = [k[len("http "):] for k in results[dataset, size] if k.startswith("http ")]
            print(f"{dataset} {size:,}: import {results[dataset, size]['import']:,.0f}/s, slowest filter "
                  f"{max(results[dataset, size]['http ' + n] for n in filter_names):.2f} ms", flush=True)
    text = report(results, filter_names, args)
    out = Path(args.out)
    if out.exists() and KEPT in out.read_text():  # the history of changes is written by hand
        text += "\n" + KEPT + out.read_text().split(KEPT, 1)[1]
    out.write_text(text)
    print(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
