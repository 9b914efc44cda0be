"""The app factory: the CLI and the tests build the server the same way, nothing at import time."""

import copy
import functools
import hashlib
import warnings
from importlib import resources

import flask
import msgspec
import yaml

# connexion imports starlette's test client, which warns (a StarletteDeprecationWarning, a
# UserWarning) that it wants httpx2: it concerns tests of connexion, not this server.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated",
                        category=UserWarning)

from connexion import FlaskApp  # noqa: E402
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import OAuthProblem
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.problem import problem
from connexion.spec import OpenAPISpecification
from connexion.validators import VALIDATOR_MAP, TextResponseBodyValidator

from rasa_messaging.store import Store, StoreError, json_text

from . import built_once  # noqa: F401 (connexion's work for each request, done once per operation)
from .auth import ProvideTokens, Team, Tokens
from .handlers import caller_key
from .headers import SecurityHeaders
from .hosts import AllowedHosts
from .limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit, ExportSlots, PendingResponses
from .metrics import OperationNames, RequestMetrics, metrics_response
from .replicas import ReadRouting
from .resolver import TagResolver, route_pattern
from .routing import Utf8Paths, configure_flask_routing, middlewares
from .validation import NamedParameterValidator, ReadableJSONBodyValidator
from .wsgi import HandOverWhole

