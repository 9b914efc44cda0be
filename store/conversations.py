"""Reading conversations: the filtered list, the vocabularies, one conversation's events."""

import json
from collections import defaultdict
from dataclasses import dataclass, replace

from .events import MESSAGE_TYPES, normalise_policy
from .flags import FlagsMixin
from .search import text_index_query
from .tracker import tracker_state

TERM_KINDS = ("intent", "entity", "action", "policy")
# The messages of a conversation, as Rasa X's transcript shows them.
MESSAGE_EVENT_TYPES = ("user", "bot", "agent")

_ORDER_BY_CONFIDENCE = "c.minimum_action_confidence DESC, c.sender_id"
_ORDER_BY_LATEST = "c.latest_event_time DESC, c.sender_id"
_ORDER_BY_SENDER = "c.sender_id"


@dataclass(frozen=True)
class _Membership:
    """A filter that holds for the conversations of a set (those with an intent, the flagged ones).

    It can be written two ways: `c.sender_id IN (set)` reads the set and looks each conversation
    up (cheap when the set is small), the `probe` tests each conversation the query walks past
    (cheap when walking conversations in page order and stopping after a page)."""

    subquery: str  # selects the members' `key`
    params: tuple
    probe: str
    key: str = "c.sender_id"

    @classmethod
    def listed(cls, subquery: str, params=()) -> "_Membership":
        """A set small enough to be listed once per query (`+` keeps SQLite from driving by it)."""
        return cls(subquery, tuple(params), f"+c.sender_id IN ({subquery})")

    @property
    def driver(self) -> str:
        return f"{self.key} IN ({self.subquery})"


def _values(comma_separated: str | None) -> tuple:
    """Trimmed, non-empty items of a comma-separated parameter."""
    return tuple(v.strip() for v in (comma_separated or "").split(",") if v.strip())


