"""GET /analytics: the metrics of each time bin, from the sessions table: a range query per bin,
or one grouped query where there are many bins for the store's size (and on PostgreSQL)."""

import math
import struct
from dataclasses import dataclass

from .base import StoreBase
from .errors import StoreError
from .session_hours import HOUR, first_hour_from, hour_of

METRICS = ("newUsers", "conversations", "user_messages", "bot_messages", "total_messages",
           "sessions_per_user", "conversation_length", "conversation_steps")


# Grouping, SQLite sorts every session in range; a query a bin costs the same whatever the store's
# size. So bins are read one by one while there are at least this many conversations a bin (about
# 1.3 sessions each). One by one against grouped, best of 7, interleaved: at 100k generated
# conversations 107 / 206 ms with 10 bins, 124 / 241 with 218 (window=1d), 135 / 208 with 870,
# 343 / 312 with 5,215; at 10k, 12.4 / 19.0 with 90 bins, 20.4 / 20.7 with 360, 73.5 / 33.9 with
# 2,160. PostgreSQL groups by hashing: at 10k, one by one 14.7 / 9.8 with 10 bins, 56.5 / 11.2 with 100.
CONVERSATIONS_A_BIN = 25
# Bins at least two hours wide, of at least this many conversations each, are read from the
# sessions' sums by hour (store/session_hours.py): four small queries a bin, about 40 us, against
# 0.2 us a session read one by one. At 30k generated conversations (37.5k sessions over 214 days),
# in-process, by hours / one by one / grouped: 10 bins 2.2 / 8.0 / 17.4 ms; 215 bins (a day, 175
# sessions each) 8.8 / 10.1 / 16.6; 858 bins (6 hours, 44 sessions each) 30.5 / 16.9 / 18.6. At 1M
# (1.25M sessions over 218 days): 10 bins 18.0 / 278 / 681 ms, 219 bins (a day) 35.2 / 327 / 658.
MIN_WIDTH_BY_HOURS = 2 * HOUR
CONVERSATIONS_A_BIN_BY_HOURS = 150
READINGS = ("by_hours", "one_by_one", "grouped")
# Bins given to one query as a table of values (4 values a row, 2 rows a bin: under SQLite's
# 32,766 parameters).
BINS_A_QUERY = 1000
# A row of such a table: typed, as PostgreSQL cannot tell a parameter's type in VALUES.
_WHOLE_HOURS_ROW = "(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS DOUBLE PRECISION))"
_EDGE_ROW = "(CAST(? AS BIGINT), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION))"


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


def _ranges(bins: Bins):
    """(index, least time, least time of the next bin) of each bin, as the grouped query bins
    times; the last bin runs to `end`, which the readings bound."""
    lows = [bins.first_time_in(index) for index in range(bins.count)]
    for index, (low, high) in enumerate(zip(lows, lows[1:] + [math.inf], strict=True)):
        yield index, low, high


