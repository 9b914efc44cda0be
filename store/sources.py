"""The files Rasa users already have, read as a stream of events.

Formats, detected from the content rather than the file name:
- a tracker dump `{"sender_id", "events": [...]}` (Rasa's `GET /conversations/{id}/tracker`),
- a JSON array of such dumps (or of broker events),
- JSON Lines, each line a broker event carrying `sender_id` (Rasa's brokers, `rasa export`)
  or a whole dump,
- SQLite files of Rasa's SQL tracker store (`events: id, sender_id, type_name, timestamp,
  intent_name, action_name, data`) and SQL event broker (`events: id, sender_id, data`).
Anything unusable becomes a `Rejected` item naming where it is and why; nothing is skipped silently.
"""

import contextlib
import itertools
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from . import json_text

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(slots=True)
class SourceEvent:
    """Made for every event an import reads: a frozen dataclass's `__init__` took 0.53 µs, this
    one 0.14."""

    location: str
    sender_id: str
    event: object
    text: str | None = None  # the event's JSON text, when a line holds just the event as strict JSON


# What an NDJSON export (`rasa-messaging export`, `GET /core/export`) holds of the reviewers' work
# beside the events; our JSON debug dump holds `flagged_messages` too.
REVIEW_KEYS = ("annotations", "flags", "flagged_messages", "unflagged_messages", "tags", "reviewed", "reviewed_at")


@dataclass(frozen=True)
class SourceReviewWork:
    """The reviewers' work on one conversation, as an export writes it (the REVIEW_KEYS it has)."""

    location: str
    sender_id: str
    work: dict


@dataclass(frozen=True)
class Rejected:
    location: str
    reason: str


