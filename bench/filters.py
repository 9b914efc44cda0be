"""The list filters the benchmark measures: every single filter, and every pair of them.

Values are chosen from the store itself, as a reviewer would pick them: the most common intent,
entity and action, TEDPolicy, a confidence and a message count that split the store, the middle
half of its time span, and the review marks `mark_some` made (flags, review marks, tags,
annotations on a few percent of conversations).
"""

import itertools
import random

from rasa_messaging.store import ConversationFilter, Store, sets


def mark_some(store: Store, seed: int = 1) -> None:
    """Flag 2% of conversations (a user message each), review 1%, tag 1%, annotate 0.5%."""
    rng = random.Random(seed)
    senders = [s for (s,) in store.db.execute("SELECT sender_id FROM conversations ORDER BY id")]
    for sender_id in rng.sample(senders, max(1, len(senders) // 50)):
        user = store.messages(sender_id, limit=None)[1]
        message = next((e for e in user if e["event"] == "user"), None)
        if message:
            store.flag(sender_id, message["timestamp"])
            if rng.random() < 0.25:
                store.annotate(sender_id, message["timestamp"], "greet", None)
    for sender_id in rng.sample(senders, max(1, len(senders) // 100)):
        store.mark_reviewed(sender_id)
    for sender_id in rng.sample(senders, max(1, len(senders) // 100)):
        store.add_tag(sender_id, "needs-training")


def single_filters(store: Store) -> dict[str, dict]:
    """name → getConversations parameters."""
    def most_common(kind, exclude=(), otherwise=None):  # the value in the most conversations: its set's bits
        counts = sorted((-sets.read(store.db, kind, value).bit_count(), value) for value in store.unique_terms(kind))
        return next((value for _, value in counts if value not in exclude), otherwise)
    first, last = store.db.execute("SELECT min(latest_event_time), max(latest_event_time) FROM conversations").fetchone()
    span = last - first
    return {
        "intent": {"intent": most_common("intent")},
        "entity": {"entity": most_common("entity")},
        "action": {"action": most_common("action", ("action_listen", "action_session_start"))},
        "policy": {"policies": "TEDPolicy"},
        "maximumConfidence": {"maximumConfidence": 0.6},
        "minimumUserMessages": {"minimumUserMessages": 6},
        "text": {"text": "help"},
        "time range": {"start": round(first + span / 4, 3), "until": round(last - span / 4, 3)},
        "in_training_data": {"in_training_data": "false"},
        "is_flagged": {"is_flagged": "true"},
        "reviewed": {"reviewed": "true"},
        "tags": {"tags": "needs-training"},
        "annotated": {"annotated": "true"},
        # CALM (a data set without CALM conversations matches nothing: still measured).
        "flow": {"flow": most_common("flow", otherwise="transfer_money")},
        "flow_status": {"flow_status": "abandoned"},
        "pattern": {"pattern": "pattern_cancel_flow"},
        "command": {"command": "cancel flow"},
        "model_id": {"model_id": most_common("model_id", otherwise="none")},
    }


def filter_combinations(store: Store) -> dict[str, dict]:
    """Every single filter and every pair, name → parameters."""
    singles = single_filters(store)
    combinations = {"no filter": {}, **singles}
    for (a, pa), (b, pb) in itertools.combinations(singles.items(), 2):
        combinations[f"{a} + {b}"] = {**pa, **pb}
    return combinations


_BOOLEANS = {"true": True, "false": False}
_NAMES = {"maximumConfidence": "maximum_confidence", "minimumUserMessages": "minimum_user_messages"}


def as_filter(parameters: dict) -> ConversationFilter:
    """The ConversationFilter the API builds from these parameters (for in-process timings)."""
    return ConversationFilter.from_parameters(**{
        _NAMES.get(name, name): _BOOLEANS.get(value, value) if isinstance(value, str) else value
        for name, value in parameters.items()})
