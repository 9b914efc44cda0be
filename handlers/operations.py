"""Operations tagged `Operations` (extension): what a load balancer asks. Neither needs a token."""

from . import store


def get_health():
    return {"status": "alive"}


def get_ready():
    return {"status": "ready", **store().readiness()}
