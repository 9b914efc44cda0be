"""Importing files: sources → validated events → batches stored one transaction each.

A batch is stored whole or not at all, and storing is idempotent, so an import that was killed
half-way is finished by running the same import again.
"""

from dataclasses import dataclass, field

from .errors import InvalidEvent
from .events import event_row, validate_event
from .ingest import IngestResult
from .sources import Rejected, Source

BATCH_SIZE = 5_000


@dataclass
class ImportSummary:
    result: IngestResult = field(default_factory=IngestResult)
    rejected: list = field(default_factory=list)  # (file, location, reason)

    @property
    def conversations(self) -> int:
        return len(self.result.senders)


def import_source(store, source: Source, summary: ImportSummary, *, on_record=lambda: None,
                  batch_size: int = BATCH_SIZE) -> None:
    """Store every valid event of `source`; add what was stored and rejected to `summary`."""
    batch = []
    for items in source.records():
        for item in items:
            if isinstance(item, Rejected):
                summary.rejected.append((str(source.path), item.location, item.reason))
                continue
            try:
                batch.append(event_row(item.sender_id, validate_event(item.event)))
            except InvalidEvent as error:
                summary.rejected.append((str(source.path), item.location, error.detail))
        if len(batch) >= batch_size:
            summary.result.add(store.ingest(batch))
            batch = []
        on_record()
    if batch:
        summary.result.add(store.ingest(batch))
