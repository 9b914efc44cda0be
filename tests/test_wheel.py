"""The package as a user gets it: a wheel built from this tree, installed in a fresh virtual
environment, and started from a folder outside the checkout in every configuration the README
documents: open, the demo store, both tokens, PostgreSQL with JSON logs, consumers in the
server (RabbitMQ, the SQL broker, Kafka) and Kafka's own command, a proxy's host and a body limit,
the five-line walk-through, and the e2e tests of a CALM conversation.

Started from the checkout's root, a server imports the tree's own folders (`handlers`, `store`)
by accident; a spec that named `handlers.security` passed every test there and answered 500 to
every request once installed. So the server here never sees the tree.
"""

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import pika
import pytest

from bench.server import running_server

from .conftest import postgres_database

ROOT = Path(__file__).resolve().parents[1]
TOKEN, REVIEW_TOKEN = "wheel-full-token", "wheel-review-token"
OPEN_PATHS = ("/", "/flags", "/static/js/app.js", "/core/ui/", "/core/openapi.json", "/core/health", "/core/ready",
              "/metrics")


class Installed:
    """The wheel installed in its own virtual environment, and a folder far from the checkout."""

    def __init__(self, root: Path):
        # Built from a copy of the tree, as from a fresh clone: setuptools leaves build/ behind in the
        # folder it builds in, and a module deleted from the tree would live on in the next wheel.
        tree = root / "tree"
        shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                                                  "node_modules", "*.db", "*.db-*", ".pytest_cache"))
        build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(root), str(tree)],
                               check=True, capture_output=True, text=True)
        self.build_output = build.stdout + build.stderr
        [self.wheel] = root.glob("rasa_messaging-*.whl")
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(self.wheel)], check=True, capture_output=True)
        self.bin = venv / "bin"
        self.elsewhere = root / "elsewhere"
        self.elsewhere.mkdir()
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("PYTHON", "VIRTUAL_ENV", "RASA_MESSAGING_"))}

    def run(self, *args, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "rasa-messaging"), *args], cwd=self.elsewhere, env=self.env,
                              capture_output=True, text=True, timeout=120, **kwargs)

    @contextlib.contextmanager
    def serving(self, *args, env=None):
        """`rasa-messaging serve ARGS` from the installed package; yields (base URL, its log file)."""
        log_path = self.elsewhere / f"server-{uuid.uuid4().hex[:8]}.log"
        with open(log_path, "wb") as log, running_server(
                *args, command=[str(self.bin / "rasa-messaging")], cwd=self.elsewhere, env={**self.env, **(env or {})},
                log=log, seconds=60) as (base, _):
            yield base, log_path


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return Installed(tmp_path_factory.mktemp("wheel"))


def events_of(sender: str, text: str = "hello there") -> list:
    return [{"event": "action", "name": "action_session_start", "timestamp": 1700000000.0},
            {"event": "user", "text": text, "timestamp": 1700000001.0,
             "parse_data": {"intent": {"name": "greet", "confidence": 0.97}, "entities": []}},
            {"event": "action", "name": "utter_greet", "timestamp": 1700000002.0, "policy": "RulePolicy",
             "confidence": 1.0}]


@pytest.mark.slow
def test_the_wheel_holds_one_package_with_its_data_and_builds_without_warnings(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"rasa_messaging", installed.wheel.name.split("-py3")[0] + ".dist-info"}
    assert {"rasa_messaging/openapi/openapi.yaml", "rasa_messaging/static/index.html",
            "rasa_messaging/static/js/app.js", "rasa_messaging/static/style.css"} <= set(names)
    assert "Warning" not in installed.build_output, installed.build_output
    assert any(name.endswith("/licenses/LICENSE") for name in names)


@pytest.mark.slow
def test_open_on_a_new_file_and_on_the_demo_store(installed):
    with installed.serving("--db", "mine.db") as (base, _):
        for path in (*OPEN_PATHS, "/core/conversations"):
            assert httpx.get(f"{base}{path}").status_code == 200, path
        assert httpx.get(f"{base}/core/conversations").json() == []
    assert (installed.elsewhere / "mine.db").is_file()
    with installed.serving("--demo") as (base, _):
        listed = httpx.get(f"{base}/core/conversations", params={"limit": 5})
        assert listed.status_code == 200 and int(listed.headers["X-Total-Count"]) == 300


