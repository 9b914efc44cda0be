"""Importing files: sources → validated events → batches stored one transaction each.

A batch is stored whole or not at all, and storing is idempotent, so an import that was killed
half-way is finished by running the same import again.

Parsing and deriving an event costs more than storing it, so with `workers` the records are
parsed in worker processes while this process stores the batches, in file order. The store takes
each batch as a table to copy from (a SQLite database, or rows in COPY's format for PostgreSQL),
with its repeats, deltas, sessions, messages and flows worked out where it was parsed
(`staged_batches`, store/staging.py).
"""

import contextlib
import functools
import gc
import itertools
import math
import multiprocessing
import os
import threading
import time
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from .errors import InvalidBackup, InvalidEvent, StoreError
from .events import (
    KNOWN_EVENT_TYPES,
    EventRow,
    event_row,
    first_of_each,
    kept_text,
    lines_maybe_out_of_range,
    row_of_line,
    validate_event,
)
from .flow_data import replays_of
from .inbox import messages_by_position
from .ingest import IngestResult, deltas_of
from .packing import event_packer
from .sessions import sessions_by_position
from .sources import Rejected, Source, SourceReviewWork, items_of, lines_of, records_of
from .staging import StagedBatch, staged_database, storable_rows

# Records per piece of work handed to a worker: where a record is an event (JSON Lines, event
# tables), about a batch; a tracker dump holds tens of events.
CHUNK_SIZE = 40_000
# Events a transaction: room for a whole chunk of lines (36k generated, 27k real-shaped); a chunk
# cut in two made the second transaction's conversations exist already (10k generated
# conversations: 5.01-5.29 s against 4.65-4.95). Four times the chunk and batch of before
# (10,000 and 12,000): a quarter of the commits, and each index page a batch changes written to the
# write-ahead log once for four times the events. 100k conversations, one import each: generated
# (4.24M events) 80.1 → 61.4 s on SQLite; real-shaped 80.4 → 61.7 s.
# The importing process peaks at 514 MB instead of 275; chunks of 100k took 59.4 s at 786 MB.
BATCH_SIZE = 48_000
TRACKERS_PER_CHUNK = 200


@dataclass
class ImportSummary:
    result: IngestResult = field(default_factory=IngestResult)
    rejected: list = field(default_factory=list)  # (file, location, reason)
    restored: Counter = field(default_factory=Counter)  # the reviewers' work put back: annotations, flags, ...
    unknown: dict = field(default_factory=dict)  # a type no list knows → [events stored, where the first was]

    @property
    def conversations(self) -> int:
        return len(self.result.senders)


def derive(raw_records: list) -> tuple[list, list, int, list, dict]:
    """(event rows, rejected (location, reason), number of records, the reviewers' work, the
    types no list knows → [how many, the first one's location]) of some raw records."""
    rows: list[EventRow] = []
    rejected: list = []
    review_work: list = []
    unknown: dict = {}
    n_records = 0
    for raw in map(lines_of, raw_records):
        # A block of lines is searched for numbers out of range at once, not line by line.
        maybe_out_of_range = lines_maybe_out_of_range(raw[2], raw[1]) if raw[0] == "lines" else None
        for record in records_of(raw):
            n_records += 1
            if maybe_out_of_range is not None and record[1] not in maybe_out_of_range \
                    and (row := row_of_line(record[2], range_checked=True)) is not None:
                rows.append(row)
                continue
            _derive_the_general_way(record, rows, rejected, review_work, unknown)
    return rows, rejected, n_records, review_work, unknown


