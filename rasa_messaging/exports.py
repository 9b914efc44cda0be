"""Export formats, shared by `GET /export` and `rasa-messaging export`: NDJSON (a conversation per
line, which `rasa-messaging import` reads back) and CSV (a row per message, for spreadsheets).

CSV cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
carriage return: OWASP's list) get a leading `'`, so that a user's text such as
`=HYPERLINK("http://…")` is shown, never run. Numbers are written as numbers.
"""

import csv
import io
import json

from .store.events import MESSAGE_TYPES, normalise_policy

CSV_COLUMNS = ["sender_id", "timestamp", "type", "text", "intent", "confidence", "action", "policy", "flagged"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def ndjson_lines(conversations):
    """A line per conversation: its metadata and `events`, as `rasa-messaging import` reads it."""
    for metadata, events in conversations:
        yield json.dumps({**metadata, "events": events}, ensure_ascii=False) + "\n"


def csv_lines(conversations):
    """A row per user or bot message (CSV_COLUMNS), written a conversation at a time."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS)
    writer.writeheader()
    for metadata, events in conversations:
        writer.writerows({column: _inert(value) for column, value in row.items()}
                         for row in message_rows(metadata["sender_id"], events))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def message_rows(sender_id: str, events: list[dict]):
    """One row per user or bot message; a bot message names the action (and policy, as everywhere
    else without Rasa's `policy_0_` prefix) that uttered it, a user message its intent and
    confidence."""
    action: dict | None = None
    for event in events:
        kind = event.get("event")
        if kind == "action":
            action = event
        elif kind in MESSAGE_TYPES:
            intent = ((event.get("parse_data") or {}).get("intent") or {}) if kind == "user" else {}
            uttered_by = action if kind == "bot" and action else {}
            yield {"sender_id": sender_id, "timestamp": event.get("timestamp"), "type": kind, "text": event.get("text"),
                   "intent": intent.get("name"), "confidence": intent.get("confidence"),
                   "action": uttered_by.get("name"), "policy": normalise_policy(uttered_by.get("policy")),
                   "flagged": bool(event.get("is_flagged"))}


def _inert(value):
    """A cell a spreadsheet shows as text: formulas get a leading `'` (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
