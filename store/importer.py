"""Importing files: sources → validated events → batches stored one transaction each.

A batch is stored whole or not at all, and storing is idempotent, so an import that was killed
half-way is finished by running the same import again.

Parsing and deriving an event costs more than storing it, so with `workers` the records are
parsed in worker processes while this process stores the batches, in file order.
"""

import gc
import itertools
import multiprocessing
import os
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from .errors import InvalidEvent, StoreError
from .events import EventRow, event_row, validate_event
from .ingest import IngestResult, deltas_of, merge_deltas
from .sources import Rejected, Source, SourceAnnotation, items_of, records_of

BATCH_SIZE = 5_000
# Records per piece of work handed to a worker: large enough that the hand-over is cheap.
CHUNK_SIZE = 2_000


@dataclass
class ImportSummary:
    result: IngestResult = field(default_factory=IngestResult)
    rejected: list = field(default_factory=list)  # (file, location, reason)

    @property
    def conversations(self) -> int:
        return len(self.result.senders)


def derive(raw_records: list) -> tuple[list, list, int, dict, list]:
    """(event rows, rejected (location, reason), number of records, what the rows add to each
    conversation, annotations) of some raw records."""
    rows: list[EventRow] = []
    rejected, annotations, n_records = [], [], 0
    for record in itertools.chain.from_iterable(map(records_of, raw_records)):
        n_records += 1
        for item in items_of(record):
            if isinstance(item, Rejected):
                rejected.append((item.location, item.reason))
                continue
            if isinstance(item, SourceAnnotation):
                annotations.append(item)
                continue
            try:
                event = validate_event(item.event)
                # An event stored as it came keeps its line as its JSON text: no second encoding.
                rows.append(event_row(item.sender_id, event, text=item.text if event is item.event else None))
            except InvalidEvent as error:
                rejected.append((item.location, error.detail))
    return rows, rejected, n_records, deltas_of(rows), annotations


def import_source(store, source: Source, summary: ImportSummary, *, on_records=lambda n: None,
                  batch_size: int = BATCH_SIZE, workers: int = 0) -> None:
    """Store every valid event of `source`; add what was stored and rejected to `summary`.

    `on_records(n)` is told each time n more records were read; `workers` > 0 parses in that
    many processes."""
    batch: list = []
    deltas: dict = {}
    annotations: list = []
    with store.bulk_writes():
        for rows, rejected, n_records, chunk_deltas, chunk_annotations in _derived_chunks(source, workers):
            summary.rejected += [(str(source.path), location, reason) for location, reason in rejected]
            annotations += chunk_annotations
            batch += rows
            merge_deltas(deltas, chunk_deltas)
            if len(batch) >= batch_size:
                summary.result.add(store.ingest(batch, deltas=deltas))
                batch, deltas = [], {}
            on_records(n_records)
        if batch:
            summary.result.add(store.ingest(batch, deltas=deltas))
    for item in annotations:  # after the events they annotate are stored
        try:
            a = item.annotation
            store.annotate(item.sender_id, a["timestamp"], a["intent"], a.get("entities"))
        except (StoreError, KeyError, TypeError) as error:
            reason = error.detail if isinstance(error, StoreError) else f"not an annotation ({error!r})"
            summary.rejected.append((str(source.path), item.location, reason))


def _derived_chunks(source: Source, workers: int):
    chunks = source.raw_chunks(CHUNK_SIZE)
    if not workers:
        yield from map(derive, chunks)
        return
    # fork: the workers need nothing but this module; a few chunks in flight bound the memory.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_start_worker, initargs=(os.getpid(),)) as pool:
        pending = deque(pool.submit(_derive_to_send, chunk) for chunk in itertools.islice(chunks, 2 * workers))
        while pending:
            rows, *rest = pending.popleft().result()
            chunk = next(chunks, None)
            if chunk is not None:
                pending.append(pool.submit(_derive_to_send, chunk))
            yield (list(map(EventRow._make, rows)), *rest)


def _derive_to_send(raw_records: list) -> tuple:
    """`derive` in a worker, its rows sent as plain tuples: unpickling a NamedTuple calls its
    Python `__new__`, which made unpickling 4.3 µs an event in the process that stores them;
    plain tuples made EventRows again cost 0.9."""
    rows, *rest = derive(raw_records)
    return (list(map(tuple, rows)), *rest)


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

