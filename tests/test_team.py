"""Issue 41: named people and roles, who did what, assignments and claims, the message inbox."""

import random
import re
import threading
import time
import warnings

import httpx
import pytest
from click.testing import CliRunner

from rasa_messaging.app import create_app, load_spec
from rasa_messaging.cli import cli
from rasa_messaging.generate import Generator
from rasa_messaging.generate_calm import CalmGenerator
from rasa_messaging.resolver import spec_operations
from rasa_messaging.store import Actor, ConversationFilter, MessageFilter, Store, prepare

from . import reference
from .conftest import assert_problem, import_trackers, live_server
from .contract import CheckedClient

FULL, REVIEW = "unnamed-admin-token", "unnamed-review-token"
CALLERS = ("viewer", "reviewer", "annotator", "admin", "ingest", "full", "review", "none", "wrong")

# Every operation × every caller: the status the server answers. The five roles are people made
# with `users add`; `full` and `review` are the server's --token and --review-token; `none` brings
# no token, `wrong` one the server does not know. Each write goes to a conversation of its own.
MATRIX = """
operation                   viewer reviewer annotator admin ingest full review none wrong
getHealth                   200    200      200       200   200    200  200    200  200
getReady                    200    200      200       200   200    200  200    200  200
getSession                  200    200      200       200   200    200  200    401  401
getConversations            200    200      200       200   403    200  200    401  401
getClientConversation       200    200      200       200   403    200  200    401  401
getMessages                 200    200      200       200   403    200  200    401  401
getEvents                   200    200      200       200   403    200  200    401  401
downloadDebugDumpJson       200    200      200       200   403    200  200    401  401
downloadDebugDumpMarkdown   200    200      200       200   403    200  200    401  401
downloadDebugDumpYaml       200    200      200       200   403    200  200    401  401
getUniqueActions            200    200      200       200   403    200  200    401  401
getUniqueEntities           200    200      200       200   403    200  200    401  401
getUniqueIntents            200    200      200       200   403    200  200    401  401
getUniquePolicies           200    200      200       200   403    200  200    401  401
getUniqueFlows              200    200      200       200   403    200  200    401  401
getUniqueCommands           200    200      200       200   403    200  200    401  401
getUniquePatterns           200    200      200       200   403    200  200    401  401
getUniqueModels             200    200      200       200   403    200  200    401  401
getConversationStatistics   200    200      200       200   403    200  200    401  401
userAnalytics               200    200      200       200   403    200  200    401  401
getFlows                    200    200      200       200   403    200  200    401  401
getFlowFunnel               200    200      200       200   403    200  200    401  401
getConversationFlows        200    200      200       200   403    200  200    401  401
getConversationStack        200    200      200       200   403    200  200    401  401
downloadE2eTest             200    200      200       200   403    200  200    401  401
downloadTestStory           200    200      200       200   403    200  200    401  401
getNluTrainingData          200    200      200       200   403    200  200    401  401
getAnnotations              200    200      200       200   403    200  200    401  401
getTags                     200    200      200       200   403    200  200    401  401
getFlags                    200    200      200       200   403    200  200    401  401
exportConversations         200    200      200       200   403    200  200    401  401
getUsers                    200    200      200       200   403    200  200    401  401
getAudit                    200    200      200       200   403    200  200    401  401
getMessageGroups            200    200      200       200   403    200  200    401  401
flagMessage                 403    201      201       201   403    201  201    401  401
deleteFlagFromConversation  403    200      200       200   403    200  200    401  401
resolveFlag                 403    200      200       200   403    200  200    401  401
reopenFlag                  403    200      200       200   403    200  200    401  401
markConversationReviewed    403    200      200       200   403    200  200    401  401
unmarkConversationReviewed  403    200      200       200   403    200  200    401  401
addConversationTag          403    200      200       200   403    200  200    401  401
removeConversationTag       403    200      200       200   403    200  200    401  401
assignConversation          403    200      200       200   403    200  200    401  401
unassignConversation        403    200      200       200   403    200  200    401  401
assignConversations         403    200      200       200   403    200  200    401  401
claimNextConversation       403    200      200       200   403    200  200    401  401
putAnnotation               403    403      200       200   403    200  200    401  401
deleteAnnotation            403    403      204       204   403    204  204    401  401
annotateMessageGroups       403    403      200       200   403    200  200    401  401
deleteConversation          403    403      403       204   403    204  403    401  401
ingestEvents                403    403      403       200   200    200  403    401  401
"""


