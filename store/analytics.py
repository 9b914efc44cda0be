"""GET /analytics: the metrics of each time bin, one grouped query over the sessions table."""

from dataclasses import dataclass

from .base import StoreBase
from .errors import StoreError

METRICS = ("newUsers", "conversations", "user_messages", "bot_messages", "total_messages",
           "sessions_per_user", "conversation_length", "conversation_steps")


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
        dialect = self.db.dialect
        bin_of = dialect.floor.format("(start - :start) / :width")
        rows = self.db.execute(
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
        for index, new_users, senders, user, bot, sessions, length, steps in rows:
            for metric, value in zip(METRICS, (new_users, senders, user, bot, user + bot,
                                               sessions / senders, length, steps), strict=True):
                result[metric][index] = value
        return {**result, "bin_centers": bins.centers, "bin_width": bins.width}
