"""Token auth, the warning for an open non-loopback bind, and SQL never built from input."""

import ast
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from rasa_messaging.app import create_app

from .conftest import assert_problem
from .contract import CheckedClient

FULL, REVIEW = "full-secret-token", "review-secret-token"
EVENT = {"event": "user", "timestamp": 1.0, "text": "hi"}


@pytest.fixture
def secured(db_path, contract):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app = create_app(db_path, validate_responses=True, token=FULL, review_token=REVIEW)
    return CheckedClient(app.test_client(), contract)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/core/conversations", "/core/statistics", "/core/analytics?start=0&end=1",
                                  "/core/conversationIntents", "/core/conversations/x/events"])
def test_every_api_route_needs_a_token(secured, path):
    assert_problem(secured.get(path), 401)
    assert_problem(secured.get(path, headers=bearer("wrong")), 401)
    assert_problem(secured.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)


def test_swagger_ui_and_the_spec_stay_open(secured):
    assert secured.get("/core/ui/").status_code == 200
    spec = secured.get("/core/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "tokenQuery"}
    assert spec["security"] == [{"bearerAuth": ["read"]}, {"tokenQuery": ["read"]}]


def test_the_full_token_may_ingest_read_and_flag(secured):
    assert secured.post("/core/conversations/a/events", json=EVENT, headers=bearer(FULL)).status_code == 200
    assert secured.get("/core/conversations", headers=bearer(FULL)).json()[0]["sender_id"] == "a"
    assert secured.put("/core/conversations/a/messages/1.0", headers=bearer(FULL)).status_code == 201


def test_the_token_may_come_as_a_query_parameter(secured):
    assert secured.post(f"/core/conversations/a/events?token={FULL}", json=EVENT).status_code == 200
    assert secured.get(f"/core/conversations?token={REVIEW}").status_code == 200
    assert_problem(secured.get("/core/conversations?token=nope"), 401)


def test_the_review_token_may_read_and_flag_but_not_ingest(secured, store):
    secured.post("/core/conversations/a/events", json=EVENT, headers=bearer(FULL))
    assert secured.get("/core/conversations/a/messages", headers=bearer(REVIEW)).status_code == 200
    assert secured.put("/core/conversations/a/messages/1.0", headers=bearer(REVIEW)).status_code == 201
    assert secured.delete("/core/conversations/a/messages/1.0", headers=bearer(REVIEW)).status_code == 200
    before = store.db.execute("SELECT count(*) FROM events").fetchone()
    assert_problem(secured.post("/core/conversations/b/events", json={**EVENT, "timestamp": 2.0},
                                headers=bearer(REVIEW)), 403)
    assert store.db.execute("SELECT count(*) FROM events").fetchone() == before


def test_an_open_server_serves_requests_with_or_without_a_token(client):
    """No token and no person: open, whatever a request brings (as before people existed); the
    spec still names the scopes, for the server once it is secured."""
    assert client.get("/core/conversations").status_code == 200
    assert client.get("/core/conversations", headers=bearer("anything")).status_code == 200
    assert client.get("/core/conversations?token=anything").status_code == 200
    spec = client.get("/core/openapi.json").json()
    assert spec["security"] == [{"bearerAuth": ["read"]}, {"tokenQuery": ["read"]}]


def test_tokens_are_compared_in_constant_time():
    source = (Path(__file__).parents[1] / "rasa_messaging" / "auth.py").read_text()
    assert "hmac.compare_digest" in source and "== known" not in source


def test_binding_beyond_loopback_without_a_token_warns(monkeypatch, tmp_path):
    import uvicorn
    monkeypatch.setattr(uvicorn.Server, "run", lambda *args, **kwargs: None)
    from rasa_messaging.cli import cli
    db = str(tmp_path / "x.db")
    exposed = CliRunner().invoke(cli, ["serve", "--db", db, "--host", "0.0.0.0", "--port", "0"])
    assert "WARNING" in exposed.output and "--token" in exposed.output
    with_token = CliRunner().invoke(cli, ["serve", "--db", db, "--host", "0.0.0.0", "--port", "0", "--token", "s3cret"])
    local = CliRunner().invoke(cli, ["serve", "--db", db, "--port", "0"])
    assert "WARNING" not in with_token.output and "WARNING" not in local.output


@pytest.mark.parametrize("variable", ["RASA_MESSAGING_TOKEN", "RASA_MESSAGING_REVIEW_TOKEN"])
def test_an_empty_token_variable_is_refused_before_anything_is_served(monkeypatch, tmp_path, variable):
    """click reads an empty variable as unset: it served an open API to who meant to set a token."""
    import uvicorn
    monkeypatch.setattr(uvicorn.Server, "run", lambda *args, **kwargs: pytest.fail("it served"))
    from rasa_messaging.cli import cli
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "x.db"), "--port", "0"], env={variable: ""})
    assert result.exit_code == 1 and f"{variable} is set but empty" in result.output
    assert not (tmp_path / "x.db").exists()
    assert CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "x.db"), "--port", "0", "--token", ""]).exit_code == 1