class Source:
    """One input file: `total` records to expect (for progress; a JSON Lines file's lines, blank
    ones included) and its `raw_chunks()`."""

    def __init__(self, path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
        if head == SQLITE_MAGIC:
            self.kind = "sqlite"
            self.total = self._count_rows()
        elif self._first_line_is_json_object():
            self.kind = "jsonl"
            self.total = self._count_lines()
        else:
            self.kind = "json"
            self._document = self._load_document()
            self.total = len(self._document) if isinstance(self._document, list) else 1

    def raw_chunks(self, size: int, first: int | None = None):
        """Yield the file's records as read, before parsing, in lists of about `size` (the first
        of about `first`, if given): small picklable tuples that `records_of` and `items_of` turn
        into items, so that an import can parse in worker processes. A JSON Lines file's list is
        one range of whole lines, about `size` × 256 bytes (a generated event's line is 223
        bytes, a real-shaped one 380), read where it is parsed (`lines_of`): here only its line
        ends are found and counted. Handed over as the bytes themselves, reading, copying and
        sending them took the importing process 2.3 s and 1.6 s of the 100k generated set's 44
        (py-spy)."""
        if self.kind == "jsonl":
            with open(self.path, "rb") as f:
                offset, number = 0, 1
                while piece := f.read((first if offset == 0 and first else size) * 256):
                    end = piece.rfind(b"\n") + 1
                    while not end:  # a line longer than a piece: on to its end, or the file's
                        more = f.read(size * 256)
                        piece += more
                        end = piece.rfind(b"\n", len(piece) - len(more)) + 1 if more else len(piece)
                    yield [("line range", number, str(self.path), offset, end)]
                    number += piece.count(b"\n", 0, end)
                    offset += end
                    f.seek(offset)
            return
        records = self._sqlite_rows() if self.kind == "sqlite" else self._json_documents()
        if first and (chunk := list(itertools.islice(records, first))):
            yield chunk
        while chunk := list(itertools.islice(records, size)):
            yield chunk

    def _first_line_is_json_object(self) -> bool:
        with open(self.path, "rb") as f:
            for line in f:
                if line.strip():
                    try:
                        return isinstance(json.loads(line), dict)
                    except ValueError:
                        return False
        return False

    def _load_document(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
            if not text.strip():
                return Rejected("file", "empty file")
            return json_text.loads(text)
        except UnicodeDecodeError as error:
            return Rejected("file", f"not UTF-8 text: {error}")
        except (ValueError, RecursionError) as error:
            return Rejected("file", f"invalid JSON: {error}")

    def _json_documents(self):
        document = self._document
        if isinstance(document, Rejected):
            yield ("rejected", document)
        elif isinstance(document, list):
            for index, record in enumerate(document):
                yield ("parsed", f"item {index}", record)
        else:
            yield ("parsed", "file", document)

    def _count_lines(self) -> int:
        with open(self.path, "rb") as f:
            lines, last = 0, b"\n"
            while piece := f.read(1 << 20):
                lines += piece.count(b"\n")
                last = piece[-1:]
            return lines + (last != b"\n")

    def _count_rows(self) -> int:
        try:
            with _read_only(self.path) as conn:
                return conn.execute("SELECT count(*) FROM events").fetchone()[0]
        except sqlite3.DatabaseError:
            return 1

    def _sqlite_rows(self):
        try:
            with _read_only(self.path) as conn:
                columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'event_dictionaries'").fetchone():
                    # Its events are packed (store/packing.py), and it holds reviewers' work too.
                    yield ("rejected", Rejected("file", "a rasa-messaging store, not Rasa's: copy it with "
                                                        "`rasa-messaging copy --from FILE --to STORE`"))
                    return
                if not {"id", "sender_id", "data"} <= columns:
                    yield ("rejected", Rejected("file", "a SQLite file without Rasa's `events(id, sender_id, data)` table"))
                    return
                for row_id, sender_id, data in conn.execute(
                    "SELECT id, sender_id, data FROM events ORDER BY id"
                ):
                    yield ("row", row_id, sender_id, data)
        except sqlite3.DatabaseError as error:
            yield ("rejected", Rejected("file", f"unreadable SQLite file: {error}"))


def lines_of(raw) -> tuple:
    """A raw record from `Source.raw_chunks`, a range of a file's lines read: ("lines", the first
    one's number, their bytes); any other as it is."""
    if raw[0] != "line range":
        return raw
    _, first, path, offset, length = raw
    with open(path, "rb") as f:
        f.seek(offset)
        return ("lines", first, f.read(length))


def records_of(raw) -> list:
    """The records of one raw record from `Source.raw_chunks`: a range of lines holds one a line,
    blank lines too (they count for progress; `items_of` finds nothing in them)."""
    raw = lines_of(raw)
    if raw[0] != "lines":
        return [raw]
    _, first, block = raw
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()  # what follows the last newline: nothing
    return [("line", number, line) for number, line in enumerate(lines, start=first)]


def items_of(raw) -> list:
    """The items (`SourceEvent`s and `Rejected`s) of one record from `records_of`."""
    kind = raw[0]
    if kind == "line":
        _, number, line = raw
        location = f"line {number}"
        try:
            text = line.decode("utf-8").strip()
            if not text:
                return []
            record, strict = json_text.loads_strict(text)
        except UnicodeDecodeError as error:
            return [Rejected(location, f"not UTF-8 text: {error}")]
        except (ValueError, RecursionError) as error:
            return [Rejected(location, f"invalid JSON: {error}")]
        return list(_record_items(location, record, text if strict else None))
    if kind == "row":
        _, row_id, sender_id, data = raw
        return [_row_item(f"row id {row_id}", sender_id, data)]
    if kind == "parsed":
        return list(_record_items(raw[1], raw[2]))
    return [raw[1]]


def _row_item(location, sender_id, data):
    if not isinstance(sender_id, str) or not sender_id:
        return Rejected(location, "no sender_id")
    try:
        return SourceEvent(location, sender_id, json_text.loads(data))
    except (TypeError, ValueError, RecursionError) as error:
        return Rejected(location, f"invalid JSON in `data`: {error}")


def _record_items(location: str, record, text=None):
    """A tracker dump gives its events; a broker event gives itself."""
    if isinstance(record, dict) and isinstance(record.get("events"), list):
        sender_id = record.get("sender_id")
        if not isinstance(sender_id, str) or not sender_id:
            yield Rejected(location, "a tracker dump without a sender_id")
            return
        for index, event in enumerate(record["events"]):
            yield SourceEvent(f"{location}, event {index}", sender_id, event)
        work = {key: record[key] for key in REVIEW_KEYS if record.get(key) not in (None, [], False)}
        if work:
            yield SourceReviewWork(location, sender_id, work)
    elif isinstance(record, dict) and "event" in record:
        sender_id = record.get("sender_id")
        if not isinstance(sender_id, str) or not sender_id:
            yield Rejected(location, "an event without a sender_id (broker events carry one)")
            return
        yield SourceEvent(location, sender_id, record, text)
    else:
        yield Rejected(location, "neither a tracker dump ({sender_id, events}) nor an event with sender_id")


def _read_only(path):
    return contextlib.closing(sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True))
