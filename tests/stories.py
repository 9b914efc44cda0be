"""Reading the real Rasa stories (Markdown 1.x and YAML 2/3) as comparable steps, and turning a
linear story into the events Rasa would record for it. Test-side: it shares no code with the
dump writers it checks."""

import json
import re
from dataclasses import dataclass, field

import yaml

from .conftest import RASA_DATA
from .story_trackers import parse_annotated


def _existing(paths) -> list:
    return sorted(path for path in paths if path.is_file())


MARKDOWN_STORY_FILES = _existing(
    [*RASA_DATA.glob("*@md/data/stories/*.md"), *RASA_DATA.glob("*@md/tests/*.md"),
     RASA_DATA / "rasa" / "examples" / "moodbot" / "data" / "stories.md",
     RASA_DATA / "rasa" / "data" / "test_evaluations" / "end_to_end_story.md"])
YAML_STORY_FILES = _existing(
    [*RASA_DATA.glob("financial-demo/data/stories/*.yml"), *RASA_DATA.glob("*/tests/*.yml"),
     RASA_DATA / "helpdesk-assistant" / "data" / "stories.yml",
     RASA_DATA / "helpdesk-assistant" / "data" / "handoff.yml",
     RASA_DATA / "rasa" / "examples" / "moodbot" / "data" / "stories.yml"])


@dataclass
class Story:
    file: str
    name: str
    steps: list = field(default_factory=list)
    not_linear: str = ""  # why it cannot be one recorded conversation
    spans: dict = field(default_factory=dict)  # step index → entities with their start/end in the text

    @property
    def id(self):
        return f"{self.file}::{self.name}"


def _label(path) -> str:
    return str(path.relative_to(RASA_DATA)) if path.is_relative_to(RASA_DATA) else path.name


def _user(intent, entities, text):
    return ("user", intent, tuple(sorted((e, json.dumps(v)) for e, v in entities)), text)


def parse_markdown(path) -> list[Story]:
    stories, story = [], None
    for line in path.read_text().splitlines():
        s = re.sub(r"<!--.*?-->", "", line).strip()
        if not s:
            continue
        if s.startswith("## "):
            story = Story(_label(path), s[3:].strip())
            stories.append(story)
        elif s.startswith(">"):
            story.not_linear = "checkpoint"
        elif s.startswith("* "):
            body = s[2:]
            if " OR " in body:
                story.not_linear = "OR step"
                continue
            body = body.removeprefix("form: ")  # Rasa 1: a turn handled inside an active form
            intent, entities_json, text = re.match(r"^([^{:\s]+)(\{.*\})?(?::\s*(.*))?$", body).groups()
            entities = list(json.loads(entities_json).items()) if entities_json else []
            plain = None
            if text:
                plain, annotated = parse_annotated(text)
                entities += [(e["entity"], e["value"]) for e in annotated]
                story.spans[len(story.steps)] = annotated
            story.steps.append(_user(intent, entities, plain))
        elif s.startswith("- "):
            body = s[2:].strip()
            if body.startswith("slot{"):
                story.steps += [("slot", k, v) for k, v in json.loads(body[4:]).items()]
            elif body.startswith("form{"):
                story.steps.append(("loop", json.loads(body[4:])["name"]))
            elif body == "restart":
                story.steps.append(("restart",))
            else:
                story.steps.append(("action", body.removeprefix("form: ")))
    return stories


def parse_yaml(path) -> list[Story]:
    stories = []
    for item in yaml.safe_load(path.read_text()).get("stories") or []:
        story = Story(_label(path), item["story"])
        stories.append(story)
        for step in item["steps"]:
            if "or" in step:
                story.not_linear = "OR step"
            elif "checkpoint" in step:
                story.not_linear = "checkpoint"
            elif "intent" in step:
                plain, annotated = parse_annotated(step["user"]) if "user" in step else (None, [])
                entities = [(e["entity"], e["value"]) for e in annotated]
                for entity in step.get("entities") or []:
                    entities += entity.items() if isinstance(entity, dict) else [(entity, None)]
                story.spans[len(story.steps)] = annotated
                story.steps.append(_user(step["intent"], entities, plain))
            elif "action" in step:
                story.steps.append(("action", step["action"]))
            elif "slot_was_set" in step:
                for slot in step["slot_was_set"]:
                    story.steps += [("slot", k, v) for k, v in slot.items()] if isinstance(slot, dict) else [("slot", slot, None)]
            elif "active_loop" in step:
                story.steps.append(("loop", step["active_loop"]))
            else:
                story.not_linear = f"unsupported step {sorted(step)}"
    return stories


def story_events(story: Story, *, loop_event: str, start: float = 1_700_000_000.0) -> list[dict]:
    """The events Rasa records for a linear story (`loop_event`: `form` in Rasa 1, `active_loop` later)."""
    events, clock = [], start

    def emit(event):
        nonlocal clock
        clock += 0.25
        events.append({"event": event.pop("event"), "timestamp": clock, **event})

    for index, step in enumerate(story.steps):
        if step[0] == "user":
            _, intent, entities, text = step
            entity_list = [{"entity": e, "value": json.loads(v)} for e, v in entities]
            emit({"event": "action", "name": "action_listen", "policy": "RulePolicy", "confidence": 1.0})
            if text is None:
                payload = json.dumps({e["entity"]: e["value"] for e in entity_list}) if entity_list else ""
                text = f"/{intent}{payload}"
            else:  # as an NLU pipeline reports them: the span of each entity's surface text
                spanned = story.spans.get(index, [])
                entity_list = spanned + [e for e in entity_list if e not in
                                         [{"entity": s["entity"], "value": s["value"]} for s in spanned]]
            emit({"event": "user", "text": text, "parse_data": {
                "intent": {"name": intent, "confidence": 1.0}, "entities": entity_list, "text": text}})
        elif step[0] == "action":
            emit({"event": "action", "name": step[1], "policy": "policy_0_MemoizationPolicy", "confidence": 1.0})
        elif step[0] == "slot":
            emit({"event": "slot", "name": step[1], "value": step[2]})
        elif step[0] == "loop":
            emit({"event": loop_event, "name": step[1]})
        elif step[0] == "restart":
            emit({"event": "restart"})
    return events