def _sql_calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "execute", "executemany", "query", "insert_many", "copy") and node.args:
            yield node.args[0]


# Every piece of SQL text the store formats in: clause lists and placeholders it builds from
# constants, never a value a request brought (values are always bound with `?`).
SAFE_SQL_FRAGMENTS = {"where", "order", "placeholders", "' AND '.join(clauses)", "','.join('?' * len(types))", "','.join('?' * len(chunk))",
                      "BUSY_TIMEOUT_MS", "PAGE_SIZE",  # store/database.py: constant ints (PRAGMA takes no `?`)
                      "page_cache_kib(path)",  # store/database.py: an int from the store file's size
                      # store/conversations.py: a page's ids, read from the dialect's constant index of sort keys;
                      # a walk's query, of the constant `where` and `order` above
                      "page", "walk", "self.db.dialect.ids_by_sort_keys", "self.db.dialect.any_id",
                      "order_sql", "key_columns",  # store/order_blocks.py: the list's constant confidence order, its columns
                      "key",  # store/schema.py: m028's and p015's constant type of the conversation id
                      "table",  # store/review.py: each name of the constant CONVERSATION_TABLES;
                                # store/conversations.py: the walked table, a constant name
                      "clause",  # store/annotations.py: constant conditions joined with AND
                      "version",  # store/__init__.py: the file's own user_version, an int (PRAGMA takes no `?`)
                      "ROW_COLUMNS",  # store/sets.py: the constant column list a set is derived from
                      # store/staging.py, store/postgres.py: the events' constant columns, and the
                      # dialect's constant table and order of an import's staged batch
                      "EVENT_COLUMNS", "d.staged_events", "d.staged_order", "db.dialect.staged_events",
                      "_MARKED_COLUMNS", "_MARKED_VALUES",  # store/sets.py: a mark's constant columns and values
                      "_ROWID",  # store/search.py: the constant expression of a message's rowid
                      "self._by_ids",  # store/conversations.py: the constant query of rows by a bound id list
                      # store/dialects.py: constant spellings of one SQL function per backend
                      "db.dialect.json_rows", "dialect.least",
                      "bin_of",  # store/analytics.py: the dialect's floor of a constant expression
                      # ...the bins' tables of values, rows of typed placeholders, and the hour's constant seconds
                      "','.join([_WHOLE_HOURS_ROW] * len(whole))", "','.join([_EDGE_ROW] * len(edges))", "HOUR",
                      "MIGRATIONS_TABLE",  # store/postgres_schema.py: the constant name of the applied migrations
                      "any_key",  # store/sets.py: a constant key condition, repeated and ORed
                      "_REPLAYED", "_FLOW_EVENTS",  # store/flow_data.py: constant lists of event types
                      "','.join('?' * len(FLOW_TERM_KINDS))",
                      # store/flow_data.py: placeholders for a chunk's bound ids and senders, and the
                      # condition made of them
                      "','.join('?' * len(ids))", "','.join('?' * len(senders))", "among",
                      "grouped", "by",  # store/inbox.py: a constant grouping and one of two constant orders
                      "days", "edges",  # store/flow_analytics.py: constant conditions on bound days and times
                      "STORED_COLUMNS",  # store/flow_days.py: the constant columns the sums read of an episode
                      # store/database.py, store/postgres.py `insert_many`: a constant table's constant columns
                      "columns", "row_marks",  # ...and a row's placeholders
                      "', '.join([row_marks] * len(chunk))",  # ...many rows of them to a statement (SQLite)
                      "' ON CONFLICT DO NOTHING' if skip_existing else ''",  # ...with `skip_existing`: a constant clause
                      # store/postgres.py `executemany`, `insert_many`: an INSERT's table, alias, columns and
                      # conflict clause as the store's constant SQL text has them, and a temporary table
                      # named after that table and a checksum of those columns
                      "alias", "rest", "incoming",
                      }


# store/postgres.py: the caller's SQL text (checked here at its call), with psycopg's placeholders.
SAFE_SQL_CALLS = {"psycopg_sql(sql)", "psycopg_sql(sql) if params is not None else sql",
                  # ...and an index's name read from the catalog, quoted as an identifier by psycopg
                  "psycopg.sql.SQL('DROP INDEX CONCURRENTLY IF EXISTS {}').format(psycopg.sql.Identifier(name))",
                  "psycopg.sql.SQL('REINDEX INDEX CONCURRENTLY {}').format(psycopg.sql.Identifier(name))",
                  # store/deferred_indexes.py: the dialect's constant query of the catalog's index names
                  "db.dialect.index_names"}


