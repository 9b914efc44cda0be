"""What the store derives from one Rasa event: validation, identity and the indexed columns.

Events are kept verbatim as JSON; the columns derived here exist only so that filters and
per-conversation metadata need not parse that JSON again.
"""

import math
import operator
import re
import time
from collections import Counter
from typing import NamedTuple

import msgspec

from . import json_text
from .errors import InvalidEvent

MEMORISING_POLICIES = frozenset({"MemoizationPolicy", "AugmentedMemoizationPolicy", "RulePolicy"})
MESSAGE_TYPES = ("user", "bot")
# Every event type Rasa (1.x to 3.x, Pro's flow events included) records; anything else (a typo
# such as "usr") is refused, since it would be stored but never shown as what it meant to be.
# Every event type a Rasa writes, by where it comes from (the `type_name` of each Event class).
# Rasa Open Source 3.x (rasa/shared/core/events.py) and Rasa Pro's first CALM events, plus `topic`
# (Rasa 1.x) and the evaluation events of `rasa test` (rasa/core/test.py).
RASA_OPEN_SOURCE_TYPES = (
    "user", "bot", "action", "restart", "session_started", "slot", "reset_slots", "reminder", "cancel_reminder",
    "pause", "resume", "followup", "export", "undo", "rewind", "user_featurization", "action_execution_rejected",
    "active_loop", "form", "form_validation", "loop_interrupted", "agent", "entities", "topic", "wrong_utterance",
    "wrong_action", "warning_predicted", "stack", "flow_started", "flow_interrupted", "flow_resumed",
    "flow_completed", "flow_cancelled", "routing_session_ended", "session_ended",
)
# The rest of rasa-pro 3.21.0's rasa/shared/core/events.py (59 types in all there): voice turns,
# memory, sub-agents and their tools, skills, ordered blocks, errors, and the end of every CALM
# turn (`bot_turn_ended`). Before they were known, an import rejected them and a broker parked them.
RASA_PRO_TYPES = (
    "user_barge_in", "user_silence_timeout", "user_input_suppressed", "tts_finished", "memory_set", "memory_cleared",
    "inactive", "skill_activated", "skill_completed", "skill_cancelled", "skill_interrupted", "skill_resumed",
    "ordered_block_entered", "ordered_block_completed", "ordered_block_cancelled", "ordered_block_interrupted",
    "ordered_block_resumed", "agent_started", "agent_completed", "agent_interrupted", "agent_cancelled",
    "agent_resumed", "agent_processing", "mcp_tool_executed", "tool_executed", "unsupported_request_classified",
    "error", "bot_turn_ended",
)
RASA_EVENT_TYPES = RASA_OPEN_SOURCE_TYPES + RASA_PRO_TYPES
KNOWN_EVENT_TYPES = frozenset(RASA_EVENT_TYPES)
# A type a newer Rasa may add: stored as it came and reported (unknown_types), never lost. Only an
# `event` that is no such name (missing, empty, `User!`, a number) is refused.
EVENT_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def unknown_types(rows) -> Counter:
    """How many of `rows` have a type that no list above knows, by type."""
    return Counter(row.type for row in rows if row.type not in KNOWN_EVENT_TYPES)
# Annotations this server adds to events it returns; stripped on the way in so that a debug
# dump imported back is recognised as the events it came from.
SERVER_ANNOTATIONS = frozenset({"is_flagged"})
# Nor is a `sender_id` inside the event kept: it is the conversation's key, in its own column.
# Broker events carry one and tracker dumps do not, so the same event is stored the same either
# way; kept, it made the store of 100k generated conversations 924 MB instead of 891 (packed,
# store/packing.py: 7.8 bytes an event).
NOT_KEPT = SERVER_ANNOTATIONS | {"sender_id"}

_DATA_JSON = json_text.encoder(separators=(",", ":"))
# The text that says whether two events are the same (`identity`): sorted keys, the default
# separators, as the fingerprints stored up to m019 hashed it.
_CANONICAL_JSON = json_text.encoder(sort_keys=True)

