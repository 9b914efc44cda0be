"""What a CALM conversation's flows add to the store, derived at ingest from its events.

A conversation with flow events (`conversations.n_flow_events`) is replayed (store/flows.py) from
all its stored events whenever new events it reads arrive: an episode's outcome depends on what
comes after (an `abandoned` flow completes when the user comes back), and events may arrive out of
order. What is derived replaces what was, in the same transaction:

- `flow_episodes`: one row per user-flow episode, for `/flows`, the funnels and the transcript,
  and their sums by day (store/flow_days.py);
- `conversation_patterns`: the pattern flows pushed, with how often;
- the terms (and sets) the list filters by: `flow`, `flow_status`, `flow_episode` (flow and
  status of one episode, for `flow` with `flow_status`), `pattern`;
- the statistics `flow` (episodes started) and `pattern` (pushed).

Replaying a conversation costs about 15 µs an event read (the 11,731 events of ../shared's 80
CALM conversations: 0.2 s); a classic conversation is never replayed.
"""

import json
from collections import Counter, defaultdict
from operator import attrgetter

from . import json_text, sets
from .flow_days import STORED_COLUMNS, FlowDays
from .flows import FLOW_EVENT_TYPES, REPLAYED_TYPES, Replay, replay
from .packing import current_dictionary, event_of, packer, text_of

# The terms derived by the replay (the others are derived event by event, store/ingest.py).
FLOW_TERM_KINDS = ("flow", "flow_status", "flow_episode", "pattern")
_CHUNK = 500
_REPLAYED = ",".join(f"'{kind}'" for kind in REPLAYED_TYPES)
_FLOW_EVENTS = ",".join(f"'{kind}'" for kind in FLOW_EVENT_TYPES)


def episode_term(flow_id: str, status: str) -> str:
    """The `flow_episode` term of an episode of `flow_id` with `status`: a flow id may hold a
    `/`, a status never does."""
    return f"{flow_id}/{status}"


def terms_of(state: Replay) -> set[tuple[str, str]]:
    terms = {("pattern", pattern) for pattern in state.patterns}
    for episode in state.episodes:
        terms.add(("flow", episode.flow_id))
        for status in episode.statuses:
            terms.add(("flow_status", status))
            terms.add(("flow_episode", episode_term(episode.flow_id, status)))
    return terms


def replay_conversation(db, sender_id: str, *, until: float | None = None) -> Replay:
    """The replay of `sender_id`'s stored events (those up to `until`), in the transcript's order."""
    clause, params = ("AND timestamp <= ?", [until]) if until is not None else ("", [])
    return replay(event_of(db, data, timestamp) for timestamp, data in db.execute(
        f"SELECT timestamp, data FROM events WHERE sender_id = ? AND type IN ({_REPLAYED}) {clause} ORDER BY timestamp, id",
        [sender_id, *params]))


def replays_of(rows: list, deltas: dict) -> dict[str, Replay]:
    """sender → the replay of its conversation's flows, of the senders with flow events among
    `rows` (EventRows; `deltas`: `deltas_of(rows)`), as `derive_flows` replays a conversation
    whose only stored events are these: an import's workers replay the conversations a batch
    makes, which took the storing process 47% of its time reading their events back (py-spy, 100k
    generated conversations)."""
    by_sender: dict = defaultdict(list)
    for row in rows:
        if row.type in REPLAYED_TYPES and deltas[row.sender_id].n_flow_events:
            by_sender[row.sender_id].append(row)
    # In the transcript's order: by time, then as stored (a stable sort keeps the rows' order).
    return {sender_id: replay(json_text.loads(row.data) for row in sorted(sender_rows, key=attrgetter("timestamp")))
            for sender_id, sender_rows in by_sender.items()}


