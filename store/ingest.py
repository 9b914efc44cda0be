"""The one write path for events: HTTP, file imports and the broker consumers all come through here."""

import hashlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from . import packing, sets
from .base import StoreBase
from .errors import InvalidEvent
from .events import (
    MEMORISING_POLICIES,
    MESSAGE_TYPES,
    EventRow,
    event_row,
    first_of_each,
    insert_rows,
    last_event_id,
    stored_ids,
    validate_event,
)
from .flow_data import FLOW_TERM_KINDS, derive_flows
from .flows import FLOW_EVENT_TYPES, REPLAYED_TYPES
from .inbox import index_messages, messages_by_position
from .search import index_events_after
from .sessions import refresh_sessions, sessions_by_position, store_new_sessions
from .sets import ROW_COLUMNS, SetRow
from .staging import StagedBatch, may_repeat_stored_events, staged_rows
from .terms import store_terms, stored_terms

# Large IN lists are split so that no statement exceeds SQLite's variable limit.
_CHUNK = 500


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    senders: set = field(default_factory=set)

    def add(self, other: "IngestResult") -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.senders |= other.senders


@dataclass
class _Delta:
    """What a batch of new events adds to one conversation's metadata."""

    latest_event_time: float = float("-inf")
    earliest_event_time: float = float("inf")
    latest_user_time: float | None = None
    latest_input_channel: str | None = None
    latest_message: str | None = None
    minimum_action_confidence: float = 1.0
    n_off_training_actions: int = 0
    n_scored_actions: int = 0  # actions with a confidence
    n_predicted_actions: int = 0  # actions with a policy
    n_user_messages: int = 0
    n_events: int = 0
    n_flow_events: int = 0  # stack and flow_* events: a CALM conversation's (store/flows.py)
    n_replayed: int = 0  # events the flow replay reads: new ones of a CALM conversation make it derive again
    terms: set = field(default_factory=set)
    counts: Counter = field(default_factory=Counter)  # (kind, name) → occurrences, for /statistics

    def add(self, row: EventRow) -> None:
        """Called for every event an import parses: comparisons instead of max() and min(), and no
        Counter.update for a message without entities (most), took 4.4k instructions an event off
        parsing (callgrind, 2k generated conversations: 4-5% of it)."""
        self.n_events += 1
        timestamp = row.timestamp
        if timestamp > self.latest_event_time:
            self.latest_event_time = timestamp
        if timestamp < self.earliest_event_time:
            self.earliest_event_time = timestamp
        kind = row.type
        if kind in MESSAGE_TYPES:
            self.counts["message", kind] += 1
        if row.model_id is not None:
            self.terms.add(("model_id", row.model_id))
        if kind in REPLAYED_TYPES:
            self.n_replayed += 1
            if kind in FLOW_EVENT_TYPES:
                self.n_flow_events += 1
        if kind == "user":
            self.n_user_messages += 1
            if row.intent:
                self.counts["intent", row.intent] += 1
                self.terms.add(("intent", row.intent))
            if row.entities:
                self.counts.update(("entity", entity) for entity in row.entities)
                self.terms.update(("entity", entity) for entity in row.entities)
            if row.input_channel:
                self.terms.add(("input_channel", row.input_channel))
            if row.commands:
                self.counts.update(("command", command) for command in row.commands)
                self.terms.update(("command", command) for command in row.commands)
            if self.latest_user_time is None or timestamp >= self.latest_user_time:
                self.latest_user_time = timestamp
                self.latest_input_channel = row.input_channel
                self.latest_message = row.text
        elif kind == "action":
            if row.confidence is not None:
                self.n_scored_actions += 1
                if row.confidence < self.minimum_action_confidence:
                    self.minimum_action_confidence = row.confidence
            if row.action:
                self.terms.add(("action", row.action))
                if row.action != "action_listen":
                    self.counts["action", row.action] += 1
            if row.policy:
                self.n_predicted_actions += 1
                self.terms.add(("policy", row.policy))
                self.counts["policy", row.policy] += 1
                if row.policy not in MEMORISING_POLICIES:
                    self.n_off_training_actions += 1


