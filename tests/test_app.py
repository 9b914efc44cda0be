"""The served app: Swagger UI, the redirect, not-yet-built operations, unknown routes, the real server."""

import subprocess
import sys
import urllib.parse

import httpx
import pytest

from . import reference
from .conftest import REAL_TRACKER_FILES, assert_problem, live_server


@pytest.mark.parametrize("path", ["/", "/flags", "/annotations", "/dashboard", "/conversations/some%20one", "/conversations/a/b"])
def test_every_url_of_the_review_page_serves_its_shell(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/js/app.js">' in response.text


def test_the_pages_scripts_and_styles_are_served_from_the_package(client):
    for path in ("/static/js/app.js", "/static/js/api.js", "/static/style.css"):
        assert client.get(path).status_code == 200, path


def test_swagger_ui_and_the_spec_are_served_under_core(client):
    assert "swagger-ui" in client.get("/core/ui/").text
    spec = client.get("/core/openapi.json").json()
    assert spec["servers"][0]["url"] == "/core"
    assert "/conversations" in spec["paths"]


@pytest.mark.parametrize("path", ["/core/no-such-route", "/core/conversations/a/b/c/d"])
def test_unknown_routes_are_404_problems(client, path):
    assert_problem(client.get(path), 404)


def test_unsupported_methods_are_405_problems(client):
    response = client.request("PATCH", "/core/conversations")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.real_data
def test_the_cli_server_serves_imported_data_and_swagger_ui(tmp_path):
    """What a new user does: import a tracker, serve, list conversations, open Swagger UI."""
    db = tmp_path / "served.db"
    subprocess.run([sys.executable, "-m", "rasa_messaging.cli", "import", "--db", str(db), *map(str, REAL_TRACKER_FILES)],
                   check=True, capture_output=True)
    with live_server(db) as base:
        ui = httpx.get(f"{base}/core/ui/")
        assert ui.status_code == 200 and "swagger-ui" in ui.text
        conversations = httpx.get(f"{base}/core/conversations").json()
        assert {c["sender_id"] for c in conversations} == {"mysender", "someone"}

def test_the_demo_store_is_built_once_with_what_reviewers_leave_and_never_touches_the_users_store(tmp_path):
    from rasa_messaging.demo import ensure_demo_store
    from rasa_messaging.store import Store

    demo = tmp_path / "demo.db"
    assert ensure_demo_store(demo, conversations=60) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db"]  # no WAL or half-built file left
    store = Store(demo)
    counts = {table: store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
              for table in ("conversations", "tags", "reviews")}
    assert counts["conversations"] == 60 and counts["tags"] > 0 and counts["reviews"] > 0
    assert store.flag_queue()[0] > 0
    assert any(s > 1 for (s,) in store.db.execute("SELECT count(*) FROM sessions GROUP BY sender_id"))
    assert store.db.execute("SELECT count(*) FROM conversations WHERE minimum_action_confidence < 0.5").fetchone()[0]
    assert ensure_demo_store(demo) is False


def test_serve_demo_refuses_a_db_of_its_own(tmp_path):
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    result = CliRunner().invoke(cli, ["serve", "--demo", "--db", str(tmp_path / "mine.db")])
    assert result.exit_code == 2 and "--demo" in result.output and not (tmp_path / "mine.db").exists()


def test_each_request_to_an_operation_gets_its_own_parameters_from_decorators_built_once(
        db_path, contract, stored_trackers, monkeypatch):
    """rasa_messaging/built_once.py builds an operation's decorators once (create_app builds the
    app), not per request, and what one request asked for never leaks into the next."""
    from connexion.decorators import FlaskDecorator

    from rasa_messaging.app import create_app

    from .contract import CheckedClient
    built = []
    decorate = FlaskDecorator.decorate
    monkeypatch.setattr(FlaskDecorator, "decorate", lambda self, function: built.append(function) or decorate(self, function))
    client = CheckedClient(create_app(db_path, validate_responses=True).test_client(), contract)
    expected = reference.all_metadata(stored_trackers)
    intents = sorted({intent for m in expected.values() for intent in m["intents"]})[:3]
    for intent in [*intents, *intents]:  # each intent twice, after the others
        response = client.get("/core/conversations", params={"intent": intent, "limit": 1000})
        assert sorted(c["sender_id"] for c in response.json()) == sorted(
            sender for sender, m in expected.items() if intent in m["intents"]), intent
    stored_events = reference.unique_events(stored_trackers)
    for sender in list(expected)[:2]:  # a path parameter: two senders, through the same operation
        events = client.get(f"/core/conversations/{urllib.parse.quote(sender, safe='')}/events").json()
        assert sorted(e["timestamp"] for e in events) == sorted(e["timestamp"] for e in stored_events[sender])
    handlers = [function.__name__ for function in built]
    assert len(intents) == 3 and handlers.count("get_conversations") == 1 and len(handlers) == len(set(handlers))


def test_a_server_that_cannot_build_its_app_exits_with_the_error_before_it_says_it_serves(tmp_path, monkeypatch):
    """A spec function that does not import is create_app's error, and `serve` exits 1 with it
    in one line, never listening (connexion would build on the first request, and 500 on each)."""
    import uvicorn
    from click.testing import CliRunner

    from rasa_messaging import app as app_module
    from rasa_messaging.cli import cli

    spec = app_module.load_spec()
    spec["components"]["securitySchemes"]["bearerAuth"]["x-bearerInfoFunc"] = "rasa_messaging.handlers.nowhere.token_info"
    monkeypatch.setattr(app_module, "load_spec", lambda: spec)
    monkeypatch.setattr(uvicorn.Server, "run", lambda *_, **__: pytest.fail("the server listened"))
    with pytest.raises(ImportError, match="nowhere"):
        app_module.create_app(tmp_path / "direct.db", token="T")
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "served.db"), "--token", "T", "--port", "0"])
    assert result.exit_code == 1, result.output
    assert "cannot build the server: ModuleNotFoundError: No module named 'rasa_messaging.handlers.nowhere'" \
        in result.output
    assert "serving" not in result.output and "Traceback" not in result.output
