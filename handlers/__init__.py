"""One module per spec tag; one function per operationId (see rasa_messaging/resolver.py)."""

from connexion import context
from flask import current_app, g, request

from rasa_messaging.store import Actor, ConversationFilter, Store
from rasa_messaging.store.errors import InvalidParameter


def store() -> Store:
    """The store that serves this request: the primary, or for a read a replica that has what
    the caller wrote (rasa_messaging/replicas.py); the same one for the whole request."""
    if "store" not in g:
        g.store = current_app.extensions["routing"].store_for(request.method, caller_key())
    return g.store


def caller_key() -> str:
    """Whose writes a read must see: a person, or an unnamed caller at their address."""
    who = caller()
    return who.name if who.name is not None else f"({who.role}) {request.remote_addr}"


def caller() -> Actor:
    """Who makes this request, as rasa_messaging/auth.py found them (every API route is secured)."""
    info = context.context.get("token_info") or {}
    return Actor(info.get("sub"), info.get("role", "open"))


# The list's filters, as handlers name them (the spec's parameters, made pythonic).
FILTERS = ("intent", "entity", "action", "text", "start", "until", "policies", "maximum_confidence",
           "minimum_user_messages", "in_training_data", "is_flagged", "reviewed", "tags", "sender_id", "annotated",
           "input_channel", "flow", "flow_status", "pattern", "command", "model_id", "assignee", "reviewed_by")


def filters_of(parameters: dict) -> ConversationFilter:
    """The list's filters from a handler's parameters (its `locals()`), `me` in `assignee` and
    `reviewed_by` read as the caller (a 400 for a caller without a name)."""
    filters = {name: parameters[name] for name in FILTERS}
    for name in ("assignee", "reviewed_by"):
        filters[name] = _me(filters[name], name)
    return ConversationFilter.from_parameters(**filters)


def _me(names: str | None, parameter: str) -> str | None:
    if names is None or "me" not in [name.strip() for name in names.split(",")]:
        return names
    if (name := caller().name) is None:
        raise InvalidParameter(parameter, "`me` names the caller, and this token has no name "
                                          "(`rasa-messaging users add` gives people theirs)")
    return ",".join(name if value.strip() == "me" else value for value in names.split(","))