_UPSERT_CONVERSATION = """
INSERT INTO conversations AS c (sender_id, latest_event_time, latest_user_time, latest_input_channel,
    minimum_action_confidence, n_off_training_actions, n_user_messages, n_events, n_scored_actions,
    n_predicted_actions, latest_message, n_flow_events)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (sender_id) DO UPDATE SET
    latest_event_time = CASE WHEN excluded.latest_event_time > c.latest_event_time
        THEN excluded.latest_event_time ELSE c.latest_event_time END,
    latest_input_channel = CASE
        WHEN excluded.latest_user_time IS NOT NULL
         AND (c.latest_user_time IS NULL OR excluded.latest_user_time >= c.latest_user_time)
        THEN excluded.latest_input_channel ELSE c.latest_input_channel END,
    latest_message = CASE
        WHEN excluded.latest_user_time IS NOT NULL
         AND (c.latest_user_time IS NULL OR excluded.latest_user_time >= c.latest_user_time)
        THEN excluded.latest_message ELSE c.latest_message END,
    latest_user_time = CASE
        WHEN c.latest_user_time IS NULL OR excluded.latest_user_time > c.latest_user_time
        THEN excluded.latest_user_time ELSE c.latest_user_time END,
    minimum_action_confidence = CASE WHEN excluded.minimum_action_confidence < c.minimum_action_confidence
        THEN excluded.minimum_action_confidence ELSE c.minimum_action_confidence END,
    n_off_training_actions = c.n_off_training_actions + excluded.n_off_training_actions,
    n_user_messages = c.n_user_messages + excluded.n_user_messages,
    n_events = c.n_events + excluded.n_events,
    n_scored_actions = c.n_scored_actions + excluded.n_scored_actions,
    n_predicted_actions = c.n_predicted_actions + excluded.n_predicted_actions,
    n_flow_events = c.n_flow_events + excluded.n_flow_events
"""

def deltas_of(rows: list[EventRow]) -> dict:
    """What `rows` add to each conversation's metadata and to the statistics, by sender."""
    deltas: dict[str, _Delta] = defaultdict(_Delta)
    for row in rows:
        deltas[row.sender_id].add(row)
    return deltas


def prepare(sender_id: str, events, *, received_at=None) -> list[EventRow]:
    """Validate and derive every event first, so that one invalid event stores nothing.

    Raises `InvalidEvent` naming the position of the first bad event when there are several.
    """
    received_at = time.time() if received_at is None else received_at
    rows = []
    for position, event in enumerate(events):
        try:
            if isinstance(event, dict) and event.get("sender_id", sender_id) != sender_id:
                raise InvalidEvent(f"the event's sender_id {event['sender_id']!r} is not {sender_id!r}")
            rows.append(event_row(sender_id, validate_event(event, received_at=received_at)))
        except InvalidEvent as error:
            if len(events) == 1:
                raise
            raise InvalidEvent(f"event {position}: {error.detail}") from None
    return rows


def conversation_rows(db, senders: list[str]) -> dict[str, SetRow]:
    """What the conversation sets are derived from, of the senders' conversations that exist."""
    rows = {}
    for start in range(0, len(senders), _CHUNK):
        chunk = senders[start:start + _CHUNK]
        for sender_id, *row in db.execute(f"SELECT sender_id, {ROW_COLUMNS} FROM conversations "
                                          f"WHERE sender_id IN ({','.join('?' * len(chunk))})", chunk):
            rows[sender_id] = SetRow(*row)
    return rows


