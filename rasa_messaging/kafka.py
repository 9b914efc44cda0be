"""Consuming Rasa's Kafka event broker (`KafkaEventBroker`), with confluent-kafka: the client Rasa
publishes with.

Rasa publishes each event as one message, a JSON object with `sender_id`, keyed by the sender
when it partitions by sender. The consumer is one of a consumer group (Kafka shares a topic's
partitions among a group's members and moves them when one leaves or dies) and has the shape of
the other consumers (rasa_messaging/brokers.py): a batch is read, stored in one transaction, and
only then are its offsets committed. A consumer killed between the two reads the batch again
after a restart (or another member does), and the store's de-duplication absorbs it: every event
is stored once. A message that is not a Rasa event is parked with its reason, topic, partition
and offset. A new group starts at the earliest offset (`from_end`: at the latest).

Errors: a topic the cluster does not have, wrong credentials (SASL) or a certificate that does not
verify raise `SourceUnusable` (no retry can fix them); an unreachable cluster is retried, saying
so, as the RabbitMQ consumer does.
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

from .brokers import Progress, SourceUnusable, _Backoff, _text, read_message

logger = logging.getLogger("rasa_messaging.kafka")

KAFKA_TOPIC = "rasa_core_events"  # Rasa's default topic
KAFKA_GROUP = "rasa-messaging"
KAFKA_BATCH_SIZE = 500
SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Rasa's endpoints.yml names → librdkafka's settings.
_SECURITY_SETTINGS = {"security_protocol": "security.protocol", "sasl_mechanism": "sasl.mechanisms",
                      "sasl_username": "sasl.username", "sasl_password": "sasl.password",
                      "ssl_cafile": "ssl.ca.location", "ssl_certfile": "ssl.certificate.location",
                      "ssl_keyfile": "ssl.key.location", "client_id": "client.id"}
# How long metadata (is there such a topic?) may take before the cluster counts as unreachable.
METADATA_SECONDS = 10.0
METADATA_ASKED_SECONDS = 0.5  # ... asked this long at a time, errors heard between
# Lag is asked of the cluster (a round trip per partition) at most this often while messages
# come, and after every read that brought none.
LAG_SECONDS = 1.0


@dataclass
class KafkaSettings:
    bootstrap_servers: str
    topic: str = KAFKA_TOPIC
    group: str = KAFKA_GROUP
    batch_size: int = KAFKA_BATCH_SIZE
    from_end: bool = False
    session_timeout_ms: int = 10_000
    security: dict = field(default_factory=dict)  # endpoints.yml names (security_protocol, ...) → values

    def client_config(self) -> dict:
        config = {"bootstrap.servers": self.bootstrap_servers, "group.id": self.group,
                  "enable.auto.commit": False, "auto.offset.reset": "latest" if self.from_end else "earliest",
                  "session.timeout.ms": self.session_timeout_ms, "client.id": "rasa-messaging",
                  "logger": logging.getLogger("rasa_messaging.kafka.client")}
        for name, value in self.security.items():
            if value not in (None, ""):
                config[_SECURITY_SETTINGS[name]] = value
        return config


def settings_from_url(url: str) -> KafkaSettings:
    """`kafka://host:port[,host:port]/topic?group=...&batch_size=...&security_protocol=...`
    (`serve --consume`). Raises `SourceUnusable` for a URL that says something else."""
    parsed = urlparse(url)
    if parsed.scheme != "kafka" or not parsed.netloc:
        raise SourceUnusable(f"{url} is not a Kafka URL: kafka://host:port/topic?group=name")
    query = {name: values[-1] for name, values in parse_qs(parsed.query).items()}
    unknown = set(query) - {"group", "batch_size", "from_end", *_SECURITY_SETTINGS}
    if unknown:
        raise SourceUnusable(f"{url}: unknown parameter {sorted(unknown)[0]!r} (group, batch_size, from_end, "
                             f"{', '.join(_SECURITY_SETTINGS)})")
    try:
        batch_size = int(query.pop("batch_size", KAFKA_BATCH_SIZE))
    except ValueError:
        raise SourceUnusable(f"{url}: batch_size must be a whole number") from None
    return KafkaSettings(bootstrap_servers=parsed.netloc, topic=parsed.path.strip("/") or KAFKA_TOPIC,
                         group=query.pop("group", KAFKA_GROUP), batch_size=max(1, batch_size),
                         from_end=query.pop("from_end", "false").lower() in ("1", "true", "yes"),
                         security=query)


class KafkaConsumer:
    def __init__(self, store, settings: KafkaSettings, *, batch_seconds: float = 0.5):
        self.store, self.settings, self.batch_seconds = store, settings, batch_seconds
        self.source = f"kafka:{settings.topic}"
        self.progress = Progress()
        self.lag: dict[int, int] = {}  # partition → messages after the last committed offset
        self._fatal: list[str] = []
        self._lag_measured = 0.0

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set. Raises `SourceUnusable` for what no retry can fix."""
        from confluent_kafka import Consumer

        backoff = _Backoff()
        config = {**self.settings.client_config(), "error_cb": self._error}
        while not stop.is_set():
            consumer = Consumer(config)
            try:
                if not self._topic_exists(consumer):
                    logger.warning("Kafka at %s unreachable; retrying in %.1fs", self.settings.bootstrap_servers,
                                   backoff.delay)
                    self.progress.reconnects += 1
                    backoff.wait(stop)
                    continue
                backoff.reset()
                consumer.subscribe([self.settings.topic], on_assign=self._assigned, on_revoke=self._revoked)
                while not stop.is_set():
                    self._raise_if_fatal()
                    self._consume_batch(consumer)
            finally:
                consumer.close()  # leaves the group at once: its partitions go to the others now

    def line(self) -> str:
        lag = ", ".join(f"{partition}: {waiting}" for partition, waiting in sorted(self.lag.items()))
        return f"{self.progress.line()}; lag by partition: {lag or 'none assigned yet'}"

    def _topic_exists(self, consumer) -> bool:
        """Whether the cluster answered; raises `SourceUnusable` if it has no such topic."""
        from confluent_kafka import KafkaError, KafkaException

        deadline = time.monotonic() + METADATA_SECONDS
        while True:
            try:
                metadata = consumer.list_topics(self.settings.topic, timeout=METADATA_ASKED_SECONDS)
                break
            except KafkaException:
                # `list_topics` serves no callback: a refused handshake, known to librdkafka at
                # once, reached `_error` only after two waits of METADATA_SECONDS (20.8 s).
                consumer.poll(0)
                self._raise_if_fatal()
                if time.monotonic() >= deadline:
                    return False
        self._raise_if_fatal()
        topic = metadata.topics.get(self.settings.topic)
        if topic is None or (topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            raise SourceUnusable(f"Kafka at {self.settings.bootstrap_servers} has no topic {self.settings.topic!r} "
                                 "(Rasa's default is rasa_core_events: name yours with --topic)")
        return True

    def _consume_batch(self, consumer) -> None:
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        messages = consumer.consume(self.settings.batch_size, timeout=self.batch_seconds)
        rows, parked, offsets = [], [], {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise SourceUnusable(f"Kafka has no topic {self.settings.topic!r} any more")
                if error.code() != KafkaError._PARTITION_EOF:
                    logger.warning("Kafka: %s", error.str())
                continue
            offsets[message.topic(), message.partition()] = message.offset() + 1
            row, reason = read_message(message.value() or b"")
            if row is None:
                where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
                logger.warning("parked a message that is not a Rasa event (%s: %s)", where, reason)
                parked.append((self.source, _text(message.value() or b""), f"{where}: {reason}"))
            else:
                rows.append(row)
        if offsets:
            result = self.store.ingest(rows, parked=parked)
            try:  # only after the commit; a failure here only means the batch comes again
                consumer.commit(offsets=[TopicPartition(topic, partition, offset)
                                         for (topic, partition), offset in offsets.items()], asynchronous=False)
            except KafkaException as error:
                logger.warning("Kafka did not take the offsets (%s); the batch will be read again, and not "
                               "stored twice", error)
            self.progress.add(self.source, result, len(parked), rows)
        if time.monotonic() - self._lag_measured >= LAG_SECONDS or not offsets:
            self._measure_lag(consumer)
            self._lag_measured = time.monotonic()

    def _measure_lag(self, consumer) -> None:
        """Per assigned partition: the high watermark minus the consumer's position (before it has
        read the partition: its group's committed offset; before any commit: the low watermark)."""
        from .metrics import KAFKA_LAG

        assigned = consumer.assignment()
        positions = {tp.partition: tp.offset for tp in consumer.position(assigned)} if assigned else {}
        unread = [tp for tp in assigned if positions.get(tp.partition, -1) < 0]
        if unread:
            positions.update({tp.partition: tp.offset for tp in consumer.committed(unread, timeout=5)})
        lag = {}
        for tp in assigned:
            low, high = consumer.get_watermark_offsets(tp, cached=False, timeout=5)
            position = positions.get(tp.partition, -1)
            if high >= 0:
                lag[tp.partition] = max(0, high - (position if position >= 0 else low))
        for partition in set(self.lag) - set(lag):
            KAFKA_LAG.remove(self.source, str(partition))
        for partition, waiting in lag.items():
            KAFKA_LAG.labels(self.source, str(partition)).set(waiting)
        self.lag = lag

    def _assigned(self, consumer, partitions) -> None:
        # Said, so that an operator (and the test of a group's members) sees which member reads what.
        logger.warning("Kafka gave partitions %s of %s to this member of group %s",
                       ",".join(str(tp.partition) for tp in partitions) or "none", self.settings.topic,
                       self.settings.group)

    def _revoked(self, consumer, partitions) -> None:
        # Nothing is in flight: a batch is stored and committed before the next `consume`, in which
        # Kafka calls this. Said, so that an operator sees the group rebalance.
        logger.warning("Kafka moved partitions %s of %s to another member of group %s",
                       ",".join(str(tp.partition) for tp in partitions), self.settings.topic, self.settings.group)

    def _error(self, error) -> None:
        """librdkafka's errors outside a message: authentication and certificate ones are fatal."""
        from confluent_kafka import KafkaError

        code = error.code()
        if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED,
                    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
                    KafkaError._SSL) or error.fatal():
            self._fatal.append(error.str())
        elif code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE):
            logger.warning("Kafka at %s: %s", self.settings.bootstrap_servers, error.str())

    def _raise_if_fatal(self) -> None:
        if self._fatal:
            raise SourceUnusable(f"Kafka at {self.settings.bootstrap_servers} refused us: {self._fatal[0]}")
