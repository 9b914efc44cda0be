"""Reading conversations: the filtered list, the vocabularies, one conversation's events."""

import contextlib
import functools
import math
from collections import defaultdict
from dataclasses import dataclass

from . import order_blocks, sets
from .dialects import NO_LIMIT
from .errors import InvalidParameter
from .events import MESSAGE_TYPES, normalise_policy
from .flags import FlagsMixin
from .flow_data import episode_term
from .flows import FLOW_STATUSES
from .packing import event_of
from .search import text_index_query
from .terms import stored_terms
from .tracker import tracker_state

TERM_KINDS = ("intent", "entity", "action", "policy", "input_channel", "flow", "pattern", "command", "model_id")
# The messages of a conversation, as Rasa X's transcript shows them.
MESSAGE_EVENT_TYPES = ("user", "bot", "agent")

_ORDER_BY_CONFIDENCE = "c.minimum_action_confidence DESC, c.sender_id"
_ORDER_BY_LATEST = "c.latest_event_time DESC, c.sender_id"
_ORDER_BY_SENDER = "c.sender_id"
# `_ORDER_BY_CONFIDENCE`'s columns.
_CONFIDENCE_KEY_COLUMNS = "c.minimum_action_confidence, c.sender_id"
# The worst first: `_ORDER_BY_CONFIDENCE` exactly reversed, so that both backends walk its index
# backwards instead of sorting (ties by sender, descending).
_ORDER_BY_LOWEST_CONFIDENCE = "c.minimum_action_confidence ASC, c.sender_id DESC"
ORDERS = {"latest": _ORDER_BY_LATEST, "lowest_confidence": _ORDER_BY_LOWEST_CONFIDENCE, "sender": _ORDER_BY_SENDER}
# The texts and time ranges whose matches a store keeps, and how many new events are searched one
# by one for a kept text before the index is read instead (see _with_text).
_KEPT = 32
_NEW_EVENTS_SEARCHED_AT_MOST = 20_000
# The sets a store keeps decoded (100k conversations: 12.5 kB each).
_DECODED = 512
# Matches read and sorted at once, rather than found by walking an index.
_READ_ALL_AT_MOST = 200
# Candidates in confidence order read from the blocks that hold the page (store/order_blocks.py)
# rather than all of them, above this many. At 1M generated conversations, the 11th page (offset
# 200) of in_training_data=false with the commonest intent read its 7.4k candidates whole: in-process
# 13.0 ms on SQLite, 27.3 on PostgreSQL.
_READ_FROM_BLOCKS_ABOVE = 2_000
# What walking a row of an index costs against reading and sorting a match: about the same.
_WALKED_PER_READ = 1
# A walk through a span goes at least this far before its matches count as clustered elsewhere.
_WALKED_AT_LEAST = 1_000
# A walk's first chunk reads this many rows beyond four pages' worth.
_FIRST_CHUNK_EXTRA = 64
_BY_IDS = "SELECT c.* FROM conversations c WHERE c.id {any_id}"


# At most this many values in one list filter: SQLite refuses an expression of 1,000 terms (a
# 500 before), PostgreSQL took 7,000; no reviewer picks more than a few dozen intents.
MAX_FILTER_VALUES = 500
# The longest `text` filter: a 20,000-character needle took PostgreSQL 3.5 to 15.8 s of CPU.
MAX_TEXT_LENGTH = 500


def _values(parameter: str, comma_separated: str | None) -> tuple:
    """Trimmed, non-empty items of a comma-separated parameter. Given with no item (`intent=`,
    `tags=,,`), it is refused: read as no filter, it answered the unfiltered list."""
    if comma_separated is None:
        return ()
    values = tuple(v.strip() for v in comma_separated.split(",") if v.strip())
    if not values:
        raise InvalidParameter(parameter, f"{comma_separated!r} names no value: give one or more, comma-separated, "
                                       "or leave the parameter out")
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidParameter(parameter, f"{len(values)} values; at most {MAX_FILTER_VALUES} are taken")
    return values


def _text(text: str | None) -> str | None:
    if text is not None and not text.strip():
        raise InvalidParameter("text", "an empty text matches every message: give some text, or leave it out")
    if text is not None and len(text) > MAX_TEXT_LENGTH:
        raise InvalidParameter("text", f"{len(text)} characters; at most {MAX_TEXT_LENGTH} are searched for")
    return text


