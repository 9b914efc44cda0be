"""Realistic Rasa conversations, deterministic from a seed: for the demo store, the tests and the
benchmark, so that none of them needs anyone's real data.

Shaped like real Rasa 3 trackers: each conversation has one or more sessions
(`action_session_start`, `session_started`, `action_listen`), turns of a `user` event (an intent
with a confidence, entities marked in the text, the text), `action` events predicted by one of a
few policies (the memorising ones with confidence 1.0, TEDPolicy with a spread of lower
confidences), `bot` utterances and slot sets, sometimes a restart; users on several input
channels, and start times spread over months. About 25 events per conversation. With
`calm_share`, that share are Rasa Pro CALM conversations instead (rasa_messaging/generate_calm.py).

    python -m rasa_messaging.generate --conversations 1000 --seed 1 > events.jsonl

writes JSON Lines of broker events (each with its `sender_id`), which `rasa-messaging import`
reads; `--flags FILE` writes (sender_id, timestamp) pairs of messages worth flagging.
"""

import argparse
import json
import random
import sys

from .generate_calm import CalmConversation

CHANNELS = ("rest", "socketio", "slack", "facebook", "telegram")
POLICIES = ("policy_0_MemoizationPolicy", "policy_1_TEDPolicy", "policy_2_RulePolicy",
            "policy_3_AugmentedMemoizationPolicy", "policy_4_UnexpecTEDIntentPolicy")
DAY = 86_400.0

# What users of a banking assistant say: (intent, phrasings). `{name}` is an entity's value.
PHRASES = {
    "greet": ["hi", "hello there", "good morning", "hey bot"],
    "goodbye": ["bye", "see you later", "that's all, goodbye"],
    "affirm": ["yes", "yes please", "correct", "sure thing"],
    "deny": ["no", "no thanks", "that's not right"],
    "thankyou": ["thanks", "thank you so much", "cheers"],
    "check_balance": ["what's my {account_type} balance", "how much money is on my {account_type} account",
                      "show me my balance"],
    "transfer_money": ["I want to transfer money to {PERSON}", "send {amount-of-money} to {PERSON}",
                       "transfer {amount-of-money} please"],
    "pay_cc": ["I want to pay my {credit_card} card bill", "pay off my {credit_card} card",
               "make a credit card payment of {amount-of-money}"],
    "check_earnings": ["how much did I earn {time}", "what came in {time}"],
    "search_transactions": ["how much did I spend at {vendor_name}", "show my {vendor_name} transactions {time}"],
    "check_recipients": ["who can I send money to", "list my payees"],
    "ask_transfer_charge": ["is there a fee for transfers", "how much does a transfer cost"],
    "inform": ["{PERSON}", "{amount-of-money}", "my {account_type} account", "{time}"],
    "help": ["help", "what can you do", "I need help with my account"],
    "human_handoff": ["let me talk to a human", "can I speak to a real person"],
    "bot_challenge": ["are you a bot?", "am I talking to a human"],
    "out_of_scope": ["what's the weather like", "order me a pizza", "tell me a joke"],
    "check_human": ["is this a person", "are you human"],
    "open_ticket": ["my card was stolen", "I want to report a problem with my {credit_card} card"],
    "check_ticket_status": ["what's the status of my ticket", "any news on my incident"],
    "password_reset": ["I forgot my password", "reset my password please"],
    "problem_email": ["I can't get into my email", "my email is not working"],
    "change_address": ["I moved, update my address", "change my address to {vendor_name} street"],
    "card_limit": ["raise my {credit_card} card limit", "what is my card limit"],
    "block_card": ["block my {credit_card} card", "freeze my card now"],
    "open_account": ["open a new {account_type} account", "I'd like a {account_type} account"],
    "close_account": ["close my {account_type} account", "I want to cancel my account"],
    "loan_info": ["can I get a loan", "what are your loan rates"],
    "exchange_rate": ["what's the exchange rate for {amount-of-money}", "how many euros is {amount-of-money}"],
    "atm_location": ["where is the nearest ATM", "find an ATM near {vendor_name}"],
    "statement": ["send me my statement for {time}", "I need a bank statement"],
    "dispute_charge": ["I don't recognise a charge from {vendor_name}", "dispute a transaction"],
    "chitchat": ["how are you", "what's your name", "you're funny"],
    "feedback": ["this was helpful", "this is useless"],
    "restart_conversation": ["start over", "let's begin again"],
}
ENTITY_VALUES = {
    "account_type": ["checking", "savings", "credit"],
    "PERSON": ["Latisha", "Percy", "Sophie", "Ahmed", "Jürgen"],
    "amount-of-money": ["$50", "100 dollars", "€20", "2500"],
    "credit_card": ["emblem", "iron bank", "justice bank", "gringotts"],
    "time": ["last month", "yesterday", "this week", "in March"],
    "vendor_name": ["Starbucks", "Amazon", "Target", "Shell"],
}


