"""One module per spec tag; one function per operationId (see rasa_messaging/resolver.py)."""

from flask import current_app

from rasa_messaging.store import Store


def store() -> Store:
    """The store of the app serving this request."""
    return current_app.extensions["store"]
