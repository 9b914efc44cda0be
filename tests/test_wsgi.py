"""The Flask bridge (rasa_messaging/wsgi.py): a small response is handed over whole once the app
has finished it; a large one streams from the first byte past the bound, as a2wsgi streams."""

import asyncio
import contextvars
import threading

from rasa_messaging.wsgi import HOLD_AT_MOST, HandOverWhole

REQUEST_ID = contextvars.ContextVar("request_id")


def run(app, chunks: list[bytes]):
    """Serve one GET through HandOverWhole; returns the ASGI messages sent and, for each, whether
    the app had finished its body when the message was sent."""
    finished = threading.Event()

    def wsgi_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Request", REQUEST_ID.get("none"))])

        def body():
            yield from chunks
            finished.set()
        return body()

    async def serve():
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append((message, finished.is_set()))

        REQUEST_ID.set("r-17")  # as connexion's middlewares set their context before the app runs
        scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "query_string": b"",
                 "headers": [], "server": ("127.0.0.1", 5005), "client": ("127.0.0.1", 1), "scheme": "http",
                 "root_path": "", "http_version": "1.1"}
        await app(wsgi_app)(scope, receive, send)
        return sent

    return asyncio.run(serve())


def test_a_small_response_is_sent_once_the_app_has_finished_it_with_its_context():
    sent = run(HandOverWhole, [b"hello ", b"world"])
    start, *bodies = [message for message, _ in sent]
    assert start["status"] == 200 and (b"x-request", b"r-17") in start["headers"]
    assert b"".join(m.get("body", b"") for m in bodies) == b"hello world"
    assert bodies[-1].get("more_body", False) is False
    assert all(app_done for _, app_done in sent)


def test_a_large_response_streams_before_the_app_has_finished_it():
    chunk = b"x" * 65536
    chunks = [chunk] * (HOLD_AT_MOST // len(chunk) + 8)
    sent = run(HandOverWhole, chunks)
    bodies = [message for message, _ in sent[1:]]
    assert b"".join(m.get("body", b"") for m in bodies) == b"".join(chunks)
    assert not sent[0][1], "the headers waited for the whole body"
    assert bodies[-1].get("more_body", False) is False
