"""Realistic Rasa conversations for benchmarks, deterministic from a seed.

Shaped like the real trackers in ../shared/rasa-data: each conversation has one or more sessions
(`action_session_start`, `session_started`, `action_listen`), turns of a `user` event (intent with
a confidence, sometimes entities, text), `action` events predicted by one of a few policies (the
memorising ones with confidence 1.0, TEDPolicy with a spread of lower confidences), `bot`
utterances and slot sets, sometimes a restart; users on several input channels, and start times
spread over months. About 25 events per conversation (2.5M events at 100k conversations).

    python bench/generate.py --conversations 100000 --seed 1 > events.jsonl

Writes JSON Lines of broker events (each with its `sender_id`), which `rasa-messaging import`
reads, and `--flags FILE` writes (sender_id, timestamp) pairs of messages to flag.
"""

import argparse
import json
import random
import sys

CHANNELS = ("rest", "socketio", "slack", "facebook", "telegram")
POLICIES = ("policy_0_MemoizationPolicy", "policy_1_TEDPolicy", "policy_2_RulePolicy",
            "policy_3_AugmentedMemoizationPolicy", "policy_4_UnexpecTEDIntentPolicy")
WORDS = ("I", "want", "to", "pay", "my", "credit", "card", "bill", "check", "balance", "transfer", "money",
         "please", "how", "much", "is", "on", "account", "send", "help", "thanks", "the", "for", "last", "month")
DAY = 86_400.0


class Generator:
    def __init__(self, seed: int = 1, *, intents: int = 35, policies: int = 4, months: int = 6):
        self.rng = random.Random(seed)
        self.intents = [f"intent_{i:02d}" for i in range(intents)]
        self.entities = ["account_type", "credit_card", "amount-of-money", "time", "PERSON", "vendor_name"]
        self.policies = POLICIES[:policies]
        self.start = 1_600_000_000.0
        self.span = months * 30 * DAY

    def conversation(self, number: int):
        rng = self.rng
        sender_id = f"{rng.choice(CHANNELS)}-{number:07d}"
        channel = sender_id.split("-")[0]
        clock = self.start + rng.random() * self.span
        events = []

        def emit(event):
            events.append({"sender_id": sender_id, "timestamp": round(clock, 6), **event})

        for session in range(1 if rng.random() < 0.8 else rng.randint(2, 3)):
            emit({"event": "action", "name": "action_session_start", "policy": None, "confidence": 1.0})
            clock += 0.01
            emit({"event": "session_started"})
            clock += 0.01
            emit({"event": "action", "name": "action_listen", "policy": None, "confidence": None})
            for _turn in range(rng.randint(1, 5)):
                clock += rng.uniform(2, 90)
                intent = rng.choice(self.intents)
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12)))
                entities = [{"entity": rng.choice(self.entities), "value": rng.choice(WORDS), "start": 0, "end": 1,
                             "extractor": "DIETClassifier"} for _ in range(rng.choice((0, 0, 0, 1, 2)))]
                emit({"event": "user", "text": text, "input_channel": channel, "message_id": f"{number}-{len(events)}",
                      "metadata": {}, "parse_data": {"intent": {"name": intent, "confidence": round(rng.betavariate(8, 2), 4)},
                                                     "entities": entities, "text": text}})
                for _action in range(rng.randint(1, 2)):
                    clock += rng.uniform(0.05, 0.8)
                    policy = rng.choice(self.policies)
                    confidence = 1.0 if "Memoization" in policy or "Rule" in policy else round(rng.betavariate(5, 2), 4)
                    name = f"utter_{intent[7:]}_{rng.randint(0, 2)}"
                    emit({"event": "action", "name": name, "policy": policy, "confidence": confidence})
                    clock += 0.01
                    emit({"event": "bot", "text": f"Here is what I found about {intent[7:]}.", "data": {},
                          "metadata": {"utter_action": name}})
                if rng.random() < 0.3:
                    emit({"event": "slot", "name": rng.choice(self.entities), "value": rng.choice(WORDS)})
                clock += 0.01
                emit({"event": "action", "name": "action_listen", "policy": rng.choice(self.policies), "confidence": 1.0})
            if rng.random() < 0.05:
                clock += rng.uniform(1, 30)
                emit({"event": "user", "text": "/restart", "input_channel": channel,
                      "parse_data": {"intent": {"name": "restart", "confidence": 1.0}, "entities": []}})
                emit({"event": "action", "name": "action_restart", "policy": "policy_2_RulePolicy", "confidence": 1.0})
                emit({"event": "restart"})
            clock += rng.uniform(1, 20) * DAY  # the user comes back days later
        return sender_id, events

    def flags(self, sender_id, events):
        """About 2% of user messages are worth flagging."""
        return [(sender_id, e["timestamp"]) for e in events if e["event"] == "user" and self.rng.random() < 0.02]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flags", help="also write the messages to flag here, as JSON Lines [sender_id, timestamp]")
    args = parser.parse_args()
    generator = Generator(args.seed)
    flags_out = open(args.flags, "w") if args.flags else None
    for number in range(args.conversations):
        sender_id, events = generator.conversation(number)
        sys.stdout.write("".join(json.dumps(e) + "\n" for e in events))
        if flags_out:
            flags_out.write("".join(json.dumps(flag) + "\n" for flag in generator.flags(sender_id, events)))
    if flags_out:
        flags_out.close()


if __name__ == "__main__":
    main()
