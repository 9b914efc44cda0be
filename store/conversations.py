"""Reading conversations: the filtered list, the vocabularies, one conversation's events."""

import json
from collections import defaultdict
from dataclasses import dataclass

from .errors import ConversationNotFound
from .events import MESSAGE_TYPES
from .tracker import tracker_state

TERM_KINDS = ("intent", "entity", "action", "policy")
# The messages of a conversation, as Rasa X's transcript shows them.
MESSAGE_EVENT_TYPES = ("user", "bot", "agent")

_ORDER_BY_CONFIDENCE = "c.minimum_action_confidence DESC, c.sender_id"
_ORDER_BY_LATEST = "c.latest_event_time DESC, c.sender_id"
_ORDER_BY_SENDER = "c.sender_id"


@dataclass(frozen=True)
class ConversationFilter:
    """The filters of getConversations (see docs/semantics.md); all optional, ANDed."""

    intents: tuple = ()
    entities: tuple = ()
    actions: tuple = ()
    policies: tuple = ()
    text: str | None = None
    start: float | None = None
    until: float | None = None
    maximum_confidence: float | None = None
    minimum_user_messages: float | None = None
    in_training_data: bool | None = None
    is_flagged: bool = False
    reviewed: bool | None = None
    tags: tuple = ()

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        for kind, values in (("intent", self.intents), ("entity", self.entities),
                             ("action", self.actions), ("policy", self.policies)):
            if values:
                clauses.append(
                    "c.sender_id IN (SELECT sender_id FROM conversation_terms "
                    f"WHERE kind = ? AND value IN ({','.join('?' * len(values))}))"
                )
                params += [kind, *values]
        if self.text:
            clauses.append(
                "EXISTS (SELECT 1 FROM events e WHERE e.sender_id = c.sender_id "
                "AND e.type = 'user' AND instr(e.search_text, ?) > 0)"
            )
            params.append(self.text.casefold())
        for clause, value in (("c.latest_event_time >= ?", self.start),
                              ("c.latest_event_time <= ?", self.until),
                              ("c.minimum_action_confidence <= ?", self.maximum_confidence),
                              ("c.n_user_messages >= ?", self.minimum_user_messages)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if self.in_training_data is not None:
            clauses.append("(c.n_off_training_actions = 0) = ?")
            params.append(self.in_training_data)
        if self.is_flagged:  # the flagged set once (a correlated EXISTS scanned every flag per conversation)
            clauses.append("c.sender_id IN (SELECT sender_id FROM flags WHERE flagged = 1)")
        if self.reviewed is not None:
            clauses.append("(c.sender_id IN (SELECT sender_id FROM reviews)) = ?")
            params.append(self.reviewed)
        if self.tags:
            clauses.append(f"c.sender_id IN (SELECT sender_id FROM tags WHERE tag IN ({','.join('?' * len(self.tags))}))")
            params += list(self.tags)
        return (" AND ".join(clauses) or "1"), params


class ConversationQueries:
    def conversations(self, filters: ConversationFilter, *, sort_by_confidence=True,
                      sort_by_latest_event_time=True, limit=None, offset=0) -> tuple[int, list[dict]]:
        """Return (number of matches, the page of ConversationMetadata dicts)."""
        where, params = filters.where()
        if filters.in_training_data is False and sort_by_confidence:
            order = _ORDER_BY_CONFIDENCE
        elif sort_by_latest_event_time:
            order = _ORDER_BY_LATEST
        else:
            order = _ORDER_BY_SENDER
        db = self.db
        total = db.execute(f"SELECT count(*) FROM conversations c WHERE {where}", params).fetchone()[0]
        rows = list(db.query(
            f"SELECT c.* FROM conversations c WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, -1 if limit is None else limit, offset],
        ))
        return total, self._with_terms_and_flags(rows)

    def _with_terms_and_flags(self, rows: list[dict]) -> list[dict]:
        senders = [row["sender_id"] for row in rows]
        terms = defaultdict(lambda: defaultdict(list))
        flags = defaultdict(lambda: ([], []))
        if senders:
            placeholders = ",".join("?" * len(senders))
            for kind, value, sender_id in self.db.execute(
                "SELECT kind, value, sender_id FROM conversation_terms "
                f"WHERE sender_id IN ({placeholders}) ORDER BY kind, value", senders
            ):
                terms[sender_id][kind].append(value)
            for sender_id, timestamp, flagged in self.db.execute(
                f"SELECT sender_id, timestamp, flagged FROM flags WHERE sender_id IN ({placeholders}) "
                "ORDER BY timestamp", senders
            ):
                flags[sender_id][0 if flagged else 1].append(timestamp)
            reviewed = dict(self.db.execute(
                f"SELECT sender_id, reviewed_at FROM reviews WHERE sender_id IN ({placeholders})", senders).fetchall())
            for sender_id, tag in self.db.execute(
                f"SELECT sender_id, tag FROM tags WHERE sender_id IN ({placeholders}) ORDER BY tag", senders
            ):
                terms[sender_id]["tag"].append(tag)
        return [{**_metadata(row, terms[row["sender_id"]], *flags[row["sender_id"]]),
                 "reviewed": row["sender_id"] in reviewed, "reviewed_at": reviewed.get(row["sender_id"]),
                 "tags": terms[row["sender_id"]].get("tag", [])} for row in rows]

    def unique_terms(self, kind: str) -> list[str]:
        """Every distinct intent / entity / action / policy over all conversations, sorted."""
        assert kind in TERM_KINDS, kind
        return [value for (value,) in self.db.execute(
            "SELECT DISTINCT value FROM conversation_terms WHERE kind = ? ORDER BY value", [kind]
        )]

    def events(self, sender_id: str, *, until=None, use_history=True, types=None) -> list[dict]:
        """The events of `sender_id` in timestamp order (arrival order for equal timestamps),
        those after `until` left out, and with `use_history=False` only those after the last
        restart. User and bot events carry `is_flagged`. Raises `ConversationNotFound`."""
        return self.last_events(sender_id, until=until, use_history=use_history, types=types)[1]

    def last_events(self, sender_id: str, *, until=None, use_history=True, types=None,
                    limit=None) -> tuple[int, list[dict]]:
        """(how many events `events()` would return, the last `limit` of them in timestamp
        order): a long transcript is read from its end, page by page backwards with `until`."""
        self._require(sender_id)
        clauses, params = ["sender_id = ?"], [sender_id]
        if until is not None:
            clauses.append("timestamp <= ?")
            params.append(until)
        if not use_history:
            restart = self.db.execute(
                f"SELECT timestamp, id FROM events WHERE {' AND '.join(clauses)} AND type = 'restart' "
                "ORDER BY timestamp DESC, id DESC LIMIT 1", params
            ).fetchone()
            if restart:
                clauses.append("(timestamp > ? OR (timestamp = ? AND id > ?))")
                params += [restart[0], restart[0], restart[1]]
        if types:
            clauses.append(f"type IN ({','.join('?' * len(types))})")
            params += list(types)
        where = " AND ".join(clauses)
        total = self.db.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()[0]
        rows = self.db.execute(
            f"SELECT type, data, timestamp FROM events WHERE {where} ORDER BY timestamp DESC, id DESC LIMIT ?",
            [*params, -1 if limit is None else limit]).fetchall()
        flagged = set(self.flagged_timestamps(sender_id))
        events = []
        for kind, data, timestamp in reversed(rows):
            event = json.loads(data)
            if kind in MESSAGE_TYPES:
                event["is_flagged"] = timestamp in flagged
            events.append(event)
        return total, events

    def messages(self, sender_id: str, *, until=None, use_history=True, limit=None) -> tuple[int, list[dict]]:
        return self.last_events(sender_id, until=until, use_history=use_history, types=MESSAGE_EVENT_TYPES,
                                limit=limit)

    def conversation(self, sender_id: str, *, until=None, use_history=True) -> dict:
        """The Rasa tracker state of `sender_id`, replayed from its events as `events()` selects
        them. Raises `ConversationNotFound`."""
        events = self.events(sender_id, until=until, use_history=use_history)
        flagged = [event["timestamp"] for event in events if event.get("is_flagged")]
        return tracker_state(sender_id, events, flagged)

    def _require(self, sender_id: str) -> None:
        if not self.db.execute("SELECT 1 FROM conversations WHERE sender_id = ?", [sender_id]).fetchone():
            raise ConversationNotFound(sender_id)


def _metadata(row: dict, terms: dict, flagged: list, unflagged: list) -> dict:
    return {
        "sender_id": row["sender_id"],
        "latest_event_time": row["latest_event_time"],
        "latest_input_channel": row["latest_input_channel"],
        "intents": terms.get("intent", []),
        "entities": terms.get("entity", []),
        "actions": terms.get("action", []),
        "policies": terms.get("policy", []),
        "minimum_action_confidence": row["minimum_action_confidence"],
        "minimum_action_confdience": row["minimum_action_confidence"],
        "in_training_data": row["n_off_training_actions"] == 0,
        "n_user_messages": row["n_user_messages"],
        "flagged_messages": flagged,
        "unflagged_messages": unflagged,
    }
