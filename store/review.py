"""The review workflow: reviewed marks, tags, the flag queue, erasure and retention, export."""

import math
import re
import time
from collections import Counter

from . import packing, sets, terms
from .annotations import AnnotationsMixin
from .conversations import ConversationQueries
from .dialects import NO_LIMIT
from .errors import ConversationNotFound, InvalidBackup
from .events import event_row, last_event_id
from .flow_data import forget_flows, update_statistics
from .flow_days import FlowDays
from .inbox import forget_messages
from .ingest import deltas_of
from .search import unindex_conversation
from .team import COMMAND_LINE, Actor, record

# The spec's pattern for a tag (tests/test_review.py checks they agree): a backup's tags are read
# without the API, and are held to the same rule.
TAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")


def _number(item: dict, key: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidBackup(f"a flag's {key} must be a number of Unix seconds, not {value!r}")
    return float(value)


def _newest_ids(db) -> tuple:
    return db.execute("SELECT (SELECT max(id) FROM events), (SELECT max(id) FROM conversations)").fetchone()


def _count(db, counter: str, more: int) -> None:
    """Add to a counter the readers' kept matches are valid as of (ConversationQueries._newest)."""
    if more:
        db.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                   "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value", [counter, more])


def _chunks(items: list, size: int = 500) -> list[list]:
    """`items` in lists of at most `size`: a statement's bound values stay within SQLite's limit."""
    return [items[start:start + size] for start in range(0, len(items), size)]


# Every table that holds something of a conversation: erasure empties each of them.
# (conversation_terms holds the conversation's id: it goes first, by that id.)
CONVERSATION_TABLES = ("events", "conversations", "flags", "sessions", "reviews", "tags", "annotations", "assignments",
                       "claims")


