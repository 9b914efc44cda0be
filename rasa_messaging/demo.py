"""The demo store: what `rasa-messaging serve --demo` (and `make run` on a fresh clone) serves, so
that the first page a newcomer opens shows conversations, flags and tags, not an empty list.

Built once from the package's own generator into a file of its own; the user's store is never
touched. It is built under a temporary name and renamed when complete, so an interrupted build
leaves no half demo behind.
"""

import os
import random
import time
from pathlib import Path

from .generate import DAY, Generator
from .store import Store, prepare

DEMO_DB = "rasa-messaging-demo.db"
DEMO_CONVERSATIONS = 300
NOTES = ("wrong intent: should be transfer_money", "bot did not understand the amount", "good example for NLU data",
         "user asked for a human twice", None)
TAGS = ("needs-nlu", "handoff", "regression", "good-example")


def ensure_demo_store(path=DEMO_DB, *, conversations: int = DEMO_CONVERSATIONS) -> bool:
    """Build the demo store at `path` unless it exists; True if it was built now."""
    path = Path(path)
    if path.exists():
        return False
    partial = path.with_name(path.name + ".building")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    fill_demo_store(Store(partial), conversations)
    os.replace(partial, path)
    return True


def fill_demo_store(store: Store, conversations: int) -> None:
    """`conversations` generated conversations over the last months, with what reviewers leave:
    flags (some with a note), tags, review marks and annotations."""
    generator = Generator(seed=2026, start=time.time() - 240 * DAY, calm_share=0.4)
    rng = random.Random(2026)
    for number in range(conversations):
        sender_id, events = generator.conversation(number)
        store.ingest(prepare(sender_id, events))
        for _, timestamp in generator.flags(sender_id, events):
            store.flag(sender_id, timestamp, note=rng.choice(NOTES))
        if rng.random() < 0.1:
            store.add_tag(sender_id, rng.choice(TAGS))
        for event in events:
            predicted = event["parse_data"]["intent"]["name"] if event["event"] == "user" else None
            if predicted and rng.random() < 0.03:  # corrected, or confirmed as predicted (CALM ones have none)
                store.annotate(sender_id, event["timestamp"], rng.choice([predicted, rng.choice(generator.intents)]), None)
        if rng.random() < 0.15:
            store.mark_reviewed(sender_id)
    store.close()  # the last connection to close folds the WAL into the file: one file to rename