@dataclass(frozen=True)
class ConversationFilter:
    """The filters of getConversations (see docs/semantics.md); all optional, ANDed."""

    intents: tuple = ()
    entities: tuple = ()
    actions: tuple = ()
    policies: tuple = ()
    text: str | None = None
    # The senders `text` matches (a JSON array) once the store has read the text index for a request.
    text_matches: str | None = None
    start: float | None = None
    until: float | None = None
    maximum_confidence: float | None = None
    minimum_user_messages: float | None = None
    in_training_data: bool | None = None
    is_flagged: bool = False
    reviewed: bool | None = None
    tags: tuple = ()
    sender_id: str | None = None
    annotated: bool | None = None

    @classmethod
    def from_parameters(cls, *, intent=None, entity=None, action=None, text=None, start=None, until=None, policies=None,
                        maximum_confidence=None, minimum_user_messages=None, in_training_data=None, is_flagged=False,
                        reviewed=None, tags=None, sender_id=None, annotated=None) -> "ConversationFilter":
        """The filter from getConversations' parameters (the API's and the CLI's export share
        them): comma-separated lists, and Rasa's policy names (`policy_0_MemoizationPolicy`)."""
        return cls(
            intents=_values(intent), entities=_values(entity), actions=_values(action),
            policies=tuple(normalise_policy(p) for p in _values(policies)), text=text or None, start=start,
            until=until, maximum_confidence=maximum_confidence, minimum_user_messages=minimum_user_messages,
            in_training_data=in_training_data, is_flagged=bool(is_flagged), reviewed=reviewed, tags=_values(tags),
            sender_id=sender_id or None, annotated=annotated)

    def memberships(self) -> list[_Membership]:
        """The set filters, the likely smallest set first."""
        sets = []
        if self.text_matches is not None:
            sets.append(_Membership.listed("SELECT value AS sender_id FROM json_each(?)", [self.text_matches]))
        elif self.text and (index_query := text_index_query(self.text)):
            sets.append(_Membership.listed(*index_query))
        elif self.text:  # the index cannot answer: read the user messages
            subquery = "SELECT e.sender_id FROM events e WHERE e.type = 'user' AND instr(e.search_text, ?) > 0"
            sets.append(_Membership(subquery, (self.text.casefold(),),
                                    f"EXISTS ({subquery} AND e.sender_id = c.sender_id)"))
        if self.tags:
            sets.append(_Membership.listed(
                f"SELECT sender_id FROM tags WHERE tag IN ({','.join('?' * len(self.tags))})", self.tags))
        if self.is_flagged:
            sets.append(_Membership.listed("SELECT sender_id FROM flags WHERE flagged = 1"))
        for kind, values in (("intent", self.intents), ("entity", self.entities),
                             ("action", self.actions), ("policy", self.policies)):
            if values:
                # Probed with EXISTS: listing every TEDPolicy conversation costs more than probing.
                where = f"t.kind = ? AND t.value IN ({','.join('?' * len(values))})"
                sets.append(_Membership(f"SELECT t.conversation_id FROM conversation_terms t WHERE {where}",
                                        (kind, *values), f"EXISTS (SELECT 1 FROM conversation_terms t WHERE {where} "
                                        "AND t.conversation_id = c.id)", key="c.id"))
        if self.reviewed:
            sets.append(_Membership.listed("SELECT sender_id FROM reviews"))
        if self.annotated:
            sets.append(_Membership.listed("SELECT sender_id FROM annotations"))
        return sets

    def where(self, *, drive: bool) -> tuple[str, list]:
        """The WHERE clause over `conversations c`; with `drive`, the first set is read and its
        conversations looked up, otherwise every set is probed."""
        clauses: list[str] = []
        params: list = []
        for position, membership in enumerate(self.memberships()):
            clauses.append(membership.driver if drive and position == 0 else membership.probe)
            params += membership.params
        for clause, value in (("c.latest_event_time >= ?", self.start),
                              ("c.latest_event_time <= ?", self.until),
                              ("c.minimum_action_confidence <= ? AND c.n_scored_actions > 0", self.maximum_confidence),
                              ("c.n_user_messages >= ?", self.minimum_user_messages),
                              ("c.sender_id = ?", self.sender_id)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if self.in_training_data is not None:  # written so that the index answers the common part
            clauses.append("c.n_off_training_actions = 0 AND c.n_predicted_actions > 0" if self.in_training_data
                           else "(c.n_off_training_actions > 0 OR c.n_predicted_actions = 0)")
        if self.reviewed is False:
            clauses.append("c.sender_id NOT IN (SELECT sender_id FROM reviews)")
        if self.annotated is False:
            clauses.append("c.sender_id NOT IN (SELECT sender_id FROM annotations)")
        return (" AND ".join(clauses) or "1"), params

    def count_query(self) -> tuple[str, list]:
        memberships = self.memberships()
        only = memberships[0] if len(memberships) == 1 else None
        if only and self.where(drive=False)[0] == only.probe:
            # One set and nothing else: count the set, without looking up its conversations
            # (every sender in a set has a conversation).
            return f"SELECT count(*) FROM (SELECT DISTINCT * FROM ({only.subquery}))", list(only.params)
        where, params = self.where(drive=True)
        return f"SELECT count(*) FROM conversations c WHERE {where}", params


class ConversationQueries(FlagsMixin):
    def conversations(self, filters: ConversationFilter, *, sort_by_confidence=True,
                      sort_by_latest_event_time=True, limit=None, offset=0) -> tuple[int, list[dict]]:
        """Return (number of matches, the page of ConversationMetadata dicts)."""
        filters, _ = self._read_text_index(filters)
        total, (page_sql, page_params) = self._count_and_page(filters, sort_by_confidence, sort_by_latest_event_time,
                                                              limit, offset)
        return total, self._with_terms_and_flags(list(self.db.query(page_sql, page_params)))

    def conversation_queries(self, filters: ConversationFilter, *, limit=None, offset=0,
                             read_text_index_once=True) -> list[tuple[str, list]]:
        """The queries (SQL, parameters) `conversations()` runs: the benchmark runs them as the
        raw-SQL floor. Without `read_text_index_once`, each query reads the text index itself."""
        text_queries = []
        if read_text_index_once:
            filters, text_queries = self._read_text_index(filters)
        return [*text_queries, filters.count_query(), self._count_and_page(filters, True, True, limit, offset)[1]]

    def _read_text_index(self, filters: ConversationFilter):
        """Read the text index once per request and hand its matches to the count and the page
        (each would otherwise read it again); also returns the query, for the benchmark."""
        query = text_index_query(filters.text) if filters.text else None
        if query is None:
            return filters, []
        sql, params = query
        matches = json.dumps([sender_id for (sender_id,) in self.db.execute(sql, params)])
        return replace(filters, text_matches=matches), [query]

    def _count_and_page(self, filters, sort_by_confidence, sort_by_latest_event_time, limit, offset):
        """The number of matches, and the page query.

        The page either walks conversations in page order, probing each, and stops after a page
        (when many match), or reads the matching sets and sorts them (when few match): the count
        says which. Walking meets about (offset + limit) × conversations / matches of them."""
        if filters.in_training_data is False and sort_by_confidence:
            order = _ORDER_BY_CONFIDENCE
        elif sort_by_latest_event_time:
            order = _ORDER_BY_LATEST
        else:
            order = _ORDER_BY_SENDER
        count_sql, count_params = filters.count_query()
        total = self.db.execute(count_sql, count_params).fetchone()[0]
        drive = True
        if limit is not None:
            conversations = self.db.execute("SELECT max(id) FROM conversations").fetchone()[0] or 0
            drive = total * total <= (offset + limit) * conversations
        where, params = filters.where(drive=drive)
        return total, (f"SELECT c.* FROM conversations c WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                       [*params, -1 if limit is None else limit, offset])

    def _with_terms_and_flags(self, rows: list[dict]) -> list[dict]:
        senders = [row["sender_id"] for row in rows]
        sender_of = {row["id"]: row["sender_id"] for row in rows}
        terms: dict = defaultdict(lambda: defaultdict(list))
        flags: dict = defaultdict(lambda: ([], []))
        if senders:
            placeholders = ",".join("?" * len(senders))
            for kind, value, conversation_id in self.db.execute(
                "SELECT kind, value, conversation_id FROM conversation_terms "
                f"WHERE conversation_id IN ({placeholders}) ORDER BY kind, value", list(sender_of)
            ):
                terms[sender_of[conversation_id]][kind].append(value)
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



def _metadata(row: dict, terms: dict, flagged: list, unflagged: list) -> dict:
    return {
        "sender_id": row["sender_id"],
        "latest_event_time": row["latest_event_time"],
        "latest_input_channel": row["latest_input_channel"],
        "latest_message": row["latest_message"],
        "intents": terms.get("intent", []),
        "entities": terms.get("entity", []),
        "actions": terms.get("action", []),
        "policies": terms.get("policy", []),
        # No action with a confidence yet (only user messages): nothing to be unsure about, and
        # nothing predicted from training data (docs/semantics.md).
        "minimum_action_confidence": row["minimum_action_confidence"] if row["n_scored_actions"] else None,
        "minimum_action_confdience": row["minimum_action_confidence"] if row["n_scored_actions"] else None,
        "in_training_data": row["n_off_training_actions"] == 0 and row["n_predicted_actions"] > 0,
        "n_user_messages": row["n_user_messages"],
        "flagged_messages": flagged,
        "unflagged_messages": unflagged,
    }
