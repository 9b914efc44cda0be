"""Who is calling, and may they: named people with roles (issue 41), and the two unnamed tokens.

- People: `rasa-messaging users add NAME --role ROLE` (store/team.py). Each role is a set of
  scopes (`ROLES`); an operation names in the spec the scope it needs on its security
  requirement (`read` unless it says otherwise; GET /session only a valid token).
- `--token` (RASA_MESSAGING_TOKEN): an unnamed admin, ingestion included, as before.
- `--review-token` (RASA_MESSAGING_REVIEW_TOKEN): an unnamed reviewer that may do what it did
  before people existed: read, flag, tag, mark reviewed, assign and annotate; not ingest or erase.
- With neither and no person in the store, the server is open: a request without a token is
  served as `open` (and the server binds to 127.0.0.1 unless told otherwise). Once a person
  exists, every API call needs a token; the server reads the team again at most once a second,
  so a person added, rotated or removed counts from then on, without a restart.
"""

import hmac
import re
import secrets
import threading
import time

from connexion.exceptions import OAuthScopeProblem
from starlette.responses import JSONResponse

from rasa_messaging.store import ROLES, StoreError, token_hash

from .resolver import handler_name, spec_operations

SCOPE_KEY = "rasa_messaging.tokens"
ALL_SCOPES = ROLES["admin"]
UNNAMED_REVIEWER_SCOPES = ("read", "review", "annotate")
TEAM_READ_EVERY_SECONDS = 1.0


class Team:
    """The store's people by token hash, read again at most once every TEAM_READ_EVERY_SECONDS.
    While the store cannot be read, the people read last stand; before the first read, the
    server counts as having people (closed, never open by accident), and `/core/health` still
    answers."""

    def __init__(self, store):
        self.store = store
        self._people: dict[str, tuple[str, str]] | None = None
        self._read_at = -float("inf")
        self._lock = threading.Lock()

    def people(self) -> dict[str, tuple[str, str]]:
        self._read()
        return self._people or {}

    def has_people(self) -> bool:
        self._read()
        return self._people is None or bool(self._people)

    def _read(self) -> None:
        if time.monotonic() - self._read_at < TEAM_READ_EVERY_SECONDS:
            return
        with self._lock:
            if time.monotonic() - self._read_at >= TEAM_READ_EVERY_SECONDS:
                try:
                    self._people = self.store.people_by_token_hash()
                except StoreError:  # unavailable: said by /core/ready and by the request's own answer
                    pass
                self._read_at = time.monotonic()


class Tokens:
    def __init__(self, spec: dict, team: Team, *, full: str | None = None, review: str | None = None):
        self.team = team
        self._grants = [(token.encode(), role, scopes) for token, role, scopes in
                        ((full, "admin", ALL_SCOPES), (review, "reviewer", UNNAMED_REVIEWER_SCOPES)) if token]
        # What a request without a token presents while the server is open (ProvideTokens).
        self.open_token = "open-" + secrets.token_urlsafe(16)
        # The paths that need no token ever (`security: []`: health, readiness).
        self.public_paths = {path for path, item in spec["paths"].items()
                             if any(isinstance(op, dict) and op.get("security") == [] for op in item.values())}
        # Keyed as connexion's routing context names an operation: by the function serving it.
        self.required = {handler_name(op["tags"], op["operationId"]): {
            scope for requirement in op.get("security", spec.get("security", []))
            for scopes in requirement.values() for scope in scopes} for _, _, op in spec_operations(spec)}

    def is_open(self) -> bool:
        return not self._grants and not self.team.has_people()

    def caller(self, token: str) -> dict | None:
        """{"sub": name or None, "role", "scope"} of a token, None for no token the server knows.
        The configured tokens are compared in constant time; a person's by their token's hash."""
        presented, found = token.encode(), None
        for known, role, scopes in self._grants:
            if hmac.compare_digest(presented, known):
                found = {"sub": None, "role": role, "scope": list(scopes)}
        if found is None and (person := self.team.people().get(token_hash(token))) is not None:
            name, role = person
            found = {"sub": name, "role": role, "scope": list(ROLES[role])}
        if found is None and self.is_open():
            found = {"sub": None, "role": "open", "scope": list(ALL_SCOPES)}
        return found

    def token_info(self, token: str, operation: str) -> dict | None:
        """None for an unknown token (→ 401); raises OAuthScopeProblem (→ 403) for a caller whose
        role may not call `operation` (its handler's name)."""
        caller = self.caller(token)
        if caller is None:
            return None
        missing = self.required.get(operation, set(ALL_SCOPES)) - set(caller["scope"])  # unknown: fail closed
        if missing:
            raise OAuthScopeProblem(required_scopes=sorted(missing), token_scopes=caller["scope"])
        return caller


class ProvideTokens:
    """ASGI middleware that hands the tokens to the security functions of handlers/security.py
    through the request scope (connexion calls those by name), and, while the server is open,
    presents the open token for a request that brings none."""

    def __init__(self, app, tokens: Tokens, base_path: str):
        self.app = app
        self.tokens = tokens
        self.base_path = base_path

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope.setdefault("extensions", {})[SCOPE_KEY] = self.tokens
            path = scope["path"]
            if path.startswith(self.base_path) and path[len(self.base_path):] not in self.tokens.public_paths \
                    and self.tokens.is_open():
                header = next((value for name, value in scope["headers"] if name == b"authorization"), None)
                if header is not None and not BEARER.match(header):
                    # As a secured server answers it: the page and clients see one rule.
                    response = JSONResponse({"type": "about:blank", "title": "Unauthorized", "status": 401,
                                             "detail": "The Authorization header is not `Bearer <token>`."},
                                            status_code=401, media_type="application/problem+json",
                                            headers={"WWW-Authenticate": 'Bearer realm="rasa-messaging"'})
                    return await response(scope, receive, send)
                if header is None and b"token=" not in scope.get("query_string", b""):
                    scope["headers"] = [*scope["headers"],
                                        (b"authorization", f"Bearer {self.tokens.open_token}".encode())]
        await self.app(scope, receive, send)


BEARER = re.compile(rb"^[Bb][Ee][Aa][Rr][Ee][Rr] +\S+$")