def _derive_the_general_way(record, rows: list, rejected: list, review_work: list, unknown: dict) -> None:
    """`derive` of one record that is no plain broker event's line (or may hold a number out of
    range): its items decoded whole and validated, each added where it belongs."""
    for item in items_of(record):
        if isinstance(item, Rejected):
            rejected.append((item.location, item.reason))
            continue
        if isinstance(item, SourceReviewWork):
            review_work.append(item)
            continue
        try:
            event = validate_event(item.event)
            # An event stored as it came keeps its line as its JSON text: no second encoding.
            rows.append(event_row(item.sender_id, event, text=kept_text(item.text, item.sender_id, item.event, event)))
        except InvalidEvent as error:
            rejected.append((item.location, error.detail))
            continue
        if event["event"] not in KNOWN_EVENT_TYPES:  # the quick way leaves these to this one
            unknown.setdefault(event["event"], [0, item.location])[0] += 1


def staged_batches(rows: list[EventRow], batch_size: int, dictionary: tuple[int, bytes] | None = None,
                   dialect: str = "sqlite") -> list[StagedBatch]:
    """`rows` in batches of `batch_size` for `Store.ingest_staged` on a store of `dialect`, with
    what the storing process would otherwise derive from them: which are repeats, the
    conversations' deltas, the sessions, the inbox's messages and the replays of the
    conversations' flows. Their JSON texts are packed with the store's `dictionary`
    (store/packing.py) if it has one."""
    batches = []
    pack = event_packer(dictionary)
    rows = storable_rows(dialect, rows)
    for start in range(0, len(rows), batch_size):
        given = rows[start:start + batch_size]
        unique = first_of_each(given, {})
        deltas = deltas_of(unique)
        batches.append(StagedBatch(database=staged_database(dialect, unique, pack), n_rows=len(unique),
                                   n_repeats=len(given) - len(unique), packed=dictionary is not None,
                                   deltas=deltas, sessions=sessions_by_position(unique, deltas),
                                   messages=messages_by_position(unique), replays=replays_of(unique, deltas)))
    return batches


def import_source(store, source: Source, summary: ImportSummary, *, on_records=lambda n: None,
                  batch_size: int = BATCH_SIZE, workers: int = 0) -> None:
    """Store every valid event of `source`; add what was stored and rejected to `summary`.

    `on_records(n)` is told each time n more records were read; `workers` > 0 parses in that
    many processes."""
    review_work: list = []
    # Each chunk is packed with the dictionary the store has when it is handed out: a new store's
    # first chunk is stored plain, and packed once the store has trained one (`_derived_chunks`).
    work = functools.partial(_derive_staged, batch_size=batch_size, dialect=store.db.dialect.name)
    # The workers live until the last batch is stored.
    with store.bulk_writes(), _parsing_pool(workers) as pool:
        for batches, rejected, n_records, chunk_review_work, unknown in _derived_chunks(
                source, pool, workers, work, store.event_dictionary):
            for batch in batches:
                summary.result.add(store.ingest_staged(batch))
            summary.rejected.extend((str(source.path), location, reason) for location, reason in rejected)
            for kind, (count, location) in unknown.items():
                summary.unknown.setdefault(kind, [0, f"{source.path}: {location}"])[0] += count
            review_work.extend(chunk_review_work)
            on_records(n_records)
    for item in review_work:  # after the events they belong to are stored
        restore_review_work(store, item, summary, str(source.path))


