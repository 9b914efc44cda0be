"""Work connexion 3 repeats for every request that depends only on the operation, done once.

For each request connexion builds the handler's decorators again (FlaskOperation.fn: the
handler's signature inspected, its parameter and response decorators and a URI parser made
anew) and turns every query parameter's name into a Python one with inflection's regular
expressions. Importing this module makes both happen once per operation or name. Measured with
callgrind in-process on 10k generated conversations, instructions a request: `GET /session`
1.88M -> 1.70M, `GET /conversations?limit=20` 11.32M -> 10.30M (whose handler takes thirteen
parameters; the store's own call is 7.75M of it). connexion 3.3's decorators set their
attributes only when made and keep nothing of a request, so one set serves every thread.
"""

import functools

from connexion.apps.flask import FlaskApi, FlaskOperation
from connexion.decorators import FlaskDecorator
from connexion.decorators import parameter as connexion_parameters
from connexion.frameworks.flask import Flask as FlaskFramework


class OperationDecoratedOnce:
    """What FlaskOperation does for a request, with its decorators built once."""

    def __init__(self, operation: FlaskOperation):
        self._decorator = FlaskDecorator(pythonic_params=operation.pythonic_params, jsonifier=operation.jsonifier)
        self._decorated = self._decorator.decorate(operation._fn)
        self._uri_parser = None
        functools.update_wrapper(self, operation)

    def __call__(self, *args, **kwargs):
        if self._uri_parser is None:  # made from the routed operation, which is known during a request only
            self._uri_parser = self._decorator.uri_parser
        return self._decorated(FlaskFramework.get_request(uri_parser=self._uri_parser))


def _make_operation_decorated_once(api: FlaskApi, operation) -> OperationDecoratedOnce:
    return OperationDecoratedOnce(_make_operation(api, operation))


_make_operation = FlaskApi.make_operation
FlaskApi.make_operation = _make_operation_decorated_once  # type: ignore[method-assign,assignment]
# Names come from the spec (strict validation refuses other query parameters before this runs).
connexion_parameters.pythonic = functools.lru_cache(maxsize=1024)(connexion_parameters.pythonic)
