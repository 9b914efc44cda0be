"""Live ingestion from Rasa's event brokers, through the same ingest path as HTTP and imports.

- `RabbitConsumer` consumes what Rasa's pika event broker publishes: JSON events carrying
  `sender_id`, on a fanout exchange (`rasa-exchange`) with a durable queue (`rasa_core_events`),
  declared exactly as Rasa declares them so a stock `endpoints.yml` works unchanged. A batch is
  acknowledged only after it is committed: at-least-once delivery plus idempotent ingest stores
  every event exactly once. A message that is not a Rasa event is parked in the store and
  acknowledged, so it never blocks the queue or comes back.
- `SqlFollower` follows the `events(id, sender_id, data)` table of Rasa's SQL event broker
  (SQLite or PostgreSQL), storing the last id it read in the same transaction as the events.
Both stop cleanly when their `stop` event is set, and back off and reconnect when the source goes
away. A source that can never work (an unsupported URL, a missing SQLite file, wrong credentials,
an exchange RabbitMQ already holds with other arguments) raises `SourceUnusable` instead: retrying
it forever would only hide the mistake.
"""

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from rasa_messaging.store import InvalidEvent, Store, json_text
from rasa_messaging.store.broker_tables import UnsupportedBrokerUrl, broker_table_errors, open_broker_table
from rasa_messaging.store.database import store_identity
from rasa_messaging.store.events import event_row, unknown_types, validate_event

logger = logging.getLogger("rasa_messaging.brokers")

RABBITMQ_EXCHANGE = "rasa-exchange"
RABBITMQ_QUEUE = "rasa_core_events"
RABBITMQ_BATCH_SIZE = 500
SQL_BATCH_SIZE = 1000
SQL_POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# AMQP reply codes that no retry can change: ACCESS_REFUSED, NOT_FOUND, PRECONDITION_FAILED.
_PERMANENT_AMQP_CODES = {403, 404, 406}


class SourceUnusable(Exception):
    """The source cannot be consumed, now or after any retry: the message says why."""


@dataclass
class Progress:
    stored: int = 0
    duplicates: int = 0
    parked: int = 0
    reconnects: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, source: str, result, parked: int, rows=()) -> None:
        """Count a committed batch of `rows`, here and in the process's metrics; say which of its
        types no list of this version knows (they are stored as they came)."""
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.parked += parked
        unknown = unknown_types(rows)
        if unknown:
            logger.warning("stored events of types this version does not know (a newer Rasa's, or a typo): %s",
                           ", ".join(f"{kind} ({count})" for kind, count in sorted(unknown.items())))
        from .metrics import count_ingest  # here: prometheus_client was 40 ms of every command's start-up

        count_ingest(source, result.stored, result.duplicates, parked, unknown=sum(unknown.values()))

    def line(self) -> str:
        seconds = time.monotonic() - self.started
        return (f"{self.stored} events stored, {self.duplicates} duplicates, {self.parked} parked, "
                f"{self.reconnects} reconnects, {self.stored / seconds if seconds else 0:.0f} events/s")


def read_message(body, sender_id: str | None = None) -> tuple:
    """A broker message → (EventRow, None), or (None, why it is not a Rasa event). `sender_id`
    is the sender a SQL broker row names, for an event that does not carry its own."""
    try:
        event = json_text.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return None, f"not JSON: {error}"
    if not isinstance(event, dict):
        return None, "not a JSON object"
    carried = event.get("sender_id")
    if sender_id and carried not in (None, sender_id):
        return None, f"the event's sender_id {carried!r} is not the row's {sender_id!r}"
    sender_id = carried or sender_id
    if not isinstance(sender_id, str) or not sender_id:
        return None, "no sender_id"
    try:
        return event_row(sender_id, validate_event(event)), None
    except InvalidEvent as error:
        return None, error.detail


def _text(body) -> str:
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


class _Backoff:
    def __init__(self):
        self.delay = 0.5

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self.delay)
        self.delay = min(self.delay * 2, MAX_BACKOFF_SECONDS)

    def reset(self) -> None:
        self.delay = 0.5