_POLICY_PREFIX = re.compile(r"^policy_\d+_")


def normalise_policy(policy):
    """`policy_1_TEDPolicy` → `TEDPolicy`: Rasa 1.x/2.x prefix the policy's ensemble position."""
    if not isinstance(policy, str) or not policy:
        return None
    return _POLICY_PREFIX.sub("", policy) if policy.startswith("policy_") else policy


def validate_event(event, *, received_at=None) -> dict:
    """Return the event as it will be stored, or raise `InvalidEvent` saying what is wrong.

    A missing timestamp gets the receive time; a present one must be a finite number, since
    every query orders and bins by it.
    """
    if not isinstance(event, dict):
        raise InvalidEvent(f"an event must be a JSON object, not {type(event).__name__}")
    kind = event.get("event")
    if not isinstance(kind, str) or not kind:
        raise InvalidEvent("an event needs an 'event' field naming its type (a non-empty string)")
    if kind not in KNOWN_EVENT_TYPES and not EVENT_TYPE_NAME.match(kind):
        raise InvalidEvent(f"'event' {kind!r} is not an event type (lower-case letters, digits and _, "
                           "starting with a letter: user, bot, action, slot, ...)")
    stored = event  # the event itself when nothing needs changing (callers test `is`)
    if not NOT_KEPT.isdisjoint(event):
        stored = {k: v for k, v in event.items() if k not in NOT_KEPT}
    if stored.get("timestamp") is None:
        stored = {**stored, "timestamp": time.time() if received_at is None else received_at}
    timestamp = stored["timestamp"]
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise InvalidEvent(f"'timestamp' must be a number of Unix seconds, not {timestamp!r}")
    if not math.isfinite(timestamp):
        raise InvalidEvent(f"'timestamp' must be finite, not {timestamp!r}")
    if not -1e11 <= timestamp <= 1e11:
        raise InvalidEvent(f"'timestamp' {timestamp!r} is not a plausible Unix time in seconds")
    return stored


# The `events` table's columns an event is stored with, in `EventRow`'s order. Its intent, policy
# and confidence are derived into the sets and statistics at ingest and not kept as columns, which
# nothing read (m027); its JSON holds them.
EVENT_COLUMNS = "sender_id, type, timestamp, data, action, search_text"

# The `action` column holds an action's name only where it opens a session: the one action read
# from it (store/sessions.py splits sessions there); the JSON holds every name. The names of the
# others took 21.5 MB of the events' 537.5 at 100k generated conversations on PostgreSQL (the
# store 1,028.4 → 1,006.7 MB). A store made before holds every name in it, which reads the same.
SESSION_START_ACTION = "action_session_start"


def stored_action(row: "EventRow") -> str | None:
    """What the `action` column holds of `row`."""
    return row[5] if row[5] == SESSION_START_ACTION else None


def insert_rows(db, rows, pack) -> None:
    """Add `rows` (EventRows, as `storable_rows` leaves them) to the table `events` of `db`: the
    store's, or an import's staging database (store/staging.py). `pack` makes a JSON text and
    time the `data` kept on disk (store/packing.py `event_packer`)."""
    db.insert_many("events", EVENT_COLUMNS,
                   ((row[0], row[1], row[2], pack(row[3], row[2]), stored_action(row), row[8]) for row in rows),
                   without_nul=True)


def last_event_id(db) -> int:
    """The newest stored event's id, 0 with none: events stored next get larger ones."""
    return db.execute("SELECT max(id) FROM events").fetchone()[0] or 0


def stored_ids(db, after_event_id: int, n_rows: int):
    """position → id of the `n_rows` events just stored after `after_event_id`, in order, from
    1. Not read when the largest is `after_event_id` + `n_rows`: then they are exactly the ones
    in between (always on SQLite; PostgreSQL's sequence leaves a gap where a transaction rolled
    back). Reading them was 74 of the storing process's 2,875 samples (py-spy, 100k generated)."""
    if last_event_id(db) == after_event_id + n_rows:
        return lambda position: after_event_id + position
    ids = [event_id for (event_id,) in db.execute("SELECT id FROM events WHERE id > ? ORDER BY id", [after_event_id])]
    return lambda position: ids[position - 1]