class Generator:
    def __init__(self, seed: int = 1, *, policies: int = 4, months: int = 6, start: float = 1_600_000_000.0,
                 calm_share: float = 0.0):
        self.rng = random.Random(seed)
        self.calm_share = calm_share  # of the conversations, Rasa Pro CALM ones (rasa_messaging/generate_calm.py)
        self.intents = list(PHRASES)
        self.policies = POLICIES[:policies]
        self.start = start
        self.span = months * 30 * DAY

    def utterance(self, intent: str) -> tuple[str, list[dict]]:
        """A phrasing of `intent` with its entities' values filled in, and the entities with their
        positions in the text (as Rasa's NLU reports them)."""
        template = self.rng.choice(PHRASES[intent])
        text, entities = "", []
        for index, part in enumerate(template.replace("}", "{").split("{")):
            if index % 2:  # an entity's name
                value = self.rng.choice(ENTITY_VALUES[part])
                entities.append({"entity": part, "value": value, "start": len(text), "end": len(text) + len(value),
                                 "confidence_entity": round(self.rng.uniform(0.7, 1.0), 4),
                                 "extractor": "DIETClassifier"})
                text += value
            else:
                text += part
        return text, entities

    def conversation(self, number: int) -> tuple[str, list[dict]]:
        rng = self.rng
        if self.calm_share and rng.random() < self.calm_share:
            return CalmConversation(self, number).events_of()
        sender_id = f"{rng.choice(CHANNELS)}-{number:07d}"
        channel = sender_id.split("-")[0]
        clock = self.start + rng.random() * self.span
        events: list[dict] = []

        def emit(event):
            events.append({"sender_id": sender_id, "timestamp": round(clock, 6), **event})

        for _session in range(1 if rng.random() < 0.8 else rng.randint(2, 3)):
            emit({"event": "action", "name": "action_session_start", "policy": None, "confidence": 1.0})
            clock += 0.01
            emit({"event": "session_started"})
            clock += 0.01
            emit({"event": "action", "name": "action_listen", "policy": None, "confidence": None})
            for _turn in range(rng.randint(1, 5)):
                clock += rng.uniform(2, 90)
                intent = rng.choice(self.intents)
                text, entities = self.utterance(intent)
                confidence = round(rng.betavariate(8, 2), 4)
                ranking = [{"name": intent, "confidence": confidence}] + [
                    {"name": other, "confidence": round((1 - confidence) / 2, 4)} for other in rng.sample(self.intents, 2)
                    if other != intent]
                emit({"event": "user", "text": text, "input_channel": channel, "message_id": f"{number}-{len(events)}",
                      "metadata": {}, "parse_data": {"intent": {"name": intent, "confidence": confidence},
                                                     "entities": entities, "text": text,
                                                     "intent_ranking": ranking}})
                for _action in range(rng.randint(1, 2)):
                    clock += rng.uniform(0.05, 0.8)
                    policy = rng.choice(self.policies)
                    action_confidence = 1.0 if "Memoization" in policy or "Rule" in policy else round(
                        rng.betavariate(5, 2), 4)
                    name = f"utter_{intent}" if rng.random() < 0.7 else f"action_{intent}"
                    emit({"event": "action", "name": name, "policy": policy, "confidence": action_confidence})
                    clock += 0.01
                    emit({"event": "bot", "text": _bot_text(intent), "data": {},
                          "metadata": {"utter_action": name}})
                if entities and rng.random() < 0.5:
                    emit({"event": "slot", "name": entities[0]["entity"], "value": entities[0]["value"]})
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

    def flags(self, sender_id: str, events: list[dict]) -> list[tuple[str, float]]:
        """About 2% of user messages are worth flagging."""
        return [(sender_id, e["timestamp"]) for e in events if e["event"] == "user" and self.rng.random() < 0.02]

    def trackers(self, conversations: int) -> list[dict]:
        """`conversations` tracker dumps (`{"sender_id", "events"}`, events without `sender_id`)."""
        return [{"sender_id": sender_id, "events": [{k: v for k, v in e.items() if k != "sender_id"} for e in events]}
                for sender_id, events in map(self.conversation, range(conversations))]


def _bot_text(intent: str) -> str:
    return f"Here is what I can do about {intent.replace('_', ' ')}."


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000, help="how many conversations (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same data (default 1)")
    parser.add_argument("--flags", help="also write the messages to flag here, as JSON Lines [sender_id, timestamp]")
    parser.add_argument("--calm-share", type=float, default=0.0,
                        help="the share of Rasa Pro CALM conversations, 0 to 1 (default 0: Rasa 3 only)")
    args = parser.parse_args()
    generator = Generator(args.seed, calm_share=args.calm_share)
    flags_out = open(args.flags, "w") if args.flags else None
    for number in range(args.conversations):
        sender_id, events = generator.conversation(number)
        sys.stdout.write("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
        if flags_out:
            flags_out.write("".join(json.dumps(flag) + "\n" for flag in generator.flags(sender_id, events)))
    if flags_out:
        flags_out.close()


if __name__ == "__main__":
    main()
