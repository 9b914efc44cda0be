"""Per-day sums of the flow episodes, kept at ingest, so that `/flows` and a funnel read a row a
day and flow instead of every episode of their range.

At 1M generated conversations (about 1M episodes) `/flows` took 887 ms and a funnel 798 ms over
HTTP on SQLite, reading every episode from an index (bench/RESULTS-1M.md); the issue's target is
50 ms. An episode counts in the day (UTC) it started. A range [start, end] is answered from the
sums of the whole days inside it and from the episodes themselves in the parts of a day at
either end (at most two days of episodes), so every range stays exact.

- `flow_days`: episodes by day, flow, outcome, interrupted and user messages (the median of a
  completed episode's user messages is a median of such counts);
- `flow_step_days`: by day, flow, step and the episode's outcome, how many episodes reached the
  step, the sum of the positions at which they first reached it (the funnel orders steps by the
  mean position) and how many ended there.

Every change to `flow_episodes` goes through `FlowDays` (store/flow_data.py `forget_flows` and
`_store`), which collects the changes of a batch and writes them once.
"""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from . import packing
from .sets import DAY, day_of  # the time blocks' days: UTC days, compared exactly

# Events are stored with times within ±1e11 s (store/events.py); a bound beyond this holds them all.
_BEYOND = 2e11

# What the sums read of a stored episode (FlowDays.count_stored).
STORED_COLUMNS = "started_at, flow_id, outcome, interrupted, n_user_messages, steps, last_step_id"


def stored_steps(db, stored) -> list:
    """An episode's steps from its stored `steps`: JSON packed as events are with the store's
    dictionary of events, which holds the flows' step ids (a generated episode's 127 bytes pack
    to 44; 6 MB of 21 at 100k conversations), or plain where written before it had one."""
    return json.loads(packing.unpacked_text(db, stored))


FLOW_DAY_TABLES = [
    "CREATE TABLE flow_days (day INTEGER NOT NULL, flow_id TEXT NOT NULL, outcome TEXT NOT NULL, "
    "interrupted INTEGER NOT NULL, n_user_messages INTEGER NOT NULL, episodes BIGINT NOT NULL, "
    "PRIMARY KEY (day, flow_id, outcome, interrupted, n_user_messages))",
    "CREATE TABLE flow_step_days (day INTEGER NOT NULL, flow_id TEXT NOT NULL, step_id TEXT NOT NULL, "
    "outcome TEXT NOT NULL, reached BIGINT NOT NULL, positions BIGINT NOT NULL, ended BIGINT NOT NULL, "
    "PRIMARY KEY (flow_id, day, step_id, outcome))",
]


@dataclass(frozen=True)
class DaySplit:
    """[start, end] (either end open) as the whole days inside it, `first_day` to before
    `last_day` (None: unbounded), and the parts of a day left at either end, as (low, high,
    high included) time ranges of episodes to read one by one."""

    first_day: int | None
    last_day: int | None
    edges: tuple

    @property
    def has_days(self) -> bool:
        return self.first_day is None or self.last_day is None or self.first_day < self.last_day

    @classmethod
    def of(cls, start: float | None, end: float | None) -> "DaySplit":
        if (start is not None and start > _BEYOND) or (end is not None and end < -_BEYOND):
            return cls(0, 0, ())  # past every stored time
        start = None if start is None or start < -_BEYOND else start
        end = None if end is None or end > _BEYOND else end
        first = None if start is None else -day_of(-start)  # the first day starting at or after `start`
        last = None if end is None else day_of(end)  # days before this one end by `end`
        if first is not None and last is not None and first >= last:
            return cls(0, 0, ((start, end, True),))
        edges: list[tuple[float, float, bool]] = []
        if start is not None and first is not None and first * DAY > start:
            edges.append((start, float(first * DAY), False))
        if end is not None and last is not None:
            edges.append((float(last * DAY), end, True))
        return cls(first, last, tuple(edges))

    def days_clause(self) -> tuple[str, list]:
        conditions, params = ["1 = 1"], []
        if self.first_day is not None:
            conditions.append("day >= ?")
            params.append(self.first_day)
        if self.last_day is not None:
            conditions.append("day < ?")
            params.append(self.last_day)
        return " AND ".join(conditions), params