class RabbitConsumer:
    def __init__(self, store: Store, url: str, *, queue: str = RABBITMQ_QUEUE, exchange: str = RABBITMQ_EXCHANGE,
                 batch_size: int = RABBITMQ_BATCH_SIZE, batch_seconds: float = 0.5):
        self.store, self.url, self.queue, self.exchange = store, url, queue, exchange
        self.batch_size, self.batch_seconds = batch_size, batch_seconds
        self.progress = Progress()
        self.source = f"rabbitmq:{queue}"

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set. Raises `SourceUnusable` for a URL, credentials or a queue
        setup that no reconnect can fix."""
        import pika
        import pika.exceptions

        logging.getLogger("pika").setLevel(logging.CRITICAL + 1)  # it logs each failure, with a traceback; we say it once
        parameters = rabbitmq_parameters(self.url)
        backoff = _Backoff()
        while not stop.is_set():
            try:
                connection = pika.BlockingConnection(parameters)
            except pika.exceptions.ProbableAuthenticationError as error:
                raise SourceUnusable(f"RabbitMQ at {_safe(self.url)} refused the user and password: "
                                     f"{amqp_reason(error)}") from None
            except pika.exceptions.ProbableAccessDeniedError as error:
                raise SourceUnusable(f"RabbitMQ at {_safe(self.url)} refused access: {amqp_reason(error)}") from None
            except (pika.exceptions.AMQPError, OSError) as error:  # OSError: a name that does not resolve
                logger.warning("RabbitMQ at %s unreachable (%s); retrying in %.1fs", _safe(self.url),
                               amqp_reason(error), backoff.delay)
                backoff.wait(stop)
                continue
            try:
                backoff.reset()
                self._consume(connection, stop)
            except pika.exceptions.ChannelClosedByBroker as error:
                if error.reply_code in _PERMANENT_AMQP_CODES:
                    raise SourceUnusable(f"RabbitMQ refused queue {self.queue!r} on exchange {self.exchange!r}: "
                                         f"{error.reply_text} (declare them as Rasa does, or name others with "
                                         "--queue / --exchange)") from None
                self._reconnect_after(error, backoff, stop)
            except (pika.exceptions.AMQPError, OSError) as error:
                self._reconnect_after(error, backoff, stop)
            finally:
                if connection.is_open:
                    try:
                        connection.close()
                    except Exception:  # closing a broken connection may fail; nothing is lost
                        pass

    def _reconnect_after(self, error, backoff: "_Backoff", stop: threading.Event) -> None:
        self.progress.reconnects += 1
        logger.warning("RabbitMQ connection lost (%s); reconnecting in %.1fs", error, backoff.delay)
        backoff.wait(stop)

    def _consume(self, connection, stop: threading.Event) -> None:
        channel = connection.channel()
        # As Rasa's PikaEventBroker declares them (re-declaring with other options would fail).
        channel.exchange_declare(self.exchange, exchange_type="fanout")
        channel.queue_declare(self.queue, durable=True)
        channel.queue_bind(self.queue, self.exchange, routing_key="")
        channel.basic_qos(prefetch_count=self.batch_size * 2)
        pending = []  # (delivery tag, body)
        deadline = None
        for method, _properties, body in channel.consume(self.queue, inactivity_timeout=min(self.batch_seconds, 0.2)):
            if method is not None:
                pending.append((method.delivery_tag, body))
                deadline = deadline or time.monotonic() + self.batch_seconds
            due = pending and (len(pending) >= self.batch_size or time.monotonic() >= deadline)
            if due or (stop.is_set() and pending):
                self._store_batch(channel, pending)
                pending, deadline = [], None
            if stop.is_set():
                channel.cancel()
                return

    def _store_batch(self, channel, pending) -> None:
        rows, parked = [], []
        for _, body in pending:
            row, reason = read_message(body)
            if row is None:
                logger.warning("parked a message that is not a Rasa event (%s)", reason)
                parked.append((self.source, _text(body), reason))
            else:
                rows.append(row)
        result = self.store.ingest(rows, parked=parked)
        channel.basic_ack(delivery_tag=pending[-1][0], multiple=True)  # only after the commit
        self.progress.add(self.source, result, len(parked), rows)
        waiting = channel.queue_declare(self.queue, passive=True).method.message_count
        from .metrics import CONSUMER_LAG

        CONSUMER_LAG.labels(self.source).set(waiting)


class SqlFollower:
    """Follows Rasa's SQL event broker table in a SQLite file or a PostgreSQL database."""

    def __init__(self, store: Store, url: str, *, batch_size: int = SQL_BATCH_SIZE,
                 poll_seconds: float = SQL_POLL_SECONDS):
        self.store, self.url = store, url
        self.batch_size, self.poll_seconds = batch_size, poll_seconds
        self.source = f"sql:{store_identity(url)}"  # the table, however the URL spells it
        self.progress = Progress()

    def run(self, stop: threading.Event, *, until_caught_up: bool = False) -> None:
        """Follow the table until `stop` is set (or, `until_caught_up`, until every row is stored).
        Raises `SourceUnusable` for a URL or file that cannot be the broker's table; with
        `until_caught_up`, also for a source that cannot be read now."""
        check_broker_url(self.url)
        sole = self.store.sole(self.source)
        if not self._wait_for_sole(sole, stop, until_caught_up):
            return
        try:
            self.store.rename_follow_position(f"sql:{_safe(self.url)}", self.source)
            self._follow(stop, until_caught_up)
        finally:
            sole.release()

    def _wait_for_sole(self, sole, stop: threading.Event, until_caught_up: bool) -> bool:
        """Two followers of one source would read the same rows: the second waits until the first
        stops (it takes over then), or, `until_caught_up`, says so. False: stopped while waiting."""
        said = False
        while not sole.try_acquire():
            if until_caught_up:
                raise SourceUnusable(f"another follower of {_safe(self.url)} is running on this store; stop it, "
                                     "or let it follow")
            if not said:
                logger.warning("another follower of %s is running on this store; waiting until it stops",
                               _safe(self.url))
                said = True
            if stop.wait(self.poll_seconds):
                return False
        return True

    def _follow(self, stop: threading.Event, until_caught_up: bool) -> None:
        backoff, unreadable = _Backoff(), broker_table_errors()
        while not stop.is_set():
            try:
                with self._connect() as read:
                    backoff.reset()
                    while not stop.is_set():
                        if not self._store_next_batch(read) and until_caught_up:
                            return
            except unreadable as error:
                if until_caught_up:
                    raise SourceUnusable(f"cannot read the event broker table at {_safe(self.url)}: {error}") from None
                self.progress.reconnects += 1
                logger.warning("event broker table at %s unreadable (%s); retrying in %.1fs",
                               _safe(self.url), error, backoff.delay)
                backoff.wait(stop)

    def _store_next_batch(self, read) -> bool:
        """Store the rows after the remembered id; False (after a pause) when there were none."""
        rows = read(self.store.follow_position(self.source), self.batch_size)
        if not rows:
            time.sleep(self.poll_seconds)
            return False
        events, parked = [], []
        for row_id, sender_id, data in rows:
            row, reason = read_message(bytes(data) if isinstance(data, memoryview) else data, sender_id)
            if row is None:
                parked.append((self.source, _text(data), f"row {row_id}: {reason}"))
            else:
                events.append(row)
        result = self.store.ingest(events, parked=parked, position=(self.source, rows[-1][0]))
        self.progress.add(self.source, result, len(parked), events)
        return True

    def _connect(self):
        return open_broker_table(self.url)


