"""Assignments (whose queue a conversation is in) and claims (who is reviewing it right now).

"Next" hands each reviewer a different conversation: it claims the one it hands out for a short
while, in the same statement that finds it free, so two reviewers asking at once never get the
same one (tests/test_team.py runs them in a loop, on both backends).
"""

import time
from dataclasses import replace

from . import sets
from .conversations import ConversationFilter, ConversationQueries
from .team import COMMAND_LINE, Actor, TeamMixin, record

DEFAULT_CLAIM_SECONDS = 300.0


class AssignmentsMixin(ConversationQueries, TeamMixin):
    def assignment(self, sender_id: str) -> dict:
        row = self.db.execute("SELECT assignee, assigned_by, assigned_at FROM assignments WHERE sender_id = ?",
                              [sender_id]).fetchone()
        assignee, assigned_by, assigned_at = row or (None, None, None)
        return {"sender_id": sender_id, "assignee": assignee, "assigned_by": assigned_by, "assigned_at": assigned_at}

    def assign(self, sender_ids: list[str], assignees: list[str], *, by: Actor = COMMAND_LINE) -> dict[str, int]:
        """Assign the conversations to the people, in turn (one person: all to them), or, with no
        one, to no one; one audit line each that changed. Returns how many each person got (and
        `""`: how many were unassigned). Raises `UnknownPerson` or `ConversationNotFound`."""
        for person in assignees:
            self.require_person(person, "assignees")
        counts = dict.fromkeys(assignees or [""], 0)
        now = time.time()
        with self.transaction() as db:
            touched: dict[str, list[str]] = {}
            for position, sender_id in enumerate(sender_ids):
                self._require(sender_id)
                assignee = assignees[position % len(assignees)] if assignees else None
                was = db.execute("SELECT assignee FROM assignments WHERE sender_id = ?", [sender_id]).fetchone()
                if (was[0] if was else None) == assignee:
                    continue
                if assignee is None:
                    db.execute("DELETE FROM assignments WHERE sender_id = ?", [sender_id])
                    record(db, by, "unassign", sender_id, assignee=was[0])
                else:
                    db.execute("INSERT INTO assignments (sender_id, assignee, assigned_by, assigned_at) VALUES (?, ?, ?, ?) "
                               "ON CONFLICT (sender_id) DO UPDATE SET assignee = excluded.assignee, "
                               "assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at",
                               [sender_id, assignee, by.name, now])
                    record(db, by, "assign", sender_id, assignee=assignee)
                counts[assignee or ""] += 1
                for name in [assignee, was[0] if was else None]:
                    if isinstance(name, str):
                        touched.setdefault(name, []).append(sender_id)
            for name, senders in touched.items():
                sets.refresh_marks(db, senders, "assignee", name)
        return counts

    def queue_progress(self, name: str) -> dict:
        """How many conversations are assigned to `name`, and how many of those are reviewed."""
        assigned = self.matching(ConversationFilter(assignees=(name,)))
        return {"assigned": assigned.bit_count(), "reviewed": (assigned & self.matching(
            ConversationFilter(reviewed=True))).bit_count()}

    def matching_senders(self, filters: ConversationFilter) -> list[str]:
        """The sender ids of every conversation that passes `filters`, in sender order."""
        ids = sets.ids_of(self.matching(filters))
        senders: list[str] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            senders += [s for (s,) in self.db.execute(
                f"SELECT sender_id FROM conversations WHERE id IN ({','.join('?' * len(chunk))})", chunk)]
        return sorted(senders)

    def next_to_review(self, claimant: str, filters: ConversationFilter, *,
                       seconds: float = DEFAULT_CLAIM_SECONDS) -> dict | None:
        """Claim for `claimant`, for `seconds`, the first conversation in list order that passes
        `filters`, is not reviewed, and has no live claim (theirs included: pressing "next" again
        moves on, and what they passed over stays theirs until the claim expires). None when
        there is no such conversation."""
        now = time.time()
        unreviewed, offset, page_size = replace(filters, reviewed=False), 0, 50
        while True:
            _, page = self.conversations(unreviewed, limit=page_size, offset=offset)
            for conversation in page:
                with self.transaction() as db:
                    # One statement: taken when free or expired; otherwise untouched.
                    claimed = db.execute(
                        "INSERT INTO claims (sender_id, claimant, expires_at) VALUES (?, ?, ?) ON CONFLICT (sender_id) "
                        "DO UPDATE SET claimant = excluded.claimant, expires_at = excluded.expires_at "
                        "WHERE claims.expires_at < ?",
                        [conversation["sender_id"], claimant, now + seconds, now]).rowcount
                if claimed:
                    return {"sender_id": conversation["sender_id"], "claimant": claimant, "claimed_until": now + seconds}
            if len(page) < page_size:
                return None
            offset += page_size
