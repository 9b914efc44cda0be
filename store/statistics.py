"""GET /statistics, read from the counters that every ingest keeps current."""

from .base import StoreBase

TOP_KINDS = {"top_intents": "intent", "top_entities": "entity", "top_actions": "action", "top_policies": "policy",
             # CALM: flow episodes started, commands of user messages, pattern flows pushed.
             "top_flows": "flow", "top_commands": "command", "top_patterns": "pattern"}


class StatisticsMixin(StoreBase):
    def statistics(self, *, limit: int = 10) -> dict:
        """Message counts and the `limit` most frequent intents, entities, actions (without
        action_listen), policies, flows (episodes started), commands and patterns (pushed), by
        count high to low, ties by name."""
        db = self.db
        messages = dict(db.execute("SELECT name, count FROM statistics WHERE kind = 'message'").fetchall())
        result = {"user_messages": messages.get("user", 0), "bot_messages": messages.get("bot", 0)}
        for field, kind in TOP_KINDS.items():
            result[field] = [
                {"name": name, "count": count} for name, count in db.execute(
                    "SELECT name, count FROM statistics WHERE kind = ? AND count > 0 "
                    "ORDER BY count DESC, name LIMIT ?", [kind, limit]
                )
            ]
        return result
