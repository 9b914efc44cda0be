"""The bridge between uvicorn's event loop and Flask: a2wsgi's, handing a response over whole.

a2wsgi runs the Flask app in a thread and hands each piece of the response to the event loop
as it comes (the status and headers, each body chunk, the end), waiting for the loop each time.
On a 2-core virtual machine one such hand-over costs 0.1-0.3 ms of CPU, and they were most of
the framework floor: GET /session took 1.5 ms of server CPU through a2wsgi with a bare Flask
app, 0.8 ms with the response handed over whole, and a plain ASGI answer 0.13 ms.

So a response is held in the thread until the app has finished it, up to `HOLD_AT_MOST` bytes,
and handed over with the thread's own completion. A larger response (an export, a big debug
dump) is streamed as a2wsgi streams it, from the first byte past the bound: memory stays
bounded, and a slow reader of an export still holds only its own thread.
"""

import contextvars
import functools

from a2wsgi.wsgi import Body, WSGIMiddleware, WSGIResponder, build_environ

HOLD_AT_MOST = 256 * 1024  # bytes of body: a page of 100 real-shaped conversations is about 70 kB


class HandOverWhole(WSGIMiddleware):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            return await _WholeResponder(self.app, self.executor, self.send_queue_size)(scope, receive, send)
        return await super().__call__(scope, receive, send)


class _WholeResponder(WSGIResponder):
    def __init__(self, *args):
        super().__init__(*args)
        self.held: list = []
        self.held_bytes = 0  # past HOLD_AT_MOST, the response streams

    def send(self, message) -> None:
        """In the app's thread: keep the message while the response is small, else stream."""
        if self.held_bytes > HOLD_AT_MOST:
            return super().send(message)
        self.held.append(message)
        self.held_bytes += len(message.get("body", b""))
        if self.held_bytes > HOLD_AT_MOST:
            held, self.held = self.held, []
            for kept in held:
                super().send(kept)

    async def __call__(self, scope, receive, send) -> None:
        """a2wsgi's, but for the messages held: queued once the app's thread is done."""
        environ = build_environ(scope, Body(self.loop, receive))
        sender = self.loop.create_task(self.sender(send))
        try:
            in_context = functools.partial(contextvars.copy_context().run, self.wsgi)  # connexion's context
            await self.loop.run_in_executor(self.executor, in_context, environ, self.start_response)
            for message in self.held:
                await self.send_queue.put(message)
            await self.send_queue.put(None)
            await sender
            if self.exc_info is not None:
                raise self.exc_info[0].with_traceback(self.exc_info[1], self.exc_info[2])
        finally:
            if not sender.done():
                sender.cancel()
