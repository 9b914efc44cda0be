"""Optional token auth, with two roles.

- The full token (`--token`, RASA_MESSAGING_TOKEN) may do everything, ingestion included: give
  it to the pipelines that feed the server.
- The review token (`--review-token`, RASA_MESSAGING_REVIEW_TOKEN) may read and flag, but not
  write conversations (ingest): give it to the people who review.
An operation that needs more than reading says so in the spec with the `ingest` scope on its
security requirement; everything else needs a valid token of either role. Without any token
configured the server is open (and binds to 127.0.0.1 unless told otherwise).
"""

import hmac

from connexion.exceptions import OAuthScopeProblem

from .resolver import handler_name, spec_operations

FULL_SCOPES = ["review", "ingest"]
REVIEW_SCOPES = ["review"]
SCOPE_KEY = "rasa_messaging.tokens"


class Tokens:
    def __init__(self, spec: dict, *, full: str | None = None, review: str | None = None):
        self._grants = [(token.encode(), scopes) for token, scopes in ((full, FULL_SCOPES), (review, REVIEW_SCOPES)) if token]
        # Keyed as connexion's routing context names an operation: by the function serving it.
        self.required = {handler_name(op["tags"], op["operationId"]): {
            scope for requirement in op.get("security", spec.get("security", []))
            for scopes in requirement.values() for scope in scopes} for _, _, op in spec_operations(spec)}

    def __bool__(self) -> bool:
        return bool(self._grants)

    def token_info(self, token: str, operation: str) -> dict | None:
        """None for an unknown token (→ 401); raises OAuthScopeProblem (→ 403) for a token whose
        role may not call `operation` (its handler's name). Every configured token is compared
        in constant time."""
        presented = token.encode()
        scopes = None
        for known, granted in self._grants:
            if hmac.compare_digest(presented, known):
                scopes = granted
        if scopes is None:
            return None
        missing = self.required.get(operation, set(FULL_SCOPES)) - set(scopes)  # unknown: fail closed
        if missing:
            raise OAuthScopeProblem(required_scopes=sorted(missing), token_scopes=scopes)
        return {"sub": "full" if scopes is FULL_SCOPES else "review", "scope": scopes}


def without_security(spec: dict) -> dict:
    """The spec as served when no token is configured: nothing to authorise."""
    spec = {**spec, "paths": {path: {method: ({k: v for k, v in op.items() if k != "security"}
                                              if isinstance(op, dict) else op)
                                     for method, op in item.items()}
                              for path, item in spec["paths"].items()}}
    spec.pop("security", None)
    return spec


class ProvideTokens:
    """ASGI middleware that hands the configured tokens to the security functions of
    handlers/security.py through the request scope (connexion calls those by name)."""

    def __init__(self, app, tokens: Tokens):
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope.setdefault("extensions", {})[SCOPE_KEY] = self.tokens
        await self.app(scope, receive, send)
