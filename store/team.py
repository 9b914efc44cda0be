"""The team: named people with a role each, and the audit log of who wrote what (issue 41).

A person's token is shown once, when it is made, and kept only as its SHA-256: a token is 32
random bytes, so a fast hash is as safe to keep as a slow one, and a stolen store holds no token
that works. Every write of the review workflow records an `Actor` in `audit` in the transaction
of the write itself, so that no write is without its line and no line without its write.
"""

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass

from .base import StoreBase, all_of
from .dialects import NO_LIMIT
from .errors import StoreError
from .sets import refresh_marks

# What each role may do, by the scopes the spec's operations ask for (rasa_messaging/auth.py).
ROLES: dict[str, tuple[str, ...]] = {
    "viewer": ("read",),
    "reviewer": ("read", "review"),
    "annotator": ("read", "review", "annotate"),
    "admin": ("read", "review", "annotate", "admin", "ingest"),
    "ingest": ("ingest",),
}
# A person's name: as a tag's, plus `@` (an e-mail address is a name people use). `me` names the
# caller in the filters, so no one is called that.
PERSON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}\Z")
RESERVED_NAMES = {"me"}

AUDIT_ACTIONS = ("flag", "unflag", "resolve_flag", "reopen_flag", "tag", "untag", "mark_reviewed", "unmark_reviewed",
                 "annotate", "unannotate", "annotate_texts", "assign", "unassign", "erase")

# m023's (and p010's) tables, given each backend's self-numbering key. The audit has no column
# for content: an erased conversation's texts cannot stay behind in it.
def team_tables(serial: str) -> list[str]:
    return [statement.replace("{id}", serial) for statement in _TEAM_TABLES]


_TEAM_TABLES = [
    "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, "
    "created_at FLOAT NOT NULL, rotated_at FLOAT)",
    "CREATE TABLE audit (id {id}, at FLOAT NOT NULL, actor TEXT, role TEXT NOT NULL, action TEXT NOT NULL, "
    "sender_id TEXT, message_timestamp FLOAT, detail TEXT)",
    "CREATE INDEX audit_by_actor ON audit (actor, id)",
    "CREATE INDEX audit_by_conversation ON audit (sender_id, id)",
    "CREATE INDEX audit_by_action ON audit (action, id)",
    "CREATE INDEX audit_by_time ON audit (at)",
    "CREATE TABLE assignments (sender_id TEXT PRIMARY KEY, assignee TEXT NOT NULL, assigned_by TEXT, "
    "assigned_at FLOAT NOT NULL)",
    # "Next" hands a reviewer a conversation for a short while (store/assignments.py).
    "CREATE TABLE claims (sender_id TEXT PRIMARY KEY, claimant TEXT NOT NULL, expires_at FLOAT NOT NULL)",
    "CREATE INDEX claims_by_claimant ON claims (claimant)",
    "ALTER TABLE flags ADD COLUMN flagged_by TEXT",
    "ALTER TABLE reviews ADD COLUMN reviewed_by TEXT",
    "ALTER TABLE tags ADD COLUMN tagged_by TEXT",
    "ALTER TABLE tags ADD COLUMN tagged_at FLOAT",
    "ALTER TABLE annotations ADD COLUMN annotated_by TEXT",
]


class UnknownPerson(StoreError):
    status = 404
    title = "Unknown person"

    def __init__(self, name: str, parameter: str | None = None):
        super().__init__(f"no one called {name!r} is on the team (`rasa-messaging users list`)")
        self.extra = {"parameter": parameter} if parameter else {}


class InvalidPerson(StoreError):
    status = 400
    title = "Invalid person"

    def __init__(self, detail: str, parameter: str = "name"):
        super().__init__(detail)
        self.extra = {"parameter": parameter}


@dataclass(frozen=True)
class Actor:
    """Who makes a write: a named person, an unnamed token (`--token`, `--review-token`: name
    None), an open server, or the command line."""

    name: str | None
    role: str


