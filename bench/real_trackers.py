"""The benchmark's second data set: real Rasa trackers from ../shared/rasa-data, scaled up.

The base conversations are the real ones this team has: Rasa's tracker dumps
(`rasa/data/test_trackers`) and the conversations of the demo bots' conversation tests, recorded
as Rasa would (tests/story_trackers.py). A real user rarely stops after one task, so each
benchmark conversation joins two or three base conversations into one, and its user messages
carry the parse data Rasa 3 records: a ten-intent ranking, entities and a response selector.
Conversation `n` then gets a sender id of its own and its times shifted into a 90-day span, as
the issue asks ("new sender ids and shifted times").

What this gives (printed by `python bench/real_trackers.py --conversations 1000 --describe`):
about 42 events per conversation, the most common intent (`transfer_money`) in most of them,
TEDPolicy in about half. Without ../shared the benchmark says so and runs the generated set only.
"""

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import RASA_DATA, REAL_DATA_PRESENT  # noqa: E402

SPAN = 90 * 86_400.0
START = 1_690_000_000.0


def base_conversations() -> list[list[dict]]:
    """The events of every real base conversation, each sorted by time and starting at 0."""
    from tests.story_trackers import generated_trackers
    dumps = sorted((RASA_DATA / "rasa" / "data" / "test_trackers").glob("*.json"))
    trackers = [json.loads(path.read_text()) for path in dumps] + generated_trackers()
    bases = []
    for tracker in trackers:
        events = sorted(tracker["events"], key=lambda e: e["timestamp"])
        first = events[0]["timestamp"]
        bases.append([{**event, "timestamp": event["timestamp"] - first} for event in events])
    return bases


def _intents(bases) -> list[str]:
    return sorted({e["parse_data"]["intent"]["name"] for events in bases for e in events
                   if e["event"] == "user" and e.get("parse_data", {}).get("intent")})


def _rasa3_parse_data(event: dict, intents: list[str], rng: random.Random) -> dict:
    """The user event with the parse data Rasa 3 writes: ranking, response selector, metadata."""
    parse_data = dict(event.get("parse_data") or {})
    intent = parse_data.get("intent") or {"name": "nlu_fallback", "confidence": 1.0}
    others = rng.sample([name for name in intents if name != intent["name"]], 9)
    rest, ranking = 1.0 - intent["confidence"], []
    for name in others:
        share = round(rest * rng.uniform(0.2, 0.6), 6)
        rest -= share
        ranking.append({"id": rng.getrandbits(62), "name": name, "confidence": share})
    parse_data.update({
        "text": event.get("text"),
        "intent": {"id": rng.getrandbits(62), **intent},
        "intent_ranking": [{"id": rng.getrandbits(62), **intent}, *ranking],
        "entities": [{**entity, "confidence_entity": round(rng.uniform(0.8, 1.0), 6),
                      "processors": ["EntitySynonymMapper"]} for entity in parse_data.get("entities") or []],
        "response_selector": {"all_retrieval_intents": ["chitchat", "faq"], "default": {
            "response": {"id": None, "responses": None, "response_templates": None, "confidence": 0.0,
                         "intent_response_key": None, "utter_action": "utter_None",
                         "template_name": "utter_None"}, "ranking": []}},
        "message_id": event.get("message_id"),
        "metadata": {},
    })
    return {**event, "parse_data": parse_data}


class RealTrackers:
    """`conversation(n)` → (sender_id, events), deterministic in `n` for a given number of them."""

    def __init__(self, conversations: int, seed: int = 3):
        self.bases = base_conversations()
        self.intents = _intents(self.bases)
        self.conversations, self.seed = conversations, seed

    def conversation(self, number: int) -> tuple[str, list[dict]]:
        rng = random.Random(self.seed * 1_000_003 + number)
        sender_id = f"real-{number:07d}-{rng.getrandbits(32):08x}"
        start = START + SPAN * number / self.conversations + rng.uniform(0, 600)
        events, offset = [], 0.0
        for part, base in enumerate(rng.sample(self.bases, rng.choice((2, 2, 3)))):
            for event in base:
                if part and (event["event"] == "session_started" or event.get("name") == "action_session_start"):
                    continue  # one session: the later tasks continue it
                event = {**event, "timestamp": round(start + offset + event["timestamp"], 6)}
                if event["event"] == "user":
                    event = _rasa3_parse_data(event, self.intents, rng)
                events.append({**event, "sender_id": sender_id})
            offset += base[-1]["timestamp"] + rng.uniform(5, 120)
        return sender_id, events

    def write_jsonl(self, out) -> int:
        """Write every conversation's events as JSON Lines; returns the number of events."""
        n_events = 0
        for number in range(self.conversations):
            _, events = self.conversation(number)
            out.write("".join(json.dumps(event) + "\n" for event in events))
            n_events += len(events)
        return n_events


def describe(data: RealTrackers) -> str:
    intents, policies, n_events = Counter(), Counter(), 0
    for number in range(data.conversations):
        _, events = data.conversation(number)
        n_events += len(events)
        intents.update({e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"})
        policies.update({e["policy"] for e in events if e["event"] == "action" and e.get("policy")})
    (top, top_count), = intents.most_common(1)
    ted = sum(count for policy, count in policies.items() if "TEDPolicy" in policy)
    return (f"{data.conversations:,} conversations from {len(data.bases)} real ones, "
            f"{n_events / data.conversations:.1f} events each; '{top}' in {top_count / data.conversations:.0%}, "
            f"TEDPolicy in {ted / data.conversations:.0%}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--describe", action="store_true", help="print what the data set holds instead of it")
    args = parser.parse_args()
    if not REAL_DATA_PRESENT:
        sys.exit(f"no real Rasa data at {RASA_DATA}")
    data = RealTrackers(args.conversations)
    if args.describe:
        print(describe(data))
    else:
        data.write_jsonl(sys.stdout)


if __name__ == "__main__":
    main()
