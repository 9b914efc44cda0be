"""Operations tagged `Flows` (extension): how CALM flows went, and a conversation's flows."""

from rasa_messaging.periods import parse_time
from rasa_messaging.store.errors import InvalidParameter

from . import store


def _range(start, end) -> dict:
    """`start` and `end` as the analytics take them (ISO-8601 or Unix seconds), in order."""
    first = None if start is None else parse_time("start", start)
    last = None if end is None else parse_time("end", end)
    if first is not None and last is not None and last < first:
        raise InvalidParameter("end", f"{end!r} is before start {start!r}")
    return {"start": first, "end": last}


def get_flows(start=None, end=None):
    return store().flows(**_range(start, end))


def get_flow_funnel(flow_id, start=None, end=None):
    return store().funnel(flow_id, **_range(start, end))


def get_conversation_flows(sender_id):
    return store().conversation_flows(sender_id)


def get_conversation_stack(sender_id, until=None):
    return store().flow_stack(sender_id, until=until)
