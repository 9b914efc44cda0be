"""Make connexion's router match every path the spec describes.

- connexion compiles a `type: number` path parameter into a route that only matches digits, so
  `PUT .../messages/abc` would be a 404 "no such route". The seed promises a 400 for a
  `message_timestamp` that is not a float: with these converters the route matches any segment,
  and the spec's parameter validation answers 400 problem+json.
- A path whose percent-escapes are not UTF-8 (`%FF`) would be decoded with U+FFFD in their place,
  so `%FF` and `%FE` would name one conversation: such a request is a 400 (`Utf8Paths`).
- The API is mounted under /core with starlette's `path` convertor, whose `.*` stops at a line
  break: a sender id with a newline (`%0A`) would miss the API and reach the app unrouted. Sender
  ids are whatever the bot's channel sent, so the mount matches across line breaks.
"""

from urllib.parse import unquote_to_bytes

import starlette.convertors
import werkzeug.routing
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.routing import RoutingMiddleware

from .problems import send_problem


class AnySegmentConvertor(starlette.convertors.StringConvertor):
    pass


class AnySegmentConverter(werkzeug.routing.BaseConverter):
    pass


class MultilinePathConvertor(starlette.convertors.PathConvertor):
    regex = "(?s:.*)"


class AnyNumberRoutingMiddleware(RoutingMiddleware):
    def __init__(self, app):
        super().__init__(app)
        starlette.convertors.register_url_convertor("float", AnySegmentConvertor())
        starlette.convertors.register_url_convertor("path", MultilinePathConvertor())


def middlewares() -> list:
    return [AnyNumberRoutingMiddleware if m is RoutingMiddleware else m
            for m in ConnexionMiddleware.default_middlewares]


def configure_flask_routing(flask_app) -> None:
    """Flask routes every request connexion routed, and must see the same paths: any segment for
    a number, and no merging of `//` (which would turn an empty sender id into another route)."""
    flask_app.url_map.converters["float"] = AnySegmentConverter
    flask_app.url_map.merge_slashes = False


class Utf8Paths:
    """ASGI middleware: a 400 problem for a path that is not UTF-8 once percent-decoded, or holds
    a NUL; a 404 for a path starting with `//` (connexion routes none; its security never ran,
    and the operation's view failed with a 500)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            try:
                path = unquote_to_bytes(raw.split(b"?", 1)[0]).decode("utf-8")
            except UnicodeDecodeError:
                return await send_problem(send, 400, "Bad Request", "The path is not UTF-8 text once its %-escapes "
                                          "are decoded (such as %FF): sender ids and tags are Unicode text.",
                                          parameter="path")
            if "\x00" in path:
                return await send_problem(send, 400, "Bad Request", "The path holds a NUL character (%00): no sender "
                                          "id or tag holds one (PostgreSQL text cannot).", parameter="path")
            if path.startswith("//"):  # no route starts so; it would reach Flask's view, not connexion's
                return await send_problem(send, 404, "Not Found", "No route starts with //.", parameter="path")
        return await self.app(scope, receive, send)
