"""GET /flows, /flows/{flow_id}/funnel and a conversation's flows: read from `flow_episodes`
(store/flow_data.py) and their sums by day (store/flow_days.py), which every ingest keeps current."""

from collections import Counter, defaultdict

from .base import StoreBase
from .flow_data import replay_conversation
from .flow_days import DaySplit, edge_clause, stored_steps
from .flows import OUTCOMES


def median(histogram: dict) -> float | None:
    """The median of values given as value → how many times (the mean of the middle two)."""
    total = sum(histogram.values())
    if not total:
        return None

    def at(rank: int):
        seen = 0
        for value in sorted(histogram):
            seen += histogram[value]
            if rank < seen:
                return value

    return (at((total - 1) // 2) + at(total // 2)) / 2


class FlowAnalyticsMixin(StoreBase):
    def flows(self, *, start: float | None = None, end: float | None = None) -> list[dict]:
        """Per user flow with an episode started in [start, end]: episodes started, completed,
        cancelled, abandoned, interrupted, the completion rate and the median user messages of a
        completed episode. Most started first, ties by flow id."""
        split = DaySplit.of(start, end)
        days, day_params = split.days_clause()
        edges, edge_params = edge_clause(split.edges)
        counts: dict = defaultdict(Counter)
        messages: dict = defaultdict(Counter)  # of completed episodes: user messages → how many
        rows = self.db.execute(
            f"SELECT flow_id, outcome, interrupted, n_user_messages, sum(episodes) FROM flow_days WHERE {days} "
            "GROUP BY flow_id, outcome, interrupted, n_user_messages", day_params).fetchall() if split.has_days else []
        rows += self.db.execute(
            f"SELECT flow_id, outcome, interrupted, n_user_messages, count(*) FROM flow_episodes WHERE {edges} "
            "GROUP BY flow_id, outcome, interrupted, n_user_messages", edge_params).fetchall()
        for flow_id, outcome, interrupted, n_user_messages, n in rows:
            counts[flow_id]["started"] += n
            counts[flow_id][outcome] += n
            counts[flow_id]["interrupted"] += n if interrupted else 0
            if outcome == "completed":
                messages[flow_id][n_user_messages] += n
        result = [{"flow_id": flow_id, "started": c["started"],
                   **{outcome: c[outcome] for outcome in OUTCOMES}, "interrupted": c["interrupted"],
                   "completion_rate": c["completed"] / c["started"],
                   "median_user_messages_to_completion": median(messages[flow_id])}
                  for flow_id, c in counts.items()]
        return sorted(result, key=lambda flow: (-flow["started"], flow["flow_id"]))

    def funnel(self, flow_id: str, *, start: float | None = None, end: float | None = None) -> dict:
        """The steps of `flow_id`'s episodes started in [start, end], in the order users reach
        them (by the mean position at which an episode first reached the step, ties by id): per
        step, the episodes that reached it and those that ended there, by outcome."""
        split = DaySplit.of(start, end)
        days, day_params = split.days_clause()
        edges, edge_params = edge_clause(split.edges)
        reached: Counter = Counter()
        positions: Counter = Counter()
        ended: dict = defaultdict(Counter)
        outcomes: Counter = Counter()
        if split.has_days:
            for outcome, n in self.db.execute(
                    f"SELECT outcome, sum(episodes) FROM flow_days WHERE flow_id = ? AND {days} GROUP BY outcome",
                    [flow_id, *day_params]):
                outcomes[outcome] += n
            for step_id, outcome, n_reached, position_sum, n_ended in self.db.execute(
                    f"SELECT step_id, outcome, sum(reached), sum(positions), sum(ended) FROM flow_step_days "
                    f"WHERE flow_id = ? AND {days} GROUP BY step_id, outcome", [flow_id, *day_params]):
                reached[step_id] += n_reached
                positions[step_id] += position_sum
                ended[step_id][outcome] += n_ended
        for steps, last_step_id, outcome in self.db.execute(
                f"SELECT steps, last_step_id, outcome FROM flow_episodes WHERE flow_id = ? AND {edges}",
                [flow_id, *edge_params]):
            outcomes[outcome] += 1
            for position, step_id in enumerate(stored_steps(self.db, steps)):
                reached[step_id] += 1
                positions[step_id] += position
            if last_step_id is not None:
                ended[last_step_id][outcome] += 1
        reached = +reached  # a day's row may count a step only where episodes ended (never reached there)
        episodes = sum(outcomes.values())
        order = sorted(reached, key=lambda step_id: (positions[step_id] / reached[step_id], step_id))
        return {"flow_id": flow_id, "episodes": episodes, **{outcome: outcomes[outcome] for outcome in OUTCOMES},
                "steps": [{"step_id": step_id, "reached": reached[step_id],
                           "ended_here": {outcome: ended[step_id][outcome] for outcome in OUTCOMES}}
                          for step_id in order]}

    def conversation_flows(self, sender_id: str) -> list[dict]:
        """The episodes of a conversation's user flows, in the order they started. Raises
        `ConversationNotFound`."""
        self._require(sender_id)
        return [{"flow_id": flow_id, "frame_id": frame_id, "started_at": started_at, "ended_at": ended_at,
                 "outcome": outcome, "last_step_id": last_step_id, "steps": stored_steps(self.db, steps),
                 "interrupted": bool(interrupted), "resumed": bool(resumed), "n_user_messages": n_user_messages,
                 "session": session}
                for flow_id, frame_id, started_at, ended_at, outcome, last_step_id, steps, interrupted, resumed,
                n_user_messages, session in self.db.execute(
                    "SELECT e.flow_id, e.frame_id, e.started_at, e.ended_at, e.outcome, e.last_step_id, e.steps, "
                    "e.interrupted, e.resumed, e.n_user_messages, e.session FROM flow_episodes e "
                    "JOIN conversations c ON c.id = e.conversation_id WHERE c.sender_id = ? ORDER BY e.position",
                    [sender_id])]

    def flow_stack(self, sender_id: str, *, until: float | None = None) -> list[dict]:
        """The dialogue stack of `sender_id` after its events up to `until` (all without),
        rebuilt from the `stack` updates, bottom frame first. Raises `ConversationNotFound`."""
        self._require(sender_id)
        return [frame for frame in replay_conversation(self.db, sender_id, until=until).stack
                if isinstance(frame, dict)]