class ReviewMixin(ConversationQueries, AnnotationsMixin):
    def review_status(self, sender_id: str) -> dict:
        self._require(sender_id)
        row = self.db.execute("SELECT reviewed_at FROM reviews WHERE sender_id = ?", [sender_id]).fetchone()
        return {"sender_id": sender_id, "reviewed": row is not None, "reviewed_at": row[0] if row else None}

    def mark_reviewed(self, sender_id: str, *, by: Actor = COMMAND_LINE) -> dict:
        """Reviewed until a new event of the conversation arrives. Raises `ConversationNotFound`."""
        with self.transaction() as db:
            self._require(sender_id)
            was = db.execute("SELECT reviewed_by FROM reviews WHERE sender_id = ?", [sender_id]).fetchone()
            db.execute("INSERT INTO reviews (sender_id, reviewed_at, reviewed_by) VALUES (?, ?, ?) "
                       "ON CONFLICT (sender_id) DO UPDATE SET reviewed_at = excluded.reviewed_at, "
                       "reviewed_by = excluded.reviewed_by", [sender_id, time.time(), by.name])
            self._refresh_review_marks(db, sender_id, was)
            record(db, by, "mark_reviewed", sender_id)
        return self.review_status(sender_id)

    def unmark_reviewed(self, sender_id: str, *, by: Actor = COMMAND_LINE) -> dict:
        with self.transaction() as db:
            self._require(sender_id)
            was = db.execute("SELECT reviewed_by FROM reviews WHERE sender_id = ?", [sender_id]).fetchone()
            db.execute("DELETE FROM reviews WHERE sender_id = ?", [sender_id])
            self._refresh_review_marks(db, sender_id, was)
            record(db, by, "unmark_reviewed", sender_id)
        return self.review_status(sender_id)

    @staticmethod
    def _refresh_review_marks(db, sender_id: str, was: tuple | None) -> None:
        """The reviewed set, and the sets of who reviewed it before and now."""
        sets.refresh_mark(db, sender_id, "reviewed")
        now = db.execute("SELECT reviewed_by FROM reviews WHERE sender_id = ?", [sender_id]).fetchone()
        for row in {was, now} - {None, (None,)}:
            sets.refresh_mark(db, sender_id, "reviewed_by", row[0])

    def add_tag(self, sender_id: str, tag: str, *, by: Actor = COMMAND_LINE) -> list[str]:
        with self.transaction() as db:
            self._require(sender_id)
            if db.execute("INSERT INTO tags (sender_id, tag, tagged_by, tagged_at) VALUES (?, ?, ?, ?) "
                          "ON CONFLICT DO NOTHING", [sender_id, tag, by.name, time.time()]).rowcount:
                record(db, by, "tag", sender_id, tag=tag)
            sets.refresh_mark(db, sender_id, "tag", tag)
        return self.tags_of(sender_id)

    def remove_tag(self, sender_id: str, tag: str, *, by: Actor = COMMAND_LINE) -> list[str]:
        with self.transaction() as db:
            self._require(sender_id)
            if db.execute("DELETE FROM tags WHERE sender_id = ? AND tag = ?", [sender_id, tag]).rowcount:
                record(db, by, "untag", sender_id, tag=tag)
            sets.refresh_mark(db, sender_id, "tag", tag)
        return self.tags_of(sender_id)

    def restore_marks(self, sender_id: str, *, flags: list, tags: list, reviewed_at: float | None) -> dict:
        """Put back a backup's flags (each {timestamp, flagged, note, updated_at}), tags and review
        mark of a stored conversation, times kept, in one transaction: what `import` reads from
        an NDJSON export. Returns how many of each were restored. Raises `ConversationNotFound`,
        `MessageNotFound` (a flag of no message) or `InvalidBackup` (a value of the wrong kind);
        then nothing of the conversation's marks is restored."""
        with self.transaction() as db:
            self._require(sender_id)
            rows = []
            for flag in flags:
                exact = self._message_timestamp(db, sender_id, _number(flag, "timestamp"))
                note = flag.get("note")
                if note is not None and not isinstance(note, str):
                    raise InvalidBackup(f"a flag's note must be text, not {note!r}")
                updated_at = flag.get("updated_at")
                rows.append((sender_id, exact, 1 if flag.get("flagged", True) is not False else 0,
                             time.time() if updated_at is None else _number(flag, "updated_at"), note,
                             None if flag.get("resolved_at") is None else _number(flag, "resolved_at")))
            for tag in tags:
                if not isinstance(tag, str) or not TAG_NAME.match(tag):
                    raise InvalidBackup(f"{tag!r} is not a tag (letters, digits and _ . : -, up to 64)")
            db.executemany("INSERT INTO flags (sender_id, timestamp, flagged, updated_at, note, resolved_at) "
                           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sender_id, timestamp) DO UPDATE SET "
                           "flagged = excluded.flagged, updated_at = excluded.updated_at, note = excluded.note, "
                           "resolved_at = excluded.resolved_at", rows)
            db.executemany("INSERT INTO tags (sender_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                           [(sender_id, tag) for tag in tags])
            if reviewed_at is not None:
                db.execute("INSERT INTO reviews (sender_id, reviewed_at) VALUES (?, ?) ON CONFLICT (sender_id) "
                           "DO UPDATE SET reviewed_at = excluded.reviewed_at", [sender_id, reviewed_at])
            sets.refresh_mark(db, sender_id, "flagged")
            sets.refresh_mark(db, sender_id, "reviewed")
            for tag in set(tags):
                sets.refresh_mark(db, sender_id, "tag", tag)
        return {"flags": len(rows), "tags": len(set(tags)), "review marks": int(reviewed_at is not None)}

    def tags_of(self, sender_id: str) -> list[str]:
        return [tag for (tag,) in self.db.execute("SELECT tag FROM tags WHERE sender_id = ? ORDER BY tag", [sender_id])]

    def all_tags(self) -> list[dict]:
        return [{"name": tag, "count": count} for tag, count in
                self.db.execute("SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag")]

    def flag_queue(self, *, limit=None, offset=0, sender_id=None, resolved: bool | None = False) -> tuple[int, list[dict]]:
        """Flagged messages of every conversation (or of `sender_id`'s), the newest flag first: the
        open ones, the resolved ones (`resolved=True`) or both (`None`)."""
        clauses = ["f.flagged = 1", *(["f.sender_id = ?"] if sender_id is not None else []),
                   *([] if resolved is None else ["f.resolved_at IS NOT NULL" if resolved else "f.resolved_at IS NULL"])]
        where, params = " AND ".join(clauses), [] if sender_id is None else [sender_id]
        total = self.db.execute(f"SELECT count(*) FROM flags f WHERE {where}", params).fetchone()[0]
        rows = self.db.execute(
            "SELECT f.sender_id, f.timestamp, f.note, f.updated_at, f.resolved_at, f.flagged_by, "
            "(SELECT data FROM events e WHERE e.sender_id = f.sender_id AND e.timestamp = f.timestamp "
            " AND e.type IN ('user', 'bot') ORDER BY e.id LIMIT 1) "
            f"FROM flags f WHERE {where} ORDER BY f.updated_at DESC, f.sender_id, f.timestamp LIMIT ? OFFSET ?",
            [*params, NO_LIMIT if limit is None else limit, offset]).fetchall()
        queue = []
        for sender_id, timestamp, note, flagged_at, resolved_at, flagged_by, data in rows:
            event = packing.event_of(self.db, data, timestamp) if data is not None else {}
            intent = ((event.get("parse_data") or {}).get("intent") or {}) if event.get("event") == "user" else {}
            queue.append({"sender_id": sender_id, "timestamp": timestamp, "event": event.get("event"),
                          "text": event.get("text"), "intent": intent.get("name") if isinstance(intent, dict) else None,
                          "note": note, "flagged_at": flagged_at, "flagged_by": flagged_by, "resolved_at": resolved_at})
        return total, queue

    def erase(self, sender_id: str, *, by: Actor = COMMAND_LINE, reason: str = "erase") -> int:
        """Remove everything of a conversation in one transaction, taking its events out of the
        statistics counters (sessions go with it, so analytics stay exact). Returns how many
        events were removed. The audit keeps a line naming the conversation, who erased it and
        why (`reason`: erase, prune), and nothing of what it held. Raises `ConversationNotFound`."""
        return self.erase_many([sender_id], by=by, reason=reason)[sender_id]

    def erase_many(self, sender_ids: list[str], *, by: Actor = COMMAND_LINE, reason: str = "erase",
                   inactive_before: float | None = None) -> dict[str, int]:
        """`erase` for several conversations in one transaction (retention erases a batch at a
        time: the statistics, the sets and the inbox's counts are written once a batch, not once a
        conversation). Returns the events removed by sender. Raises `ConversationNotFound` for
        an unknown one; then nothing is erased. With `inactive_before` (retention), a
        conversation gone or with an event since then is left out instead: one that a new event
        reached after it was listed is not erased."""
        with self.transaction() as db:
            counts: Counter = Counter()
            days = FlowDays()
            erased: dict[str, int] = {}
            unique = list(dict.fromkeys(sender_ids))
            found = {sender_id: (conversation_id, latest) for chunk in _chunks(unique)
                     for sender_id, conversation_id, latest in db.execute(
                         f"SELECT sender_id, id, latest_event_time FROM conversations "
                         f"WHERE sender_id IN ({','.join('?' * len(chunk))})", chunk)}
            for sender_id in unique:
                if sender_id not in found and inactive_before is None:
                    raise ConversationNotFound(sender_id)
                if sender_id in found and (inactive_before is None or found[sender_id][1] < inactive_before):
                    erased[sender_id] = 0
            ids = [found[sender_id][0] for sender_id in erased]
            # The conversations' rows a chunk a query (three lookups a conversation were a quarter of
            # PostgreSQL's 4.1 ms a conversation, pruning 600 of 5k generated); their events a
            # conversation a query, by the index (see store/flow_data.py `derive_flows`).
            for sender_id in erased:
                rows = [event_row(sender_id, packing.event_of(db, data, timestamp)) for timestamp, data
                        in db.execute("SELECT timestamp, data FROM events WHERE sender_id = ?", [sender_id])]
                erased[sender_id] = len(rows)
                counts.update(deltas_of(rows)[sender_id].counts if rows else {})
                unindex_conversation(db, sender_id)
            counts.update(forget_flows(db, ids, days))
            update_statistics(db, Counter({key: -count for key, count in counts.items()}))
            days.write(db)
            sets.remove_conversations(db, ids)
            db.executemany("DELETE FROM conversation_terms WHERE conversation_id = ?", [(i,) for i in ids])
            forget_messages(db, ids)
            newest = _newest_ids(db)
            for table in CONVERSATION_TABLES:
                db.executemany(f'DELETE FROM "{table}" WHERE sender_id = ?', [(s,) for s in erased])
            _count(db, "erasures", len(ids))
            _count(db, "erasures_of_newest", int(_newest_ids(db) != newest))
            for sender_id in erased:
                if reason == "erase":
                    record(db, by, "erase", sender_id)
                else:
                    record(db, by, "erase", sender_id, reason=reason)
        return erased

    def inactive_since(self, cutoff: float) -> list[tuple[str, float]]:
        """(sender, latest event time) of every conversation with no event since `cutoff`."""
        return self.db.execute("SELECT sender_id, latest_event_time FROM conversations "
                               "WHERE latest_event_time < ? ORDER BY latest_event_time", [cutoff]).fetchall()

    def size(self) -> int:
        """Bytes the store takes on disk."""
        return self._connections.size()

    def after_bulk_load(self, n_stored: int, on_rebuilding=lambda: None) -> None:
        """After an import or a copy that stored `n_stored` events. PostgreSQL plans from sampled
        statistics, which autovacuum refreshes a minute or more later (meanwhile, on 100k fresh
        conversations, a new sender's sessions were looked up by walking another index): they are
        refreshed now. Where the load made a fifth or more of the store, PostgreSQL's indexes
        that took keys in no order are rebuilt too, while the store is in use (`on_rebuilding()`
        is told first): half full as the load left them. SQLite keeps no statistics, unless told
        to, and needs neither."""
        self._connections.after_bulk_load(n_stored, on_rebuilding)

    def vacuum(self, on_packed=lambda n: None) -> None:
        """Pack the events kept plain (`pack_events`), then give the space of erased conversations
        and of the plain texts back to the file system."""
        self.pack_events(on_packed)
        self._connections.vacuum()

    def pack_events(self, on_packed=lambda n: None, window: int = 50_000) -> int:
        """Pack the events a store made before events were packed holds plain (store/packing.py),
        `window` ids a transaction, so that readers and writers go on meanwhile; `on_packed(n)` is
        told after each. How many were packed. Then the conversations' terms held plain
        (store/terms.py), as many conversations a transaction."""
        with self.transaction() as db:
            dictionary = packing.current_dictionary(db) or packing.train_if_due(db)
            last_id = last_event_id(db)
        if dictionary is None:
            return 0
        n_packed = 0
        for start in range(0, last_id, window):
            with self.transaction() as db:
                n = packing.pack_stored(db, dictionary, after_id=start, through_id=start + window)
            n_packed += n
            on_packed(n)
        (last_conversation,) = self.db.execute("SELECT coalesce(max(id), 0) FROM conversations").fetchone()
        for start in range(0, last_conversation, window):
            with self.transaction() as db:
                terms.pack_plain_terms(db, dictionary, after_id=start, through_id=start + window)
        return n_packed

    def tidy_after_erasures(self) -> None:
        """After many erasures (`prune`), while readers read: PostgreSQL's `/analytics` counts
        sessions with index-only scans, which read the table for every entry of a page a delete
        touched until a vacuum marks the page all-visible again (at 1M, 10 bins: 22 ms, 104-250
        during and after a prune; `VACUUM sessions` 0.7 s). SQLite has nothing of the kind."""
        self._connections.tidy_after_erasures()

    def export(self, filters, *, page_size: int = 200):
        """Yield (metadata, events) of every conversation matching when the export starts, one
        conversation in memory at a time, in sender order. Pages are read by key (the senders
        after the last one sent), so a conversation erased or added while the export runs shifts
        no other out of it, and no page is counted again."""
        matches = self.matching(filters)
        member = sets.contains(matches)
        after = ""
        while True:
            rows = list(self.db.query("SELECT c.* FROM conversations c WHERE c.sender_id > ? "
                                      "ORDER BY c.sender_id LIMIT ?", [after, page_size]))
            matching = [row for row in rows if member(row["id"])]
            for metadata in self._with_terms_and_flags(matching):
                try:
                    events = self.events(metadata["sender_id"])
                except ConversationNotFound:  # erased while the export ran
                    continue
                annotations = self.annotations(sender_id=metadata["sender_id"])[1]
                metadata["annotations"] = [{key: a[key] for key in ("timestamp", "intent", "entities")}
                                           for a in annotations]
                metadata["flags"] = [{"timestamp": ts, "flagged": bool(flagged), "note": note, "updated_at": updated_at,
                                      "resolved_at": resolved_at}
                                     for ts, flagged, note, updated_at, resolved_at in self.db.execute(
                                         "SELECT timestamp, flagged, note, updated_at, resolved_at FROM flags "
                                         "WHERE sender_id = ? ORDER BY timestamp", [metadata["sender_id"]])]
                yield metadata, events
            if len(rows) < page_size:
                return
            after = rows[-1]["sender_id"]
