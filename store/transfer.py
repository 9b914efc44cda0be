"""Moving a store to another (`rasa-messaging copy`): what one store hands over, and how another
takes it. Events go through `ingest` (so the destination derives its own metadata, sets, sessions
and counts, whichever backend it is) with the source's last event id as a follow position, in
the same transaction: a copy that was stopped continues where it stopped. The reviewers' work
(flags, tags, review marks, annotations) is copied as it is, times included.
"""


from . import json_text, sets
from .events import event_row, validate_event
from .inbox import refresh_annotated_messages
from .ingest import IngestMixin
from .packing import text_of

# The reviewers' work, table by table: how to read it, how to write it (the source's row wins),
# and the set a row marks.
REVIEW_TABLES = {
    "flags": ("SELECT sender_id, timestamp, flagged, updated_at, note, resolved_at, flagged_by FROM flags "
              "ORDER BY sender_id, timestamp",
              "INSERT INTO flags (sender_id, timestamp, flagged, updated_at, note, resolved_at, flagged_by) "
              "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sender_id, timestamp) DO UPDATE SET flagged = excluded.flagged, "
              "updated_at = excluded.updated_at, note = excluded.note, resolved_at = excluded.resolved_at, "
              "flagged_by = excluded.flagged_by", "flagged"),
    "tags": ("SELECT sender_id, tag, tagged_by, tagged_at FROM tags ORDER BY sender_id, tag",
             "INSERT INTO tags (sender_id, tag, tagged_by, tagged_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", "tag"),
    "reviews": ("SELECT sender_id, reviewed_at, reviewed_by FROM reviews ORDER BY sender_id",
                "INSERT INTO reviews (sender_id, reviewed_at, reviewed_by) VALUES (?, ?, ?) "
                "ON CONFLICT (sender_id) DO UPDATE SET reviewed_at = excluded.reviewed_at, "
                "reviewed_by = excluded.reviewed_by", "reviewed"),
    "annotations": ("SELECT sender_id, timestamp, intent, entities, annotated_at, annotated_by FROM annotations "
                    "ORDER BY sender_id, timestamp",
                    "INSERT INTO annotations (sender_id, timestamp, intent, entities, annotated_at, annotated_by) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sender_id, timestamp) DO UPDATE SET "
                    "intent = excluded.intent, entities = excluded.entities, annotated_at = excluded.annotated_at, "
                    "annotated_by = excluded.annotated_by", "annotated"),
}
COUNTED = ("conversations", "events", *REVIEW_TABLES)


class TransferMixin(IngestMixin):
    def counts(self) -> dict[str, int]:
        """Rows of what a copy moves, by table."""
        return {table: self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COUNTED}

    def events_through(self, last_id: int) -> int:
        """How many events have an id up to `last_id` (copied, when it is a copy's position)."""
        return self.db.execute("SELECT count(*) FROM events WHERE id <= ?", [last_id]).fetchone()[0]

    def event_rows_after(self, last_id: int, limit: int) -> list[tuple[int, str, str]]:
        """(id, sender_id, event JSON) of the next `limit` events after `last_id`, in id order."""
        return [(event_id, sender_id, text_of(self.db, data, timestamp)) for event_id, sender_id, timestamp, data in
                self.db.execute("SELECT id, sender_id, timestamp, data FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                [last_id, limit])]

    def review_rows(self, table: str) -> list[tuple]:
        select, _, _ = REVIEW_TABLES[table]
        return self.db.execute(select).fetchall()

    def take_events(self, source: str, rows: list[tuple[int, str, str]]):
        """Store another store's `event_rows_after`, remembering the last id as `source`'s position."""
        prepared = [event_row(sender_id, validate_event(json_text.loads(data))) for _, sender_id, data in rows]
        return self.ingest(prepared, position=(source, rows[-1][0]))

    def take_review_rows(self, table: str, rows: list[tuple]) -> None:
        """Another store's `review_rows`, for the conversations this store has (the others were
        erased meanwhile), as they were: a row already here is overwritten with the source's."""
        _, insert, mark = REVIEW_TABLES[table]
        with self.transaction() as db:
            known = {sender for (sender,) in db.execute("SELECT sender_id FROM conversations")}
            rows = [row for row in rows if row[0] in known]
            db.executemany(insert, rows)
            for row in rows:
                sets.refresh_mark(db, row[0], mark, row[1] if mark == "tag" else "")
                if table == "reviews" and row[2] is not None:
                    sets.refresh_mark(db, row[0], "reviewed_by", row[2])
                elif table == "annotations":
                    refresh_annotated_messages(db, row[0], row[1])