def edge_clause(edges: tuple) -> tuple[str, list]:
    """The episodes that started in any of the `edges` (DaySplit.edges)."""
    if not edges:
        return "1 = 0", []
    clauses, params = [], []
    for low, high, high_included in edges:
        clauses.append(f"(started_at >= ? AND started_at {'<=' if high_included else '<'} ?)")
        params += [low, high]
    return "(" + " OR ".join(clauses) + ")", params


@dataclass
class FlowDays:
    """The changes to the per-day sums of one batch: added episodes count +1, forgotten -1."""

    flows: Counter = field(default_factory=Counter)
    # (day, flow, step, outcome) → changes of "reached", "positions" and "ended"
    steps: defaultdict = field(default_factory=lambda: defaultdict(Counter))

    def count(self, started_at: float, flow_id: str, outcome: str, interrupted: int, n_user_messages: int,
              steps: list, last_step_id: str | None, sign: int) -> None:
        day = day_of(started_at)
        self.flows[day, flow_id, outcome, int(interrupted), n_user_messages] += sign
        for position, step_id in enumerate(steps):
            self.steps[day, flow_id, step_id, outcome]["reached"] += sign
            self.steps[day, flow_id, step_id, outcome]["positions"] += sign * position
        if last_step_id is not None:
            self.steps[day, flow_id, last_step_id, outcome]["ended"] += sign

    def count_stored(self, db, row: tuple, sign: int) -> None:
        """`count` for a row of `STORED_COLUMNS` of `flow_episodes` (of `db`'s store)."""
        started_at, flow_id, outcome, interrupted, n_user_messages, steps, last_step_id = row
        self.count(started_at, flow_id, outcome, interrupted, n_user_messages, stored_steps(db, steps), last_step_id,
                   sign)

    def write(self, db) -> None:
        """Add the batch's changes to the sums; a row that falls to nothing is deleted."""
        flows = [(*key, n) for key, n in self.flows.items() if n]
        db.executemany(
            "INSERT INTO flow_days (day, flow_id, outcome, interrupted, n_user_messages, episodes) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, flow_id, outcome, interrupted, n_user_messages) "
            "DO UPDATE SET episodes = flow_days.episodes + excluded.episodes", flows)
        changed = [(*key, c["reached"], c["positions"], c["ended"]) for key, c in self.steps.items()
                   if any(c.values())]
        db.executemany(
            "INSERT INTO flow_step_days (day, flow_id, step_id, outcome, reached, positions, ended) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (flow_id, day, step_id, outcome) DO UPDATE SET "
            "reached = flow_step_days.reached + excluded.reached, "
            "positions = flow_step_days.positions + excluded.positions, "
            "ended = flow_step_days.ended + excluded.ended", changed)
        db.executemany("DELETE FROM flow_days WHERE day = ? AND flow_id = ? AND outcome = ? AND interrupted = ? "
                       "AND n_user_messages = ? AND episodes = 0", [row[:-1] for row in flows if row[-1] < 0])
        emptied = [key for key, c in self.steps.items() if any(n < 0 for n in c.values())]
        db.executemany("DELETE FROM flow_step_days WHERE day = ? AND flow_id = ? AND step_id = ? AND outcome = ? "
                       "AND reached = 0 AND ended = 0", emptied)
        self.flows.clear()
        self.steps.clear()


def fill_flow_days(db, batch: int = 20_000) -> None:
    """The sums of the episodes a store already holds (a migration)."""
    days = FlowDays()
    last = (-1, -1)
    while rows := db.execute(
            f"SELECT conversation_id, position, {STORED_COLUMNS} FROM flow_episodes WHERE conversation_id > ? "
            "OR (conversation_id = ? AND position > ?) ORDER BY conversation_id, position LIMIT ?",
            [last[0], last[0], last[1], batch]).fetchall():
        for row in rows:
            days.count_stored(db, row[2:], 1)
        last = rows[-1][:2]
    days.write(db)
