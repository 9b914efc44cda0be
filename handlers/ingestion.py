"""Operations tagged `Ingestion` (extension): getting Rasa events in (at most
MAX_EVENTS_PER_REQUEST a request: rasa_messaging/validation.py refuses more with 413)."""

from rasa_messaging.metrics import count_ingest
from rasa_messaging.store import prepare
from rasa_messaging.store.events import unknown_types

from . import store


def ingest_events(sender_id, body):
    events = body if isinstance(body, list) else [body]
    rows = prepare(sender_id, events)
    result = store().ingest(rows)
    unknown = unknown_types(rows)
    count_ingest("http", result.stored, result.duplicates, unknown=sum(unknown.values()))
    return {"stored": result.stored, "duplicates": result.duplicates, **({"unknown_types": unknown} if unknown else {})}
