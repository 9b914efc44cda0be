"""problem+json answers sent straight from ASGI middleware (before connexion's error handling)."""

import json


async def send_problem(send, status: int, title: str, detail: str, *, parameter: str | None = None,
                       headers=()) -> None:
    problem = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if parameter:
        problem["parameter"] = parameter
    body = json.dumps(problem).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
