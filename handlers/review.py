"""Operations tagged `Review` (extension): review marks, tags, the flag queue, erasure, export."""

from connexion import NoContent
from flask import Response, request, stream_with_context

from rasa_messaging.dumps import attachment
from rasa_messaging.exports import csv_lines, ndjson_lines
from rasa_messaging.limits import CLIENT_GONE_KEY
from rasa_messaging.store import ConversationFilter

from . import store


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


def get_flags(limit=None, offset=0, sender_id=None, resolved=False):
    total, queue = store().flag_queue(limit=limit, offset=offset, sender_id=sender_id, resolved=resolved)
    return queue, 200, {"X-Total-Count": str(total)}


def delete_conversation(sender_id):
    store().erase(sender_id)
    return NoContent, 204


def export_conversations(intent=None, entity=None, action=None, text=None, start=None, until=None, policies=None,
                         maximum_confidence=None, minimum_user_messages=None, in_training_data=None,
                         is_flagged=False, reviewed=None, tags=None, sender_id=None, annotated=None,
                         input_channel=None, flow=None, flow_status=None, pattern=None, command=None, model_id=None,
                         format_="ndjson"):
    """`format_`: connexion's name for the `format` parameter (it would shadow a builtin)."""
    conversations = store().export(ConversationFilter.from_parameters(
        intent=intent, entity=entity, action=action, text=text, start=start, until=until, policies=policies,
        maximum_confidence=maximum_confidence, minimum_user_messages=minimum_user_messages,
        in_training_data=in_training_data, is_flagged=is_flagged, reviewed=reviewed, tags=tags,
        sender_id=sender_id, annotated=annotated, input_channel=input_channel, flow=flow, flow_status=flow_status,
        pattern=pattern, command=command, model_id=model_id))
    body = csv_lines(conversations) if format_ == "csv" else ndjson_lines(conversations)
    return Response(stream_with_context(until_client_gone(body)), mimetype="text/csv" if format_ == "csv" else "application/x-ndjson",
                    headers={"Content-Disposition": attachment(f"conversations.{format_}")})


def until_client_gone(chunks):
    """Stop streaming once the client disconnected or stopped reading (rasa_messaging/limits.py)."""
    gone = request.environ["asgi.scope"].get("extensions", {}).get(CLIENT_GONE_KEY)
    for chunk in chunks:
        if gone is not None and gone.is_set():
            return
        yield chunk


def get_session(token_info=None):
    if token_info is None:  # the server runs without a token
        return {"role": "open", "scopes": ["review", "ingest"]}
    return {"role": token_info["sub"], "scopes": list(token_info["scope"])}


def resolve_flag(sender_id, message_timestamp):
    return _flag(sender_id, store().resolve_flag(sender_id, message_timestamp))


def reopen_flag(sender_id, message_timestamp):
    return _flag(sender_id, store().resolve_flag(sender_id, message_timestamp, resolved=False))


def _flag(sender_id, timestamp):
    """The flag of one message, as the queue lists it."""
    return next(flag for flag in store().flag_queue(sender_id=sender_id, resolved=None)[1] if flag["timestamp"] == timestamp)