def expected_statuses() -> dict[str, dict[str, int]]:
    header, *rows = [line.split() for line in MATRIX.strip().splitlines()]
    assert header[1:] == list(CALLERS)
    return {row[0]: dict(zip(CALLERS, map(int, row[1:]), strict=True)) for row in rows}


def conversation(sender_id: str, start: float) -> list[dict]:
    """A user message to annotate, one already annotated and flagged, and a bot answer."""
    return [{"event": "user", "timestamp": start, "text": f"hello {sender_id}",
             "parse_data": {"intent": {"name": "greet", "confidence": 0.61}, "entities": []}},
            {"event": "bot", "timestamp": start + 1, "text": "Hi!"},
            {"event": "user", "timestamp": start + 2, "text": f"second {sender_id}",
             "parse_data": {"intent": {"name": "affirm", "confidence": 0.9}, "entities": []}}]


def request_of(operation: str, sender_id: str, flow_id: str) -> tuple[str, str, dict]:
    """(method, path, keywords) of a request `operation` answers with success; `sender_id` is
    the conversation it may change; read operations read the CALM conversation `calm`."""
    first, second = 1000.0, 1002.0
    message, flagged = f"/conversations/{sender_id}/messages/{first}", f"/conversations/{sender_id}/messages/{second}"
    requests = {
        "getHealth": ("GET", "/health", {}), "getReady": ("GET", "/ready", {}), "getSession": ("GET", "/session", {}),
        "getConversations": ("GET", "/conversations", {}), "getClientConversation": ("GET", "/conversations/calm", {}),
        "getMessages": ("GET", "/conversations/calm/messages", {}), "getEvents": ("GET", "/conversations/calm/events", {}),
        "downloadDebugDumpJson": ("GET", "/conversations/calm/debug-dump.json", {}),
        "downloadDebugDumpMarkdown": ("GET", "/conversations/calm/debug-dump.md", {}),
        "downloadDebugDumpYaml": ("GET", "/conversations/calm/debug-dump.yml", {}),
        "getUniqueActions": ("GET", "/conversationActions", {}), "getUniqueEntities": ("GET", "/conversationEntities", {}),
        "getUniqueIntents": ("GET", "/conversationIntents", {}), "getUniquePolicies": ("GET", "/conversationPolicies", {}),
        "getUniqueFlows": ("GET", "/conversationFlows", {}), "getUniqueCommands": ("GET", "/conversationCommands", {}),
        "getUniquePatterns": ("GET", "/conversationPatterns", {}), "getUniqueModels": ("GET", "/conversationModels", {}),
        "getConversationStatistics": ("GET", "/statistics", {}),
        "userAnalytics": ("GET", "/analytics", {}),
        "getFlows": ("GET", "/flows", {}), "getFlowFunnel": ("GET", f"/flows/{flow_id}/funnel", {}),
        "getConversationFlows": ("GET", "/conversations/calm/flows", {}),
        "getConversationStack": ("GET", "/conversations/calm/stack", {}),
        "downloadE2eTest": ("GET", "/conversations/calm/e2e-test.yml", {}),
        "downloadTestStory": ("GET", "/conversations/calm/test-story.yml", {}),
        "getNluTrainingData": ("GET", "/training-data/nlu.yml", {}), "getAnnotations": ("GET", "/annotations", {}),
        "getTags": ("GET", "/tags", {}), "getFlags": ("GET", "/flags", {}), "exportConversations": ("GET", "/export", {}),
        "getUsers": ("GET", "/users", {}), "getAudit": ("GET", "/audit", {}), "getMessageGroups": ("GET", "/messages", {}),
        "flagMessage": ("PUT", message, {}), "deleteFlagFromConversation": ("DELETE", flagged, {}),
        "resolveFlag": ("PUT", f"{flagged}/resolved", {}), "reopenFlag": ("DELETE", f"{flagged}/resolved", {}),
        "markConversationReviewed": ("PUT", f"/conversations/{sender_id}/reviewed", {}),
        "unmarkConversationReviewed": ("DELETE", f"/conversations/{sender_id}/reviewed", {}),
        "addConversationTag": ("PUT", f"/conversations/{sender_id}/tags/checked", {}),
        "removeConversationTag": ("DELETE", f"/conversations/{sender_id}/tags/checked", {}),
        "assignConversation": ("PUT", f"/conversations/{sender_id}/assignee", {"json": {"assignee": "rita"}}),
        "unassignConversation": ("DELETE", f"/conversations/{sender_id}/assignee", {}),
        "assignConversations": ("POST", "/assignments", {"json": {"assignees": ["rita"], "sender_ids": [sender_id]}}),
        "claimNextConversation": ("POST", f"/queue/next?sender_id={sender_id}", {}),
        "putAnnotation": ("PUT", f"{message}/annotation", {"json": {"intent": "greet"}}),
        "deleteAnnotation": ("DELETE", f"{flagged}/annotation", {}),
        "annotateMessageGroups": ("POST", "/messages/annotations",
                                  {"json": {"groups": [{"text": f"hello {sender_id}", "intent": "greet"}]}}),
        "deleteConversation": ("DELETE", f"/conversations/{sender_id}", {}),
        "ingestEvents": ("POST", f"/conversations/{sender_id}/events",
                         {"json": {"event": "bot", "timestamp": 1010.0, "text": "More?"}}),
    }
    method, path, keywords = requests[operation]
    return method, "/core" + path, keywords


