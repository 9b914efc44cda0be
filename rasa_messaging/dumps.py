"""Debug dumps: one conversation as a download, in the formats Rasa users paste or load back.

- Markdown: a Rasa 1.x story (`* intent{entities}`, `    - action`, `    - slot{...}`), as
  Rasa X's debug dump gave it.
- YAML: a Rasa 2/3 story (`stories: - story: ... steps:`), to paste into training data.
`action_listen`, `action_session_start`, bot utterances and `session_started` are not story steps
and are left out, as Rasa's own story writers leave them out.
- Test stories (rasa_messaging/training_data.py): the YAML story as Rasa's test stories have it, each user
  message a `- user: |` step with its text (entities marked up) and its `intent:`, so that
  `rasa test` checks the NLU as well as the dialogue.
"""

import json
import re
import urllib.parse

from . import yaml_text
from .yaml_text import UserText

_UNSAFE_NAME = re.compile(r"[\s{}\[\]()*]+")
_LOOP_EVENTS = ("form", "active_loop")
# Events written as a bare `    - <event>` line in a Markdown story.
_MARKDOWN_BARE_EVENTS = ("restart", "reset_slots", "pause", "resume")
_NOT_STEPS = ("action_listen", "action_session_start")
_PLAIN_ENTITY = re.compile(r"[\w.-]+\Z")  # an entity name Rasa's `[text](entity)` reads as it is


def attachment(filename: str) -> str:
    """A Content-Disposition header for any file name (RFC 6266): an ASCII `filename` that no
    quote, slash or line break can break, plus `filename*` with the exact UTF-8 name."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


def _name(value) -> str:
    """An intent or action name that cannot break a story line."""
    return _UNSAFE_NAME.sub("_", str(value)) if value not in (None, "") else "None"


def _intent(event: dict):
    intent = (event.get("parse_data") or {}).get("intent") or {}
    return intent.get("name") if isinstance(intent, dict) else None


def _entities(event: dict) -> list[dict]:
    entities = (event.get("parse_data") or {}).get("entities") or []
    return [e for e in entities if isinstance(e, dict) and isinstance(e.get("entity"), str)]


# Inside the JSON strings of entity markup, also escaped: what would end a line, or the markup
# itself (Rasa finds `{...}` by the next `}`). JSON's \uXXXX reads back as the same character.
_MARKUP_ESCAPED = re.compile("[\x7f-\x9f\u2028\u2029\ufeff{}]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _json(value) -> str:
    """`value` as JSON for a story line or entity markup (C0 controls JSON escapes itself)."""
    return _JSON_STRING.sub(lambda string: _MARKUP_ESCAPED.sub(lambda m: f"\\u{ord(m[0]):04x}", string[0]),
                            json.dumps(value, ensure_ascii=False))


def markdown_story(sender_id: str, events: list[dict]) -> str:
    lines = [f"## {' '.join(str(sender_id).split()) or '_'}"]
    for event in events:
        kind = event.get("event")
        if kind == "user":
            entities = {e["entity"]: e.get("value") for e in _entities(event)}
            lines.append(f"* {_name(_intent(event))}{_json(entities) if entities else ''}")
        elif kind == "action" and event.get("name") not in _NOT_STEPS:
            lines.append(f"    - {_name(event.get('name'))}")
        elif kind == "slot":
            lines.append(f"    - slot{_json({str(event.get('name')): event.get('value')})}")
        elif kind in _LOOP_EVENTS:
            lines.append(f"    - form{_json({'name': event.get('name')})}")
        elif kind == "followup":
            lines.append(f"    - followup{_json({'name': event.get('name')})}")
        elif kind in _MARKDOWN_BARE_EVENTS:
            lines.append(f"    - {kind}")
    return "\n".join(lines) + "\n"


def marked_up(text: str, entities: list[dict]):
    """The user text with entities marked up as Rasa's YAML reader reads them, or None if an
    entity has no usable position in the text."""
    pieces, cursor = [], 0
    for entity in sorted(entities, key=lambda e: e.get("start") if isinstance(e.get("start"), int) else -1):
        start, end = entity.get("start"), entity.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and cursor <= start < end <= len(text)):
            return None
        surface, value = text[start:end], entity.get("value")
        extra = {key: entity[key] for key in ("role", "group") if entity.get(key) is not None}
        markup = f"({entity['entity']})" if value == surface and not extra and _PLAIN_ENTITY.match(entity["entity"]) \
            else _json(
            {"entity": entity["entity"], **({"value": value} if value != surface else {}), **extra})
        pieces += [text[cursor:start], f"[{surface}]{markup}"]
        cursor = end
    return "".join(pieces) + text[cursor:]


def _user_step(event: dict) -> dict:
    step = {"intent": _intent(event)}
    text, entities = event.get("text"), _entities(event)
    annotated = marked_up(text, entities) if isinstance(text, str) and text and not text.startswith("/") else None
    if annotated is not None:
        step["user"] = annotated
    elif entities:
        step["entities"] = [{e["entity"]: e.get("value")} for e in entities]
    return step


def _test_user_step(event: dict) -> dict:
    """`user: |` with the text (entities marked up, as in NLU data), then `intent:`. A text whose
    entities have no usable position is written plain, its entities listed beside it."""
    step: dict = {}
    text, entities = event.get("text"), _entities(event)
    if isinstance(text, str) and text.strip():
        annotated = marked_up(text, entities)
        step["user"] = UserText(text if annotated is None else annotated)
        if annotated is None and entities:
            step["entities"] = [{e["entity"]: e.get("value")} for e in entities]
    step["intent"] = _intent(event)
    return step


def story_steps(events: list[dict], *, test_story: bool = False) -> list[dict]:
    steps = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            steps.append(_test_user_step(event) if test_story else _user_step(event))
        elif kind == "action" and event.get("name") not in _NOT_STEPS:
            steps.append({"action": event.get("name")})
        elif kind == "slot":
            steps.append({"slot_was_set": [{event.get("name"): event.get("value")}]})
        elif kind in _LOOP_EVENTS:
            steps.append({"active_loop": event.get("name")})
    return steps


def yaml_story(sender_id: str, events: list[dict]) -> str:
    return stories_file([story_text({"story": str(sender_id), "steps": story_steps(events)})])


def story_text(story: dict) -> str:
    """One story as an item of a stories file's `stories:` list, written on its own (so that one
    that cannot be written leaves the others whole: `test_stories_yaml`). rasa_messaging/
    yaml_text.py: it reads back as written, whatever the text."""
    return yaml_text.dump([story])


def stories_file(stories: list[str]) -> str:
    """A Rasa 3 stories file of `story_text`s."""
    return yaml_text.dump({"version": "3.1"}) + ("stories:\n" + "".join(stories) if stories else "stories: []\n")
