"""Concurrent writers and readers against the real server: nothing lost, nothing doubled, no
request failed (SQLite's busy moments are waited out, never surfaced)."""

import random
import threading
import time

import httpx

from rasa_messaging.generate import Generator

from . import reference
from .conftest import live_server

WRITERS, READERS, SECONDS = 8, 8, 8.0


def test_eight_writers_and_eight_readers_lose_and_double_nothing(db_path):
    templates = Generator(seed=3).trackers(60)
    sent = {}  # sender → events sent (each at least once)
    flagged = {}  # sender → timestamps flagged last
    failures, served = [], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def record(response, allowed=(200, 201)):
        with lock:
            served[0] += 1
            if response.status_code not in allowed:
                failures.append((response.request.method, str(response.request.url), response.status_code, response.text[:300]))

    def writer(number, base):
        rng = random.Random(number)
        with httpx.Client(base_url=base, timeout=60) as http:
            conversation = 0
            while time.monotonic() < deadline:
                template = templates[(number * 7 + conversation) % len(templates)]
                sender = f"writer-{number}-{conversation}"
                events = template["events"]
                for start in range(0, len(events), 5):
                    batch = events[start:start + 5]
                    record(http.post(f"/core/conversations/{sender}/events", json=batch))
                    with lock:
                        sent.setdefault(sender, []).extend(batch)
                    if rng.random() < 0.2:  # a client retrying a batch it is not sure about
                        record(http.post(f"/core/conversations/{sender}/events", json=batch))
                conversation += 1

    def reader(number, base):
        rng = random.Random(100 + number)
        with httpx.Client(base_url=base, timeout=60) as http:
            while time.monotonic() < deadline:
                choice = rng.random()
                if choice < 0.4:
                    record(http.get("/core/conversations", params=rng.choice([
                        {"limit": 20}, {"intent": "greet,check_balance", "limit": 20},
                        {"in_training_data": "false", "maximumConfidence": 0.8}, {"text": "money"},
                        {"is_flagged": "true"}])))
                elif choice < 0.55:
                    record(http.get("/core/statistics"))
                else:
                    with lock:  # each reader flags only its own writer's conversations: one history per message
                        candidates = [s for s, events in sent.items() if s.startswith(f"writer-{number}-")
                                      and any(e["event"] == "user" for e in events)]
                    if not candidates:
                        continue
                    sender = rng.choice(candidates)
                    record(http.get(f"/core/conversations/{sender}/messages"))
                    with lock:
                        message = next(e for e in sent[sender] if e["event"] == "user")
                    if rng.random() < 0.7:
                        record(http.put(f"/core/conversations/{sender}/messages/{message['timestamp']}"))
                        with lock:
                            flagged.setdefault(sender, set()).add(message["timestamp"])
                    else:
                        record(http.delete(f"/core/conversations/{sender}/messages/{message['timestamp']}"))
                        with lock:
                            flagged.setdefault(sender, set()).discard(message["timestamp"])

    with live_server(db_path) as base:
        threads = [threading.Thread(target=writer, args=(i, base)) for i in range(WRITERS)]
        threads += [threading.Thread(target=reader, args=(i, base)) for i in range(READERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        conversations = httpx.get(f"{base}/core/conversations").json()
        statistics = httpx.get(f"{base}/core/statistics", params={"limit": 1000}).json()
        stored = {c["sender_id"]: httpx.get(f"{base}/core/conversations/{c['sender_id']}/events").json()
                  for c in conversations}

    print(f"\n{served[0]} requests served by {WRITERS} writers and {READERS} readers in {SECONDS:.0f} s; "
          f"{len(sent)} conversations, {sum(map(len, reference.unique_events([{'sender_id': s, 'events': e} for s, e in sent.items()]).values()))} events")
    assert failures == []
    trackers = [{"sender_id": s, "events": e} for s, e in sent.items()]
    expected_events = reference.unique_events(trackers)
    strip = lambda events: sorted((e["timestamp"], e["event"]) for e in events)
    assert {s: strip(e) for s, e in stored.items()} == {s: strip(e) for s, e in expected_events.items()}
    for conversation in conversations:
        wanted = reference.metadata(conversation["sender_id"], expected_events[conversation["sender_id"]])
        assert {k: conversation[k] for k in wanted} == wanted
        assert set(conversation["flagged_messages"]) == flagged.get(conversation["sender_id"], set())
    assert statistics == reference.statistics(trackers, limit=1000)
    assert len(sent) > WRITERS and served[0] > 500