class EventRow(NamedTuple):
    """One event as the store derives it (a tuple: an import builds millions); of its first nine
    fields, those in `EVENT_COLUMNS` are the table's columns (`insert_rows`)."""

    sender_id: str
    type: str
    timestamp: float
    data: str
    intent: str | None = None
    action: str | None = None
    policy: str | None = None
    # An action's, or a user message's intent's (the inbox ranks by it) when the message has an intent:
    # CALM's command generator writes `{"name": null, "confidence": 0.0}`, no prediction to rank by.
    confidence: float | None = None
    search_text: str | None = None
    entities: tuple = ()
    input_channel: str | None = None
    text: str | None = None  # a user message's text, as sent
    commands: tuple = ()  # a CALM user message's commands (`parse_data.commands[].command`), in order
    model_id: str | None = None  # the model that wrote the event (`metadata.model_id`, Rasa 3 and Pro)


def identity(sender_id: str, event: dict) -> str:
    """What makes an event the one it is: its sender plus its whole content, as canonical JSON
    text, so that the same event delivered twice (a re-import, a broker redelivery) is stored
    once however its keys were ordered or spaced. A `sender_id` inside the event is left out:
    broker events carry one, tracker dumps not. Computed only for events that share a sender, a
    type and a timestamp (`same_event`): hashing it for every event was half of parsing (m019).
    A key whose value is null counts as absent, at any depth: one of Rasa's dumps writes
    `"action_text": null` where another of the same conversation has no such key."""
    return _CANONICAL_JSON([sender_id, _without_nulls({key: value for key, value in event.items() if key != "sender_id"})])


def _without_nulls(value):
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]  # a null in a list has a place: kept
    return value


def same_event(sender_id: str, data: str, other_data: str) -> bool:
    """Whether two events of `sender_id`, given as their stored JSON texts, are the same event:
    the same text is (the common case: a file imported again), different texts are when their
    `identity` is."""
    if data == other_data:
        return True
    return identity(sender_id, json_text.loads(data)) == identity(sender_id, json_text.loads(other_data))


_KEY = operator.itemgetter(0, 1, 2)  # (sender_id, type, timestamp)


def first_of_each(rows: list[EventRow], seen: dict) -> list[EventRow]:
    """`rows` without the events already in `seen` ((sender_id, type, timestamp) → the texts of
    the events kept with that key; added to) or earlier in `rows`, in order. Only rows that share
    all three with another are compared (`same_event`): no two rows did in the benchmark's data
    sets, where 3% of the generated events share their time with one of another type. Whether
    any do is asked first, of a set of keys made in C: 1.8 → 0.3 µs a generated event."""
    if not seen and len(set(map(_KEY, rows))) == len(rows):
        return rows
    kept: list[EventRow] = []
    for row in rows:
        key = row[:3]
        if (texts := seen.get(key)) is None:
            seen[key] = [row.data]
        elif any(same_event(row.sender_id, row.data, text) for text in texts):
            continue
        else:
            texts.append(row.data)
        kept.append(row)
    return kept


def _json_text(sender_id: str, event: dict) -> str:
    """The event's JSON text, refusing what strict JSON cannot hold or SQLite cannot store."""
    try:
        data = _DATA_JSON(event)
        data.encode("utf-8")  # a lone surrogate is a UnicodeEncodeError, a ValueError
        sender_id.encode("utf-8")
        return data
    except ValueError as error:  # NaN/Infinity, or text that is not valid Unicode
        raise InvalidEvent(f"the event cannot be stored as JSON text: {error}") from None


# How deep an event's JSON may nest: Rasa's own events nest 5 deep (parse_data's intent ranking);
# a slot value 400 deep was stored, and then every YAML story of its conversation failed.
MAX_NESTING = 100