def team_store(db_path, conversations: int) -> tuple[Store, dict[str, str]]:
    """A store with the five roles' people (their tokens by role), a CALM conversation `calm`,
    and conversations w0, w1, ... each with a flagged, annotated second message."""
    store = Store(db_path)
    tokens = {role: store.add_user(name, role) for name, role in (
        ("vera", "viewer"), ("rita", "reviewer"), ("ann", "annotator"), ("ada", "admin"), ("pipe", "ingest"))}
    calm = CalmGenerator(seed=41).trackers(1)[0]
    store.ingest(prepare("calm", calm["events"]))
    store.ingest([row for k in range(conversations) for row in prepare(f"w{k}", conversation(f"w{k}", 1000.0))])
    for k in range(conversations):
        store.flag(f"w{k}", 1002.0)
        store.annotate(f"w{k}", 1002.0, "affirm", None)
    return store, tokens


def headers_of(caller: str, tokens: dict[str, str]) -> dict:
    token = {"full": FULL, "review": REVIEW, "wrong": "not-a-token-of-this-server", "none": None}.get(caller,
                                                                                                      tokens.get(caller))
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def test_the_matrix_names_every_operation_of_the_spec():
    assert set(expected_statuses()) == {op["operationId"] for _, _, op in spec_operations(load_spec())}


def test_every_operation_answers_every_role_as_the_matrix_says(db_path, contract):
    """Against the server as users run it (`rasa-messaging serve` from outside the checkout)."""
    expected = expected_statuses()
    store, tokens = team_store(db_path, len(expected) * len(CALLERS))
    flow_id = store.conversation_flows("calm")[0]["flow_id"]
    store.close()
    answered, position = {}, 0
    with live_server(db_path, "--token", FULL, "--review-token", REVIEW) as base, \
            httpx.Client(base_url=base, timeout=30) as http:
        client = CheckedClient(http, contract)
        for operation in expected:
            for caller in CALLERS:
                method, path, keywords = request_of(operation, f"w{position}", flow_id)
                position += 1
                response = client.request(method, path, headers=headers_of(caller, tokens), **keywords)
                answered[operation, caller] = response.status_code
                if response.status_code in (401, 403):
                    assert_problem(response, response.status_code)
    wrong = {key: (status, expected[key[0]][key[1]]) for key, status in answered.items()
             if status != expected[key[0]][key[1]]}
    assert not wrong, f"(operation, caller): (answered, expected): {wrong}"


def open_client(db_path, contract, **tokens) -> CheckedClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app = create_app(db_path, validate_responses=True, **tokens)
    return CheckedClient(app.test_client(), contract)


