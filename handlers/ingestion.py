"""Operations tagged `Ingestion` (extension): getting Rasa events in."""

from connexion.exceptions import ProblemException

from rasa_messaging.limits import MAX_EVENTS_PER_REQUEST
from rasa_messaging.store import prepare

from . import store


def ingest_events(sender_id, body):
    events = body if isinstance(body, list) else [body]
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise ProblemException(status=413, title="Request Entity Too Large", ext={"parameter": "body"},
                               detail=f"{len(events)} events in one request; at most {MAX_EVENTS_PER_REQUEST} are "
                                      "taken at once (one transaction each): send them in several requests.")
    result = store().ingest(prepare(sender_id, events))
    return {"stored": result.stored, "duplicates": result.duplicates}