def derive_flows(db, senders: list[str], *, new: set | frozenset = frozenset(), replays: dict | None = None,
                 held: dict | None = None, sum_days: bool = True) -> tuple[dict, dict]:
    """Derive the flows of `senders`' conversations that have flow events again: the changes to the
    sets ((kind, value) → chunk → (added, removed)) and conversation id → its flow terms now, for
    the caller to make and store with its others (store/terms.py).
    `new`: senders whose conversations this transaction made, which hold nothing derived yet;
    `replays`: `replays_of` the rows of some of them (None for a sender: replayed here);
    `held`: conversation id → the terms it had before (`stored_terms`), of those not new.
    `sum_days=False` (m022, before m024 made the sums by day) leaves the sums unwritten.

    Written `_CHUNK` conversations a statement, and what a new conversation has not got is not
    looked up: a conversation's seven round trips took 6.9 ms of a PostgreSQL import's 1,512 CALM
    conversations (cProfile, 5k generated). Rows are read a conversation a statement, by the
    index: a list of 500 senders in one query was planned as a scan of `events` while an import
    outgrew its table statistics."""
    added: dict = defaultdict(dict)  # term → the conversations that gained it, by chunk (sets.add_id)
    removed: dict = defaultdict(dict)
    flow_terms: dict = {}
    held = held or {}
    statistics: Counter = Counter()
    days = FlowDays()
    for start in range(0, len(senders), _CHUNK):
        chunk = senders[start:start + _CHUNK]
        ids = dict(db.execute(f"SELECT sender_id, id FROM conversations WHERE n_flow_events > 0 "
                              f"AND sender_id IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        states = {sender_id: (replays.get(sender_id) if replays and sender_id in new else None)
                  or replay_conversation(db, sender_id) for sender_id in ids}
        existing = [ids[sender_id] for sender_id in ids if sender_id not in new]
        statistics.subtract(forget_flows(db, existing, days))
        _store(db, {ids[sender_id]: state for sender_id, state in states.items()}, days)
        for sender_id, state in states.items():
            conversation_id = ids[sender_id]
            statistics.update(_counts(state))
            now = flow_terms[conversation_id] = terms_of(state)
            old = {term for term in held.get(conversation_id, ()) if term[0] in FLOW_TERM_KINDS}
            for terms, side in ((now - old, added), (old - now, removed)):
                for term in terms:
                    sets.add_id(side[term], conversation_id)
    update_statistics(db, statistics)
    if sum_days:
        days.write(db)
    return {term: {chunk: (added[term].get(chunk, 0), removed[term].get(chunk, 0))
                   for chunk in added[term].keys() | removed[term].keys()}
            for term in added.keys() | removed.keys()}, flow_terms


def update_statistics(db, counts: Counter) -> None:
    """Add `counts` ((kind, name) → a number, below zero to take off) to the statistics."""
    changes = {key: count for key, count in counts.items() if count}
    db.executemany(
        "INSERT INTO statistics (kind, name, count) VALUES (?, ?, ?) "
        "ON CONFLICT (kind, name) DO UPDATE SET count = statistics.count + excluded.count",
        [(kind, name, count) for (kind, name), count in changes.items()])
    if any(count < 0 for count in changes.values()):
        db.execute("DELETE FROM statistics WHERE count <= 0")


def rederive_all(db) -> None:
    """Derive every CALM conversation's flows (a migration: stores that kept flow events before
    flows were derived)."""
    senders = [sender_id for (sender_id,) in db.execute("SELECT DISTINCT sender_id FROM events WHERE type = 'stack'")]
    if senders:
        db.execute("UPDATE conversations SET n_flow_events = (SELECT count(*) FROM events e WHERE "
                   f"e.sender_id = conversations.sender_id AND e.type IN ({_FLOW_EVENTS}))")
        changes, flow_terms = derive_flows(db, senders, sum_days=False)
        # A term a row, as the terms were kept until m028 / p015 (before m022 no flow term existed).
        db.insert_many("conversation_terms", "kind, value, conversation_id",
                       [(*term, conversation_id) for conversation_id, terms in flow_terms.items() for term in terms])
        sets.apply_changes(db, changes)


def derive_event_terms(db, batch: int = 20_000) -> None:
    """The commands and model ids of the events stored before they were derived at ingest (a
    migration): their terms, sets and statistics."""
    from .events import event_row  # events imports nothing of this module; kept local for the migration alone

    terms: set = set()
    counts: Counter = Counter()
    last = 0
    while rows := db.execute(
            "SELECT e.id, c.id, e.sender_id, e.timestamp, e.data FROM events e JOIN conversations c "
            "ON c.sender_id = e.sender_id WHERE e.id > ? ORDER BY e.id LIMIT ?", [last, batch]).fetchall():
        for _, conversation_id, sender_id, timestamp, data in rows:
            text = text_of(db, data, timestamp)  # every event read: packed, none could be picked by its text in SQL
            row = event_row(sender_id, json_text.loads(text), text=text)
            if row.model_id is not None:
                terms.add(("model_id", row.model_id, conversation_id))
            for command in row.commands:
                terms.add(("command", command, conversation_id))
                counts["command", command] += 1
        last = rows[-1][0]
    db.executemany("INSERT INTO conversation_terms (kind, value, conversation_id) VALUES (?, ?, ?) "
                   "ON CONFLICT DO NOTHING", sorted(terms))
    chunks: dict = defaultdict(dict)
    for kind, value, conversation_id in terms:
        sets.add_id(chunks[kind, value], conversation_id)
    sets.apply_changes(db, {key: sets.adding(by_chunk) for key, by_chunk in chunks.items()})
    update_statistics(db, counts)


def _counts(state: Replay) -> Counter:
    counts = Counter(("flow", episode.flow_id) for episode in state.episodes)
    counts.update(("pattern", pattern) for pattern in state.patterns)
    return counts


def forget_flows(db, conversation_ids: list[int], days: FlowDays) -> Counter:
    """Delete what the conversations' flows added (an erasure, or before deriving them again); the
    statistics they counted, to take off. Their episodes are taken off `days`, for the caller to
    write. A conversation a statement, by the index (see `derive_flows`)."""
    counts: Counter = Counter()
    for conversation_id in conversation_ids:
        for row in db.execute(f"SELECT {STORED_COLUMNS} FROM flow_episodes WHERE conversation_id = ?",
                              [conversation_id]):
            days.count_stored(db, row, -1)
            _, flow_id, *_ = row
            counts["flow", flow_id] += 1
        for pattern, n in db.execute("SELECT pattern, count FROM conversation_patterns WHERE conversation_id = ?",
                                     [conversation_id]):
            counts["pattern", pattern] += n
    db.executemany("DELETE FROM flow_episodes WHERE conversation_id = ?", [(i,) for i in conversation_ids])
    db.executemany("DELETE FROM conversation_patterns WHERE conversation_id = ?", [(i,) for i in conversation_ids])
    return counts


def _store(db, states: dict[int, Replay], days: FlowDays) -> None:
    """Store the episodes and patterns of the replays, by conversation id."""
    for state in states.values():
        for e in state.episodes:
            days.count(e.started_at, e.flow_id, e.outcome, e.interrupted, e.n_user_messages, e.steps,
                       e.last_step_id, 1)
    pack = packer(current_dictionary(db))  # the steps as `stored_steps` reads them
    db.insert_many(
        "flow_episodes", "conversation_id, position, flow_id, frame_id, started_at, ended_at, outcome, "
        "last_step_id, steps, interrupted, resumed, n_user_messages, session",
        [(conversation_id, position, e.flow_id, e.frame_id, e.started_at, e.ended_at, e.outcome, e.last_step_id,
          pack(json.dumps(e.steps)), int(e.interrupted), int(e.resumed), e.n_user_messages, e.session)
         for conversation_id, state in states.items() for position, e in enumerate(state.episodes)])
    db.insert_many("conversation_patterns", "conversation_id, pattern, count",
                   [(conversation_id, pattern, n) for conversation_id, state in states.items()
                    for pattern, n in Counter(state.patterns).items()])
