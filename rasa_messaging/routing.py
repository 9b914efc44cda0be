"""Route `number` path parameters by segment, and leave the number check to the spec.

connexion compiles a `type: number` path parameter into a route that only matches digits, so
`PUT .../messages/abc` would be a 404 "no such route". The seed promises a 400 for a
`message_timestamp` that is not a float: with these converters the route matches any segment,
and the spec's parameter validation answers 400 problem+json.
"""

import starlette.convertors
import werkzeug.routing
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.routing import RoutingMiddleware


class AnySegmentConvertor(starlette.convertors.StringConvertor):
    pass


class AnySegmentConverter(werkzeug.routing.BaseConverter):
    pass


class AnyNumberRoutingMiddleware(RoutingMiddleware):
    def __init__(self, app):
        super().__init__(app)
        starlette.convertors.register_url_convertor("float", AnySegmentConvertor())


def middlewares() -> list:
    return [AnyNumberRoutingMiddleware if m is RoutingMiddleware else m
            for m in ConnexionMiddleware.default_middlewares]


def install_flask_converter(flask_app) -> None:
    flask_app.url_map.converters["float"] = AnySegmentConverter