def _statuses(comma_separated: str | None) -> tuple:
    statuses = _values("flow_status", comma_separated)
    if unknown := [status for status in statuses if status not in FLOW_STATUSES]:
        raise InvalidParameter("flow_status", f"{unknown[0]!r} is no flow status: one of {', '.join(FLOW_STATUSES)}")
    return statuses


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
    sender_id: str | None = None
    annotated: bool | None = None
    input_channels: tuple = ()
    flows: tuple = ()
    flow_statuses: tuple = ()
    patterns: tuple = ()
    commands: tuple = ()
    model_ids: tuple = ()
    assignees: tuple = ()  # names (the API reads `me` as the caller's before this)
    reviewers: tuple = ()

    @classmethod
    def from_parameters(cls, *, intent=None, entity=None, action=None, text=None, start=None, until=None, policies=None,
                        maximum_confidence=None, minimum_user_messages=None, in_training_data=None, is_flagged=False,
                        reviewed=None, tags=None, sender_id=None, annotated=None, input_channel=None, flow=None,
                        flow_status=None, pattern=None, command=None, model_id=None, assignee=None,
                        reviewed_by=None) -> "ConversationFilter":
        """The filter from getConversations' parameters (the API's and the CLI's export share
        them): comma-separated lists, and Rasa's policy names (`policy_0_MemoizationPolicy`)."""
        return cls(
            intents=_values("intent", intent), entities=_values("entity", entity), actions=_values("action", action),
            policies=tuple(normalise_policy(p) for p in _values("policies", policies)), text=_text(text), start=start,
            until=until, maximum_confidence=maximum_confidence, minimum_user_messages=minimum_user_messages,
            in_training_data=in_training_data, is_flagged=bool(is_flagged), reviewed=reviewed,
            tags=_values("tags", tags), sender_id=sender_id or None, annotated=annotated,
            input_channels=_values("input_channel", input_channel), flows=_values("flow", flow),
            flow_statuses=_statuses(flow_status), patterns=_values("pattern", pattern),
            commands=_values("command", command), model_ids=_values("model_id", model_id),
            assignees=_values("assignee", assignee), reviewers=_values("reviewed_by", reviewed_by))

    @property
    def time_range(self) -> tuple[float, float] | None:
        """(start, until) of the latest event, an open end as infinity; None without a range."""
        if self.start is None and self.until is None:
            return None
        return (-math.inf if self.start is None else self.start, math.inf if self.until is None else self.until)


def _keep(kept: dict, key: tuple, entry: tuple, at_most: int) -> None:
    """Keep `entry` under `key` in a store's cache of at most `at_most` entries."""
    kept[key] = entry
    while len(kept) > at_most:
        try:  # the oldest goes; another thread may be changing the dict meanwhile
            kept.pop(next(iter(kept)), None)
        except (RuntimeError, StopIteration):
            break


def _marks_wanted(filters: ConversationFilter) -> list[tuple[str, str]]:
    """The review marks (store/sets.py) every match has: flagged, reviewed, annotated, one tag."""
    marks = [key for key, wanted in ((("flagged", ""), filters.is_flagged), (("reviewed", ""), filters.reviewed),
                                     (("annotated", ""), filters.annotated)) if wanted]
    return marks + [(kind, values[0]) for kind, values in (("tag", filters.tags), ("assignee", filters.assignees),
                                                           ("reviewed_by", filters.reviewers)) if len(values) == 1]


def _with_one_sets_version(method):
    """`method` checks the sets it decodes against one reading of the sets' version: a list read
    it for each set (19 times for `flow` alone, a quarter of its 4.2 ms on PostgreSQL at 100k). A
    set written meanwhile is read as it is then, and kept as of the version read here, so that
    the next request reads it again. Nested calls keep the outer reading."""
    @functools.wraps(method)
    def with_one_version(self, *args, **kwargs):
        if getattr(self._sets_read, "version", None) is not None:
            return method(self, *args, **kwargs)
        self._sets_read.version = sets.version(self.db)
        try:
            return method(self, *args, **kwargs)
        finally:
            self._sets_read.version = None
    return with_one_version


