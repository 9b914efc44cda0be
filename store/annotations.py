"""Annotations: a reviewer's correct intent and entities for a user message, kept apart from the
events (so that a re-import never touches one), erased with their conversation."""

import json
import re
import time

from . import sets
from .base import all_of
from .dialects import NO_LIMIT
from .errors import InvalidEvent, MessageNotFound
from .flags import FlagsMixin
from .inbox import refresh_annotated_messages
from .packing import event_of
from .team import COMMAND_LINE, Actor, record

# What Rasa takes as an intent name: no white space, no control characters (a YAML reader refuses
# them raw), no markup characters; `/` only inside (a retrieval intent, `faq/ask_name`). The
# spec's pattern for an annotation's intent is the same (tests/test_training.py).
INTENT_NAME = re.compile(r"^[^\s\x00-\x1f\x7f-\x9f{}\[\]()\"'/][^\s\x00-\x1f\x7f-\x9f{}\[\]()\"']{0,127}\Z")


class InvalidAnnotation(InvalidEvent):
    title = "Invalid annotation"

    def __init__(self, parameter: str, detail: str):
        super().__init__(detail)
        self.extra = {"parameter": parameter}


class AnnotationsMixin(FlagsMixin):
    def annotate(self, sender_id: str, timestamp: float, intent: str, entities: list | None, *,
                 by: Actor = COMMAND_LINE) -> dict:
        """Set the correct intent (and entities; None: the predicted ones are right) of the user
        message of `sender_id` at `timestamp`. Raises `ConversationNotFound`, `MessageNotFound`,
        or `InvalidAnnotation` (an intent Rasa would refuse, a span outside the text, overlaps)."""
        if not INTENT_NAME.match(intent):
            raise InvalidAnnotation("intent", f"intent {intent!r} is not a name Rasa takes (no spaces, quotes or brackets)")
        with self.transaction() as db:
            exact, text = self._user_message(db, sender_id, timestamp)
            checked = None if entities is None else _checked_entities(entities, text)
            db.execute("INSERT INTO annotations (sender_id, timestamp, intent, entities, annotated_at, annotated_by) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sender_id, timestamp) DO UPDATE SET intent = excluded.intent, "
                       "entities = excluded.entities, annotated_at = excluded.annotated_at, "
                       "annotated_by = excluded.annotated_by",
                       [sender_id, exact, intent, None if checked is None else json.dumps(checked), time.time(), by.name])
            sets.refresh_mark(db, sender_id, "annotated")
            refresh_annotated_messages(db, sender_id, exact)
            record(db, by, "annotate", sender_id, exact, intent=intent)
        return self.annotation(sender_id, exact)

    def unannotate(self, sender_id: str, timestamp: float, *, by: Actor = COMMAND_LINE) -> None:
        """Raises `ConversationNotFound` or `MessageNotFound` (also when it has no annotation)."""
        with self.transaction() as db:
            exact, _ = self._user_message(db, sender_id, timestamp)
            if not db.execute("DELETE FROM annotations WHERE sender_id = ? AND timestamp = ?", [sender_id, exact]).rowcount:
                raise MessageNotFound(sender_id, timestamp, what="annotated user message")
            sets.refresh_mark(db, sender_id, "annotated")
            refresh_annotated_messages(db, sender_id, exact)
            record(db, by, "unannotate", sender_id, exact)

    def annotation(self, sender_id: str, timestamp: float) -> dict:
        return self.annotations(sender_id=sender_id, timestamp=timestamp)[1][0]

    def annotations(self, *, limit=None, offset=0, since=None, sender_id=None,
                    timestamp=None) -> tuple[int, list[dict]]:
        """(how many, the page): the annotations (made `since`, of `sender_id`'s conversation, of
        its message at `timestamp`), newest first, with the message's text and prediction."""
        clause, params = all_of((("a.annotated_at >= ?", since), ("a.sender_id = ?", sender_id),
                                 ("a.timestamp = ?", timestamp)))
        total = self.db.execute(f"SELECT count(*) FROM annotations a WHERE {clause}", params).fetchone()[0]
        rows = self.db.execute(
            "SELECT a.sender_id, a.timestamp, a.intent, a.entities, a.annotated_at, a.annotated_by, "
            "(SELECT e.data FROM events e WHERE e.sender_id = a.sender_id AND e.timestamp = a.timestamp "
            " AND e.type = 'user' ORDER BY e.id LIMIT 1) "
            f"FROM annotations a WHERE {clause} ORDER BY a.annotated_at DESC, a.sender_id, a.timestamp LIMIT ? OFFSET ?",
            [*params, NO_LIMIT if limit is None else limit, offset]).fetchall()
        return total, [_annotation(sender, timestamp, intent, entities, annotated_at, annotated_by,
                                   event_of(self.db, data, timestamp) if data is not None else {})
                       for sender, timestamp, intent, entities, annotated_at, annotated_by, data in rows]

    def _user_message(self, db, sender_id: str, timestamp: float) -> tuple[float, str]:
        """(exact timestamp, text) of the user message at `timestamp` (as flags find messages)."""
        exact, data = self._message(db, sender_id, timestamp, ("user",))
        text = json.loads(data).get("text")
        return exact, text if isinstance(text, str) else ""


def _checked_entities(entities: list, text: str) -> list[dict]:
    spans = sorted(entities, key=lambda e: (e["start"], e["end"]))
    for index, entity in enumerate(spans):
        if not 0 <= entity["start"] < entity["end"] <= len(text):
            raise InvalidAnnotation("entities", f"entity {entity['entity']!r} spans {entity['start']}-{entity['end']}, outside the "
                                    f"message's {len(text)} characters")
        if index and entity["start"] < spans[index - 1]["end"]:
            raise InvalidAnnotation("entities", f"entities {spans[index - 1]['entity']!r} and {entity['entity']!r} overlap")
    return [{key: entity[key] for key in ("entity", "start", "end", "value", "role", "group") if key in entity}
            for entity in spans]


def _annotation(sender_id, timestamp, intent, entities, annotated_at, annotated_by, event: dict) -> dict:
    parse_data: dict = event["parse_data"] if isinstance(event.get("parse_data"), dict) else {}
    predicted: dict = parse_data["intent"] if isinstance(parse_data.get("intent"), dict) else {}
    return {"sender_id": sender_id, "timestamp": timestamp, "text": event.get("text"),
            "predicted_intent": predicted.get("name"), "predicted_confidence": predicted.get("confidence"),
            "predicted_entities": parse_data.get("entities") or [],
            "intent": intent, "entities": None if entities is None else json.loads(entities), "annotated_at": annotated_at,
            "annotated_by": annotated_by}