def test_once_a_person_exists_every_call_needs_a_token(db_path, contract):
    client = open_client(db_path, contract)
    assert client.get("/core/conversations").status_code == 200
    token = Store(db_path).add_user("ana", "viewer")
    time.sleep(1.1)  # the server reads the team at most once a second (rasa_messaging/auth.py)
    assert_problem(client.get("/core/conversations"), 401)
    assert_problem(client.get("/core/conversations", headers={"Authorization": "Bearer anything"}), 401)
    assert client.get("/core/conversations", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get(f"/core/session?token={token}").json() == {
        "name": "ana", "role": "viewer", "scopes": ["read"], "queue": {"assigned": 0, "reviewed": 0}}


def test_users_are_managed_from_the_command_line_and_tokens_are_kept_only_as_hashes(db_path, contract):
    db = str(db_path)
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", "ana", "--role", "annotator", "--db", db])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert re.fullmatch(r"rm_[A-Za-z0-9_-]{43}", token)
    assert runner.invoke(cli, ["users", "add", "ana", "--role", "viewer", "--db", db]).exit_code == 1
    refused = runner.invoke(cli, ["users", "add", "me", "--role", "viewer", "--db", db])
    assert refused.exit_code == 1 and "not 'me'" in refused.output
    assert runner.invoke(cli, ["users", "add", "bo", "--role", "boss", "--db", db]).exit_code == 2
    assert runner.invoke(cli, ["users", "list", "--db", db]).stdout == "ana\tannotator\n"
    store = Store(db_path)
    held = "\n".join(repr(row) for table in store.db.table_names() for row in store.db.execute(f'SELECT * FROM "{table}"'))
    assert token not in held and token[3:] not in held
    client = open_client(db_path, contract)
    assert client.get("/core/session", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "ana"
    rotated = runner.invoke(cli, ["users", "rotate", "ana", "--db", db]).stdout.strip()
    time.sleep(1.1)
    assert_problem(client.get("/core/session", headers={"Authorization": f"Bearer {token}"}), 401)
    assert client.get("/core/session", headers={"Authorization": f"Bearer {rotated}"}).json()["role"] == "annotator"
    assert runner.invoke(cli, ["users", "remove", "ana", "--db", db]).exit_code == 0
    assert runner.invoke(cli, ["users", "remove", "ana", "--db", db]).exit_code == 1
    time.sleep(1.1)
    assert client.get("/core/session").json()["role"] == "open"  # no one left: open again


WRITES = ("flag", "flag_with_note", "unflag", "resolve", "reopen", "tag", "untag", "review", "unreview", "annotate",
          "unannotate", "assign", "unassign", "annotate_texts", "erase")


def test_a_random_sequence_of_writes_by_three_people_leaves_one_audit_line_each(db_path, contract):
    """Each write that changes something leaves exactly one line, naming its author; a write
    that changes nothing (a tag already there) leaves none."""
    store = Store(db_path)
    people = {name: store.add_user(name, role) for name, role in (("ana", "admin"), ("bo", "annotator"),
                                                                 ("cy", "annotator"))}
    senders = [f"s{k}" for k in range(30)]
    store.ingest([row for s in senders for row in prepare(s, conversation(s, 1000.0))])
    client = open_client(db_path, contract)
    rng = random.Random(41)
    state = {s: {"flag": False, "resolved": False, "tag": False, "annotated": False, "assignee": None, "text": True}
             for s in senders}
    expected = []  # (actor, action, sender_id)
    for _ in range(150):
        name, write = rng.choice(sorted(people)), rng.choice(WRITES)
        alive = [s for s in senders if s in state]
        sender = rng.choice(alive)
        auth = {"Authorization": f"Bearer {people[name]}"}
        s, message = state[sender], f"/core/conversations/{sender}/messages/1000.0"
        if write in ("flag", "flag_with_note"):
            body = {"note": "wrong answer"} if write == "flag_with_note" else None
            assert client.put(message, headers=auth, json=body).status_code == 201
            s.update(flag=True, resolved=False)
            expected.append((name, "flag", sender))
        elif write == "unflag":
            assert client.delete(message, headers=auth).status_code == 200
            if s["flag"]:
                expected.append((name, "unflag", sender))
            s.update(flag=False, resolved=False)
        elif write in ("resolve", "reopen"):
            response = client.request("PUT" if write == "resolve" else "DELETE", f"{message}/resolved", headers=auth)
            assert response.status_code == (200 if s["flag"] else 404)
            if s["flag"]:
                expected.append((name, "resolve_flag" if write == "resolve" else "reopen_flag", sender))
        elif write in ("tag", "untag"):
            response = client.request("PUT" if write == "tag" else "DELETE", f"/core/conversations/{sender}/tags/x",
                                      headers=auth)
            assert response.status_code == 200
            if s["tag"] != (write == "tag"):
                expected.append((name, write, sender))
            s["tag"] = write == "tag"
        elif write in ("review", "unreview"):
            response = client.request("PUT" if write == "review" else "DELETE", f"/core/conversations/{sender}/reviewed",
                                      headers=auth)
            assert response.status_code == 200
            expected.append((name, "mark_reviewed" if write == "review" else "unmark_reviewed", sender))
        elif write == "annotate":
            assert client.put(f"{message}/annotation", headers=auth, json={"intent": "greet"}).status_code == 200
            s["annotated"] = True
            expected.append((name, "annotate", sender))
        elif write == "unannotate":
            response = client.delete(f"{message}/annotation", headers=auth)
            assert response.status_code == (204 if s["annotated"] else 404)
            if s["annotated"]:
                expected.append((name, "unannotate", sender))
            s["annotated"] = False
        elif write in ("assign", "unassign"):
            to = rng.choice(sorted(people)) if write == "assign" else None
            if to:
                response = client.put(f"/core/conversations/{sender}/assignee", headers=auth, json={"assignee": to})
            else:
                response = client.delete(f"/core/conversations/{sender}/assignee", headers=auth)
            assert response.json()["assignee"] == to
            if s["assignee"] != to:
                expected.append((name, write, sender))
            s["assignee"] = to
        elif write == "annotate_texts":
            response = client.post("/core/messages/annotations", headers=auth,
                                   json={"groups": [{"text": f"hello {sender}", "intent": "greet"}]})
            assert response.status_code == (404 if s["annotated"] else 200)
            if not s["annotated"]:
                expected.append((name, "annotate_texts", None))
            s["annotated"] = True
        elif write == "erase":
            if name != "ana":
                assert_problem(client.delete(f"/core/conversations/{sender}", headers=auth), 403)
                continue
            assert client.delete(f"/core/conversations/{sender}", headers=auth).status_code == 204
            del state[sender]
            expected.append((name, "erase", sender))
    admin = {"Authorization": f"Bearer {people['ana']}"}
    lines = client.get("/core/audit", headers=admin).json()
    assert int(client.get("/core/audit?limit=0", headers=admin).headers["X-Total-Count"]) == len(expected)
    assert [(line["actor"], line["action"], line["sender_id"]) for line in reversed(lines)] == expected
    for name in people:
        mine = client.get(f"/core/audit?actor={name}", headers=admin).json()
        assert len(mine) == sum(1 for actor, _, _ in expected if actor == name)
    erased = [sender for _, action, sender in expected if action == "erase"]
    if erased:
        assert [line["action"] for line in client.get(f"/core/audit?sender_id={erased[0]}&action=erase",
                                                      headers=admin).json()] == ["erase"]
    paged = [line["id"] for offset in range(0, len(expected), 7)
             for line in client.get(f"/core/audit?limit=7&offset={offset}", headers=admin).json()]
    assert paged == [line["id"] for line in lines]


def test_erasure_leaves_no_content_of_the_conversation_in_any_table(db_path):
    """The erased texts (messages, a note quoting one) are nowhere in the store afterwards; the
    audit keeps one line naming the conversation and who erased it."""
    store = Store(db_path)
    # A word of the message alone is looked for too (a search index keeps words), one that no
    # number can hold: "4929" was once found in a migration's time, 21.492977.
    secret, reply, note = "my card number is 4929 1234, Vexford", "Card blocked, Mr Quinlan.", "user wrote 4929 1234"
    events = [{"event": "user", "timestamp": 10.0, "text": secret, "input_channel": "web",
               "parse_data": {"intent": {"name": "block_card", "confidence": 0.4}, "entities": []}},
              {"event": "bot", "timestamp": 11.0, "text": reply}]
    store.ingest(prepare("quinlan", events))
    store.ingest(prepare("other", [{**events[0], "timestamp": 20.0, "text": "hello"}]))
    ana = Actor("ana", "admin")
    store.flag("quinlan", 10.0, note=note, by=ana)
    store.annotate("quinlan", 10.0, "block_card", None, by=ana)
    store.add_tag("quinlan", "cards", by=ana)
    store.mark_reviewed("quinlan", by=ana)
    store.add_user("ana", "admin")
    store.assign(["quinlan"], ["ana"], by=ana)
    store.next_to_review("ana", ConversationFilter())
    store.erase("quinlan", by=ana)
    for table in store.db.table_names():
        for row in store.db.execute(f'SELECT * FROM "{table}"'):
            held = repr(row)
            for text in (secret, reply, note):
                assert text not in held, (table, row)
            assert "vexford" not in held.casefold(), (table, row)
    lines = [line for line in store.audit(sender_id="quinlan")[1] if line["action"] == "erase"]
    assert [(line["actor"], line["role"]) for line in lines] == [("ana", "admin")]
    assert store.message_groups(MessageFilter())[1][0]["text"] == "hello"


@pytest.mark.slow
def test_two_reviewers_pressing_next_in_a_loop_never_get_the_same_conversation(db_path, contract):
    store = Store(db_path)
    tokens = {name: store.add_user(name, "reviewer") for name in ("rita", "rob")}
    store.ingest([row for k in range(120) for row in prepare(f"q{k:03}", conversation(f"q{k:03}", 1000.0 + k))])
    store.close()
    handed: dict[str, list[str]] = {"rita": [], "rob": []}
    with live_server(db_path) as base:
        def press_next(name: str) -> None:
            with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {tokens[name]}"}) as http:
                client = CheckedClient(http, contract)
                while (response := client.post("/core/queue/next")).status_code == 200:
                    handed[name].append(response.json()["sender_id"])
                assert response.status_code == 204
        threads = [threading.Thread(target=press_next, args=(name,)) for name in handed]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    together = handed["rita"] + handed["rob"]
    assert sorted(together) == [f"q{k:03}" for k in range(120)]  # each once, none to both
    assert handed["rita"] and handed["rob"], handed  # both were handed some


def test_assignments_split_the_filtered_list_and_make_each_persons_queue(db_path, contract):
    store = Store(db_path)
    tokens = {name: store.add_user(name, role) for name, role in (("ana", "admin"), ("bo", "reviewer"),
                                                                 ("cy", "reviewer"), ("vi", "viewer"))}
    store.ingest([row for k in range(30) for row in prepare(f"a{k:02}", conversation(f"a{k:02}", 1000.0 + k))])
    client = open_client(db_path, contract)
    ana, bo = ({"Authorization": f"Bearer {tokens[name]}"} for name in ("ana", "bo"))
    split = client.post("/core/assignments?intent=greet", headers=ana, json={"assignees": ["bo", "cy"]}).json()
    assert split == {"assigned": {"bo": 15, "cy": 15}, "unassigned": 0}
    mine = client.get("/core/conversations?assignee=me&limit=100", headers=bo)
    assert mine.headers["X-Total-Count"] == "15" and {c["assignee"] for c in mine.json()} == {"bo"}
    assert client.get("/core/conversations?assignee=bo,cy&limit=0", headers=ana).headers["X-Total-Count"] == "30"
    first = mine.json()[0]["sender_id"]
    client.put(f"/core/conversations/{first}/reviewed", headers=bo)
    assert client.get("/core/session", headers=bo).json()["queue"] == {"assigned": 15, "reviewed": 1}
    reviewed = client.get("/core/conversations?reviewed_by=me", headers=bo).json()
    assert [(c["sender_id"], c["reviewed_by"]) for c in reviewed] == [(first, "bo")]
    assert client.get("/core/conversations?reviewed_by=bo&assignee=cy&limit=0", headers=ana).headers["X-Total-Count"] == "0"
    claim = client.post("/core/queue/next?assignee=me", headers=bo).json()
    assert claim["sender_id"] != first and claim["claimant"] == "bo"
    assert claim["sender_id"] in {c["sender_id"] for c in mine.json()}
    store.ingest(prepare(first, [{"event": "bot", "timestamp": 5000.0, "text": "again"}]))  # unreviewed again
    assert client.get("/core/conversations?reviewed_by=bo&limit=0", headers=ana).headers["X-Total-Count"] == "0"
    moved = client.put(f"/core/conversations/{first}/assignee", headers=ana, json={"assignee": "cy"}).json()
    assert (moved["assignee"], moved["assigned_by"]) == ("cy", "ana")
    assert_problem(client.put(f"/core/conversations/{first}/assignee", headers=ana, json={"assignee": "nobody"}), 404)
    assert_problem(client.put("/core/conversations/none/assignee", headers=ana, json={"assignee": "cy"}), 404)
    unassigned = client.post("/core/assignments", headers=ana, json={"assignees": [], "sender_ids": [first]}).json()
    assert unassigned == {"assigned": {}, "unassigned": 1}
    assert_problem(client.put(f"/core/conversations/{first}/assignee", json={"assignee": "bo"},
                              headers={"Authorization": f"Bearer {tokens['vi']}"}), 403)  # a viewer
    unnamed = open_client(db_path, contract, token=FULL)
    problem = assert_problem(unnamed.get("/core/conversations?assignee=me", headers={"Authorization": f"Bearer {FULL}"}),
                             400)
    assert problem["parameter"] == "assignee"
    Store(db_path).remove_user("cy")
    assert client.get("/core/conversations?assignee=cy&limit=0", headers=ana).headers["X-Total-Count"] == "0"


def inbox_trackers() -> list[dict]:
    """Generated Rasa 3 and CALM conversations, plus button payloads and texts many people send."""
    trackers = Generator(seed=41).trackers(40) + CalmGenerator(seed=41).trackers(15)
    for k, tracker in enumerate(trackers[:20]):
        tracker["events"].append({"event": "user", "timestamp": 4_000_000_000.0 + k, "text": "/greet",
                                  "parse_data": {"intent": {"name": "greet", "confidence": 1.0}}})
        tracker["events"].append({"event": "user", "timestamp": 4_000_000_001.0 + k, "text": "hi there",
                                  "parse_data": {"intent": {"name": "greet", "confidence": 0.3 + k / 100}}})
    for k, tracker in enumerate(trackers[:3]):  # matched by "STRASSE" and "straße" only after Unicode case folding
        tracker["events"].append({"event": "user", "timestamp": 4_000_000_002.0 + k, "text": f"Ist die Straße {k} offen?",
                                  "parse_data": {"intent": {"name": "ask_road", "confidence": 0.6}}})
    return trackers


def assert_groups_equal(store: Store, trackers: list[dict], annotated: set, **filters):
    expected = reference.message_groups(trackers, annotated, **filters)
    store_filter = MessageFilter(intents=filters.get("intents", ()), maximum_confidence=filters.get("maximum_confidence"),
                                 text=filters.get("text"), commands=filters.get("commands", ()))
    for order in ("lowest_confidence", "most_frequent"):
        total, groups = store.message_groups(store_filter, order=order)
        assert total == len(groups) == len(expected), filters
        for group in groups:
            count, lowest, examples = expected[group["text"]]
            assert (group["count"], group["confidence"]) == (count, lowest), (group, filters)
            assert (group["intent"], tuple(group["commands"])) in examples, (group, examples)
        key = (lambda g: 2.0 if g["confidence"] is None else g["confidence"]) if order == "lowest_confidence" \
            else (lambda g: -g["count"])
        assert [key(g) for g in groups] == sorted(key(g) for g in groups)
        paged = [g for offset in range(0, total, 9) for g in store.message_groups(store_filter, order=order, limit=9,
                                                                                  offset=offset)[1]]
        assert paged == groups


def test_message_groups_equal_a_brute_force_grouping_under_change(db_path):
    store = Store(db_path)
    trackers = inbox_trackers()
    half = len(trackers) // 2
    import_trackers(store, trackers[:half])
    annotated: set = set()
    filters = [{}, {"intents": ("greet",)}, {"maximum_confidence": 0.5}, {"text": "HI"}, {"text": "THERE"}, {"text": "STRASSE"}, {"text": "straße"},
               {"commands": ("start flow",)}, {"intents": ("greet", "affirm"), "maximum_confidence": 0.8}]
    for each in filters:
        assert_groups_equal(store, trackers[:half], annotated, **each)
    import_trackers(store, trackers[half:])
    import_trackers(store, trackers[:5])  # again: nothing changes
    assert store.message_groups(MessageFilter(text="/greet"))[0] == 0  # clicks are not language
    # One message annotated in its conversation, then a whole group from the inbox.
    tracker = trackers[3]
    message = next(e for e in tracker["events"] if e["event"] == "user" and not e.get("text", "/").startswith("/"))
    store.annotate(tracker["sender_id"], message["timestamp"], "greet", None)
    annotated.add((tracker["sender_id"], float(message["timestamp"])))
    top = store.message_groups(MessageFilter(), order="most_frequent")[1][0]
    done = store.annotate_texts([{"text": top["text"], "intent": "chitchat"}])
    assert done["messages"] == top["count"]
    for sender_id, events in reference.unique_events(trackers).items():
        annotated |= {(sender_id, float(e["timestamp"])) for e in events if e.get("event") == "user"
                      and e.get("text") == top["text"]}
    for each in filters:
        assert_groups_equal(store, trackers, annotated, **each)
    # Erasure takes its messages out; an annotation taken back puts a message back.
    for tracker in trackers[10:14]:
        store.erase(tracker["sender_id"])
    kept = trackers[:10] + trackers[14:]
    store.unannotate(tracker_id := trackers[3]["sender_id"], message["timestamp"])
    annotated.discard((tracker_id, float(message["timestamp"])))
    for each in filters:
        assert_groups_equal(store, kept, annotated, **each)
    with pytest.raises(Exception, match="no message not yet annotated with this text"):
        store.annotate_texts([{"text": top["text"], "intent": "chitchat"}])


def test_the_inbox_over_http_filters_annotates_by_group_and_feeds_nlu_yml(db_path, contract):
    store = Store(db_path)
    token = store.add_user("ann", "annotator")
    import_trackers(store, inbox_trackers())
    client = open_client(db_path, contract)
    auth = {"Authorization": f"Bearer {token}"}
    page = client.get("/core/messages?limit=5", headers=auth)
    assert len(page.json()) == 5 and int(page.headers["X-Total-Count"]) > 5
    hi = client.get("/core/messages?text=hi%20there", headers=auth).json()
    assert [(g["text"], g["count"], g["intent"], g["confidence"]) for g in hi] == [("hi there", 20, "greet", 0.3)]
    done = client.post("/core/messages/annotations", headers=auth,
                       json={"groups": [{"text": "hi there", "intent": "greet"}]}).json()
    assert done == {"messages": 20, "conversations": 20, "groups": 1}
    assert client.get("/core/messages?text=hi%20there", headers=auth).json() == []
    assert "- hi there" in client.get("/core/training-data/nlu.yml", headers=auth).text
    by = {a["annotated_by"] for a in client.get("/core/annotations", headers=auth).json()}
    assert by == {"ann"}
    problem = assert_problem(client.get("/core/messages?intent=", headers=auth), 400)
    assert problem.get("parameter") == "intent" or "intent" in problem["detail"]
    assert_problem(client.post("/core/messages/annotations", headers=auth,
                               json={"groups": [{"text": "never said", "intent": "greet"}]}), 404)
    assert_problem(client.post("/core/messages/annotations", headers=auth,
                               json={"groups": [{"text": "x", "intent": "has space"}]}), 400)


def test_a_store_made_before_the_team_gets_its_inbox_when_opened(db_path):
    """m023 / p010: the user messages a store holds join the inbox once, when it is opened."""
    trackers = inbox_trackers()[:20]
    store = Store(db_path)
    import_trackers(store, trackers)
    before = store.message_groups(MessageFilter())
    sqlite = store.db.dialect.name == "sqlite"
    with store.transaction() as db:
        for table in ("users", "audit", "assignments", "claims", "message_texts", "user_messages"):
            db.execute(f"DROP TABLE {table}")
        for table, column in (("flags", "flagged_by"), ("reviews", "reviewed_by"), ("tags", "tagged_by"),
                              ("tags", "tagged_at"), ("annotations", "annotated_by")):
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        db.execute(f"DELETE FROM {'_sqlite_migrations' if sqlite else 'rasa_messaging_migrations'} WHERE name = ?",
                   ["m023_team" if sqlite else "p010_team"])
    store.close()
    reopened = Store(db_path)
    assert reopened.message_groups(MessageFilter()) == before
    assert reopened.users() == []


def test_while_the_team_cannot_be_read_health_answers_and_the_server_is_never_open_by_accident(db_path, contract,
                                                                                                   monkeypatch):
    from rasa_messaging.auth import Team
    from rasa_messaging.store import StoreUnavailable

    def unreadable(self):
        raise StoreUnavailable("the database is down")

    client = open_client(db_path, contract)
    assert client.get("/core/conversations").status_code == 200  # the team read once: no one, open
    monkeypatch.setattr(Store, "people_by_token_hash", unreadable)
    never_read = Team(Store(db_path))
    assert never_read.has_people() and never_read.people() == {}  # closed until read once
    time.sleep(1.1)
    assert client.get("/core/health").status_code == 200
    assert client.get("/core/conversations").status_code == 200  # what was read last stands