def test_no_sql_is_formatted_from_request_values():
    formatted = set()
    for path in (Path(__file__).parents[1] / "store").glob("*.py"):
        for sql in _sql_calls(ast.parse(path.read_text())):
            if isinstance(sql, ast.JoinedStr):
                formatted |= {ast.unparse(part.value) for part in sql.values if isinstance(part, ast.FormattedValue)}
            elif ast.unparse(sql) not in SAFE_SQL_CALLS:
                assert isinstance(sql, (ast.Constant, ast.Name)), f"{path.name}: {ast.unparse(sql)}"
    assert formatted and formatted <= SAFE_SQL_FRAGMENTS, formatted - SAFE_SQL_FRAGMENTS


def test_an_operation_the_tokens_do_not_know_needs_the_full_token(contract, store):
    from connexion.exceptions import OAuthScopeProblem

    from rasa_messaging.app import load_spec
    from rasa_messaging.auth import Team, Tokens
    tokens = Tokens(load_spec(), Team(store), full=FULL, review=REVIEW)
    assert tokens.token_info(FULL, "rasa_messaging.handlers.unknown.operation")["role"] == "admin"
    with pytest.raises(OAuthScopeProblem):
        tokens.token_info(REVIEW, "rasa_messaging.handlers.unknown.operation")
    assert tokens.token_info(REVIEW, "rasa_messaging.handlers.messages.get_conversations")["role"] == "reviewer"


def test_the_review_token_may_review_but_not_erase(secured, store):
    secured.post("/core/conversations/a/events", json=EVENT, headers=bearer(FULL))
    assert secured.put("/core/conversations/a/reviewed", headers=bearer(REVIEW)).status_code == 200
    assert secured.put("/core/conversations/a/tags/checked", headers=bearer(REVIEW)).status_code == 200
    assert secured.get("/core/flags", headers=bearer(REVIEW)).status_code == 200
    assert_problem(secured.delete("/core/conversations/a", headers=bearer(REVIEW)), 403)
    assert secured.delete("/core/conversations/a", headers=bearer(FULL)).status_code == 204


def test_the_session_says_what_the_presented_token_may_do(secured, client):
    """The unnamed tokens keep what they could do before people existed: --token everything,
    --review-token all but ingest and erase (annotations included)."""
    assert secured.get("/core/session", headers=bearer(FULL)).json() == {
        "name": None, "role": "admin", "scopes": ["read", "review", "annotate", "admin", "ingest"], "queue": None}
    assert secured.get("/core/session", headers=bearer(REVIEW)).json() == {
        "name": None, "role": "reviewer", "scopes": ["read", "review", "annotate"], "queue": None}
    assert_problem(secured.get("/core/session"), 401)
    assert client.get("/core/session").json() == {
        "name": None, "role": "open", "scopes": ["read", "review", "annotate", "admin", "ingest"], "queue": None}


SECURITY_HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def assert_not_frameable(response, *, inline=False):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (name, response.url)
    csp = dict(directive.strip().split(" ", 1) for directive in response.headers["content-security-policy"].split(";"))
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'" and csp["default-src"] == "'self'"
    assert ("'sha256-" in csp["script-src"]) is inline and "unsafe-inline" not in csp["script-src"] + csp["style-src"]
    return csp


@pytest.mark.parametrize("path, status", [("/", 200), ("/conversations/x", 200), ("/static/js/app.js", 200),
                                          ("/static/style.css", 200), ("/core/openapi.json", 200), ("/metrics", 200),
                                          ("/core/health", 200), ("/core/conversations", 401),
                                          ("/core/no-such-route", 404), ("/core/ui/swagger-ui-bundle.js", 200)])
def test_every_response_says_it_may_not_be_framed_or_sniffed(secured, path, status):
    response = secured.get(path)
    assert response.status_code == status
    assert_not_frameable(response)


def test_swagger_ui_admits_its_own_inline_script_and_style_by_hash_and_nothing_else(secured):
    import base64
    import hashlib
    import re
    page = secured.get("/core/ui/")
    csp = assert_not_frameable(page, inline=True)
    inline = re.findall(r"<(script|style)>(.*?)</\1>", page.text, flags=re.S)
    assert sorted(tag for tag, _ in inline) == ["script", "style"]
    for tag, body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert csp[f"{tag}-src"] == f"'self' 'sha256-{digest}'"


def test_a_problem_a_middleware_sends_carries_the_headers_too(db_path):
    from starlette.testclient import TestClient
    app = create_app(db_path, allowed_hosts=frozenset({"127.0.0.1"}))
    refused = TestClient(app).get("/core/health", headers={"Host": "attacker.example"})
    assert refused.status_code == 400
    assert_not_frameable(refused)


def test_an_open_server_refuses_a_malformed_authorization_header_as_a_secured_one_does(client):
    """Open: any token, or none, is served; a header that is not `Bearer <token>` is refused as a
    secured server refuses it (schemathesis sent one with a query token, and it was served)."""
    for header in ("Basic dXNlcjpwYXNz", "garbage", "Bearer"):
        assert_problem(client.get("/core/conversations?token=x", headers={"Authorization": header}), 401)
    assert client.get("/core/conversations", headers={"Authorization": "Bearer anything"}).status_code == 200
    assert client.get("/core/health", headers={"Authorization": "garbage"}).status_code == 200