class ConversationQueries(FlagsMixin):
    @_with_one_sets_version
    def conversations(self, filters: ConversationFilter, *, sort_by_confidence=True,
                      sort_by_latest_event_time=True, limit=None, offset=0, order=None) -> tuple[int, list[dict]]:
        """Return (number of matches, the page of ConversationMetadata dicts). `order` (one of
        ORDERS) overrides the seed's two sort flags."""
        matches = self.matching(filters)
        total = matches.bit_count()
        if order == "lowest_confidence":
            return total, self._with_terms_and_flags(self._lowest_confidence_first(matches, total, limit, offset))
        if order is not None:
            order = ORDERS[order]
        elif filters.in_training_data is False and sort_by_confidence:
            order = _ORDER_BY_CONFIDENCE
        elif sort_by_latest_event_time:
            order = _ORDER_BY_LATEST
        else:
            order = _ORDER_BY_SENDER
        if limit is not None and order != _ORDER_BY_SENDER and (
                page := self._walk_marked(matches, total, order, limit, offset, filters)) is not None:
            return total, self._with_terms_and_flags(page)
        return total, self._with_terms_and_flags(self._page(matches, total, order, limit, offset, filters.time_range))

    @_with_one_sets_version
    def matching(self, filters: ConversationFilter) -> int:
        """The bitset of conversation ids (store/sets.py) that pass every filter."""
        db = self.db
        found: list[int] = []
        time_range = filters.time_range
        # What kept text and time-range matches are checked against: read once for both.
        as_of = self._newest() if filters.text or time_range is not None else (0, 0, 0)
        for kind, values in (("intent", filters.intents), ("entity", filters.entities),
                             ("action", filters.actions), ("policy", filters.policies),
                             ("input_channel", filters.input_channels), ("pattern", filters.patterns),
                             ("command", filters.commands), ("model_id", filters.model_ids)):
            if values:
                found.append(self._any(kind, values))
        if filters.flows and filters.flow_statuses:  # one episode of a flow with a status
            found.append(self._any("flow_episode", [episode_term(flow, status) for flow in filters.flows
                                                    for status in filters.flow_statuses]))
        elif filters.flows or filters.flow_statuses:
            found.append(self._any("flow", filters.flows) if filters.flows
                         else self._any("flow_status", filters.flow_statuses))
        if filters.text:
            found.append(self._with_text(filters.text, as_of))
        for kind, values in (("tag", filters.tags), ("assignee", filters.assignees),
                             ("reviewed_by", filters.reviewers)):
            if values:
                found.append(self._any(kind, values))
        if filters.is_flagged:
            found.append(self._set("flagged"))
        for wanted, kind in ((filters.reviewed, "reviewed"), (filters.annotated, "annotated")):
            if wanted is not None:
                marked = self._set(kind)
                found.append(marked if wanted else self._set("all") & ~marked)
        if filters.in_training_data is not None:
            training = self._set("training")
            found.append(training if filters.in_training_data else self._set("all") & ~training)
        if filters.maximum_confidence is not None:
            found.append(self._confidence_at_most(filters.maximum_confidence))
        if filters.minimum_user_messages is not None:
            found.append(self._user_messages_at_least(filters.minimum_user_messages))
        if filters.sender_id is not None:
            found.append(self._ids_in("SELECT id FROM conversations WHERE sender_id = ?", [filters.sender_id]))
        if not found:
            matches = None
        else:
            matches = found[0]
            for bits in found[1:]:
                matches &= bits
        if time_range is not None:
            # A time range is the union of up to 22 time blocks, each as large as the store; a few
            # other matches are cheaper to look up by their time (time range + annotated, at 100k
            # generated conversations: 4.1 ms by the blocks, 1.0 ms looked up), and matches with a
            # review mark are a range of its members' index (time range + is_flagged, 100k
            # real-shaped: 2.5 ms looked up, 1.1 ms in total from the index) where the mark has
            # as few members as matches are read whole: the 12k flagged in the bench's range at
            # 1M took 12.5 ms from the index on PostgreSQL, a time range's kept set 0.1.
            low, high = time_range
            if matches is not None and (marks := _marks_wanted(filters)) and \
                    self._set(*marks[0]).bit_count() <= self._read_all_at_most(matches):
                return matches & self._ids_in("SELECT id FROM marked_conversations WHERE kind = ? AND value = ? "
                                              "AND latest_event_time >= ? AND latest_event_time <= ?",
                                              [*marks[0], low, high])
            if matches is not None and matches.bit_count() <= self._read_all_at_most(matches):
                return self._ids_in(f"SELECT c.id FROM conversations c WHERE c.id {db.dialect.any_id} "
                                    "AND c.latest_event_time >= ? AND c.latest_event_time <= ?",
                                    [db.dialect.id_list(sets.ids_of(matches)), low, high])
            between = self._latest_event_between(filters.start, filters.until, as_of)
            matches = between if matches is None else matches & between
        return self._set("all") if matches is None else matches

    def _ids_in(self, sql: str, params=()) -> int:
        return sets.bits_of([conversation_id for (conversation_id,) in self.db.execute(sql, params).fetchall()])

    def _with_text(self, text: str, newest: tuple[int, int, int]) -> int:
        """Conversations with a user message containing `text`, case-insensitively: from the text
        index, or for needles shorter than a trigram by reading the user messages.

        Kept for the next request with the same text, as of the newest event: a reviewer pages and
        adds filters with the same text, and a common word is the one list cost that grows with
        the store (`text=help`: 11k messages at 100k conversations, 4.7 ms). Messages stored
        since are searched then; a conversation only gains messages, so none stops matching
        except by erasure, after which the kept matches lose the erased conversations (`_newest`
        says when the store is searched again instead). Searched again after every erasure,
        `prune` cost each reader's text filter a whole search a batch: at 100k on PostgreSQL
        120 ms, the readers' p99."""
        db, needle = self.db, text.casefold()
        known, as_of = self._kept.get(("text", needle), (None, (0, 0, 0)))
        if known is None or as_of[2] != newest[2] or newest[0] - as_of[0] > _NEW_EVENTS_SEARCHED_AT_MOST:
            bits = self._text_search(needle)
        else:
            bits = self._still_there(known, as_of, newest)
            if as_of[0] != newest[0]:
                bits |= self._ids_in(
                    "SELECT c.id FROM events e JOIN conversations c ON c.sender_id = e.sender_id "
                    f"WHERE e.id > ? AND e.type = 'user' AND {db.dialect.position}(e.search_text, ?) > 0",
                    [as_of[0], needle])
        _keep(self._kept, ("text", needle), (bits, newest), _KEPT)
        return bits

    def _still_there(self, known: int, as_of: tuple[int, int, int], newest: tuple[int, int, int]) -> int:
        """Kept matches without the conversations erased since."""
        return known if as_of[1] == newest[1] else known & self._set("all")

    def _newest(self) -> tuple[int, int, int]:
        """(the newest event id, the erasures so far, those of them that took the newest event or
        conversation): what kept matches are valid as of. A conversation's latest time and
        messages change only with a new event, or an erasure; an erased conversation leaves the
        kept matches with the set of all conversations, unless it held the newest id of events or
        conversations, which SQLite gives again (then nothing kept is used)."""
        newest, erasures, of_newest = self.db.execute(
            "SELECT (SELECT max(id) FROM events), (SELECT value FROM counters WHERE name = 'erasures'), "
            "(SELECT value FROM counters WHERE name = 'erasures_of_newest')").fetchone()
        return newest or 0, erasures or 0, of_newest or 0

    def _set(self, kind: str, value: str = "") -> int:
        """The set (kind, value) (store/sets.py), decoded once until the sets are next written: a
        set of 100k conversations is 98 rows to decode (about 80 µs), and a page in confidence
        order reads a dozen (in_training_data=false at 100k real-shaped: 1.51 ms, 0.68 at 10k).
        Inside a transaction the set is read as it is, since what it holds may be rolled back."""
        db = self.db
        if db.in_transaction:
            return sets.read(db, kind, value)
        as_of = getattr(self._sets_read, "version", None)
        if as_of is None:
            as_of = sets.version(db)
        known, known_as_of = self._decoded.get((kind, value), (0, None))
        if known_as_of != as_of:
            known = sets.read(db, kind, value)
            _keep(self._decoded, (kind, value), (known, as_of), _DECODED)
        return known

    def _any(self, kind: str, values) -> int:
        """The conversations with any of `values` of `kind`: one value's set kept decoded (at 1M
        conversations a set is up to 980 rows: 0.6 ms to read on SQLite, 2 on PostgreSQL), several
        read in one query."""
        return self._set(kind, values[0]) if len(values) == 1 else sets.read_any(self.db, kind, values)

    def _text_search(self, needle: str) -> int:
        query = text_index_query(self.db, needle)
        if query is None:
            query = ("SELECT c.id FROM events e JOIN conversations c ON c.sender_id = e.sender_id "
                     f"WHERE e.type = 'user' AND {self.db.dialect.position}(e.search_text, ?) > 0", [needle])
        return self._ids_in(*query)

    def _confidence_at_most(self, maximum: float) -> int:
        """Conversations with a scored action whose lowest confidence is <= maximum: the highest
        level set within it, and those between that level and `maximum` from the index."""
        level = sets.level_within(maximum)
        bits = self._set("confidence", str(level)) if level >= 0 else 0
        return bits | self._ids_in(
            "SELECT id FROM conversations WHERE minimum_action_confidence > ? AND minimum_action_confidence <= ? "
            "AND n_scored_actions > 0", [level / sets.CONFIDENCE_LEVELS if level >= 0 else float("-inf"), maximum])

    def _user_messages_at_least(self, minimum: float) -> int:
        if minimum <= 0:
            return self._set("all")
        if minimum <= sets.MESSAGE_LEVELS:
            return self._set("messages", str(max(1, math.ceil(minimum))))
        return self._ids_in("SELECT id FROM conversations WHERE n_user_messages >= ?", [minimum])

    def _time_span(self) -> tuple:
        """(earliest, latest) latest event time: two index reads (one query with both is a scan)."""
        return self.db.execute("SELECT (SELECT min(latest_event_time) FROM conversations), "
                               "(SELECT max(latest_event_time) FROM conversations)").fetchone()

    def _latest_event_between(self, start: float | None, until: float | None, as_of: tuple[int, int, int]) -> int:
        """Conversations whose latest event is in [start, until], kept like a text's matches (a
        reviewer pages and adds filters with the same range): the union of up to 22 time blocks,
        each as large as the store, was the most of `time range` (3.2 ms at 100k generated
        conversations, 0.7 at 10k)."""
        known, kept_as_of = self._kept.get(("time", start, until), (None, (0, 0, 0)))
        if known is None or kept_as_of[0] != as_of[0] or kept_as_of[2] != as_of[2]:
            known = self._between(start, until)
        else:
            known = self._still_there(known, kept_as_of, as_of)
        _keep(self._kept, ("time", start, until), (known, as_of), _KEPT)
        return known

    def _between(self, start: float | None, until: float | None) -> int:
        """The whole days between from the time-block sets, the two partial days at the ends from
        the index."""
        first, last = self._time_span()
        if first is None:
            return 0
        low, high = max(first, start) if start is not None else first, min(last, until) if until is not None else last
        if low > high:
            return 0
        first_day, last_day = sets.day_of(low), sets.day_of(high)
        bits = sets.read_union(self.db, sets.time_blocks(first_day + 1, last_day - 1))
        edges = "SELECT id FROM conversations WHERE latest_event_time >= ? AND latest_event_time <= ?"
        bits |= self._ids_in(edges, [low, min(high, math.nextafter((first_day + 1) * sets.DAY, -math.inf))])
        if last_day > first_day:
            bits |= self._ids_in(edges, [last_day * sets.DAY, high])
        return bits

    def _page(self, matches: int, total: int, order: str, limit, offset,
              time_range: tuple[float, float] | None) -> list[dict]:
        """The rows of one page of `matches` in `order`.

        The sets say where the page starts and ends (the time blocks newest first, or the
        confidence levels), and the matches between are read and sorted: about a page of rows
        whatever the store's size. Where that span holds too many matches (a day with thousands
        of conversations), conversations are walked in page order from the page's start and kept
        when they match, stopping after the page. By sender (no sets say where), few matches are
        read and sorted, many walked: a walk meets about limit × conversations / matches."""
        if total <= offset or limit == 0:
            return []
        if limit is None or total <= self._read_all_at_most(matches):
            return self._rows(matches, order, limit, offset)
        last = min(total, offset + limit) - 1  # the rank of the page's last row
        counted: dict = {}  # the second search passes the blocks or levels the first counted
        from_the_top = False  # whether a walk would meet every conversation in order, as the blocks hold them
        if order == _ORDER_BY_LATEST:
            earliest, latest = self._time_span()  # read once for both searches
            if time_range is not None:
                # The blocks are counted from the range's last day, not the store's: none after it
                # holds a match, and at 1M generated conversations each count is an AND of two
                # 1M-bit sets (the bench's range: 16 counted for its first page, now 1; `time
                # range` in-process 1.72 → 1.17 ms, with a term 1.9-3.0 → 1.2-1.8).
                earliest, latest = max(earliest, time_range[0]), min(latest, time_range[1])
            days = sets.day_of(earliest), sets.day_of(latest)
            (start_day, before), (end_day, _) = (self._day_of_rank(matches, offset, days, counted),
                                                 self._day_of_rank(matches, last, days, counted))
            span = 0  # the blocks' sets, decoded when their matches were counted
            for block in sets.time_blocks(end_day, start_day):
                span |= self._set(*block)
            where, params = "c.latest_event_time < ?", [(start_day + 1) * sets.DAY]
            if time_range is not None:
                # From the range's end, not its last day's: at 1M generated conversations (2.7k a
                # day) the walk met the day's later conversations first, more than its bound, and
                # the day's 1,024 candidates were read instead. `time range` in-process at 1M:
                # PostgreSQL 8.5 → 2.9 ms, SQLite 3.4 → 1.6 (2026-12-07).
                where += " AND c.latest_event_time <= ?"
                params.append(time_range[1])
        elif order == _ORDER_BY_CONFIDENCE:
            (high, before), (low, _) = (self._level_of_rank(matches, total, offset, counted),
                                        self._level_of_rank(matches, total, last, counted))
            span = self._set("all") if high is None else self._set("confidence", str(high))
            below = sets.CONFIDENCE_LEVELS - 1 if low is None else low - 1  # the level under the last band
            if below >= 0:
                span &= ~self._set("confidence", str(below))
            where, params = ("TRUE", []) if high is None else (
                "c.minimum_action_confidence <= ? AND c.n_scored_actions > 0", [high / sets.CONFIDENCE_LEVELS])
            from_the_top = high is None
            if self.db.dialect.walk_skips_time_range and time_range is not None:
                # Skipped inside the walked index (it holds the latest event time, m015), not
                # looked up and skipped here: time range + in_training_data=false at 100k
                # real-shaped conversations walked 3,024 rows for a page (9.0 → 2.1-3.3 ms).
                # The unary `+` keeps the planner on the walked index (SQLite read the whole
                # range by time and sorted it).
                where += " AND +c.latest_event_time >= ? AND +c.latest_event_time <= ?"
                params += list(time_range)
                from_the_top = False
        else:
            conversations = self._last_conversation_id()
            if total * total <= (offset + limit) * conversations:
                return self._rows(matches, order, limit, offset)
            span, before, where, params = 0, 0, "TRUE", []
        candidates, skip = matches & span, offset - before
        # Each set counted once, the span only where the candidates are not few anyway: at 1M a
        # count is 66 µs, and a term + time range page counted five (1.2 ms in all, in-process).
        n_candidates = candidates.bit_count()
        few = n_candidates <= _READ_ALL_AT_MOST + 4 * limit
        n_span = 0 if few or not span else span.bit_count()
        # A walk meets about (skip + limit) × span / candidates rows where the matches are spread
        # over the span, against reading every candidate: read them where they are fewer.
        if span and (few or n_candidates <= math.isqrt((skip + limit) * n_span * _WALKED_PER_READ)):
            if order == _ORDER_BY_CONFIDENCE and n_candidates > _READ_FROM_BLOCKS_ABOVE \
                    and (blocks := self._confidence_blocks()) is not None:
                return self._unbounded_page_from_blocks(blocks, candidates, limit, skip)
            return self._rows(candidates, order, limit, skip)
        # Where they are not spread, the walk is cut short and the candidates read instead (in
        # confidence order, those of the order's blocks that hold the page): the top confidence
        # band holds every CALM conversation (FlowPolicy acts with confidence 1.0), which a
        # filter such as an intent excludes, and policy + in_training_data=false walked 30k of
        # them at 100k generated conversations (20 ms; 44 on PostgreSQL).
        at_most = max(_WALKED_AT_LEAST, 4 * (skip + limit) * n_span // max(1, n_candidates)) if span else None
        if from_the_top and at_most is not None and self._confidence_order is not None \
                and order_blocks.none_among_first(self._confidence_order, candidates, at_most) \
                and (blocks := self._confidence_blocks()) is not None:
            # The blocks, once read, say when a walk from the top would be cut short before its
            # first candidate: the first page of in_training_data=false with the commonest intent,
            # entity or text at 1M generated conversations walked 2.3k-5.4k CALM conversations
            # (their 300k of confidence 1.0 lead the order, none a match) before the page was
            # taken from the blocks (in-process on SQLite 4.6-6.7 → 2.8-3.1 ms; one block of 15.6k
            # conversations looked at says as much). Asked before the blocks are checked for
            # being current (two more 1M-bit operations), which a walk that goes on need not wait
            # for: the answer only chooses the way to an exact page.
            return self._unbounded_page_from_blocks(blocks, candidates, limit, skip)
        if order == _ORDER_BY_CONFIDENCE and at_most is not None and at_most >= 8 * _WALKED_AT_LEAST \
                and self._confidence_order is not None and (blocks := self._confidence_blocks()) is not None:
            # The blocks, once read, say how many candidates a page from them reads: where that
            # is an eighth of a long walk's bound or less, the walk is not tried (at 1M, the 11th
            # page of in_training_data=false with the commonest entity walked 25.7k rows before
            # it was cut short: 29.9 ms in-process on PostgreSQL, 6.9 from the blocks). A
            # quarter took some walks that were not cut short to the blocks, and slower
            # (in_training_data=false + an abandoned flow, 11th page: 4.6 → 7.0 ms); asking the
            # blocks costs 1.6 ms at 1M, more than most walks of fewer rows.
            if (page := self._page_from_blocks(blocks, candidates, limit, skip, read_at_most=at_most // 8)) is not None:
                return page
        page = self._walk(matches, order, where, params, limit, skip, at_most=at_most)
        if page is not None:
            return page
        if order == _ORDER_BY_CONFIDENCE and (blocks := self._confidence_blocks()) is not None:
            return self._unbounded_page_from_blocks(blocks, candidates, limit, skip)
        return self._rows(candidates, order, limit, skip)

    def _confidence_blocks(self) -> order_blocks.OrderBlocks | None:
        """The list's confidence order in blocks (store/order_blocks.py), read again after an
        erasure of the newest conversation or event (SQLite gives its id again), or once a
        block's worth of conversations came since. None inside a transaction."""
        if self.db.in_transaction:
            return None
        erasures_of_newest = self._newest()[2]
        with self._reading_confidence_order:
            blocks = self._confidence_order
            if blocks is None or blocks.as_of != erasures_of_newest or (
                    self._set("all") & ~blocks.known).bit_count() > blocks.size:
                blocks = self._confidence_order = order_blocks.read(
                    self.db, _ORDER_BY_CONFIDENCE, _CONFIDENCE_KEY_COLUMNS, erasures_of_newest)
        return blocks

    def _unbounded_page_from_blocks(self, blocks: order_blocks.OrderBlocks, candidates: int, limit: int,
                                    skip: int) -> list[dict]:
        """`_page_from_blocks` without a bound on the candidates read: always a page."""
        page = self._page_from_blocks(blocks, candidates, limit, skip)
        assert page is not None, "a page from the blocks without a bound is never None"
        return page

    def _page_from_blocks(self, blocks: order_blocks.OrderBlocks, candidates: int, limit: int, skip: int,
                          read_at_most: int | None = None) -> list[dict] | None:
        """A page in confidence order read from the candidates of the blocks that hold it, twice
        as many blocks again while its last row ranks past them (a conversation whose confidence
        fell since the blocks were read was counted where it ranked then). None, with
        `read_at_most`, where those blocks hold more candidates than that (never without it).

        A page inside the first block holding any candidate, one of a tie of confidences (the
        CALM conversations' 1.0), is walked along that block's range of sender ids instead, where
        that meets fewer rows than there are candidates to read: no candidate can rank before the
        range (none was in the blocks before it, none came since, and none moved earlier). At 1M
        generated conversations, policy + in_training_data=false read the 5.8k candidates of its
        block in 7.0 ms on SQLite and 19.0 on PostgreSQL, and walks its range in 2.5 and 5.0."""
        first, taken, in_first = order_blocks.blocks_holding(blocks, candidates, skip + limit)
        held = None  # the candidates of the first `taken` blocks, once counted
        if read_at_most is not None:
            held = order_blocks.candidates_in(blocks, candidates, taken)
            if held.bit_count() > read_at_most:
                return None
        if taken == first + 1 and (skip + limit) * blocks.size * _WALKED_PER_READ < in_first * in_first and \
                not candidates & ~blocks.known and (tie := order_blocks.tie_of(blocks, first)) is not None:
            page = self._walk(candidates, _ORDER_BY_CONFIDENCE,
                              "c.minimum_action_confidence = ? AND c.sender_id > ? AND c.sender_id <= ?", list(tie),
                              limit, skip)
            if page is not None and len(page) == limit:  # a walk without a bound is never None
                return page
        while True:
            if held is None:
                held = order_blocks.candidates_in(blocks, candidates, taken)
            page = self._rows(held, _ORDER_BY_CONFIDENCE, limit, skip)
            if taken >= len(blocks.blocks) or (len(page) == limit and self._ranks_by_confidence_no_later(
                    page[-1], blocks.last_keys[taken - 1])):
                return page
            taken, held = taken * 2, None

    def _ranks_by_confidence_no_later(self, row: dict, key: tuple[float, str]) -> bool:
        """Whether `row` ranks no later than a conversation with `key` (confidence, sender id) in
        confidence order: sender ids compared by the store, in its collation (PostgreSQL's may
        not be Python's)."""
        confidence, sender_id = key
        if row["minimum_action_confidence"] != confidence:
            return row["minimum_action_confidence"] > confidence
        return row["sender_id"] == sender_id or self.db.execute(
            "SELECT CASE WHEN ? < ? THEN 1 ELSE 0 END", [row["sender_id"], sender_id]).fetchone()[0] == 1

    def _lowest_confidence_first(self, matches: int, total: int, limit, offset) -> list[dict]:
        """A page of `matches`, lowest action confidence first: read and sorted when few, else
        walked along the confidence index backwards (about (offset + limit) × conversations /
        matches rows)."""
        if total <= offset or limit == 0:
            return []
        if limit is None or total <= self._read_all_at_most(matches):
            return self._rows(matches, _ORDER_BY_LOWEST_CONFIDENCE, limit, offset)
        page = self._walk(matches, _ORDER_BY_LOWEST_CONFIDENCE, "TRUE", [], limit, offset)
        assert page is not None, "a walk without a bound ends with the page or the table"
        return page

    @staticmethod
    def _read_all_at_most(matches: int) -> int:
        """How many matches are read and sorted whole rather than paged by the sets: paging by
        the sets costs about 1.5 ms plus 4.5 µs a chunk of conversations with no set decoded
        yet (1.4-2.6 ms at 100k generated conversations, 98 chunks; 4.9-7.5 at 1M, 980
        chunks), reading a match's row about 2 µs (1.1 at 100k, 2-3.6 at 1M, where 3,759
        matches of intent + action took 13.6 ms read whole and 2.7 by the sets). Was 0.45 µs,
        measured at 100k alone: at 1M every match of a pair was read whole up to 22k of them."""
        chunks = matches.bit_length() // sets.CHUNK_BITS + 1
        return max(_READ_ALL_AT_MOST, int((1500 + 4.5 * chunks) / 2))

    def _walk_marked(self, matches: int, total: int, order: str, limit: int, offset: int,
                     filters: ConversationFilter) -> list[dict] | None:
        """A page walked through the members of the filters' smallest review mark, in list order
        (store/sets.py, `marked_conversations`): about `(offset + limit) × members / matches`
        rows, whatever the store's size. None (another plan) without a mark, or when reading
        the matches whole costs less by that count, or when the matches turn out to lie far
        down the walk (it stops after reading as many rows as there are matches, twice over)."""
        marks = _marks_wanted(filters)
        if not marks or total <= offset:
            return None
        members, mark = min((self._set(*key).bit_count(), key) for key in marks)
        if (offset + limit) * members * _WALKED_PER_READ > total * total:
            return None
        where, params = "c.kind = ? AND c.value = ?", list[object](mark)
        if order == _ORDER_BY_CONFIDENCE:  # only out of the training data: the walked index's next column
            where += " AND c.in_training_data = 0"
        elif filters.time_range is not None:  # a range of the walked index
            where += " AND c.latest_event_time >= ? AND c.latest_event_time <= ?"
            params += [*filters.time_range]
        return self._walk(matches, order, where, params, limit, offset, table="marked_conversations",
                          at_most=2 * total + 4 * (offset + limit))

    def _rows(self, ids: int, order: str, limit, offset) -> list[dict]:
        """Rows of the conversations of a bitset, sorted, then cut to a page. A page's ids are
        sorted in the index of the conversations' sort keys, then its rows read: at 1M generated
        conversations, the 7,426 candidates of `in_training_data=false` with an intent took 19.2
        ms read from the table (85 MB, past a connection's 32 MB page cache), 4.5 from the index
        (32 MB)."""
        id_list = self.db.dialect.id_list(sets.ids_of(ids))
        if limit is None:
            return list(self.db.query(f"{self._by_ids} ORDER BY {order} LIMIT ? OFFSET ?", [id_list, NO_LIMIT, offset]))
        page = f"SELECT c.id FROM {self.db.dialect.ids_by_sort_keys} ORDER BY {order} LIMIT ? OFFSET ?"
        return list(self.db.query(f"SELECT c.* FROM conversations c WHERE c.id IN ({page}) ORDER BY {order}",
                                  [id_list, limit, offset]))

    def _walk(self, matches: int, order: str, where: str, params: list, limit: int, skip: int, *,
              table: str = "conversations", at_most: int | None = None) -> list[dict] | None:
        """Walk the conversations of `table` in `order` (an index) where `where` holds, keep
        matches after `skip`. None when `at_most` rows were walked short of the page."""
        member = sets.contains(matches)
        page: list[int] = []
        walk = f"SELECT c.id FROM {table} c WHERE {where} ORDER BY {order}"
        # Read in chunks: PostgreSQL sends a query's whole result at once (100k ids for a walk that
        # needed 200), so each chunk is a query of its own, and a walk that needs more reads 4× more
        # next (a query a chunk steps past the rows walked before it again). SQLite steps on
        # demand, so one query is read on in chunks of the first's size: growing, they stepped
        # rows the walk never looked at (the first page of in_training_data=false with the
        # commonest entity at 1M generated conversations fetched 12.2k rows to look at 3.2k).
        walked, chunk = 0, 4 * (skip + limit) + _FIRST_CHUNK_EXTRA
        with contextlib.closing(self.db.execute(walk, params)) if self.db.dialect.steps_on_demand else \
                contextlib.nullcontext() as rows:
            while len(page) < limit:
                if at_most is not None:
                    if walked >= at_most:
                        return None
                    chunk = min(chunk, at_most - walked)  # 4× past the bound walked 12k rows of a 5k bound
                ids = rows.fetchmany(chunk) if rows is not None else self.db.execute(
                    f"{walk} LIMIT ? OFFSET ?", [*params, chunk, walked]).fetchall()
                for (conversation_id,) in ids:
                    if member(conversation_id):
                        if skip:
                            skip -= 1
                            continue
                        page.append(conversation_id)
                        if len(page) == limit:
                            break
                if len(ids) < chunk:
                    break
                walked, chunk = walked + chunk, chunk if rows is not None else 4 * chunk
        return list(self.db.query(f"{self._by_ids} ORDER BY {order}", [self.db.dialect.id_list(page)]))

    @property
    def _by_ids(self) -> str:
        return _BY_IDS.format(any_id=self.db.dialect.any_id)

    def _day_of_rank(self, matches: int, rank: int, days: tuple[int, int], counted: dict) -> tuple[int, int]:
        """(the day of the match at `rank` newest first, the matches newer than that day), found
        by counting matches in time blocks from the last of `days` (first, last) back: a whole
        block is passed, a block holding the rank is split into smaller ones. `counted`: the
        matches of blocks counted before, by block."""
        (first_day, day), cap, before = days, len(sets.TIME_BLOCKS), 0
        while day >= first_day:
            level = max(i for i, (_, shift) in enumerate(sets.TIME_BLOCKS[:cap]) if (day + 1) % (1 << shift) == 0)
            kind, shift = sets.TIME_BLOCKS[level]
            block = (kind, str(day >> shift))
            if block not in counted:
                counted[block] = (matches & self._set(*block)).bit_count()
            count = counted[block]
            if before + count <= rank:
                before += count
                day -= 1 << shift
                cap = len(sets.TIME_BLOCKS)
            elif shift:
                cap = level  # look inside the block, newest part first
            else:
                break
        return day, before

    def _level_of_rank(self, matches: int, total: int, rank: int, counted: dict) -> tuple[int | None, int]:
        """(the confidence level whose band, (level - 1) / 100 to level / 100, holds the match at
        `rank` by confidence highest first, the matches ranked before that band), found by
        bisecting the cumulative level sets. None: the top band (above 0.99, or no score).
        `counted`: the matches above each level counted before."""
        def above(level):  # matches ranked before the band's conversations (no score ranks as 1.0)
            if level not in counted:
                counted[level] = total - (matches & self._set("confidence", str(level))).bit_count()
            return counted[level]
        top = sets.CONFIDENCE_LEVELS - 1
        if above(top) > rank:
            return None, 0
        low, high = 0, top  # above(high) <= rank; find the lowest such level
        while low < high:
            middle = (low + high) // 2
            if above(middle) <= rank:
                high = middle
            else:
                low = middle + 1
        return high, above(high)

    def _with_terms_and_flags(self, rows: list[dict]) -> list[dict]:
        senders = [row["sender_id"] for row in rows]
        sender_of = {row["id"]: row["sender_id"] for row in rows}
        terms: dict = defaultdict(lambda: defaultdict(list))
        flags: dict = defaultdict(lambda: ([], []))
        if senders:
            placeholders = ",".join("?" * len(senders))
            for conversation_id, held in stored_terms(self.db, sender_of).items():
                for kind, value in sorted(held):
                    terms[sender_of[conversation_id]][kind].append(value)
            for sender_id, timestamp, flagged in self.db.execute(
                f"SELECT sender_id, timestamp, flagged FROM flags WHERE sender_id IN ({placeholders}) "
                "ORDER BY timestamp", senders
            ):
                flags[sender_id][0 if flagged else 1].append(timestamp)
            reviewed = {sender_id: (at, by) for sender_id, at, by in self.db.execute(
                f"SELECT sender_id, reviewed_at, reviewed_by FROM reviews WHERE sender_id IN ({placeholders})", senders)}
            assigned = dict(self.db.execute(
                f"SELECT sender_id, assignee FROM assignments WHERE sender_id IN ({placeholders})", senders).fetchall())
            for sender_id, tag in self.db.execute(
                f"SELECT sender_id, tag FROM tags WHERE sender_id IN ({placeholders}) ORDER BY tag", senders
            ):
                terms[sender_id]["tag"].append(tag)
        return [{**_metadata(row, terms[row["sender_id"]], *flags[row["sender_id"]]),
                 "reviewed": row["sender_id"] in reviewed,
                 "reviewed_at": reviewed.get(row["sender_id"], (None, None))[0],
                 "reviewed_by": reviewed.get(row["sender_id"], (None, None))[1],
                 "assignee": assigned.get(row["sender_id"]),
                 "tags": terms[row["sender_id"]].get("tag", [])} for row in rows]

    def unique_terms(self, kind: str) -> list[str]:
        """Every distinct intent / entity / action / policy over all conversations, sorted: a term's
        set has rows while a conversation has the term (an empty chunk is deleted)."""
        assert kind in TERM_KINDS, kind
        return [value for (value,) in self.db.execute(
            "SELECT DISTINCT value FROM conversation_sets WHERE kind = ? ORDER BY value", [kind]
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
            [*params, NO_LIMIT if limit is None else limit]).fetchall()
        flagged = set(self.flagged_timestamps(sender_id))
        events = []
        for kind, data, timestamp in reversed(rows):
            event = event_of(self.db, data, timestamp)
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
        "input_channels": terms.get("input_channel", []),
        "flows": terms.get("flow", []),
        "patterns": terms.get("pattern", []),
        "commands": terms.get("command", []),
        "model_ids": terms.get("model_id", []),
        # No action with a confidence yet (only user messages): nothing to be unsure about, and
        # nothing predicted from training data (docs/semantics.md).
        "minimum_action_confidence": row["minimum_action_confidence"] if row["n_scored_actions"] else None,
        "minimum_action_confdience": row["minimum_action_confidence"] if row["n_scored_actions"] else None,
        "in_training_data": row["n_off_training_actions"] == 0 and row["n_predicted_actions"] > 0,
        "n_user_messages": row["n_user_messages"],
        "flagged_messages": flagged,
        "unflagged_messages": unflagged,
    }
