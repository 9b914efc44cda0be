"""The review page's speed in headless Chromium on a large store: the time from navigation to the
inbox's rows drawn, and to a 5,000-event transcript's last page drawn (median of --repeat runs,
a fresh browser context each, so nothing is cached). Prints the figures; timings decide no test.
With `--store`, a store imported before (a 1M import takes 16-25 minutes) is measured instead,
with the 5,000-event conversation imported into it first (again: nothing is stored twice).

    .venv/bin/python bench/page.py [--conversations 100000] [--repeat 5] [--store PATH_OR_URL]
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from rasa_messaging.generate import Generator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.server import running_server  # noqa: E402

LONG = "five-thousand-events"


def import_into(db: str, work: Path, conversations: int = 0) -> None:
    """Import `conversations` generated conversations and the 5,000-event one into `db`."""
    events = work / "events.jsonl"
    generator = Generator(seed=conversations)
    with open(events, "w") as out:
        for number in range(conversations):
            out.write("".join(json.dumps(e) + "\n" for e in generator.conversation(number)[1]))
        for turn in range(1000):  # 5,000 events: user, action, bot, slot, action_listen per turn
            t = 1_650_000_000 + turn * 30
            out.write("".join(json.dumps({"sender_id": LONG, "timestamp": t + i, **e}) + "\n" for i, e in enumerate([
                {"event": "user", "text": f"message {turn}", "parse_data": {"intent": {"name": "inform", "confidence": 0.9},
                                                                            "entities": []}},
                {"event": "action", "name": "utter_ok", "policy": "policy_1_TEDPolicy", "confidence": 0.7},
                {"event": "bot", "text": f"reply {turn}"},
                {"event": "slot", "name": "turn", "value": turn},
                {"event": "action", "name": "action_listen", "policy": "policy_0_MemoizationPolicy", "confidence": 1.0}])))
    subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "import", "--db", db, str(events)], check=True,
                   capture_output=True)
    events.unlink()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", help="measure this store (a path or postgresql:// URL) as it is instead")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="page-bench-"))
    started = time.monotonic()
    db = args.store or str(work / "store.db")
    import_into(db, work, 0 if args.store else args.conversations)
    print(f"store {'given' if args.store else f'of {args.conversations:,} conversations built'}, "
          f"with the 5,000-event conversation, in {time.monotonic() - started:.0f} s")
    timings = {"inbox: navigation → rows drawn (ms)": ("/", "#inbox tbody tr"),
               "5,000-event transcript: navigation → last page drawn (ms)":
                   (f"/conversations/{LONG}", "ol.transcript li.message.bot >> text=reply 999")}
    try:
        with running_server("--db", db) as (base, _), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                                 args=["--no-sandbox", "--disable-gpu"])
            for name, (path, selector) in timings.items():
                samples = []
                for _ in range(args.repeat + 1):
                    context = browser.new_context()
                    page = context.new_page()
                    began = time.perf_counter()
                    page.goto(f"{base}{path}", wait_until="commit")
                    page.wait_for_selector(selector)
                    samples.append((time.perf_counter() - began) * 1000)
                    context.close()
                print(f"{name}: p50 {statistics.median(samples[1:]):.0f}, max {max(samples[1:]):.0f} "
                      f"(first, cold: {samples[0]:.0f})")
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
