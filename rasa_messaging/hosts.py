"""Only requests addressed to this server: a guard against DNS rebinding.

A web page in a reviewer's browser can make its own host name resolve to 127.0.0.1 and then read a
server there with no token. Such requests carry the page's host name in `Host`, so a server
without a token answers only requests for its own address (and the names given with
`--allowed-host`, for a proxy in front of it); anything else is a 400 problem naming the header.
"""

from .problems import send_problem

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(bound_to: str, extra=()) -> frozenset | None:
    """The Host names served for a server bound to `bound_to`, or None for any (a wildcard bind,
    where the open-bind warning has already been given)."""
    if bound_to in ("0.0.0.0", "::", ""):
        return None
    return frozenset({*LOOPBACK_NAMES, bound_to.strip("[]").lower(), *(host.lower() for host in extra)})


def host_name(header: str) -> str:
    """`example.org:5002` → `example.org`; `[::1]:5002` → `::1`."""
    if header.startswith("["):
        return header[1:].split("]")[0].lower()
    return header.rsplit(":", 1)[0].lower() if header.count(":") == 1 else header.lower()


class AllowedHosts:
    def __init__(self, app, hosts: frozenset):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(header) not in self.hosts:
                return await self._refuse(send, header)
        return await self.app(scope, receive, send)

    async def _refuse(self, send, header: str):
        await send_problem(send, 400, "Bad Request", f"This server does not serve the host {header[:200]!r}. Open it by "
                           "its own address, or start it with --allowed-host for a proxy's name.", parameter="Host")