def rabbitmq_parameters(url: str):
    """pika's parameters for `url`. Raises `SourceUnusable` for a URL that is not amqp(s)://."""
    import pika

    if urlparse(url).scheme not in ("amqp", "amqps"):
        raise SourceUnusable(f"{_safe(url)} is not a RabbitMQ URL: amqp://user:password@host:5672/vhost (or amqps://)")
    try:
        return pika.URLParameters(url)
    except ValueError as error:
        raise SourceUnusable(f"{_safe(url)} is not a RabbitMQ URL: {error}") from None


_BROKER_REPLY = re.compile(r"\(\d+\) '([^']*)'")  # pika's text of a reply: (403) 'ACCESS_REFUSED - Login was ...'


def amqp_reason(error: BaseException) -> str:
    """What went wrong, in a person's words, from the exceptions pika wraps in each other:
    `Connection refused`, `Name or service not known`, `ACCESS_REFUSED - Login was refused ...`."""
    while True:  # pika wraps as an argument, or as `exception` (its connection workflow's phases)
        inner = getattr(error, "exception", None) or (error.args[0] if error.args else None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    reply = _BROKER_REPLY.search(str(error))
    return reply[1] if reply else str(error) or type(error).__name__


def check_broker_url(url: str) -> None:
    """Raise `SourceUnusable` unless `url` names a SQL event broker table this can read."""
    try:
        open_broker_table(url)
    except UnsupportedBrokerUrl as error:
        raise SourceUnusable(f"{_safe(url)}: {error}") from None


def _safe(url: str) -> str:
    """The URL without its password, for logs and names."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