def restore_review_work(store, item: SourceReviewWork, summary: ImportSummary, file: str) -> None:
    """Put back a conversation's annotations (each on its own: one that no longer fits its
    message is rejected alone), then its flags, tags and review mark (together)."""
    work = item.work
    for index, a in enumerate(work.get("annotations") or []):
        try:
            store.annotate(item.sender_id, a["timestamp"], a["intent"], a.get("entities"))
            summary.restored["annotation"] += 1
        except (StoreError, KeyError, TypeError) as error:
            reason = error.detail if isinstance(error, StoreError) else f"not an annotation ({error!r})"
            summary.rejected.append((file, f"{item.location}, annotation {index}", reason))
    flags = work.get("flags")
    if flags is None:  # a dump with the timestamps alone (our JSON debug dump, or an older export)
        flags = [*({"timestamp": ts} for ts in work.get("flagged_messages") or []),
                 *({"timestamp": ts, "flagged": False} for ts in work.get("unflagged_messages") or [])]
    reviewed_at = work.get("reviewed_at") if work.get("reviewed") is True else None
    if not (flags or work.get("tags") or reviewed_at is not None):
        return
    try:
        if not isinstance(flags, list) or not all(isinstance(f, dict) for f in flags) \
                or not isinstance(work.get("tags", []), list) \
                or not (reviewed_at is None or (isinstance(reviewed_at, int | float) and math.isfinite(reviewed_at))):
            raise InvalidBackup("`flags` must be a list of objects, `tags` a list, `reviewed_at` Unix seconds")
        restored = store.restore_marks(item.sender_id, flags=flags, tags=work.get("tags", []), reviewed_at=reviewed_at)
    except StoreError as error:
        summary.rejected.append((file, f"{item.location}, flags, tags and review mark", error.detail))
        return
    summary.restored["flag"] += restored["flags"]
    summary.restored["tag"] += restored["tags"]
    summary.restored["review mark"] += restored["review marks"]


def _parsing_pool(workers: int):
    """The processes that parse an import's chunks (none: parsed here). fork: the workers need
    nothing but this module."""
    if not workers:
        return contextlib.nullcontext()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker, initargs=(os.getpid(),))


def chunks_of(source: Source):
    """`source`'s raw records in the chunks an import hands out (`_derived_chunks`)."""
    size = TRACKERS_PER_CHUNK if source.kind == "json" else CHUNK_SIZE
    return source.raw_chunks(size, first=max(1, size // 16))


def _derived_chunks(source: Source, pool: ProcessPoolExecutor | None, workers: int, work, dictionary):
    """`work(chunk, dictionary())` done on each chunk of `source`'s raw records, in file order:
    here, or in `pool`'s `workers` processes. The first chunk, a sixteenth of the others, is
    stored before the rest are handed out: a new store trains its dictionary on it
    (store/packing.py), and the rest come packed. Handed out together, the chunks in flight came
    plain and were packed once stored, and PostgreSQL kept their first versions as dead rows: 41
    MB of a store of 1,347 (100k generated)."""
    chunks = chunks_of(source)
    if pool is None:
        for chunk in chunks:
            yield work(chunk, dictionary())
        return
    if (first := next(chunks, None)) is None:
        return
    yield pool.submit(work, first, dictionary()).result()
    # A few chunks in flight bound the memory.
    pending = deque(pool.submit(work, chunk, dictionary()) for chunk in itertools.islice(chunks, 2 * workers))
    while pending:
        done = pending.popleft().result()
        chunk = next(chunks, None)
        if chunk is not None:
            pending.append(pool.submit(work, chunk, dictionary()))
        yield done


def _derive_staged(raw_records: list, dictionary: tuple[int, bytes] | None, batch_size: int, dialect: str) -> tuple:
    rows, rejected, n_records, review_work, unknown = derive(raw_records)
    return staged_batches(rows, batch_size, dictionary, dialect), rejected, n_records, review_work, unknown


def collect_rarely() -> None:
    """For a process that imports: an import makes millions of short-lived tuples and dicts and
    no reference cycles, and the collector, run every 700 of them, traversed the rows in hand
    and whatever the process had made before each time. What exists now is left out of every
    collection (`gc.freeze`), and a collection waits for 50,000 new objects."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _start_worker(parent_pid: int) -> None:
    """A worker whose importer was killed outright (SIGKILL leaves it no chance to stop its pool)
    exits too, instead of waiting for work forever. Workers run niced: the storing process is
    the bottleneck, and with three busy processes on two cores it had two thirds of one (10k
    real-shaped conversations: 13.6 → 10.6 s)."""
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()
    os.nice(10)
    collect_rarely()

