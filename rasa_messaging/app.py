"""The app factory: the CLI and the tests build the server the same way, nothing at import time."""

from pathlib import Path

import yaml
from connexion import FlaskApp
from connexion.options import SwaggerUIOptions
from connexion.problem import problem
from flask import redirect

from store import Store, StoreError

from .resolver import TagResolver
from .routing import install_flask_converter, middlewares

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"
BASE_PATH = "/core"


def create_app(db_path, *, validate_responses: bool = False) -> FlaskApp:
    """Open (and migrate) the store at `db_path` and serve the spec over it.

    `validate_responses` checks every response against the spec; the tests turn it on.
    """
    spec = load_spec()
    app = FlaskApp(__name__, middlewares=middlewares())
    install_flask_converter(app.app)
    app.app.extensions["store"] = Store(db_path)
    app.add_api(
        spec,
        resolver=TagResolver(spec),
        pythonic_params=True,
        validate_responses=validate_responses,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui"),
    )
    app.add_error_handler(StoreError, _store_error)
    app.add_url_rule("/", "swagger_ui_redirect", lambda: redirect(f"{BASE_PATH}/ui/"))
    return app


def load_spec() -> dict:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


def _store_error(request, error: StoreError):
    return problem(status=error.status, title=error.title, detail=error.detail, ext=error.extra or None)
