"""A PostgreSQL primary and its hot standby, made for the tests with Debian's cluster tools.

`pg_createcluster` makes a primary of the tests' own on a free port (trust on 127.0.0.1, its
replication included), and a second cluster whose data directory `pg_basebackup -R` then fills
from it: a streaming replica, started in hot standby. The machine's own cluster is left as it is
(its pg_hba.conf admits no replication). Both are dropped afterwards.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg

VERSION = "15"


def why_not() -> str | None:
    """Why no cluster can be made here, or None."""
    if shutil.which("pg_createcluster") is None or shutil.which("pg_basebackup") is None:
        return "Debian's PostgreSQL cluster tools (pg_createcluster, pg_basebackup) are not installed"
    if os.geteuid() != 0:
        return "pg_createcluster needs root"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)


def _drop(name: str) -> None:
    subprocess.run(["pg_dropcluster", "--stop", VERSION, name], capture_output=True, timeout=120)


def control(name: str, action: str) -> None:
    """`pg_ctlcluster` start / stop of a cluster made here."""
    _run("pg_ctlcluster", VERSION, name, action, *(["-m", "fast"] if action == "stop" else []))


def wait_until_accepting(port: int, seconds: float = 60, database: str = "postgres") -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/{database}", connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def primary_and_standby(prefix: str):
    """(primary port, standby port, standby cluster name), streaming, until the block ends."""
    primary, standby = f"{prefix}_primary", f"{prefix}_standby"
    primary_port, standby_port = _free_port(), _free_port()
    for name in (primary, standby):
        _drop(name)  # a cluster a killed run left behind
    try:
        _run("pg_createcluster", "--start", "-p", str(primary_port), VERSION, primary, "--",
             "--auth-local=trust", "--auth-host=trust")
        wait_until_accepting(primary_port)
        _run("pg_createcluster", "-p", str(standby_port), VERSION, standby, "--", "--auth-local=trust",
             "--auth-host=trust")
        data = Path(f"/var/lib/postgresql/{VERSION}/{standby}")
        for child in data.iterdir():  # emptied, kept: postgres may not make a directory beside it
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        _run("runuser", "-u", "postgres", "--", "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port),
             "-U", "postgres", "-D", data, "-R", "-X", "stream")
        control(standby, "start")
        wait_until_accepting(standby_port)
        yield primary_port, standby_port, standby
    finally:
        for name in (standby, primary):
            _drop(name)
