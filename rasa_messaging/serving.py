"""Running `rasa-messaging serve`: everything is checked before the server listens (the tokens,
the store, the port), so a mistake is one line and an exit, not a server that 500s. The access
log never shows a token, and broker consumers can run in the same process.
"""

import logging
import re
import socket
import sys
import threading
from dataclasses import dataclass
from urllib.parse import unquote

from .demo import DEMO_CONVERSATIONS, ensure_demo_store
from .hosts import allowed_hosts
from .logs import log_json_lines
from .store.database import without_password
from .stores import open_or_create_store

_QUERY_PARAMETER = re.compile(r"([?&;]([^=&;?\s]*)=)[^&;\s]*")


@dataclass(frozen=True)
class ServeOptions:
    db_path: str
    demo: bool
    host: str
    port: int
    token: str | None
    review_token: str | None
    allowed_hosts: tuple
    max_body_bytes: int
    consume_urls: tuple
    log_format: str = "text"
    read_urls: tuple = ()


_said = logging.getLogger("rasa_messaging.serve")
_json_logs = threading.Event()  # set by `--log-format json`, for the whole process


def say(line: str) -> None:
    """Tell the operator: a plain line, or with `--log-format json` a JSON record like every other."""
    if _json_logs.is_set():
        _said.info(line)
    else:
        print(f"rasa-messaging: {line}", file=sys.stderr, flush=True)


def run_server(options: ServeOptions) -> None:
    """Serve until interrupted. Raises `CannotServe` or `StoreNotUsable` (a one-line reason) for
    tokens, a broker URL, a store or a port that cannot be served."""
    json_logs = options.log_format == "json"
    if json_logs:
        log_json_lines()
        _json_logs.set()
    check_tokens(options.token, options.review_token)
    for url in options.consume_urls:
        check_consume_url(url)
    if options.demo and ensure_demo_store(options.db_path):
        say(f"built the demo store {options.db_path} ({DEMO_CONVERSATIONS} generated conversations)")
    store = open_or_create_store(options.db_path)  # refuses what cannot be a store before listening
    listener = listening_socket(options.host, options.port)

    import uvicorn

    from .app import create_app

    secured = bool(options.token or options.review_token or store.users())  # people: tokens (auth.py)
    try:
        app = create_app(options.db_path, token=options.token, review_token=options.review_token,
                         read_replicas=options.read_urls,
                         max_body_bytes=options.max_body_bytes, log_requests=json_logs,
                         allowed_hosts=None if secured else allowed_hosts(options.host, options.allowed_hosts))
    except Exception as error:  # a defect of the installed package, said before anything is served
        listener.close()
        raise CannotServe(f"cannot build the server: {type(error).__name__}: {error}") from error
    if not secured and allowed_hosts(options.host) is None:
        say(f"WARNING: serving {options.host} without a token: anyone who can reach it can read and change every "
            "conversation. Add people (`rasa-messaging users add NAME --role ROLE`) or set --token "
            "(RASA_MESSAGING_TOKEN).")
    stop = threading.Event()
    consumers = [threading.Thread(target=_consume, args=(store, url, stop), daemon=True, name=f"consume {url}")
                 for url in options.consume_urls]
    for consumer in consumers:
        consumer.start()
    base = f"http://{options.host}:{listener.getsockname()[1]}"
    if options.demo:
        say(f"serving the demo store {options.db_path}: generated conversations to try the page with. To serve "
            "your own: rasa-messaging import --db mine.db FILE..., then rasa-messaging serve --db mine.db")
    say(f"serving {without_password(str(options.db_path))} on {base}/ (API: {base}/core, Swagger UI: {base}/core/ui/)")
    # JSON: uvicorn's records go to the JSON handler, and its access log gives way to ours.
    config = uvicorn.Config(app, log_level="info", **({"log_config": None, "access_log": False} if json_logs else {}))
    logging.getLogger("uvicorn.access").addFilter(redact_tokens)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        stop.set()
        for consumer in consumers:
            consumer.join(timeout=10)


class CannotServe(Exception):
    """The server cannot start as asked; the message says why, in one line."""


def check_tokens(token: str | None, review_token: str | None) -> None:
    if token == "" or review_token == "":
        raise CannotServe("an empty token would leave the API open: give --token / --review-token a value, "
                             "or leave the option out")
    if token and token == review_token:
        raise CannotServe("--token and --review-token are the same: the token would be review-only. "
                             "Give the review token a value of its own.")


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind before anything is announced, so that a taken port is the only thing said."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise CannotServe(f"cannot listen on {host}:{port}: {error.strerror} "
                             "(is another server running there? choose another --port)") from None
    listener.listen(2048)
    return listener


def check_consume_url(url: str) -> None:
    from .brokers import SourceUnusable, check_broker_url

    if url.startswith(("amqp://", "amqps://")):
        return
    try:
        if url.startswith("kafka://"):
            from .kafka import settings_from_url

            settings_from_url(url)
            return
        check_broker_url(url)
    except SourceUnusable as error:
        raise CannotServe(f"--consume {error}") from None


def redact_tokens(record: logging.LogRecord) -> bool:
    """An access-log filter: `?token=...` is logged as `?token=[redacted]` (the header is preferred)."""
    if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
        record.args = (*record.args[:2], redacted(record.args[2]), *record.args[3:])
    return True


def redacted(target: str) -> str:
    """`target` (a path and query) with the value of every parameter whose name, %-decoded and in
    any case, is `token` replaced: `?%74oken=SECRET` authenticates as `?token=` does, and was
    logged whole. `;` separates parameters here too (some parsers split on it)."""
    return _QUERY_PARAMETER.sub(lambda m: f"{m[1]}[redacted]" if unquote(m[2]).casefold() == "token" else m[0], target)


def _consume(store, url: str, stop: threading.Event) -> None:
    from .brokers import RabbitConsumer, SourceUnusable, SqlFollower
    from .kafka import KafkaConsumer, settings_from_url

    if url.startswith("kafka://"):
        consumer = KafkaConsumer(store, settings_from_url(url))
    else:
        consumer = RabbitConsumer(store, url) if url.startswith(("amqp://", "amqps://")) else SqlFollower(store, url)
    try:
        consumer.run(stop)
    except SourceUnusable as error:
        say(f"not consuming {url}: {error}")