class AnalyticsMixin(StoreBase):
    def data_range(self) -> tuple[float, float] | None:
        """(start of the earliest session, time of the latest event), or None for an empty store."""
        # The latest session end is the latest event, which the conversations index has first.
        (start,), (end,) = (self.db.execute("SELECT min(start) FROM sessions").fetchone(),
                            self.db.execute("SELECT max(latest_event_time) FROM conversations").fetchone())
        return None if start is None else (start, end)

    def analytics(self, bins: Bins, reading: str | None = None) -> dict:
        """Each metric of SEMANTICS.md "GET /analytics", one value per bin (zeros when empty).
        `reading` (one of READINGS) is chosen by the store's size unless given: every one gives
        the same bins (tests/test_analytics.py)."""
        read = {"by_hours": self._bins_by_hours, "one_by_one": self._bins_one_by_one,
                "grouped": self._bins_grouped}[reading or self._reading(bins)]
        result = {metric: [0] * bins.count for metric in METRICS}
        for index, new_users, senders, user, bot, sessions, length_sum in read(bins):
            if not sessions:
                continue
            for metric, value in zip(METRICS, (new_users, senders, user, bot, user + bot, sessions / senders,
                                               length_sum / sessions, user / sessions), strict=True):
                result[metric][index] = value
        return {**result, "bin_centers": bins.centers, "bin_width": bins.width}

    def _reading(self, bins: Bins) -> str:
        conversations = self._last_conversation_id()
        if bins.width >= MIN_WIDTH_BY_HOURS and bins.count * CONVERSATIONS_A_BIN_BY_HOURS <= conversations:
            return "by_hours"
        if self.db.dialect.groups_by_sorting and bins.count * CONVERSATIONS_A_BIN <= conversations:
            return "one_by_one"
        return "grouped"

    def _bins_by_hours(self, bins: Bins):
        """A bin's whole hours from their sums (store/session_hours.py), the parts of an hour at
        its ends session by session. A sender counts in the bin at a session whose previous one
        started before the bin: of the whole hours' sessions, those whose previous one did not
        are read from the index of returning sessions. The whole hours of up to BINS_A_QUERY
        bins in one query, the bins given as a table of values, and their ends likewise on
        PostgreSQL (`_edges`): four queries a bin took 233 ms there at 1M with a day a bin (219
        bins), 0.27 ms a round trip."""
        ranges = [(index, low, high) for index, low, high in _ranges(bins) if low <= bins.end]
        for start in range(0, len(ranges), BINS_A_QUERY):
            whole, edges = [], []  # (bin, first hour, hour after, its low); (bin, low, high, its low)
            for index, low, high in ranges[start:start + BINS_A_QUERY]:
                first, stop = first_hour_from(low), hour_of(min(high, bins.end))
                if first >= stop:  # no whole hour in the bin
                    edges.append((index, low, high, low))
                    continue
                whole.append((index, first, stop, low))
                edges += [(index, low, float(first * HOUR), low), (index, float(stop * HOUR), high, low)]
            totals: dict = {}
            for index, *sums in self._whole_hours(whole) + self._edges(edges, bins.end):
                totals[index] = [total + (value or 0) for total, value in zip(totals.get(index, [0] * 6), sums,
                                                                               strict=True)]
            yield from ((index, *sums) for index, sums in totals.items())

    def _whole_hours(self, whole: list[tuple]) -> list[tuple]:
        """(bin, new users, senders, user messages, bot messages, sessions, length) of each bin's whole hours."""
        if not whole:
            return []
        return self.db.execute(
            f"""
            WITH whole (bin, first_hour, stop_hour, low) AS (VALUES {','.join([_WHOLE_HOURS_ROW] * len(whole))})
            SELECT w.bin, sum(h.new_users),
                   coalesce(sum(h.sessions), 0) - (SELECT count(*) FROM sessions
                       WHERE start >= w.first_hour * {HOUR} AND start < w.stop_hour * {HOUR}
                       AND previous_start IS NOT NULL AND previous_start >= w.low),
                   sum(h.user_messages), sum(h.bot_messages), sum(h.sessions), sum(h.length_sum)
            FROM whole w LEFT JOIN session_hours h ON h.hour >= w.first_hour AND h.hour < w.stop_hour
            GROUP BY w.bin, w.first_hour, w.stop_hour, w.low
            """, [value for row in whole for value in row]).fetchall()

    def _edges(self, edges: list[tuple], end: float) -> list[tuple]:
        """The same sums of the sessions in each range of `edges` (of bins' parts of an hour), by
        `end`: in one query where GROUP BY hashes (PostgreSQL); SQLite would sort every session
        of the ranges for it (at 1M, 873 bins of 6 hours: 132 ms in one query, 78 a query a
        range), and its queries cost no round trip."""
        if not edges or self.db.dialect.groups_by_sorting:
            return [(index, *self._sessions_in(low, high, bin_low, end)) for index, low, high, bin_low in edges]
        return self.db.execute(
            f"""
            WITH edge (bin, low, high, bin_low) AS (VALUES {','.join([_EDGE_ROW] * len(edges))})
            SELECT e.bin, sum(s.is_new_user),
                   sum(CASE WHEN s.previous_start IS NULL OR s.previous_start < e.bin_low THEN 1 ELSE 0 END),
                   sum(s.n_user_messages), sum(s.n_bot_messages), count(*), sum(s."end" - s.start)
            FROM edge e JOIN sessions s ON s.start >= e.low AND s.start < e.high AND s.start <= ?
            GROUP BY e.bin
            """, [*(value for row in edges for value in row), end]).fetchall()

    def _sessions_in(self, low: float, high: float, bin_low: float, end: float) -> tuple:
        """The sums of the sessions starting in [low, high) and by `end`, in the bin from `bin_low`."""
        return self.db.execute(
            """
            SELECT sum(is_new_user),
                   sum(CASE WHEN previous_start IS NULL OR previous_start < :bin_low THEN 1 ELSE 0 END),
                   sum(n_user_messages), sum(n_bot_messages), count(*), sum("end" - start)
            FROM sessions WHERE start >= :low AND start < :high AND start <= :end
            """,
            {"low": low, "high": high, "bin_low": bin_low, "end": end},
        ).fetchone()

    def _bins_one_by_one(self, bins: Bins):
        """A range of the sessions' index for each bin: no sorting (see CONVERSATIONS_A_BIN)."""
        for index, low, high in _ranges(bins):
            yield index, *self._sessions_in(low, high, low, bins.end)

    def _bins_grouped(self, bins: Bins):
        """One query over the sessions in range, grouped by bin."""
        dialect = self.db.dialect
        bin_of = dialect.floor.format("(start - :start) / :width")
        return self.db.execute(
            f"""
            SELECT bin, sum(is_new_user),
                   sum(CASE WHEN previous_start IS NULL OR (previous_start - :start) / :width < bin THEN 1 ELSE 0 END),
                   sum(n_user_messages), sum(n_bot_messages), count(*), sum(length)
            FROM (SELECT {dialect.least}({bin_of}, :count - 1) AS bin, is_new_user,
                         previous_start, n_user_messages, n_bot_messages, "end" - start AS length
                  FROM sessions WHERE start BETWEEN :start AND :end) binned
            GROUP BY bin
            """,
            # float(): a width of whole seconds over a huge range is an int too large for SQLite.
            {"start": bins.start, "end": bins.end, "width": float(bins.width), "count": bins.count},
        )