@pytest.mark.slow
def test_both_tokens(installed):
    """`--token` and `RASA_MESSAGING_REVIEW_TOKEN`: the API wants one (401 without), the review token
    may read but neither ingest nor erase (403); the page, health, readiness and metrics stay open."""
    full, review = {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": f"Bearer {REVIEW_TOKEN}"}
    with installed.serving("--db", "secured.db", "--token", TOKEN, env={"RASA_MESSAGING_REVIEW_TOKEN": REVIEW_TOKEN}) \
            as (base, _):
        for path in OPEN_PATHS:
            assert httpx.get(f"{base}{path}").status_code == 200, path
        events = f"{base}/core/conversations/wheel-user/events"
        assert httpx.post(events, json=events_of("wheel-user"), headers=review).status_code == 403
        assert httpx.post(events, json=events_of("wheel-user"), headers=full).status_code == 200
        for path in ("/core/conversations", "/core/statistics", "/core/conversations/wheel-user/messages"):
            assert httpx.get(f"{base}{path}").status_code == 401, path
            assert httpx.get(f"{base}{path}", headers={"Authorization": "Bearer wrong"}).status_code == 401, path
            assert httpx.get(f"{base}{path}", headers=full).status_code == 200, path
            assert httpx.get(f"{base}{path}", headers=review).status_code == 200, path
            assert httpx.get(f"{base}{path}", params={"token": REVIEW_TOKEN}).status_code == 200, path
        conversation = f"{base}/core/conversations/wheel-user"
        assert httpx.delete(conversation).status_code == 401
        assert httpx.delete(conversation, headers=review).status_code == 403
        assert httpx.delete(conversation, headers=full).status_code == 204
        assert httpx.get(f"{base}/core/conversations", headers=full).json() == []


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_team_of_named_people_each_doing_what_their_role_may(installed, postgres_template, backend):
    """The README's "A team": `users add` for each role, then `serve`, from the installed package."""
    with contextlib.ExitStack() as stack:
        db = "team.db" if backend == "sqlite" else stack.enter_context(postgres_database())
        tokens = {}
        for name, role in (("pipe", "ingest"), ("vera", "viewer"), ("rita", "reviewer"), ("ann", "annotator"),
                           ("ada", "admin")):
            added = installed.run("users", "add", name, "--role", role, "--db", db)
            assert added.returncode == 0, added.stderr
            tokens[role] = {"Authorization": f"Bearer {added.stdout.strip()}"}
        assert installed.run("users", "list", "--db", db).stdout.splitlines()[0] == "ada\tadmin"
        base, _ = stack.enter_context(installed.serving("--db", db))
        events = f"{base}/core/conversations/team-user/events"
        assert httpx.get(f"{base}/core/conversations").status_code == 401
        assert httpx.post(events, json=events_of("team-user"), headers=tokens["viewer"]).status_code == 403
        assert httpx.post(events, json=events_of("team-user"), headers=tokens["ingest"]).status_code == 200
        assert httpx.get(f"{base}/core/conversations", headers=tokens["ingest"]).status_code == 403
        assert httpx.get(f"{base}/core/conversations", headers=tokens["viewer"]).json()[0]["sender_id"] == "team-user"
        flag = f"{base}/core/conversations/team-user/messages/1700000001.0"
        assert httpx.put(flag, headers=tokens["viewer"]).status_code == 403
        assert httpx.put(flag, headers=tokens["reviewer"]).status_code == 201
        group = {"groups": [{"text": "hello there", "intent": "greet"}]}
        assert httpx.post(f"{base}/core/messages/annotations", json=group, headers=tokens["reviewer"]).status_code == 403
        assert httpx.post(f"{base}/core/messages/annotations", json=group, headers=tokens["annotator"]).status_code == 200
        assert httpx.delete(f"{base}/core/conversations/team-user", headers=tokens["annotator"]).status_code == 403
        assert httpx.delete(f"{base}/core/conversations/team-user", headers=tokens["admin"]).status_code == 204
        audit = httpx.get(f"{base}/core/audit", headers=tokens["viewer"]).json()
        assert [(line["actor"], line["action"]) for line in audit] == [("ada", "erase"), ("ann", "annotate_texts"),
                                                                       ("rita", "flag")]


@pytest.mark.slow
def test_on_postgresql_with_a_token_and_json_logs_as_the_scale_out_section_runs_it(installed, postgres_template):
    with postgres_database() as url, installed.serving(
            "--host", "0.0.0.0", "--token", TOKEN, "--log-format", "json", env={"RASA_MESSAGING_DB": url}) as (base, log):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        stored = httpx.post(f"{base}/core/conversations/pg-user/events", json=events_of("pg-user"), headers=headers)
        assert stored.json() == {"stored": 3, "duplicates": 0}
        assert [c["sender_id"] for c in httpx.get(f"{base}/core/conversations", headers=headers).json()] == ["pg-user"]
        assert httpx.get(f"{base}/core/ready").status_code == 200
        time.sleep(0.2)  # the log line is written after the response
        records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        assert {"getConversations", "ingestEvents"} <= {r.get("operation") for r in records}, records
        assert TOKEN not in log.read_text()


@pytest.mark.slow
def test_consuming_both_brokers_behind_a_proxy_with_a_body_limit(installed):
    """`--consume` twice (Rasa's SQL event broker file and RabbitMQ, Rasa's default exchange and
    queue), `--allowed-host` for a proxy's name, and `--max-body-size`."""
    source = installed.elsewhere / "rasa_events.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255), data TEXT)")
        conn.executemany("INSERT INTO events (sender_id, data) VALUES (?, ?)",
                         [("sql-user", json.dumps({**event, "sender_id": "sql-user"})) for event in events_of("sql-user")])
    rabbit_user = f"rabbit-{uuid.uuid4().hex[:8]}"
    with installed.serving("--db", "consumed.db", "--consume", "sqlite:///rasa_events.db",
                           "--consume", "amqp://guest:guest@127.0.0.1:5672", "--allowed-host", "review.internal",
                           "--max-body-size", "2000") as (base, log):
        connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
        try:  # as Rasa's PikaEventBroker declares and publishes
            channel = connection.channel()
            channel.exchange_declare("rasa-exchange", exchange_type="fanout")
            channel.queue_declare("rasa_core_events", durable=True)
            channel.queue_bind("rasa_core_events", "rasa-exchange", routing_key="")
            for event in events_of(rabbit_user):
                channel.basic_publish("rasa-exchange", "", json.dumps({**event, "sender_id": rabbit_user}))
        finally:
            connection.close()
        deadline = time.monotonic() + 30
        senders: set = set()
        while not {"sql-user", rabbit_user} <= senders and time.monotonic() < deadline:
            time.sleep(0.2)
            senders = {c["sender_id"] for c in httpx.get(f"{base}/core/conversations", params={"limit": 1000}).json()}
        assert {"sql-user", rabbit_user} <= senders, log.read_text()
        assert httpx.get(f"{base}/core/health", headers={"Host": "review.internal"}).status_code == 200
        assert httpx.get(f"{base}/core/health", headers={"Host": "elsewhere.example"}).status_code == 400
        too_large = [events_of("big", text="x" * 3000)[1]]
        assert httpx.post(f"{base}/core/conversations/big/events", json=too_large).status_code == 413