COMMAND_LINE = Actor(None, "cli")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A token people can tell apart from other secrets: `rm_` and 43 URL-safe characters."""
    return "rm_" + secrets.token_urlsafe(32)


def record(db, by: Actor, action: str, sender_id: str | None = None, timestamp: float | None = None,
           **detail) -> None:
    """One audit line, in the caller's transaction. `detail` names what was done, never content:
    an intent, a tag, an assignee, a count; a flag's note is not in it."""
    db.execute("INSERT INTO audit (at, actor, role, action, sender_id, message_timestamp, detail) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               [time.time(), by.name, by.role, action, sender_id, timestamp, json.dumps(detail) if detail else None])


class TeamMixin(StoreBase):
    def add_user(self, name: str, role: str) -> str:
        """Add a person; returns their token, which is kept only as a hash. Raises
        `InvalidPerson` (a name or role that is not one, or a name taken)."""
        _check(name, role)
        token = new_token()
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
                raise InvalidPerson(f"{name!r} is on the team already (`users rotate` gives them a new token)")
            db.execute("INSERT INTO users (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
                       [name, role, token_hash(token), time.time()])
        return token

    def rotate_user(self, name: str) -> str:
        """A new token for `name`; the old one stops working. Raises `UnknownPerson`."""
        token = new_token()
        with self.transaction() as db:
            if not db.execute("UPDATE users SET token_hash = ?, rotated_at = ? WHERE name = ?",
                              [token_hash(token), time.time(), name]).rowcount:
                raise UnknownPerson(name)
        return token

    def remove_user(self, name: str) -> None:
        """Their token stops working; what they did keeps their name. Their assignments go back
        to no one. Raises `UnknownPerson`."""
        with self.transaction() as db:
            if not db.execute("DELETE FROM users WHERE name = ?", [name]).rowcount:
                raise UnknownPerson(name)
            senders = [s for (s,) in db.execute("SELECT sender_id FROM assignments WHERE assignee = ?", [name])]
            db.execute("DELETE FROM assignments WHERE assignee = ?", [name])
            db.execute("DELETE FROM claims WHERE claimant = ?", [name])
            refresh_marks(db, senders, "assignee", name)

    def users(self) -> list[dict]:
        return [{"name": name, "role": role, "created_at": created, "rotated_at": rotated}
                for name, role, created, rotated in self.db.execute(
                    "SELECT name, role, created_at, rotated_at FROM users ORDER BY name")]

    def people_by_token_hash(self) -> dict[str, tuple[str, str]]:
        """token hash → (name, role): what the server checks tokens against."""
        return {digest: (name, role) for digest, name, role in
                self.db.execute("SELECT token_hash, name, role FROM users")}

    def require_person(self, name: str, parameter: str) -> None:
        if not self.db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise UnknownPerson(name, parameter)

    def audit(self, *, limit=None, offset=0, actor=None, action=None, sender_id=None, start=None,
              until=None) -> tuple[int, list[dict]]:
        """(how many, the page) of audit lines, newest first, of `actor`, `action`,
        `sender_id`'s conversation and at `start` ≤ time ≤ `until`."""
        where, params = all_of((("actor = ?", actor), ("action = ?", action), ("sender_id = ?", sender_id),
                                ("at >= ?", start), ("at <= ?", until)))
        total = self.db.execute(f"SELECT count(*) FROM audit WHERE {where}", params).fetchone()[0]
        rows = self.db.execute(
            "SELECT id, at, actor, role, action, sender_id, message_timestamp, detail FROM audit "
            f"WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?", [*params, NO_LIMIT if limit is None else limit, offset])
        return total, [{"id": id_, "at": at, "actor": actor_, "role": role, "action": action_, "sender_id": sender,
                        "timestamp": timestamp, "detail": json.loads(detail) if detail else {}}
                       for id_, at, actor_, role, action_, sender, timestamp, detail in rows]


def _check(name: str, role: str) -> None:
    if not PERSON_NAME.match(name) or name in RESERVED_NAMES:
        raise InvalidPerson(f"{name!r} is not a name the team can use: letters, digits and _ . @ : -, up to 64, "
                            "starting with a letter or digit, and not 'me'")
    if role not in ROLES:
        raise InvalidPerson(f"{role!r} is not a role; the roles are {', '.join(ROLES)}", "role")