def nesting(text: str | bytes) -> int:
    """How deep the JSON `text` nests (brackets inside strings do not count)."""
    opening, closing = ("{[", "}]") if isinstance(text, str) else (b"{[", b"]}")
    quote, backslash = ('"', "\\") if isinstance(text, str) else (34, 92)
    depth = deepest = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == backslash:
                escaped = True
            elif character == quote:
                in_string = False
        elif character == quote:
            in_string = True
        elif character in opening:
            depth += 1
            deepest = max(deepest, depth)
        elif character in closing:
            depth -= 1
    return deepest


def nests_too_deep(text: str | bytes) -> bool:
    """Whether `text` nests deeper than MAX_NESTING: counted only when it has that many brackets
    at all (str.count is C; a real-shaped event has about 20)."""
    opened = text.count("{") + text.count("[") if isinstance(text, str) else text.count(b"{") + text.count(b"[")
    return opened > MAX_NESTING and nesting(text) > MAX_NESTING


def event_row(sender_id: str, event: dict, *, text: str | None = None) -> EventRow:
    """Derive the stored row of a validated event. `text` is its JSON text when already at hand
    and known to be strict JSON (`json_text.loads_strict`): stored as it is."""
    if "\x00" in sender_id:  # PostgreSQL text cannot hold it: `a\x00b` and `a\ufffdb` were one conversation there
        raise InvalidEvent("a sender_id cannot hold a NUL character")
    data = _json_text(sender_id, event) if text is None else text
    if nests_too_deep(data):
        raise InvalidEvent(f"the event nests deeper than {MAX_NESTING} levels of objects and arrays")
    kind = event["event"]
    timestamp = float(event["timestamp"])
    # Positional arguments: EventRow(..., **fields) was 4% of parsing real-shaped events (py-spy).
    if kind == "user":
        parse_data = event["parse_data"] if isinstance(event.get("parse_data"), dict) else {}
        intent = parse_data["intent"] if isinstance(parse_data.get("intent"), dict) else {}
        intent_name = intent["name"] if isinstance(intent.get("name"), str) and intent["name"] else None
        entities = parse_data.get("entities")
        text = event.get("text")
        input_channel = event.get("input_channel")
        text = text if isinstance(text, str) else None
        commands = parse_data.get("commands")
        return EventRow(
            sender_id, kind, timestamp, data, intent_name,
            None, None,  # action, policy
            _number(intent.get("confidence")) if intent_name is not None else None,  # the intent's
            text.casefold() if text is not None else None,  # search_text
            tuple(sorted({
                e["entity"] for e in entities
                if isinstance(e, dict) and isinstance(e.get("entity"), str) and e["entity"]
            })) if isinstance(entities, list) and entities else (),
            input_channel if isinstance(input_channel, str) else None,
            text,
            tuple(c["command"] for c in commands if isinstance(c, dict) and isinstance(c.get("command"), str)
                  and c["command"]) if isinstance(commands, list) and commands else (),
            _model_id(event),
        )
    if kind == "action":
        name = event.get("name")
        confidence = _number(event.get("confidence"))
        return EventRow(
            sender_id, kind, timestamp, data, None,
            name if isinstance(name, str) and name else None,  # action
            normalise_policy(event.get("policy")),
            confidence if confidence is not None and math.isfinite(confidence) else None,
            model_id=_model_id(event),
        )
    return EventRow(sender_id, kind, timestamp, data, model_id=_model_id(event))