BASE_PATH = "/core"  # the spec's server URL: where connexion mounts the API
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def create_app(db_path, *, validate_responses: bool = False, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               token: str | None = None, review_token: str | None = None,
               allowed_hosts: frozenset | None = None, log_requests: bool = False,
               read_replicas: tuple = ()) -> FlaskApp:
    """Open (and migrate) the store at `db_path` and serve the spec over it.

    `validate_responses` checks every response against the spec; the tests turn it on.
    `max_body_bytes` bounds request bodies (larger ones are a 413). With `token` and/or
    `review_token`, or once the store has people, every API route needs a token (see
    rasa_messaging/auth.py). With
    `allowed_hosts`, a request for another Host is refused (see rasa_messaging/hosts.py). Every
    request is counted for `/metrics`; with `log_requests`, also logged (rasa_messaging/metrics.py).
    `read_replicas`: PostgreSQL streaming replicas of `db_path` that serve reads (rasa_messaging/replicas.py).
    """
    spec = load_spec()
    store = Store(db_path)
    tokens = Tokens(spec, Team(store), full=token, review=review_token)
    app = FlaskApp(__name__, middlewares=middlewares())
    app._middleware_app.asgi_app = HandOverWhole(app.app.wsgi_app)  # connexion's a2wsgi, see wsgi.py
    configure_flask_routing(app.app)
    app.app.extensions["store"] = store
    app.app.extensions["routing"] = routing = ReadRouting(store, list(read_replicas))
    if routing.replicas:
        app.app.after_request(_remember_writes)
    app.add_api(
        spec,
        resolver=TagResolver(spec),
        pythonic_params=True,
        validate_responses=validate_responses,
        strict_validation=True,  # an unknown query parameter is a 400, never silently ignored
        validator_map={"parameter": NamedParameterValidator, "body": BODY_VALIDATORS, "response": RESPONSE_VALIDATORS},
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui"),
        jsonifier=Jsonifier(ResponseJSON),
    )
    app.add_error_handler(StoreError, _store_error)
    app.add_error_handler(405, MethodNotAllowed(spec))
    app.add_error_handler(OAuthProblem, _unauthorized)
    # Added first, so they are the outermost: they also see the answers of the middlewares below.
    app.add_middleware(SecurityHeaders, position=MiddlewarePosition.BEFORE_EXCEPTION, hashed_prefix=f"{BASE_PATH}/ui")
    app.add_middleware(RequestMetrics, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       operations=OperationNames(spec, BASE_PATH), log_requests=log_requests)
    app.add_middleware(PendingResponses, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(BodySizeLimit, position=MiddlewarePosition.BEFORE_EXCEPTION, max_body_bytes=max_body_bytes)
    app.add_middleware(Utf8Paths, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(ExportSlots, position=MiddlewarePosition.BEFORE_EXCEPTION, path=f"{BASE_PATH}/export")
    app.add_middleware(ProvideTokens, position=MiddlewarePosition.BEFORE_EXCEPTION, tokens=tokens, base_path=BASE_PATH)
    if allowed_hosts is not None:
        app.add_middleware(AllowedHosts, position=MiddlewarePosition.BEFORE_EXCEPTION, hosts=allowed_hosts)
    add_review_page(app.app)
    app.app.add_url_rule("/metrics", "metrics", _metrics)
    build_now(app)
    return app


def _remember_writes(response):
    """After a write that succeeded, its caller's next reads see it (rasa_messaging/replicas.py)."""
    if flask.request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400:
        flask.current_app.extensions["routing"].wrote(caller_key())
    return response


def build_now(app: FlaskApp) -> None:
    """Build connexion's middleware stack here, where it resolves every function the spec names
    (handlers, security functions). connexion builds it on the first request, and after a failure
    again on each one: a security function that did not import made an installed server answer
    500 to every request. Built now, such an error is create_app's, before the server listens."""
    middleware = app.middleware
    middleware.app, middleware.middleware_stack = middleware._build_middleware_stack()


class ResponseJSON:
    """The JSON module connexion writes responses with: msgspec, compact. connexion's default
    indents, which sends Python's encoder down its pure-Python path, and Flask's sorts keys: a
    page of 20 real-shaped conversations (13.5 kB) took 0.27 ms indented, 0.23 ms compact and
    sorted, 0.03 ms with msgspec. (Types JSON has no form for fail as before, with a TypeError.)"""

    @staticmethod
    def dumps(data, **_connexion_options) -> str:
        return msgspec.json.encode(data).decode()

    loads = staticmethod(json_text.loads)


def _metrics():
    """Prometheus metrics (open like /core/health: counts and timings, no conversation content)."""
    body, content_type = metrics_response()
    return flask.Response(body, content_type=content_type)


PAGE_ROUTES = ("/", "/messages", "/flags", "/annotations", "/dashboard", "/conversations/<path:sender_id>")


def add_review_page(flask_app) -> None:
    """The review page: one HTML shell for each of its URLs (its scripts read the URL and call the
    API under /core); its scripts and styles are the package's static files, under /static."""
    def page(**_):
        return flask_app.send_static_file("index.html")

    for route in PAGE_ROUTES:
        flask_app.add_url_rule(route, f"page {route}", page)

    def not_a_view(path):
        """Any other path outside the API: the page says "no such page" (a 404, as HTML when a
        browser asks for HTML; the API's own 404s stay problem+json)."""
        if path.startswith(("core/", "static/")) or path in ("core", "metrics") or flask.request.method != "GET" \
                or "text/html" not in flask.request.headers.get("Accept", ""):
            flask.abort(404)
        return flask_app.send_static_file("index.html"), 404

    # Every method: a GET-only rule would make any other method on an unknown path a 405.
    flask_app.add_url_rule("/<path:path>", "not a view", not_a_view,
                           methods=["GET", "POST", "PUT", "DELETE", "PATCH"])


# connexion's response validators, plus: NDJSON and CSV are text (connexion's `*/*json` rule would
# parse a whole NDJSON export as one JSON document).
BODY_VALIDATORS = MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": ReadableJSONBodyValidator})
RESPONSE_VALIDATORS = MediaTypeDict({**VALIDATOR_MAP["response"], "application/x-ndjson": TextResponseBodyValidator,
                                     "text/csv": TextResponseBodyValidator})


def load_spec() -> dict:
    """The served contract, shipped inside the package (openapi/ in the tree): a copy of its own
    for each caller (create_app and connexion change what they are given)."""
    return copy.deepcopy(_parsed_spec())


@functools.cache
def _parsed_spec() -> dict:
    """Parsed once a process, with libyaml where PyYAML has it: 213 ms in pure Python, 31 ms with
    libyaml, and 4 ms to copy. (The tests build an app for each test: that was most of its set-up.)"""
    text = (resources.files("rasa_messaging.openapi") / "openapi.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (a safe loader)


def _validate_each_spec_once(cls, spec: dict) -> None:
    """connexion checks the spec against the OpenAPI schema each time an app is made: 80 ms of
    create_app's 110 here, paid by about 1,000 tests. The spec is the package's own, so each
    distinct spec (with or without security) is checked once a process; an invalid one is refused
    every time, as before. Installed over connexion's check below."""
    digest = hashlib.sha256(msgspec.json.encode(spec)).digest()
    if digest not in _VALID_SPECS:
        _check_spec(spec)
        _VALID_SPECS.add(digest)


_VALID_SPECS: set[bytes] = set()
_check_spec = OpenAPISpecification._validate_spec
OpenAPISpecification._validate_spec = classmethod(_validate_each_spec_once)  # type: ignore[assignment]


def _unauthorized(request, error: OAuthProblem):
    """401 with the `WWW-Authenticate` challenge HTTP asks for."""
    return problem(401, "Unauthorized", error.detail, headers={"WWW-Authenticate": 'Bearer realm="rasa-messaging"'})


def _store_error(request, error: StoreError):
    return problem(status=error.status, title=error.title, detail=error.detail, ext=error.extra or None)


class MethodNotAllowed:
    """405 with the `Allow` header HTTP asks for, listing the methods the spec gives the path."""

    def __init__(self, spec: dict):
        self.routes = [(route_pattern(BASE_PATH, path), ", ".join(sorted(m.upper() for m in item if m in HTTP_METHODS)))
                       for path, item in spec["paths"].items()]

    def __call__(self, request, error):
        path = request.url.path
        allowed = next((methods for pattern, methods in self.routes if pattern.match(path)), "")
        return problem(405, "Method Not Allowed", f"{request.method} is not served at this path; "
                       f"it serves {allowed or 'no method'}.", headers={"Allow": allowed})
