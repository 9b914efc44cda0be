"""`rasa-messaging serve` in a subprocess on a free port, for the scripts that measure or picture
the server (bench/*.py, docs/screenshots.py) and for the tests (`tests.conftest.live_server`, and
the installed wheel's command in tests/test_wheel.py). A server that does not come up is an
error carrying its log."""

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLI = (sys.executable, "-m", "rasa_messaging.cli")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(*args, command=CLI, cwd=None, log=subprocess.DEVNULL, env=None, seconds: float = 120):
    """Yields (base URL, process) of `command serve ARGS --port P` once it answers; stops it after.
    `log`: an open file for its output (its text is in the error if it does not come up)."""
    port = free_port()
    server = subprocess.Popen([*command, "serve", *args, "--port", str(port)], cwd=cwd, env=env,
                              stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                httpx.get(f"{base}/core/openapi.json")
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    said = Path(log.name).read_text(errors="replace") if hasattr(log, "name") else ""
                    raise RuntimeError(f"{base} did not come up\n{said}") from None
                time.sleep(0.1)
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