class IngestMixin(StoreBase):
    def ingest(self, rows: list[EventRow], *, parked=(), position: tuple[str, int] | None = None) -> IngestResult:
        """Store prepared rows in one transaction; rows already stored count as duplicates.

        A broker consumer passes, for the same transaction, the messages it could not read
        (`parked`: (source, body, reason)) and how far it has read its source (`position`:
        (source, last id)), so that what it acknowledges or remembers is exactly what is stored.
        An import's batches come staged (`ingest_staged`).
        """
        rows = self._connections.storable_rows(rows) or rows
        result = IngestResult(senders={row.sender_id for row in rows})
        with self.transaction() as db:
            before = conversation_rows(db, list(result.senders))  # the conversations as they were
            result.stored = self._store_rows(db, rows, before)
            result.duplicates = len(rows) - result.stored
            db.executemany(
                "INSERT INTO parked_messages (source, received_at, body, reason, fingerprint) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(source, time.time(), body, reason,
                  hashlib.blake2b(f"{source}\n{body}".encode("utf-8", "replace"), digest_size=16).hexdigest())
                 for source, body, reason in parked],
            )
            if position is not None:
                db.execute("INSERT INTO follow_positions (source, last_id) VALUES (?, ?) "
                           "ON CONFLICT (source) DO UPDATE SET last_id = excluded.last_id", list(position))
        return result

    def event_dictionary(self) -> tuple[int, bytes] | None:
        """The dictionary an import's workers pack events with (store/packing.py), if any yet."""
        return packing.current_dictionary(self.db)

    def ingest_staged(self, batch: StagedBatch) -> IngestResult:
        """Store an import's batch (store/staging.py) in one transaction, as `ingest` stores its
        rows. Its events are copied as they are unless one of a conversation that exists shares
        its sender, type and time with a stored event; then they are compared as `ingest` does."""
        senders = list(batch.deltas)
        result = IngestResult(stored=batch.n_rows, duplicates=batch.n_repeats, senders=set(senders))
        with self._connections.staged_transaction(batch.database) as staged:
            db = staged.db
            before = conversation_rows(db, senders)
            # An event can repeat a stored one only at or before its conversation's latest: a
            # conversation a file's chunks cut in two continues after it.
            overlapping = [sender_id for sender_id, row in before.items()
                           if batch.deltas[sender_id].earliest_event_time <= row.latest_event_time]
            if overlapping:
                staged.readable()
                if may_repeat_stored_events(db, overlapping):
                    rows = staged_rows(db)  # read back from their texts: PostgreSQL's NULs again
                    result.stored = self._store_rows(db, self._connections.storable_rows(rows) or rows, before)
                    result.duplicates += batch.n_rows - result.stored
                    return result
            last_id = last_event_id(db)
            staged.copy_into_events()
            packing.settle(db, last_id, packed=batch.packed)
            self._derive_from_new_events(db, batch.deltas, before, last_id, batch.n_rows,
                                         [session for session in batch.sessions if session[0] not in before],
                                         batch.messages, batch.replays)
        return result

    def sole(self, name: str):
        """A lock (`try_acquire()`, `release()`) that one process at a time holds on this store,
        whichever machine it runs on: one follower per source."""
        return self._connections.sole(name)

    def follow_position(self, source: str) -> int:
        """The last id of `source` that was stored (0 before the first)."""
        row = self.db.execute("SELECT last_id FROM follow_positions WHERE source = ?", [source]).fetchone()
        return row[0] if row else 0

    def rename_follow_position(self, old: str, new: str) -> None:
        """A position kept under `old` is kept under `new` from now on, unless `new` has one (a
        SQL broker's position was keyed by its URL's text before it was keyed by the table)."""
        with self.transaction() as db:
            if old != new and db.execute("SELECT 1 FROM follow_positions WHERE source = ?", [new]).fetchone() is None:
                db.execute("UPDATE follow_positions SET source = ? WHERE source = ?", [new, old])

    def _store_rows(self, db, rows: list[EventRow], before: dict) -> int:
        """Store the rows not stored yet (`_new_rows`) and what they change; how many they were.
        `before`: the rows' conversations as they were."""
        new_rows = self._new_rows(db, rows, before)
        if new_rows:
            deltas = deltas_of(new_rows)
            last_id = last_event_id(db)
            dictionary = packing.current_dictionary(db)
            insert_rows(db, new_rows, packing.event_packer(dictionary))
            packing.settle(db, last_id, packed=dictionary is not None)
            self._derive_from_new_events(db, deltas, before, last_id, len(new_rows),
                                         sessions_by_position(new_rows, deltas.keys() - before.keys()),
                                         messages_by_position(new_rows), None)
        return len(new_rows)

    def _derive_from_new_events(self, db, deltas: dict, before: dict, last_id: int, n_new: int,
                                new_sessions: list, messages: list, replays: dict | None) -> None:
        """What `n_new` events just stored after `last_id` change beside themselves: their
        conversations and sets, the sessions (`new_sessions`: of the conversations that are new),
        the text index and the inbox (`messages`: `messages_by_position`). `replays`: the flows of
        some of the new conversations, replayed from these events (`replays_of`)."""
        after = self._update_metadata(db, deltas, before, replays)
        for sender_id in before.keys() & deltas.keys():
            refresh_sessions(db, sender_id, deltas[sender_id].earliest_event_time)
        stored_id = stored_ids(db, last_id, n_new)
        store_new_sessions(db, new_sessions, stored_id)
        index_events_after(db, last_id)
        index_messages(db, [(stored_id(position), after[sender_id].id, sender_id, *message)
                            for position, sender_id, *message in messages])

    @staticmethod
    def _new_rows(db, rows: list[EventRow], known: dict) -> list[EventRow]:
        """The rows not stored yet, each once, in order (`first_of_each`). Stored events are
        looked up by the index they are read by (SQLite's by sender and time, PostgreSQL's by
        sender alone, p017), and only for senders with a conversation (`known`): none of them,
        for most of a first import."""
        times_by_sender = defaultdict(set)
        for row in rows:
            if row.sender_id in known:
                times_by_sender[row.sender_id].add(row.timestamp)
        seen: dict = {}  # (sender_id, type, timestamp) → the texts of the events stored or kept
        for sender_id, sender_times in times_by_sender.items():
            times = list(sender_times)
            for start in range(0, len(times), _CHUNK):
                chunk = times[start:start + _CHUNK]
                for timestamp, kind, data in db.execute(
                    f"SELECT timestamp, type, data FROM events WHERE sender_id = ? "
                    f"AND timestamp IN ({','.join('?' * len(chunk))})", [sender_id, *chunk],
                ):
                    seen.setdefault((sender_id, kind, timestamp), []).append(packing.text_of(db, data, timestamp))
        return first_of_each(rows, seen)

    @staticmethod
    def _update_metadata(db, deltas: dict, before: dict, replays: dict | None) -> dict[str, SetRow]:
        """The conversations' set rows after this batch, by sender; `before`: as they were."""
        db.executemany(_UPSERT_CONVERSATION, [
            (sender_id, d.latest_event_time, d.latest_user_time, d.latest_input_channel,
             d.minimum_action_confidence, d.n_off_training_actions, d.n_user_messages, d.n_events,
             d.n_scored_actions, d.n_predicted_actions, d.latest_message, d.n_flow_events)
            for sender_id, d in deltas.items()
        ])
        after = conversation_rows(db, list(deltas))
        held = stored_terms(db, [after[sender_id].id for sender_id in deltas if sender_id in before])
        terms: dict = defaultdict(dict)
        for sender_id, d in deltas.items():
            for term in d.terms:
                sets.add_id(terms[term], after[sender_id].id)
        # A CALM conversation's flows are derived again from its events (store/flow_data.py).
        flow_changes, flow_terms = derive_flows(db, [sender_id for sender_id, d in deltas.items()
                                                     if d.n_replayed and (d.n_flow_events or sender_id in before)],
                                                new=deltas.keys() - before.keys(), replays=replays, held=held)
        _store_terms(db, deltas, before, after, held, flow_terms)
        # Only a conversation that existed has review marks: new events take its review mark
        # away, and it keeps its other marks in list order.
        senders = [sender_id for sender_id in deltas if sender_id in before]
        existed = [after[sender_id] for sender_id in senders]
        unreviewed: dict = defaultdict(dict)  # ("reviewed_by", who) → the conversations they had reviewed
        for start in range(0, len(senders), _CHUNK):
            chunk = senders[start:start + _CHUNK]
            for sender_id, reviewer in db.execute(
                    f"SELECT sender_id, reviewed_by FROM reviews WHERE sender_id IN ({','.join('?' * len(chunk))}) "
                    "AND reviewed_by IS NOT NULL", chunk):
                sets.add_id(unreviewed["reviewed_by", reviewer], after[sender_id].id)
        sets.record_changes(db, [before[s] for s in senders], list(after.values()),
                            {**{term: sets.adding(chunks) for term, chunks in terms.items()}, **flow_changes,
                             ("reviewed", ""): sets.removing(sets.chunked(row.id for row in existed)),
                             **{key: sets.removing(chunks) for key, chunks in unreviewed.items()}})
        sets.reorder_marked(db, existed)
        # A reviewer must see what changed: new events take the review mark away (a new
        # conversation has none: 100k statements that found nothing in an import).
        db.executemany("DELETE FROM reviews WHERE sender_id = ?", [(sender_id,) for sender_id in senders])
        counts: Counter = Counter()
        for d in deltas.values():
            counts.update(d.counts)
        db.executemany(
            "INSERT INTO statistics (kind, name, count) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, name) DO UPDATE SET count = statistics.count + excluded.count",
            [(kind, name, count) for (kind, name), count in counts.items()],
        )
        return after


def _store_terms(db, deltas: dict, before: dict, after: dict, held: dict, flow_terms: dict) -> None:
    """Each conversation's terms: those it `held`, those its new events bring, and the flow terms
    of its replay (`flow_terms`) in place of those it held; written where they changed."""
    changed = {}
    for sender_id, d in deltas.items():
        conversation_id = after[sender_id].id
        old = held.get(conversation_id, set())
        now = old | d.terms
        if conversation_id in flow_terms:
            now = {term for term in now if term[0] not in FLOW_TERM_KINDS} | flow_terms[conversation_id]
        if now != old:
            changed[conversation_id] = now
    store_terms(db, changed, new={after[sender_id].id for sender_id in deltas if sender_id not in before})
