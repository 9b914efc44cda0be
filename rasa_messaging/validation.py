"""Request validation that says, in one sentence, which parameter or field is wrong and what it
takes, instead of jsonschema's internals.

- Query and path parameters: a 400 problem with a `parameter` member naming it; a query
  parameter the operation does not have (a typo such as `intnet`) is a 400 too, never ignored
  (a silently unfiltered list looks filtered), and so is one of a single value given twice (the
  first was ignored); numbers must be finite (`nan`, `inf` are refused).
- JSON bodies: bytes that are not UTF-8, JSON nested too deeply to read, and lone surrogates
  (`"\\ud800"`, which no store can keep as text) are 400s, caught where the body is parsed; a
  schema error names the event's position and the field ("event 0: 'timestamp' must be a number").
"""

import functools
import json
import math
import re
from collections import Counter

import msgspec
from connexion.exceptions import ProblemException
from connexion.utils import is_null, is_nullable
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from jsonschema.exceptions import best_match
from starlette.datastructures import QueryParams

from .limits import MAX_EVENTS_PER_REQUEST

_TYPE_WORDS = {"integer": "a whole number", "number": "a number", "string": "text", "boolean": "true or false",
               "object": "a JSON object", "array": "a JSON array"}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
FORMAT_CHECKER = Draft4Validator.FORMAT_CHECKER


def expectation(error: ValidationError) -> str:
    """What the value should have been, from the failed schema keyword."""
    schema, keyword = error.schema, error.validator
    if keyword == "enum":
        values = list(error.validator_value)
        shown = ", ".join(map(str, values[:12])) + (", …" if len(values) > 12 else "")
        return f"one of {shown}"
    if keyword in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        kind = _TYPE_WORDS.get(schema.get("type"), "a number")
        if low is not None and high is not None:
            return f"{kind} from {_figure(low)} to {_figure(high)}"
        return f"{kind} of at least {_figure(low)}" if low is not None else f"{kind} of at most {_figure(high)}"
    if keyword in ("minLength", "maxLength"):
        low, high = schema.get("minLength"), schema.get("maxLength")
        if low is not None and high is not None:
            return f"text of {low} to {high} characters"
        plural = "" if (low if low is not None else high) == 1 else "s"
        return f"text of at least {low} character{plural}" if low is not None else f"text of at most {high} characters"
    if keyword == "additionalProperties":
        return "an object with only " + ", ".join(f"'{name}'" for name in schema.get("properties", {}))
    if keyword == "pattern":
        return f"text matching {schema['pattern']}"
    if keyword == "required":
        return "an object with " + ", ".join(f"'{name}'" for name in schema["required"])
    if keyword == "not":
        return "another value"
    return _TYPE_WORDS.get(schema.get("type"), "a valid value")


def shown(value, limit: int = 80) -> str:
    """A value as an error message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _figure(number) -> str:
    """1000000000 → `1,000,000,000`; 0.5 → `0.5`."""
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def _problem(parameter: str, detail: str) -> ProblemException:
    return ProblemException(status=400, title="Bad Request", detail=detail, ext={"parameter": parameter})


class NamedParameterValidator(ParameterValidator):
    def validate_request(self, request):
        if self.strict_validation:
            unknown = sorted(self.validate_query_parameter_list(request, security_params=self.security_query_params))
            if unknown:
                known = ", ".join(p["name"] for p in self.parameters.get("query", [])) or "none"
                raise _problem(unknown[0], f"Unknown query parameter{'s' if len(unknown) > 1 else ''} "
                                           f"{', '.join(map(repr, unknown))}; this operation takes: {known}.")
        given_times = Counter(name for name, _ in QueryParams(request.scope.get("query_string", b"")).multi_items())
        for parameter in self.parameters.get("query", []):  # `since=abc&since=3` was read as 3
            given = given_times[parameter["name"]]
            if given > 1 and parameter.get("schema", {}).get("type") != "array":
                raise _problem(parameter["name"], f"'{parameter['name']}' is given {given} times; it takes one value.")
        for location in ("query", "path", "header", "cookie"):
            for parameter in self.parameters.get(location, []):
                error = getattr(self, f"validate_{location}_parameter")(parameter, request)
                if error:
                    raise _problem(parameter["name"], error)

    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        """None if `value` is acceptable, else a sentence saying what the parameter takes."""
        name = param["name"]
        if is_nullable(param) and is_null(value):
            return None
        if value is None:
            return f"The {parameter_type} parameter '{name}' is required." if param.get("required") else None
        if isinstance(value, float) and not math.isfinite(value):
            return f"'{name}' must be a finite number, not {shown(value)}."
        error = best_match(_validator(msgspec.json.encode(param.get("schema", param))).iter_errors(value))
        return None if error is None else f"'{name}' must be {expectation(error)}, not {shown(value)}."


@functools.lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> Draft4Validator:
    """A parameter's validator, made once for its schema: connexion makes one per parameter and
    request, and that took 0.14M of a list request's 11.46M instructions (callgrind, 10k generated)."""
    return Draft4Validator(msgspec.json.decode(schema_json), format_checker=FORMAT_CHECKER)


class ReadableJSONBodyValidator(JSONRequestBodyValidator):
    async def wrap_receive(self, receive, *, scope):
        """connexion refuses a missing required body itself, without naming it: say so here."""
        if self._required and not int(dict(scope.get("headers") or []).get(b"content-length", b"0") or 0):
            raise _problem("body", "The request body is empty: this operation needs one.")
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream, scope):
        raw = b"".join([message async for message in stream])
        try:
            text = raw.decode(self._encoding)
        except UnicodeDecodeError:
            raise _problem("body", "The request body is not valid UTF-8 text.") from None
        if not text:
            return None
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise _problem("body", f"The request body is not valid JSON: {error}.") from None
        except RecursionError:
            raise _problem("body", "The request body is JSON nested too deeply to read.") from None
        if _SURROGATE_ESCAPE.search(text):
            try:
                json.dumps(body, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise _problem("body", "The request body holds a lone surrogate (such as \\ud800): "
                                               "that is not Unicode text.") from None
        return body

    def _validate(self, body):
        if body is None:
            raise _problem("body", "The request body is empty.")
        if isinstance(body, list) and len(body) > MAX_EVENTS_PER_REQUEST:
            # Refused before the schema is checked: validating 400,000 events would hold the event
            # loop, and every other request with it, for many seconds.
            raise ProblemException(status=413, title="Request Entity Too Large", ext={"parameter": "body"},
                                   detail=f"{len(body)} events in one request; at most {MAX_EVENTS_PER_REQUEST} are "
                                          "taken at once (one transaction each): send them in several requests.")
        error = best_match(self._validator.iter_errors(body))
        if error is not None:
            field, detail = describe_body_error(error)
            raise _problem(field, detail)
        return None


def describe_body_error(error: ValidationError) -> tuple[str, str]:
    """(the field, "event 2: 'timestamp' must be a number, not 'noon'."): the position and the field."""
    while error.context:  # a oneOf: the sub-error that goes deepest into the body
        error = max(error.context, key=lambda e: len(e.absolute_path))
    path = list(error.absolute_path)
    where = f"event {path.pop(0)}: " if path and isinstance(path[0], int) else ""
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in (error.instance or {}))
        return missing, f"{where}'{missing}' is required."
    field = ".".join(str(part) for part in path)
    subject = f"'{field}'" if field else "the body"
    return field or "body", f"{where}{subject} must be {expectation(error)}, not {shown(error.instance)}."
