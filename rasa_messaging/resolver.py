"""The spec is the router: an operation's first tag names the module, its operationId the function.

`getConversations` tagged `Messages` → `rasa_messaging.handlers.messages.get_conversations`: a name you can grep.
"""

import functools
import re

from connexion import NoContent
from connexion.lifecycle import ConnexionResponse
from connexion.resolver import Resolver
from flask import Response

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(operation_id: str) -> str:
    return _WORD_BOUNDARY.sub("_", operation_id).lower()


def handler_name(tags: list, operation_id: str) -> str:
    return f"rasa_messaging.handlers.{snake_case(tags[0])}.{snake_case(operation_id)}"


def route_pattern(base_path: str, template: str) -> re.Pattern:
    """The request paths a spec path template matches: `{name}` is one path segment."""
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(base_path + template)) + "$")


def spec_operations(spec: dict):
    """Yield (path, method, operation) for every operation of `spec`."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                yield path, method, operation


class TagResolver(Resolver):
    def __init__(self, spec: dict):
        super().__init__()
        self._tags = {op["operationId"]: op.get("tags", []) for _, _, op in spec_operations(spec)}

    def resolve_operation_id(self, operation) -> str:
        return handler_name(self._tags[operation.operation_id], operation.operation_id)

    def resolve_function_from_operation_id(self, operation_id):
        return json_by_default(super().resolve_function_from_operation_id(operation_id))


def json_by_default(function):
    """Make a handler's plain return value `application/json`.

    Operations declare `application/problem+json` for their errors beside JSON for success, and
    connexion will not guess between two content types. Error bodies come from the error handlers,
    so whatever a handler returns without a Content-Type of its own is JSON.
    """

    @functools.wraps(function)
    def handler(*args, **kwargs):
        result = function(*args, **kwargs)
        if isinstance(result, (ConnexionResponse, Response)):
            return result
        body, status, headers = (*result, None, None)[:3] if isinstance(result, tuple) else (result, None, None)
        if body is NoContent:
            return result
        headers = {"Content-Type": "application/json", **(headers or {})}
        return body, status or 200, headers

    return handler