def _number(value) -> float | None:
    """A JSON number as a float; None for anything else (a flag is no number)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _model_id(event: dict) -> str | None:
    metadata = event.get("metadata")
    model_id = metadata.get("model_id") if isinstance(metadata, dict) else None
    return model_id if isinstance(model_id, str) and model_id else None


class _Intent(msgspec.Struct):
    name: str | None = None
    confidence: object = None  # a number, or anything `event_row` leaves out


class _Entity(msgspec.Struct):
    entity: str | None = None


class _Command(msgspec.Struct):
    command: object = None  # anything but a non-empty text is left out, as `event_row` does


class _ParseData(msgspec.Struct):
    intent: _Intent | None = None
    entities: list[_Entity] | None = None
    commands: list[_Command] | None = None


class _Metadata(msgspec.Struct):
    model_id: object = None


class _BrokerEvent(msgspec.Struct):
    """The fields of a broker event's JSON line that `event_row` reads, typed as it takes them
    without a second look; any other type is a ValidationError, and the line goes the general way."""

    event: str
    sender_id: str
    timestamp: float | None = None
    name: str | None = None
    policy: str | None = None
    confidence: float | None = None
    text: str | None = None
    input_channel: str | None = None
    parse_data: _ParseData | None = None
    metadata: _Metadata | None = None
    is_flagged: object = msgspec.UNSET  # SERVER_ANNOTATIONS: stripped, so the line is not the event
    events: object = msgspec.UNSET  # a record with a list of events is a tracker dump


_BROKER_EVENT = msgspec.json.Decoder(_BrokerEvent)
# Digits as 0 and E as e: the shape in which `_maybe_out_of_range` looks for long numbers.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789E", b"000000000e")
_DIGITS_BEYOND_RANGE = b"0" * 309
_EXPONENT_OF_THREE_DIGITS = re.compile(rb"(?<![0-9A-Za-z_.])-?0+(?:\.0*)?e\+?000")


def _maybe_out_of_range(line: bytes) -> bool:
    """Whether `line` may hold a number that msgspec's generic decoder refuses as out of range
    (and `json_text.loads_strict` reads as infinity, or not at all), which `_BROKER_EVENT` skips
    unread in a field it has not: a digit's exponent of three digits (1e400) or 309 digits in a
    row. Such a line, even where that is in a text (or a hex id that starts like one), goes the
    general way. 1.4-2.0 µs a generated line, against 3.3 for the whole line's regular expression
    (best of 5 over 3,500 lines, twice); a block of lines is looked at whole (`lines_maybe_out_of_range`)."""
    return next(_maybe_out_of_range_at(line.translate(_DIGITS_AS_ZERO)), None) is not None


def lines_maybe_out_of_range(block: bytes, first: int) -> set[int]:
    """The numbers of the lines of `block` (the first numbered `first`, as `sources.records_of`
    numbers them) for which `_maybe_out_of_range` holds: the block translated and searched once,
    not line by line. A worker's chunk of 40k generated lines: 45 → 32 ms."""
    return {first + block.count(b"\n", 0, at) for at in _maybe_out_of_range_at(block.translate(_DIGITS_AS_ZERO))}


def _maybe_out_of_range_at(shape: bytes):
    """Where `shape` (a text's digits as 0, `_DIGITS_AS_ZERO`) may hold a number out of range. The
    regular expression is run only from the number characters before each exponent of three
    digits: a hex id ("...ed79e485", Rasa Pro's `model_id` in every event's metadata) has one,
    but not at the start of a number, and searching the whole line for it took 5.3 µs, in the
    39% of generated lines that hold one (the workers' largest cost at 1M conversations: 21%).
    Neither a number nor the walk back to its start goes past a line's end."""
    at = shape.find(_DIGITS_BEYOND_RANGE)
    while at >= 0:
        yield at
        at = shape.find(_DIGITS_BEYOND_RANGE, at + len(_DIGITS_BEYOND_RANGE))
    for exponent in (b"0e000", b"0e+000"):
        at = shape.find(exponent)
        while at >= 0:
            start = at
            while start and shape[start - 1] in b"-0.":
                start -= 1
            if _EXPONENT_OF_THREE_DIGITS.search(shape, start, at + len(exponent)):
                yield at
            at = shape.find(exponent, at + 1)


# How Rasa's brokers begin an event's line: its sender id first.
_SENDER_FIRST = '{"sender_id": "'


