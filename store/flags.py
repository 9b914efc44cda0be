"""Flags on messages: kept apart from events, so that no re-import can lose or rewrite one."""

import time

from . import sets
from .base import StoreBase
from .errors import MessageNotFound
from .events import MESSAGE_TYPES
from .packing import text_of
from .team import COMMAND_LINE, Actor, record

# Rasa X showed flagged timestamps cut to 4 decimals; a timestamp that close still names the message.
TIMESTAMP_TOLERANCE = 1e-4


class FlagsMixin(StoreBase):
    def flag(self, sender_id: str, timestamp: float, *, note: str | None = None, by: Actor = COMMAND_LINE) -> float:
        """Flag the user or bot message of `sender_id` at `timestamp` (with a `note`, which
        replaces an earlier one; without, an earlier note stays); return its exact timestamp.
        Raises `ConversationNotFound` or `MessageNotFound`."""
        with self.transaction() as db:
            exact = self._message_timestamp(db, sender_id, timestamp)
            db.execute(  # flagged again, a resolved flag is open again
                "INSERT INTO flags (sender_id, timestamp, flagged, updated_at, note, flagged_by) VALUES (?, ?, 1, ?, ?, ?) "
                "ON CONFLICT (sender_id, timestamp) DO UPDATE SET flagged = 1, updated_at = excluded.updated_at, "
                "note = coalesce(excluded.note, flags.note), resolved_at = NULL, flagged_by = excluded.flagged_by",
                [sender_id, exact, time.time(), note, by.name],
            )
            sets.refresh_mark(db, sender_id, "flagged")
            record(db, by, "flag", sender_id, exact, **({"note": True} if note is not None else {}))
        return exact

    def unflag(self, sender_id: str, timestamp: float, *, by: Actor = COMMAND_LINE) -> float:
        """Remove the flag of that message; a message that was never flagged stays as it is.
        Raises `ConversationNotFound` or `MessageNotFound`."""
        with self.transaction() as db:
            exact = self._message_timestamp(db, sender_id, timestamp)
            if db.execute("UPDATE flags SET flagged = 0, updated_at = ?, flagged_by = ? "
                          "WHERE sender_id = ? AND timestamp = ? AND flagged = 1",
                          [time.time(), by.name, sender_id, exact]).rowcount:
                record(db, by, "unflag", sender_id, exact)
            sets.refresh_mark(db, sender_id, "flagged")
        return exact

    def resolve_flag(self, sender_id: str, timestamp: float, *, resolved: bool = True,
                     by: Actor = COMMAND_LINE) -> float:
        """Mark the flag of that message done (or, `resolved=False`, open again); it stays a flag.
        Raises `ConversationNotFound` or `MessageNotFound` (also for a message not flagged)."""
        with self.transaction() as db:
            exact = self._message_timestamp(db, sender_id, timestamp)
            if not db.execute("UPDATE flags SET resolved_at = ? WHERE sender_id = ? AND timestamp = ? AND flagged = 1",
                              [time.time() if resolved else None, sender_id, exact]).rowcount:
                raise MessageNotFound(sender_id, timestamp, what="flagged message")
            record(db, by, "resolve_flag" if resolved else "reopen_flag", sender_id, exact)
        return exact

    def flagged_timestamps(self, sender_id: str) -> list[float]:
        return [ts for (ts,) in self.db.execute(
            "SELECT timestamp FROM flags WHERE sender_id = ? AND flagged = 1 ORDER BY timestamp", [sender_id]
        )]

    def _message_timestamp(self, db, sender_id: str, timestamp: float) -> float:
        return self._message(db, sender_id, timestamp, MESSAGE_TYPES)[0]

    def _message(self, db, sender_id: str, timestamp: float, types: tuple) -> tuple[float, str]:
        """(exact timestamp, stored JSON) of the message of one of `types` nearest `timestamp`
        within TIMESTAMP_TOLERANCE. Raises `ConversationNotFound` or `MessageNotFound`."""
        self._require(sender_id)
        row = db.execute(
            f"SELECT timestamp, data FROM events WHERE sender_id = ? AND type IN ({','.join('?' * len(types))}) "
            "AND timestamp BETWEEN ? AND ? ORDER BY abs(timestamp - ?), id LIMIT 1",
            [sender_id, *types, timestamp - TIMESTAMP_TOLERANCE, timestamp + TIMESTAMP_TOLERANCE, timestamp],
        ).fetchone()
        if row is None:
            raise MessageNotFound(sender_id, timestamp, what=" or ".join(types) + " message")
        return row[0], text_of(db, row[1], row[0])
