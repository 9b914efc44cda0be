"""`rasa-messaging serve` in a subprocess on a free port, for the scripts that measure or picture
the server (bench/*.py, docs/screenshots.py). The tests have their own, `tests.conftest.live_server`,
which fails a test with the server's log."""

import contextlib
import socket
import subprocess
import sys
import time

import httpx

CLI = (sys.executable, "-m", "rasa_messaging.cli")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(*args, command=CLI, cwd=None, log=subprocess.DEVNULL, seconds: float = 120):
    """Yields (base URL, process) of `command serve ARGS --port P` once it answers; stops it after."""
    port = free_port()
    server = subprocess.Popen([*command, "serve", *args, "--port", str(port)], cwd=cwd, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                httpx.get(f"{base}/core/openapi.json")
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{base} did not come up") from None
                time.sleep(0.1)
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
