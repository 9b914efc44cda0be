"""The benchmark's second data set: real Rasa trackers from ../shared/rasa-data, scaled up.

The base conversations are the real ones this team has: Rasa's tracker dumps
(`rasa/data/test_trackers`) and the conversations of the demo bots' conversation tests, recorded
as Rasa would (tests/story_trackers.py). A real user rarely stops after one task, so each
benchmark conversation joins two or three base conversations into one, and its user messages
carry the parse data Rasa 3 records: a ten-intent ranking, entities and a response selector.
Conversation `n` then gets a sender id of its own and its times shifted into a 90-day span, as
the issue asks ("new sender ids and shifted times").

Real bots vary where the base conversations do not (issue 42: on another team's real set,
`in_training_data=false` was 5x slower at 100k than at 10k, and the store 1.7x its JSON Lines;
this set, all alike, showed neither). So each conversation also draws (`_vary`):
- whether it stays inside the training data (`IN_TRAINING_SHARE`): then every action is
  predicted by a memorising policy, as a well-trained bot's are; otherwise its predictions stay
  as recorded (TEDPolicy's among them) and some go to UnexpecTEDIntentPolicy;
- the policies' names as an ensemble writes them, with or without the `policy_N_` prefix;
- how long its users write: a user message is lengthened with what users add to a log-normal
  length in words (median 6), where the recorded text is shorter.

What this gives (`python bench/real_trackers.py --conversations 1000 --describe`): 39 events a
conversation, `transfer_money` in 69%, 37% outside the training data (before: 93%), user
messages of 9 / 21 / 53 words at p50 / p90 / p99 (before: 2 / 7 / 8), RulePolicy in 85% of the
conversations, TEDPolicy in 36%, UnexpecTEDIntentPolicy in 27%. Without ../shared the benchmark
says so and runs the generated set only.
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
# The share of conversations whose every action a memorising policy predicted.
IN_TRAINING_SHARE = 0.45
MEMORISING = ("MemoizationPolicy", "AugmentedMemoizationPolicy", "RulePolicy")
# What users add to a message, to make the long ones.
ADDED = ("and I already tried that yesterday", "but the app keeps saying something went wrong",
         "can you please check my account", "it is really urgent because I travel tomorrow",
         "my card number ends with 4411", "I called your hotline twice and nobody answered",
         "thanks in advance", "is there any fee for this", "from my savings account to my partner",
         "the amount was 250 euros", "sorry for my english", "this is the third time I ask")


def _policy_name(name: str, position: int, prefixed: bool) -> str:
    return f"policy_{position}_{name}" if prefixed else name


def _lengthened(text: str | None, rng: random.Random) -> str | None:
    """`text` with what users add, to a log-normal length in words (median 6)."""
    if not text:
        return text
    words = text.split()
    target = int(rng.lognormvariate(1.8, 0.9))
    while len(words) < target:
        words += rng.choice(ADDED).split()
    return " ".join(words)


def _vary(events: list[dict], rng: random.Random) -> list[dict]:
    """One conversation's share of what varies between real bots (see the module docstring)."""
    in_training = rng.random() < IN_TRAINING_SHARE
    prefixed = rng.random() < 0.5
    varied = []
    for event in events:
        if event["event"] == "action" and event.get("policy"):
            if in_training:
                name = rng.choice(MEMORISING)
                event = {**event, "policy": _policy_name(name, MEMORISING.index(name), prefixed), "confidence": 1.0}
            elif "TEDPolicy" in event["policy"] and rng.random() < 0.2:
                event = {**event, "policy": _policy_name("UnexpecTEDIntentPolicy", 3, prefixed),
                         "confidence": round(rng.uniform(0.3, 0.95), 6)}
        elif event["event"] == "user":
            text = _lengthened(event.get("text"), rng)
            event = {**event, "text": text, "parse_data": {**event["parse_data"], "text": text}}
        varied.append(event)
    return varied


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
        return sender_id, _vary(events, rng)

    def write_jsonl(self, out) -> int:
        """Write every conversation's events as JSON Lines; returns the number of events."""
        n_events = 0
        for number in range(self.conversations):
            _, events = self.conversation(number)
            out.write("".join(json.dumps(event) + "\n" for event in events))
            n_events += len(events)
        return n_events


def describe(data: RealTrackers) -> str:
    from rasa_messaging.store.events import MEMORISING_POLICIES, normalise_policy

    intents, policies, lengths, n_events, outside = Counter(), Counter(), [], 0, 0
    for number in range(data.conversations):
        _, events = data.conversation(number)
        n_events += len(events)
        intents.update({e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"})
        used = {normalise_policy(e["policy"]) for e in events if e["event"] == "action" and e.get("policy")}
        policies.update(used)
        outside += bool(used - MEMORISING_POLICIES)
        lengths += [len(e["text"].split()) for e in events if e["event"] == "user" and e.get("text")]
    (top, top_count), = intents.most_common(1)
    lengths.sort()
    n = data.conversations
    return (f"{n:,} conversations from {len(data.bases)} real ones, {n_events / n:.1f} events each; "
            f"'{top}' in {top_count / n:.0%}; outside the training data {outside / n:.0%}; "
            f"user message words p50 {lengths[len(lengths) // 2]}, p90 {lengths[len(lengths) * 9 // 10]}, "
            f"p99 {lengths[len(lengths) * 99 // 100]}; policies (share of conversations): "
            + ", ".join(f"{name} {count / n:.0%}" for name, count in policies.most_common()))


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
