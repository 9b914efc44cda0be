"""Headers that keep the page and Swagger UI from being framed, sniffed or leaking their URLs.

Two clicks in a same-site frame at 30% opacity erased a conversation. Every response now says:
- `Content-Security-Policy`: scripts, styles, images and requests from this server only, no
  plugins, and `frame-ancestors 'none'`. The page has no inline script or style. Swagger UI's
  page (connexion's template) has one inline script and one inline style: its policy admits
  exactly those, by their SHA-256, computed from the page as it is sent.
- `X-Frame-Options: DENY` (the same for browsers that predate `frame-ancestors`),
- `X-Content-Type-Options: nosniff` (an NDJSON export or a JSON dump is never run as a script),
- `Referrer-Policy: no-referrer` (a link out of a transcript does not carry its sender id).
"""

import base64
import hashlib
import re

POLICY = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
    "connect-src": "'self'", "font-src": "'self'", "object-src": "'none'", "base-uri": "'none'",
    "form-action": "'self'", "frame-ancestors": "'none'",
}
FIXED_HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                 (b"referrer-policy", b"no-referrer")]
_INLINE = re.compile(rb"<(script|style)(?:\s[^>]*)?>(.*?)</\1>", re.S | re.I)
_HAS_SOURCE = re.compile(rb"<script\s[^>]*\bsrc=", re.I)


def policy(extra: dict | None = None) -> bytes:
    """The Content-Security-Policy, with `extra` sources added to its directives."""
    return "; ".join(f"{name} {value} {' '.join(extra.get(name, ()))}".strip() if extra else f"{name} {value}"
                     for name, value in POLICY.items()).encode()


def inline_hashes(html: bytes) -> dict:
    """The `'sha256-…'` sources of the inline scripts and styles of `html`, by directive."""
    sources: dict = {"script-src": [], "style-src": []}
    for match in _INLINE.finditer(html):
        tag, body = match[1].lower(), match[2]
        if tag == b"script" and _HAS_SOURCE.match(match[0]):
            continue
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        sources[f"{tag.decode()}-src"].append(f"'sha256-{digest}'")
    return sources


class SecurityHeaders:
    """ASGI middleware adding the headers above to every response. `hashed_prefix`: the paths
    whose HTML pages have inline script or style to admit by hash (Swagger UI); those pages are
    small (1.5 kB) and read whole before they are sent."""

    def __init__(self, app, hashed_prefix: str):
        self.app = app
        self.hashed_prefix = hashed_prefix
        self.headers = [(b"content-security-policy", policy()), *FIXED_HEADERS]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"].startswith(self.hashed_prefix):
            return await self._with_hashes(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*_without(message.get("headers", [])), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _with_hashes(self, scope, receive, send):
        start, chunks = None, []

        async def held(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = _without(message.get("headers", []))
                if any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers):
                    start = {**message, "headers": headers}  # held until the page is read
                else:
                    await send({**message, "headers": [*headers, *self.headers]})
                return
            if start is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                csp = (b"content-security-policy", policy(inline_hashes(b"".join(chunks))))
                await send({**start, "headers": [*start["headers"], csp, *FIXED_HEADERS]})
                await send({"type": "http.response.body", "body": b"".join(chunks)})

        await self.app(scope, receive, held)


def _without(headers) -> list:
    """`headers` without the ones this sets (a response never carries two policies)."""
    ours = {b"content-security-policy", *(name for name, _ in FIXED_HEADERS)}
    return [(name, value) for name, value in headers if name.lower() not in ours]
