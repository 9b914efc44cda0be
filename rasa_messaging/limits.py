"""Bounds on what one request may take: its body, the memory its answer holds while the client
reads it, and the threads and time of an export.

Request bodies: bounded, and always with a length.

An ASGI middleware outside connexion's stack:
- a declared Content-Length over the limit is refused with 413 before any of the body is read;
- a body sent without a length (chunked) is read as it streams in, refused with 413 as soon as it
  passes the limit (a 100 MB upload never sits in memory), and otherwise handed on with its
  Content-Length, since connexion takes a request without one for a request without a body.
"""

import threading

from .problems import send_problem

# A Rasa event with its parse data is 1-2 KB: 16 MiB holds a batch of MAX_EVENTS_PER_REQUEST.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_EVENTS_PER_REQUEST = 10_000


class BodySizeLimit:
    def __init__(self, app, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                return await self._refuse(send)
            return await self.app(scope, receive, send)
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            return await self.app(scope, receive, send)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                return await self._refuse(send)
            if not message.get("more_body"):
                break
        return await self.app(_with_length(scope, len(body)), _replay(bytes(body)), send)

    async def _refuse(self, send):
        await send_problem(send, 413, "Request Entity Too Large",
                            f"The request body is larger than {self.max_body_bytes} bytes "
                            "(--max-body-size / RASA_MESSAGING_MAX_BODY_SIZE).", headers=[(b"connection", b"close")])


def _with_length(scope, length: int) -> dict:
    headers = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"]
    return {**scope, "headers": headers + [(b"content-length", str(length).encode())]}


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


MAX_CONCURRENT_EXPORTS = 2
# A chunk the client has not taken in this long: a reader that stopped reading.
EXPORT_STALL_SECONDS = 20.0
CLIENT_GONE_KEY = "rasa_messaging.client_gone"


class ExportSlots:
    """Streaming exports may not starve the server.

    The HTTP handlers run on a pool of 10 threads, and an export streams from one of them for as
    long as its client reads. So: at most `limit` exports at once (beyond, a 503 problem with
    `Retry-After`); and an export ends, giving its thread back, as soon as its client disconnects
    or stops taking data for `stall_seconds`. The handler's stream sees that through the
    `threading.Event` under CLIENT_GONE_KEY in the ASGI scope's extensions.
    """

    def __init__(self, app, path: str, limit: int = MAX_CONCURRENT_EXPORTS,
                 stall_seconds: float = EXPORT_STALL_SECONDS):
        self.app, self.path, self.limit, self.stall_seconds = app, path, limit, stall_seconds
        self.running = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        if self.running >= self.limit:
            return await send_problem(send, 503, "Service Unavailable",
                                       f"{self.limit} exports are running, the most this server runs at once; "
                                       "try again in a moment.", headers=[(b"retry-after", b"10")])
        self.running += 1
        gone = threading.Event()
        scope = {**scope, "extensions": {**scope.get("extensions", {}), CLIENT_GONE_KEY: gone}}
        import asyncio  # here: importing it was 16 ms of every command's start-up (the CLI reads this module's limits)

        inbox: asyncio.Queue = asyncio.Queue()

        async def watch():  # the only reader of `receive`: it hears the disconnect
            while True:
                message = await receive()
                await inbox.put(message)
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        async def send_unless_gone(message):
            if gone.is_set():
                return
            try:
                await asyncio.wait_for(send(message), self.stall_seconds)
            except TimeoutError:
                gone.set()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self.app(scope, inbox.get, send_unless_gone)
        finally:
            watcher.cancel()
            self.running -= 1


# What answers may hold, in total, of bytes not yet taken by their clients: beyond it, a new answer
# is a 503 (one answer larger than this is still sent when nothing else is waiting).
PENDING_RESPONSE_BYTES = 64 * 1024 * 1024
# An answer is handed to the socket this much at a time: uvicorn buffers each piece whole, and
# waits for the client to take it before the next (30 stalled readers of an 8.3 MB answer took
# the server from 482 to 744 MB when each answer went over as one piece).
RESPONSE_CHUNK_BYTES = 64 * 1024
# A piece the client has not taken in this long: a reader that stopped reading; its connection
# is dropped and its answer's memory given back.
RESPONSE_STALL_SECONDS = 20.0


class PendingResponses:
    """ASGI middleware bounding the memory that slow or stalled readers hold, on every route.

    An answer goes to the socket in RESPONSE_CHUNK_BYTES pieces, each awaited; the bytes not yet
    taken count against `budget`. An answer that would pass the budget while others wait is a 503
    problem with `Retry-After` instead, and a reader that takes nothing for `stall_seconds` is
    dropped (uvicorn closes the connection), which gives its bytes back.
    """

    def __init__(self, app, budget: int = PENDING_RESPONSE_BYTES, stall_seconds: float = RESPONSE_STALL_SECONDS,
                 chunk_bytes: int = RESPONSE_CHUNK_BYTES):
        self.app, self.budget, self.stall_seconds, self.chunk_bytes = app, budget, stall_seconds, chunk_bytes
        self.pending = 0  # bytes given by the app, not yet taken by their clients

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        import asyncio  # here, as in ExportSlots

        start: dict | None = None
        dropped = False

        async def send_in_pieces(message):
            nonlocal start, dropped
            if dropped:
                return
            if message["type"] == "http.response.start":
                start = message  # sent with the first piece of the body, or replaced by a 503
                return
            if message["type"] != "http.response.body":
                return await send(message)
            body = message.get("body", b"")
            if start is not None:
                if self.pending and self.pending + len(body) > self.budget:
                    dropped = True
                    return await send_problem(send, 503, "Service Unavailable", "Clients are still reading "
                                              f"{self.pending} bytes of earlier answers, the most this server holds "
                                              "for them; try again in a moment.", headers=[(b"retry-after", b"5")])
                await send(start)
                start = None
            self.pending += len(body)
            sent = 0
            try:
                while True:
                    piece = body[sent:sent + self.chunk_bytes]
                    last = sent + len(piece) >= len(body)
                    await asyncio.wait_for(send({"type": "http.response.body", "body": piece,
                                                 "more_body": message.get("more_body", False) or not last}),
                                           self.stall_seconds)
                    sent += len(piece)
                    if last:
                        break
            except TimeoutError:
                dropped = True
            finally:
                self.pending -= len(body)

        await self.app(scope, receive, send_in_pieces)
