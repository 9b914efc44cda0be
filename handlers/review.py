"""Operations tagged `Review` (extension): review marks, tags, the flag queue, erasure, export."""

import csv
import io
import json

from connexion import NoContent
from flask import Response, stream_with_context

from rasa_messaging.dumps import attachment
from store import message_rows

from . import store
from .messages import conversation_filter

CSV_COLUMNS = ["sender_id", "timestamp", "type", "text", "intent", "confidence", "action", "policy", "flagged"]


def mark_conversation_reviewed(sender_id):
    return store().mark_reviewed(sender_id)


def unmark_conversation_reviewed(sender_id):
    return store().unmark_reviewed(sender_id)


def add_conversation_tag(sender_id, tag):
    return store().add_tag(sender_id, tag)


def remove_conversation_tag(sender_id, tag):
    return store().remove_tag(sender_id, tag)


def get_tags():
    return store().all_tags()


def get_flags(limit=None, offset=0):
    total, queue = store().flag_queue(limit=limit, offset=offset)
    return queue, 200, {"X-Total-Count": str(total)}


def delete_conversation(sender_id):
    store().erase(sender_id)
    return NoContent, 204


def export_conversations(intent=None, entity=None, action=None, text=None, start=None, until=None, policies=None,
                         maximum_confidence=None, minimum_user_messages=None, in_training_data=None,
                         is_flagged=False, reviewed=None, tags=None, format_="ndjson"):
    """`format_`: connexion's name for the `format` parameter (it would shadow a builtin)."""
    conversations = store().export(conversation_filter(
        intent, entity, action, text, start, until, policies, maximum_confidence, minimum_user_messages,
        in_training_data, is_flagged, reviewed, tags))
    body = csv_lines(conversations) if format_ == "csv" else ndjson_lines(conversations)
    return Response(stream_with_context(body), mimetype="text/csv" if format_ == "csv" else "application/x-ndjson",
                    headers={"Content-Disposition": attachment(f"conversations.{format_}")})


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
        writer.writerows(message_rows(metadata["sender_id"], events))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
