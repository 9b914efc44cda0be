"""Operations tagged `Operations` (extension): what a load balancer asks. Neither needs a token."""

from flask import current_app


def get_health():
    return {"status": "alive"}


def get_ready():
    """The primary's readiness, and each read replica's lag where the server has them."""
    routing = current_app.extensions["routing"]
    ready = {"status": "ready", **routing.primary.readiness()}
    if routing.replicas:
        ready["replicas"] = routing.lag()
    return ready