@pytest.mark.slow
def test_consuming_kafka_in_the_server_and_as_a_command(installed, kafka):
    """`serve --consume kafka://...` and `consume kafka --bootstrap-servers ...`, as the README's
    Kafka section runs them, publishing as Rasa's KafkaEventBroker does."""
    from .kafka_broker import publish_as_rasa
    from .test_kafka import new_topic
    topic = new_topic(kafka)
    publish_as_rasa(kafka, topic, [{**event, "sender_id": "kafka-user"} for event in events_of("kafka-user")])
    with installed.serving("--db", "kafka.db", "--consume", f"kafka://{kafka}/{topic}?group=review") as (base, log):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not httpx.get(f"{base}/core/conversations").json():
            time.sleep(0.2)
        assert [c["sender_id"] for c in httpx.get(f"{base}/core/conversations").json()] == ["kafka-user"], \
            log.read_text()
    consumer = subprocess.Popen([str(installed.bin / "rasa-messaging"), "consume", "kafka", "--db", "command.db",
                                 "--bootstrap-servers", kafka, "--topic", topic, "--session-timeout-ms", "6000"],
                                cwd=installed.elsewhere, env=installed.env, stderr=subprocess.PIPE, text=True)
    time.sleep(10)
    consumer.terminate()
    _, stderr = consumer.communicate(timeout=30)
    assert consumer.returncode == 0 and "stopped; 3 events stored" in stderr, stderr


@pytest.mark.slow
def test_the_five_line_walk_through(installed):
    generated = installed.elsewhere / "events.jsonl"
    with open(generated, "w") as out:
        subprocess.run([str(installed.bin / "python"), "-m", "rasa_messaging.generate", "--conversations", "20"],
                       cwd=installed.elsewhere, env=installed.env, stdout=out, check=True)
    imported = installed.run("import", "--db", "walk.db", "events.jsonl")
    assert imported.returncode == 0, imported.stderr
    calm = installed.elsewhere / "calm.jsonl"
    with open(calm, "w") as out:
        subprocess.run([str(installed.bin / "python"), "-m", "rasa_messaging.generate", "--conversations", "10",
                        "--calm-share", "1"], cwd=installed.elsewhere, env=installed.env, stdout=out, check=True)
    assert installed.run("import", "--db", "calm.db", "calm.jsonl").returncode == 0
    suite = installed.run("e2e-tests", "--db", "calm.db", "--flow", "transfer_money,check_balance")
    assert suite.returncode == 0 and suite.stdout.startswith("# Rasa Pro 3.21 end-to-end tests"), suite.stderr
    assert "flow_started:" in suite.stdout
    with installed.serving("--db", "walk.db") as (base, _):
        greeted = httpx.get(f"{base}/core/conversations", params={"intent": "greet", "limit": 20})
        assert greeted.status_code == 200 and greeted.json()
