"""Realistic trackers generated from the real conversation tests in ../shared/rasa-data.

Each test story becomes one conversation, as Rasa would record it: a session start, `user`
events with parse data (intent, confidence, entities from the story's annotations), `action`
events with a policy and confidence, `bot` events with the domain's response text, slot and
active-loop events. Deterministic (seeded), with the features real data has: some conversations
fully memorised, others predicted by TEDPolicy with lower confidence, restarts, second sessions,
several input channels, and events listed out of timestamp order.
"""

import json
import random
import re
from pathlib import Path

import yaml

from .conftest import RASA_DATA

CONVERSATION_TESTS = [
    RASA_DATA / "financial-demo" / "tests" / "test_stories.yml",
    RASA_DATA / "helpdesk-assistant" / "tests" / "test_conversations.yml",
]
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\(([^)]+)\)|(\{[^}]+\}))")
CHANNELS = ("rest", "socketio", "slack")


def parse_annotated(text: str):
    """`What's my [emblem](credit_card) card` → plain text and Rasa entities."""
    plain, entities, cursor = "", [], 0
    for match in _ANNOTATION.finditer(text):
        plain += text[cursor:match.start()]
        value = match.group(1)
        if match.group(2):  # (entity) or Rasa 1's (entity:synonym)
            entity, _, synonym = match.group(2).partition(":")
            entity_value = synonym or value
        else:
            spec = json.loads(match.group(3))
            entity, entity_value = spec["entity"], spec.get("value", value)
        entities.append({"entity": entity, "value": entity_value, "start": len(plain),
                         "end": len(plain) + len(value), "extractor": "DIETClassifier"})
        plain += value
        cursor = match.end()
    return plain + text[cursor:], entities


def _responses(domain_path: Path) -> dict:
    domain = yaml.safe_load(domain_path.read_text())
    return {name: (variants[0].get("text") if variants else None)
            for name, variants in (domain.get("responses") or {}).items()}


class _Recorder:
    def __init__(self, sender_id, start, rng):
        self.sender_id, self.now, self.rng, self.events = sender_id, start, rng, []

    def emit(self, event: dict) -> dict:
        self.now += round(self.rng.uniform(0.001, 2.5), 6)
        event = {"event": event.pop("event"), "timestamp": round(self.now, 6), **event}
        self.events.append(event)
        return event

    def action(self, name, policy, confidence):
        self.emit({"event": "action", "name": name, "policy": policy, "confidence": confidence})

    def session_start(self):
        self.action("action_session_start", None, 1.0)
        self.emit({"event": "session_started"})
        self.action("action_listen", None, None)


def story_tracker(story: dict, index: int, responses: dict, rng: random.Random) -> dict:
    sender_id = f"{re.sub(r'[^a-z0-9]+', '-', story['story'].lower()).strip('-')}-{index}"
    memorised = index % 3 != 1  # every third conversation leaves the training data
    channel = CHANNELS[index % len(CHANNELS)]
    rec = _Recorder(sender_id, 1_600_000_000 + index * 86_400 * 3 + rng.uniform(0, 3600), rng)

    def policy():
        if memorised:
            return ("policy_0_MemoizationPolicy", 1.0) if index % 2 else ("RulePolicy", 1.0)
        return ("policy_1_TEDPolicy", round(rng.uniform(0.35, 0.99), 4))

    rec.session_start()
    for step in story["steps"]:
        if "intent" in step:
            text, entities = parse_annotated(step.get("user", f"/{step['intent']}"))
            confidence = round(rng.uniform(0.5, 1.0), 4)
            rec.emit({"event": "user", "text": text, "input_channel": channel, "message_id": f"{sender_id}-{len(rec.events)}",
                      "metadata": {}, "parse_data": {
                          "intent": {"name": step["intent"], "confidence": confidence},
                          "entities": entities, "text": text,
                          "intent_ranking": [{"name": step["intent"], "confidence": confidence}]}})
        elif "action" in step:
            name, (policy_name, confidence) = step["action"], policy()
            rec.action(name, policy_name, confidence)
            if name.startswith("utter_"):
                rec.emit({"event": "bot", "text": responses.get(name) or name, "data": {}, "metadata": {"utter_action": name}})
        elif "active_loop" in step:
            rec.emit({"event": "active_loop", "name": step["active_loop"]})
        elif "slot_was_set" in step:
            for slot in step["slot_was_set"]:
                name, value = next(iter(slot.items())) if isinstance(slot, dict) else (slot, True)
                rec.emit({"event": "slot", "name": name, "value": value})
        if "action" in step:
            rec.action("action_listen", *policy())
    if index % 5 == 0:  # the user restarts, then talks again in the fresh conversation
        rec.emit({"event": "user", "text": "/restart", "input_channel": channel, "parse_data": {
            "intent": {"name": "restart", "confidence": 1.0}, "entities": [], "text": "/restart"}})
        rec.action("action_restart", "RulePolicy", 1.0)
        rec.emit({"event": "restart"})
        rec.session_start()
        rec.emit({"event": "user", "text": "hi again", "input_channel": "rest", "parse_data": {
            "intent": {"name": "greet", "confidence": 0.97}, "entities": [], "text": "hi again"}})
        rec.action("utter_greet", *policy())
        rec.emit({"event": "bot", "text": responses.get("utter_greet") or "Hi!", "data": {}})
    events = rec.events[:]
    for i in range(1, len(events) - 1, 7):  # real trackers list some events out of order
        events[i], events[i + 1] = events[i + 1], events[i]
    return {"sender_id": sender_id, "events": events}


def generated_trackers(seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    trackers = []
    for path in CONVERSATION_TESTS:
        responses = _responses(path.parent.parent / "domain.yml")
        for story in yaml.safe_load(path.read_text())["stories"]:
            trackers.append(story_tracker(story, len(trackers), responses, rng))
    return trackers
