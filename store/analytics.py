"""GET /analytics: the metrics of each time bin, from the sessions table: a range query per bin,
or one grouped query where there are many bins for the store's size (and on PostgreSQL)."""

import math
import struct
from dataclasses import dataclass

from .base import StoreBase
from .errors import StoreError

METRICS = ("newUsers", "conversations", "user_messages", "bot_messages", "total_messages",
           "sessions_per_user", "conversation_length", "conversation_steps")


# Grouping, SQLite sorts every session in range; a query a bin costs the same whatever the store's
# size. So bins are read one by one while there are at least this many conversations a bin (about
# 1.3 sessions each). One by one against grouped, best of 7, interleaved: at 100k generated
# conversations 107 / 206 ms with 10 bins, 124 / 241 with 218 (window=1d), 135 / 208 with 870,
# 343 / 312 with 5,215; at 10k, 12.4 / 19.0 with 90 bins, 20.4 / 20.7 with 360, 73.5 / 33.9 with
# 2,160. PostgreSQL groups by hashing: at 10k, one by one 14.7 / 9.8 with 10 bins, 56.5 / 11.2 with 100.
CONVERSATIONS_A_BIN = 25


class AnalyticsNotFound(StoreError):
    status = 404
    title = "Analytics not found"


@dataclass(frozen=True)
class Bins:
    """`count` bins of `width` seconds from `start`; a session starting exactly at `end` goes
    into the last bin."""

    start: float
    end: float
    width: float
    count: int

    @property
    def centers(self) -> list[float]:
        return [self.start + self.width * (i + 0.5) for i in range(self.count)]

    def first_time_in(self, index: int) -> float:
        """The least time in bin `index` as the grouped query computes bins, whole bins of
        `(time - start) / width` in doubles (as Python's floats are): a range query per bin then
        puts every session, and every previous session's start, in the same bin as it does.
        Found by bisecting the doubles in order: stepping an ulp at a time from `start + index *
        width` took 10^11 steps where that is near 0 and `start` far from it."""
        if index == 0:
            return self.start

        def reaches(time: float) -> bool:
            return (time - self.start) / self.width >= index

        guess = self.start + index * self.width
        slack = 4 * max(math.ulp(guess), math.ulp(self.start))
        low, high = guess - slack, guess + slack
        if not math.isfinite(slack) or reaches(low) or not reaches(high):  # further off: search above `start`
            low, high = self.start, math.inf
        low_key, high_key = _ordered(low), _ordered(high)
        while high_key - low_key > 1:
            middle = (low_key + high_key) // 2
            if reaches(_double(middle)):
                high_key = middle
            else:
                low_key = middle
        return _double(high_key)


_SIGN = 1 << 63


def _ordered(value: float) -> int:
    """An integer for each double, in the doubles' order (both zeros alike)."""
    (bits,) = struct.unpack("<q", struct.pack("<d", value))
    return bits if bits >= 0 else -(bits & (_SIGN - 1))


def _double(key: int) -> float:
    (value,) = struct.unpack("<d", struct.pack("<Q", key if key >= 0 else -key | _SIGN))
    return value


class AnalyticsMixin(StoreBase):
    def data_range(self) -> tuple[float, float] | None:
        """(start of the earliest session, time of the latest event), or None for an empty store."""
        # The latest session end is the latest event, which the conversations index has first.
        (start,), (end,) = (self.db.execute("SELECT min(start) FROM sessions").fetchone(),
                            self.db.execute("SELECT max(latest_event_time) FROM conversations").fetchone())
        return None if start is None else (start, end)

    def analytics(self, bins: Bins) -> dict:
        """Each metric of SEMANTICS.md "GET /analytics", one value per bin (zeros when empty)."""
        result = {metric: [0] * bins.count for metric in METRICS}
        # A sender counts in a bin once: at its first session there, the one whose previous
        # session (if any) started before the bin (floor(y) < bin iff y < bin, for a whole bin).
        if self.db.dialect.groups_by_sorting and bins.count * CONVERSATIONS_A_BIN <= self._last_conversation_id():
            rows = self._bins_one_by_one(bins)
        else:
            rows = self._bins_grouped(bins)
        for index, new_users, senders, user, bot, sessions, length, steps in rows:
            if not sessions:
                continue
            for metric, value in zip(METRICS, (new_users, senders, user, bot, user + bot,
                                               sessions / senders, length, steps), strict=True):
                result[metric][index] = value
        return {**result, "bin_centers": bins.centers, "bin_width": bins.width}

    def _bins_one_by_one(self, bins: Bins):
        """A range of the sessions' index for each bin: no sorting (see CONVERSATIONS_A_BIN)."""
        lows = [bins.first_time_in(index) for index in range(bins.count)]
        highs = lows[1:] + [math.inf]  # the last bin runs to `end`
        for index, (low, high) in enumerate(zip(lows, highs, strict=True)):
            yield index, *self.db.execute(
                """
                SELECT sum(is_new_user),
                       sum(CASE WHEN previous_start IS NULL OR previous_start < :low THEN 1 ELSE 0 END),
                       sum(n_user_messages), sum(n_bot_messages), count(*), avg("end" - start), avg(n_user_messages)
                FROM sessions WHERE start >= :low AND start < :high AND start <= :end
                """,
                {"low": low, "high": high, "end": bins.end},
            ).fetchone()

    def _bins_grouped(self, bins: Bins):
        """One query over the sessions in range, grouped by bin."""
        dialect = self.db.dialect
        bin_of = dialect.floor.format("(start - :start) / :width")
        return self.db.execute(
            f"""
            SELECT bin, sum(is_new_user),
                   sum(CASE WHEN previous_start IS NULL OR (previous_start - :start) / :width < bin THEN 1 ELSE 0 END),
                   sum(n_user_messages), sum(n_bot_messages), count(*), avg(length), avg(n_user_messages)
            FROM (SELECT {dialect.least}({bin_of}, :count - 1) AS bin, is_new_user,
                         previous_start, n_user_messages, n_bot_messages, "end" - start AS length
                  FROM sessions WHERE start BETWEEN :start AND :end) binned
            GROUP BY bin
            """,
            # float(): a width of whole seconds over a huge range is an int too large for SQLite.
            {"start": bins.start, "end": bins.end, "width": float(bins.width), "count": bins.count},
        )
