"""Operations tagged `Review` (extension): review marks, tags, the flag queue, erasure, export."""

from connexion import NoContent, context
from flask import Response, request, stream_with_context

from rasa_messaging.dumps import attachment
from rasa_messaging.exports import csv_lines, ndjson_lines
from rasa_messaging.limits import CLIENT_GONE_KEY

from . import caller, filters_of, store


def mark_conversation_reviewed(sender_id):
    return store().mark_reviewed(sender_id, by=caller())


def unmark_conversation_reviewed(sender_id):
    return store().unmark_reviewed(sender_id, by=caller())


def add_conversation_tag(sender_id, tag):
    return store().add_tag(sender_id, tag, by=caller())


def remove_conversation_tag(sender_id, tag):
    return store().remove_tag(sender_id, tag, by=caller())


def get_tags():
    return store().all_tags()


def get_flags(limit=None, offset=0, sender_id=None, resolved=False):
    total, queue = store().flag_queue(limit=limit, offset=offset, sender_id=sender_id, resolved=resolved)
    return queue, 200, {"X-Total-Count": str(total)}


def delete_conversation(sender_id):
    store().erase(sender_id, by=caller())
    return NoContent, 204


def export_conversations(intent=None, entity=None, action=None, text=None, start=None, until=None, policies=None,
    maximum_confidence=None, minimum_user_messages=None, in_training_data=None, is_flagged=False, reviewed=None,
    tags=None, sender_id=None, annotated=None, input_channel=None, flow=None, flow_status=None, pattern=None,
    command=None, model_id=None, assignee=None, reviewed_by=None,
        format_="ndjson"):
    """`format_`: connexion's name for the `format` parameter (it would shadow a builtin)."""
    conversations = store().export(filters_of(locals()))
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


def get_session():
    who = caller()
    info = context.context["token_info"]
    queue = None if who.name is None else store().queue_progress(who.name)
    return {"name": who.name, "role": who.role, "scopes": info["scope"], "queue": queue}


def get_users():
    return store().users()


def get_audit(limit=None, offset=0, actor=None, action=None, sender_id=None, start=None, until=None):
    total, lines = store().audit(limit=limit, offset=offset, actor=actor, action=action, sender_id=sender_id,
                                 start=start, until=until)
    return lines, 200, {"X-Total-Count": str(total)}


def assign_conversation(sender_id, body):
    store().assign([sender_id], [body["assignee"]], by=caller())
    return store().assignment(sender_id)


def unassign_conversation(sender_id):
    store().assign([sender_id], [], by=caller())
    return store().assignment(sender_id)


def assign_conversations(body, intent=None, entity=None, action=None, text=None, start=None, until=None, policies=None,
    maximum_confidence=None, minimum_user_messages=None, in_training_data=None, is_flagged=False, reviewed=None,
    tags=None, sender_id=None, annotated=None, input_channel=None, flow=None, flow_status=None, pattern=None,
    command=None, model_id=None, assignee=None, reviewed_by=None):
    senders = body.get("sender_ids") or store().matching_senders(filters_of(locals()))
    counts = store().assign(senders, body["assignees"], by=caller())
    return {"assigned": {name: n for name, n in counts.items() if name}, "unassigned": counts.get("", 0)}


def claim_next_conversation(intent=None, entity=None, action=None, text=None, start=None, until=None, policies=None,
    maximum_confidence=None, minimum_user_messages=None, in_training_data=None, is_flagged=False, reviewed=None,
    tags=None, sender_id=None, annotated=None, input_channel=None, flow=None, flow_status=None, pattern=None,
    command=None, model_id=None, assignee=None, reviewed_by=None,
        claim_seconds=300):
    filters, who = filters_of(locals()), caller()
    claim = store().next_to_review(who.name or f"({who.role})", filters, seconds=claim_seconds)
    if claim is None:  # the operation declares two media types: connexion is told which, though there is no body
        return NoContent, 204, {"Content-Type": "application/json"}
    return claim


def resolve_flag(sender_id, message_timestamp):
    return _flag(sender_id, store().resolve_flag(sender_id, message_timestamp, by=caller()))


def reopen_flag(sender_id, message_timestamp):
    return _flag(sender_id, store().resolve_flag(sender_id, message_timestamp, resolved=False, by=caller()))


def _flag(sender_id, timestamp):
    """The flag of one message, as the queue lists it."""
    return next(flag for flag in store().flag_queue(sender_id=sender_id, resolved=None)[1] if flag["timestamp"] == timestamp)