def _without_sender(text: str, sender_id: str) -> str | None:
    """A broker event's line without its `sender_id` (`NOT_KEPT`) where it comes first or last, as
    Rasa's brokers write it; None elsewhere (the general way re-encodes the event then).

    The common line first: one whose sender id is first, as it is in the line (so it holds no
    escape, and is quoted as `_DATA_JSON` quotes it), is cut without quoting it: 0.63 → 0.40 µs a
    generated line."""
    end = len(_SENDER_FIRST) + len(sender_id)
    if text.startswith(_SENDER_FIRST) and text.startswith(sender_id, len(_SENDER_FIRST)) and text.startswith('",', end):
        cut = "{" + text[end + 2:].lstrip(" ")
        return cut if '"sender_id"' not in cut else None
    quoted = _DATA_JSON(sender_id)
    rest = None
    for key in ('"sender_id": ', '"sender_id":'):
        first, last = f"{{{key}{quoted},", f"{key}{quoted}}}"
        if text.startswith(first):
            rest = "{" + text[len(first):].lstrip(" ")
        elif text.endswith(last) and (head := text[:-len(last)].rstrip(" ")).endswith(","):
            rest = head[:-1] + "}"
        if rest is not None:
            return rest if '"sender_id"' not in rest else None
    return None


def kept_text(text: str | None, sender_id: str, event: dict, stored: dict) -> str | None:
    """The JSON text an event (`stored`, what `validate_event` made of `event`, which came as
    `text`) is kept as: the text it came as, without its sender id; None to encode it anew."""
    if text is None or stored is event:
        return text
    if stored == {key: value for key, value in event.items() if key != "sender_id"}:
        return _without_sender(text, sender_id)
    return None


def row_of_line(line: bytes, *, range_checked: bool = False) -> EventRow | None:
    """The row of a JSON line that is a valid broker event, stored as its text, exactly as
    `items_of`, `validate_event` and `event_row` derive it; None for any other line, which then
    goes that way (to be rejected, stripped, dated or read as a tracker dump). Only the fields a
    row keeps are decoded: 3.8 µs a generated line against 8.5 for `items_of` alone, whose generic
    decoder builds every dict of the intent ranking (100k lines, this machine, best of 2).
    `range_checked`: the caller found no number out of range in it (`lines_maybe_out_of_range`)."""
    if (not range_checked and _maybe_out_of_range(line)) or nests_too_deep(line):  # the general way says why it is refused
        return None
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    try:
        event = _BROKER_EVENT.decode(text)
    except (msgspec.DecodeError, RecursionError):
        return None
    kind, timestamp, sender_id = event.event, event.timestamp, event.sender_id
    if (kind not in KNOWN_EVENT_TYPES or not sender_id or "\x00" in sender_id or timestamp is None
            or not -1e11 <= timestamp <= 1e11
            or event.is_flagged is not msgspec.UNSET or event.events is not msgspec.UNSET):
        return None
    if (kept := _without_sender(text, sender_id)) is None:
        return None
    text = kept
    model_id = event.metadata.model_id if event.metadata is not None else None
    model_id = model_id if isinstance(model_id, str) and model_id else None
    if kind == "user":
        parse_data, said = event.parse_data, event.text
        intent = parse_data.intent if parse_data is not None else None
        intent_name = (intent.name or None) if intent is not None else None
        entities = parse_data.entities if parse_data is not None else None
        commands = parse_data.commands if parse_data is not None else None
        return EventRow(sender_id, kind, timestamp, text, intent_name, None, None,
                        _number(intent.confidence) if intent_name is not None else None,  # type: ignore[union-attr]
                        said.casefold() if said is not None else None,
                        tuple(sorted({e.entity for e in entities if e.entity})) if entities else (),
                        event.input_channel, said,
                        tuple(c.command for c in commands if isinstance(c.command, str) and c.command)
                        if commands else (), model_id)
    if kind == "action":
        return EventRow(sender_id, kind, timestamp, text, None, event.name or None, normalise_policy(event.policy),
                        event.confidence, model_id=model_id)
    return EventRow(sender_id, kind, timestamp, text, model_id=model_id)
