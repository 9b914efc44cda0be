"""Request bodies: bounded, and always with a length.

An ASGI middleware outside connexion's stack:
- a declared Content-Length over the limit is refused with 413 before any of the body is read;
- a body sent without a length (chunked) is read as it streams in, refused with 413 as soon as it
  passes the limit (a 100 MB upload never sits in memory), and otherwise handed on with its
  Content-Length, since connexion takes a request without one for a request without a body.
"""

import json

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


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
        body = json.dumps({
            "type": "about:blank", "title": "Request Entity Too Large", "status": 413,
            "detail": f"The request body is larger than {self.max_body_bytes} bytes "
                      "(--max-body-size / RASA_MESSAGING_MAX_BODY_SIZE).",
        }).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


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
