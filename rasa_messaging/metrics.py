"""What an operator watches: Prometheus metrics at `/metrics`, and one log record per request.

`RequestMetrics` sits outside connexion's error handling, so 4xx/5xx answers are counted too. It
names a request by the spec's operationId (matched from the path, like the router does): labels
stay as few as the spec's operations, whatever paths clients send. Counters are per process;
Prometheus sums them over replicas.
"""

import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

NOT_AN_OPERATION = "-"  # the review page, its static files, Swagger UI, unknown paths

REQUESTS = Counter("rasa_messaging_requests", "HTTP requests answered, by the spec's operationId and status",
                   ["operation", "status"])
LATENCY = Histogram("rasa_messaging_request_duration_seconds", "Time to answer a request, by operationId",
                    ["operation"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
EVENTS = Counter("rasa_messaging_events", "Events received by this process, by source and outcome "
                 "(stored, duplicate: already stored, parked: not a Rasa event)", ["source", "outcome"])
# By source only: the types themselves are in the log, the ingest response and the import summary
# (a label per type would let any client grow the metrics without bound).
# With read replicas (`serve --db-read`): which store served each read (rasa_messaging/replicas.py).
READS = Counter("rasa_messaging_reads", "API reads with read replicas configured, by the store that served them "
                "(replica, primary)", ["store"])
UNKNOWN_TYPES = Counter("rasa_messaging_unknown_event_types", "Events received of a type this version does not "
                        "know (stored as they came), by source", ["source"])
CONSUMER_LAG = Gauge("rasa_messaging_consumer_lag_messages",
                     "Messages waiting in a consumed RabbitMQ queue, as of the consumer's last batch", ["source"])

KAFKA_LAG = Gauge("rasa_messaging_kafka_lag_messages",
                  "Messages after a Kafka consumer's position, by topic and partition, as of its last batch",
                  ["source", "partition"])

request_log = logging.getLogger("rasa_messaging.requests")


def count_ingest(source: str, stored: int, duplicates: int, parked: int = 0, unknown: int = 0) -> None:
    """`unknown`: events received of a type no list of this version knows (stored all the same)."""
    for outcome, count in (("stored", stored), ("duplicate", duplicates), ("parked", parked)):
        if count:
            EVENTS.labels(source, outcome).inc(count)
    if unknown:
        UNKNOWN_TYPES.labels(source).inc(unknown)


def metrics_response():
    """The body and content type of `GET /metrics`."""
    return generate_latest(), CONTENT_TYPE_LATEST


class OperationNames:
    """The operationId a request path and method call, or `NOT_AN_OPERATION`."""

    def __init__(self, spec: dict, base_path: str):
        from .resolver import route_pattern, spec_operations  # imports connexion: only the server needs it

        self.routes = sorted(((path.count("{"), route_pattern(base_path, path), method.upper(), op["operationId"])
                              for path, method, op in spec_operations(spec)), key=lambda route: route[0])

    def __call__(self, method: str, path: str) -> str:
        for _, pattern, route_method, operation in self.routes:
            if route_method == method and pattern.match(path):
                return operation
        return NOT_AN_OPERATION


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request; with `log_requests`, logs each one to
    `rasa_messaging.requests` (the JSON log of `serve --log-format json`)."""

    def __init__(self, app, *, operations: OperationNames, log_requests: bool = False):
        self.app, self.operations, self.log_requests = app, operations, log_requests

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def observed_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            operation = self.operations(scope["method"], scope["path"])
            REQUESTS.labels(operation, str(status)).inc()
            LATENCY.labels(operation).observe(seconds)
            if self.log_requests:
                request_log.info("%s %s %s", scope["method"], scope["path"], status, extra={"request": {
                    "method": scope["method"], "path": scope["path"], "operation": operation, "status": status,
                    "duration_ms": round(seconds * 1000, 3), "client": (scope.get("client") or ("",))[0]}})
