"""Sessions: a sender's events split where Rasa started a new session, kept current at ingest.

A session starts at a sender's first event and at every `session_started` that follows a user or
bot message in the current session (Rasa writes `action_session_start`, `session_started`,
`action_listen` at the top of each session; one that comes before anything was said continues
the session it is in). The `action_session_start` just before such a `session_started` opens
the new session with it, so a session's length never spans the idle time before the user came
back. Its start is its first event's time, its end its last event's time; it is a new user's
session if it is the sender's first. Each session also keeps the start of the sender's previous
one, so that analytics count the senders of a time bin without a DISTINCT (store/analytics.py).
"""

from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter

from .events import SESSION_START_ACTION


@dataclass
class Session:
    start: float
    start_event_id: int
    end: float
    n_user_messages: int = 0
    n_bot_messages: int = 0



def split_sessions(events) -> list[Session]:
    """`events`: (id, type, timestamp, action name) in timestamp order (ties by id)."""
    events = list(events)
    starts = [0] if events else []
    user_or_bot_since_start = False
    for index, (_, kind, _, _) in enumerate(events):
        if kind == "session_started" and user_or_bot_since_start:
            opener = index - 1
            starts.append(opener if opener > starts[-1] and _is_session_start_action(events[opener]) else index)
            user_or_bot_since_start = False
        user_or_bot_since_start |= kind in ("user", "bot")
    sessions = []
    for start, stop in zip(starts, starts[1:] + [len(events)], strict=True):
        members = events[start:stop]
        kinds = [kind for _, kind, _, _ in members]
        sessions.append(Session(start=members[0][2], start_event_id=members[0][0],
                                end=max(timestamp for _, _, timestamp, _ in members),
                                n_user_messages=kinds.count("user"), n_bot_messages=kinds.count("bot")))
    return sessions


def _is_session_start_action(event) -> bool:
    return event[1] == "action" and event[3] == SESSION_START_ACTION


def refresh_sessions(db, sender_id: str, earliest_new: float) -> None:
    """Re-split `sender_id`'s sessions after events at or after `earliest_new` arrived.

    Only the session that holds the earliest new event, and those after it, can change (a late
    message can make a `session_started` split, or a late `session_started` split a session), so
    only they are split again; events appended after the last session without a new
    `session_started` only extend it, reading no more than the new events (a message appended to a
    60,000-event conversation must not re-read it). Runs inside the caller's transaction.
    """
    if _extend_last_session(db, sender_id, earliest_new):
        return
    anchor = db.execute(
        "SELECT start, start_event_id FROM sessions WHERE sender_id = ? AND start <= ? "
        "ORDER BY start DESC, start_event_id DESC LIMIT 1", [sender_id, earliest_new]
    ).fetchone()
    if anchor is None:  # before every known session: split them all
        db.execute("DELETE FROM sessions WHERE sender_id = ?", [sender_id])
        events = db.execute("SELECT id, type, timestamp, action FROM events WHERE sender_id = ? "
                            "ORDER BY timestamp, id", [sender_id])
    else:
        start, start_id = anchor
        db.execute("DELETE FROM sessions WHERE sender_id = ? "
                   "AND (start > ? OR (start = ? AND start_event_id >= ?))", [sender_id, start, start, start_id])
        events = db.execute("SELECT id, type, timestamp, action FROM events WHERE sender_id = ? "
                            "AND (timestamp > ? OR (timestamp = ? AND id >= ?)) ORDER BY timestamp, id",
                            [sender_id, start, start, start_id])
    sessions = split_sessions(events)
    earlier = db.execute("SELECT start FROM sessions WHERE sender_id = ? ORDER BY start DESC, start_event_id DESC "
                         "LIMIT 1", [sender_id]).fetchone()
    db.executemany(_INSERT, _session_rows(sender_id, sessions, earlier[0] if earlier else None))


def sessions_by_position(rows: list, senders) -> list[tuple]:
    """The session rows of the conversations in `senders`, which have no event but `rows` (a
    batch to store, in the order it will be stored), each `start_event_id` the 1-based position
    of the session's first event in `rows`: `store_new_sessions` makes it the stored id. The rows'
    types, times and actions are at hand: `refresh_sessions` asked five queries of each
    conversation, and reading these columns back took a tenth of the storing process at 100k
    conversations (py-spy). An import's workers compute them (store/staging.py)."""
    by_sender = defaultdict(list)
    for position, row in enumerate(rows, start=1):
        if row.sender_id in senders:
            by_sender[row.sender_id].append((position, row.type, row.timestamp, row.action))
    return [session for sender_id, events in by_sender.items()
            for session in _session_rows(sender_id, split_sessions(sorted(events, key=_BY_TIME_THEN_ID)), None)]


def store_new_sessions(db, sessions: list[tuple], stored_id) -> None:
    """Store `sessions_by_position`'s rows, `stored_id(position)` (`events.stored_ids`) the id of
    the event stored at a position."""
    db.insert_many("sessions", _COLUMNS, [(sender_id, start, stored_id(position), *rest)
                                         for sender_id, start, position, *rest in sessions])


_BY_TIME_THEN_ID = itemgetter(2, 0)
_COLUMNS = 'sender_id, start, start_event_id, "end", n_user_messages, n_bot_messages, is_new_user, previous_start'
_INSERT = f"INSERT INTO sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def _session_rows(sender_id: str, sessions: list[Session], earlier_start: float | None) -> list[tuple]:
    """`sessions`' rows, each with the start of the one before (`earlier_start` for the first)."""
    previous_starts = [earlier_start] + [s.start for s in sessions[:-1]]
    return [(sender_id, s.start, s.start_event_id, s.end, s.n_user_messages, s.n_bot_messages, int(previous is None),
             previous) for s, previous in zip(sessions, previous_starts, strict=True)]


def _extend_last_session(db, sender_id: str, earliest_new: float) -> bool:
    """Add events that all came after the last session's end, and start no session, to it; False
    (nothing done) when that is not the case."""
    last = db.execute('SELECT start_event_id, "end" FROM sessions WHERE sender_id = ? ORDER BY start DESC, start_event_id DESC '
                      "LIMIT 1", [sender_id]).fetchone()
    if last is None or not earliest_new > last[1]:
        return False
    counts = dict(db.execute("SELECT type, count(*) FROM events WHERE sender_id = ? AND timestamp >= ? GROUP BY type",
                             [sender_id, earliest_new]).fetchall())
    if "session_started" in counts:
        return False
    latest = db.execute("SELECT max(timestamp) FROM events WHERE sender_id = ? AND timestamp >= ?",
                        [sender_id, earliest_new]).fetchone()[0]
    db.execute('UPDATE sessions SET "end" = ?, n_user_messages = n_user_messages + ?, n_bot_messages = n_bot_messages + ? '
               "WHERE sender_id = ? AND start_event_id = ?",
               [latest, counts.get("user", 0), counts.get("bot", 0), sender_id, last[0]])
    return True

