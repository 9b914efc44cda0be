"""Operations tagged `Messages`: conversations, their messages and events, flags."""

from connexion import NoContent

from rasa_messaging.dumps import attachment, markdown_story, yaml_story

from . import caller, filters_of, store


def get_conversations(intent=None, entity=None, action=None, text=None, start=None, until=None, policies=None,
    maximum_confidence=None, minimum_user_messages=None, in_training_data=None, is_flagged=False, reviewed=None,
    tags=None, sender_id=None, annotated=None, input_channel=None, flow=None, flow_status=None, pattern=None,
    command=None, model_id=None, assignee=None, reviewed_by=None,
        sort_by_confidence=True, sort_by_latest_event_time=True, limit=None, offset=0, order=None):
    total, page = store().conversations(
        filters_of(locals()), sort_by_confidence=sort_by_confidence,
        sort_by_latest_event_time=sort_by_latest_event_time, limit=limit, offset=offset, order=order,
    )
    return page, 200, {"X-Total-Count": str(total)}


def get_client_conversation(sender_id):
    return [store().conversation(sender_id)]


def get_unique_actions():
    return store().unique_terms("action")


def get_unique_entities():
    return store().unique_terms("entity")


def get_unique_intents():
    return store().unique_terms("intent")


def get_unique_policies():
    return store().unique_terms("policy")


def get_unique_flows():
    return store().unique_terms("flow")


def get_unique_commands():
    return store().unique_terms("command")


def get_unique_patterns():
    return store().unique_terms("pattern")


def get_unique_models():
    return store().unique_terms("model_id")


def get_messages(sender_id, until=None, use_history=True, limit=None):
    total, messages = store().messages(sender_id, until=until, use_history=use_history, limit=limit)
    return messages, 200, {"X-Total-Count": str(total)}


def get_events(sender_id, until=None, use_history=True, limit=None):
    total, events = store().last_events(sender_id, until=until, use_history=use_history, limit=limit)
    return events, 200, {"X-Total-Count": str(total)}


def flag_message(sender_id, message_timestamp, body=None):
    # The seed's clients send no body (connexion then hands over raw bytes): no note.
    note = body.get("note") if isinstance(body, dict) else None
    store().flag(sender_id, message_timestamp, note=note, by=caller())
    return NoContent, 201


def delete_flag_from_conversation(sender_id, message_timestamp):
    store().unflag(sender_id, message_timestamp, by=caller())
    return NoContent, 200


def download_debug_dump_json(sender_id, until=None, use_history=True):
    state = store().conversation(sender_id, until=until, use_history=use_history)
    return state, 200, {"Content-Disposition": attachment(f"{sender_id}-dump.json")}


def download_debug_dump_markdown(sender_id, until=None, use_history=True):
    events = store().events(sender_id, until=until, use_history=use_history)
    return markdown_story(sender_id, events), 200, {
        "Content-Type": "text/markdown",
        "Content-Disposition": attachment(f"{sender_id}-story.md"),
    }


def download_debug_dump_yaml(sender_id, until=None, use_history=True):
    events = store().events(sender_id, until=until, use_history=use_history)
    return yaml_story(sender_id, events), 200, {
        "Content-Type": "application/yaml",
        "Content-Disposition": attachment(f"{sender_id}-story.yml"),
    }
