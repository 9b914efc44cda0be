"""From review to training data (issue 16): annotations, nlu.yml, test stories. Every exported file
is parsed back and compared."""

import json
import re

import pytest
import yaml

from rasa_messaging.generate import Generator
from rasa_messaging.store import prepare

from .conftest import REAL_TRACKER_FILES, assert_problem, ingest_trackers, load_tracker

MARKUP = re.compile(r"\[([^\]]+)\](?:\(([^)]+)\)|(\{[^}]+\}))")


@pytest.fixture
def generated(store):
    trackers = Generator(seed=16).trackers(20)
    ingest_trackers(store, trackers)
    return trackers


def user_messages(trackers):
    return [(t["sender_id"], e) for t in trackers for e in t["events"] if e["event"] == "user"]


def annotate(client, sender_id, timestamp, **body):
    return client.put(f"/core/conversations/{sender_id}/messages/{timestamp}/annotation", json=body)


def nlu(client, **params):
    response = client.get("/core/training-data/nlu.yml", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/yaml")
    document = yaml.safe_load(response.text)
    assert document["version"] == "3.1"
    examples = {}
    for block in document.get("nlu") or []:
        for line in block["examples"].splitlines():
            assert line.startswith("- "), line
            examples.setdefault(block["intent"], []).append(line[2:])
    return examples, response


def plain(example):
    """An example without its entity markup, and the entities it marks: (text, [(surface, entity, dict)])."""
    entities = [(m.group(1), m.group(2), json.loads(m.group(3)) if m.group(3) else None) for m in MARKUP.finditer(example)]
    return MARKUP.sub(lambda m: m.group(1), example), entities


def test_an_annotation_puts_the_text_under_its_intent_with_its_entities_and_deleting_takes_it_out(client, generated):
    sender, message = next((s, e) for s, e in user_messages(generated) if e["parse_data"]["entities"])
    text = message["text"]
    span = message["parse_data"]["entities"][0]
    body = annotate(client, sender, message["timestamp"], intent="transfer_money",
                    entities=[{"entity": "recipient", "start": span["start"], "end": span["end"]}]).json()
    assert body["intent"] == "transfer_money" and body["predicted_intent"] == message["parse_data"]["intent"]["name"]
    examples, _ = nlu(client)
    [example] = examples["transfer_money"]
    surface = text[span["start"]:span["end"]]
    assert plain(example) == (text, [(surface, "recipient", None)])
    assert client.get("/core/annotations").json()[0]["entities"] == [
        {"entity": "recipient", "start": span["start"], "end": span["end"]}]
    assert client.delete(f"/core/conversations/{sender}/messages/{message['timestamp']}/annotation").status_code == 204
    assert nlu(client)[0] == {}
    assert_problem(client.delete(f"/core/conversations/{sender}/messages/{message['timestamp']}/annotation"), 404)


def test_without_entities_the_predicted_ones_are_kept_and_a_value_or_role_is_written_as_json(client, generated):
    messages = [(s, e) for s, e in user_messages(generated) if e["parse_data"]["entities"]][:2]
    (s1, m1), (s2, m2) = messages
    annotate(client, s1, m1["timestamp"], intent=m1["parse_data"]["intent"]["name"])  # a confirmation
    e = m2["parse_data"]["entities"][0]
    annotate(client, s2, m2["timestamp"], intent="inform",
             entities=[{"entity": "account", "start": e["start"], "end": e["end"], "value": "checking", "role": "from"}])
    examples, _ = nlu(client)
    predicted = m1["parse_data"]["entities"]
    text, marked = plain(examples[m1["parse_data"]["intent"]["name"]][0])
    assert text == m1["text"] and [m[1] or m[2]["entity"] for m in marked] == [p["entity"] for p in predicted]
    assert plain(examples["inform"][0])[1] == [(m2["text"][e["start"]:e["end"]], None,
                                                {"entity": "account", "value": "checking", "role": "from"})]


def test_a_text_annotated_with_two_intents_keeps_the_latest_and_reports_the_conflict(client, store):
    for sender, timestamp in (("a", 1.0), ("b", 2.0)):
        store.ingest(prepare(sender, [{"event": "user", "timestamp": timestamp, "text": "I lost my card"}]))
    annotate(client, "a", 1.0, intent="block_card")
    annotate(client, "b", 2.0, intent="open_ticket")
    examples, response = nlu(client)
    assert examples == {"open_ticket": ["I lost my card"]}
    assert response.headers["x-conflict-count"] == "1"
    assert "# conflict: 'I lost my card' was also annotated as block_card; kept open_ticket" in response.text


@pytest.mark.parametrize("text", ["time: 10:30", "#1 priority # not a comment", 'say "hi" and \'bye\'',
                                  "[not] an {entity} (really)", "straße, 東京, émoji 😀", "- a dash", "| pipe > gt",
                                  "@user !tag %pct &amp *star", "trailing spaces   "])
def test_special_characters_round_trip_through_the_yaml(client, store, text):
    store.ingest(prepare("u", [{"event": "user", "timestamp": 1.0, "text": text}]))
    annotate(client, "u", 1.0, intent="inform")
    examples, _ = nlu(client)
    assert examples == {"inform": [" ".join(text.split())]}


@pytest.mark.parametrize("body, detail, parameter", [
    ({"intent": "has space"}, "intent", "intent"), ({"intent": "/leading_slash"}, "intent", "intent"),
    ({"intent": ""}, "intent", "intent"), ({"intent": "hello\u0001world"}, "intent", "intent"),
    ({"intent": "del\u007f"}, "intent", "intent"), ({"intent": "c1\u0085"}, "intent", "intent"),
    ({"intent": "ok", "entities": [{"entity": "x", "start": 0, "end": 999}]}, "outside", "entities"),
    ({"intent": "ok", "entities": [{"entity": "x", "start": 0, "end": 3}, {"entity": "y", "start": 2, "end": 4}]},
     "overlap", "entities"),
    ({"intent": "ok", "extra": 1}, "only 'intent', 'entities'", "body"),
])
def test_bad_annotations_are_400s_and_store_nothing(client, store, body, detail, parameter):
    store.ingest(prepare("u", [{"event": "user", "timestamp": 1.0, "text": "hello there"}]))
    problem = assert_problem(annotate(client, "u", 1.0, **body), 400, detail_contains=detail)
    assert problem.get("parameter") == parameter
    assert client.get("/core/annotations").json() == []


def test_the_stores_intent_rule_is_the_specs():
    from rasa_messaging.app import load_spec
    from rasa_messaging.store.annotations import INTENT_NAME
    spec = load_spec()
    pattern = spec["components"]["schemas"]["AnnotationBody"]["properties"]["intent"]["pattern"]
    assert INTENT_NAME.pattern.replace("\\Z", r"$(?!\n)").replace('\\"', '"') == pattern
    group = spec["paths"]["/messages/annotations"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert group["properties"]["groups"]["items"]["properties"]["intent"]["pattern"] == pattern  # the inbox's groups


@pytest.mark.parametrize("text", ["hello\u0001world", "\u007f", "bell\u0007 and \u009b c1"])
def test_a_user_text_with_control_characters_keeps_nlu_yml_readable(client, store, text):
    """Confirmed with `c` (the prediction kept), such a text went raw into nlu.yml, and PyYAML
    and ruamel then refused the whole file."""
    from ruamel.yaml import YAML
    store.ingest(prepare("u", [{"event": "user", "timestamp": 1.0, "text": text}]))
    annotate(client, "u", 1.0, intent="inform")
    examples, response = nlu(client)
    assert examples == {"inform": [text]}
    assert YAML(typ="safe", pure=True).load(response.text)["nlu"][0]["examples"] == f"- {text}\n"


def test_an_unknown_conversation_or_a_message_that_is_not_a_users_is_a_404(client, store):
    store.ingest(prepare("u", [{"event": "user", "timestamp": 1.0, "text": "hi"}, {"event": "bot", "timestamp": 2.0}]))
    assert_problem(annotate(client, "nobody", 1.0, intent="greet"), 404)
    assert_problem(annotate(client, "u", 2.0, intent="greet"), 404, detail_contains="no user message")


def test_annotations_filter_the_list_survive_reimport_and_go_with_erasure(client, store, generated):
    sender, message = user_messages(generated)[0]
    annotate(client, sender, message["timestamp"], intent="greet")
    assert [c["sender_id"] for c in client.get("/core/conversations", params={"annotated": "true"}).json()] == [sender]
    assert sender not in [c["sender_id"] for c in client.get("/core/conversations", params={"annotated": "false"}).json()]
    ingest_trackers(store, generated)  # the same events again
    assert client.get("/core/annotations").headers["x-total-count"] == "1"
    client.delete(f"/core/conversations/{sender}")
    assert client.get("/core/annotations").json() == [] and nlu(client)[0] == {}


def test_the_test_story_lists_texts_intents_annotated_where_set_and_actions_in_order(client, generated):
    tracker = generated[0]
    users = [e for e in tracker["events"] if e["event"] == "user"]
    annotate(client, tracker["sender_id"], users[0]["timestamp"], intent="corrected_intent")
    response = client.get(f"/core/conversations/{tracker['sender_id']}/test-story.yml")
    assert response.status_code == 200
    [story] = yaml.safe_load(response.text)["stories"]
    steps = story["steps"]
    expected = []
    for event in sorted(tracker["events"], key=lambda e: e["timestamp"]):
        if event["event"] == "user":
            expected.append(("user", "corrected_intent" if event is users[0] else event["parse_data"]["intent"]["name"],
                             event["text"]))
        elif event["event"] == "action" and event["name"] not in ("action_listen", "action_session_start"):
            expected.append(("action", event["name"]))
    got = [("user", s["intent"], plain(s["user"].removesuffix("\n"))[0]) if "intent" in s else ("action", s["action"])
           for s in steps if "intent" in s or "action" in s]
    assert got == expected


@pytest.mark.real_data
def test_the_test_story_of_a_real_conversation(client, store):
    tracker = load_tracker(REAL_TRACKER_FILES[0])
    ingest_trackers(store, [tracker])
    events = client.get(f"/core/conversations/{tracker['sender_id']}/events").json()
    response = client.get(f"/core/conversations/{tracker['sender_id']}/test-story.yml")
    steps = yaml.safe_load(response.text)["stories"][0]["steps"]
    intents = [s["intent"] for s in steps if "intent" in s]
    assert intents == [e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"]
    actions = [s["action"] for s in steps if "action" in s]
    assert actions == [e["name"] for e in events
                       if e["event"] == "action" and e["name"] not in ("action_listen", "action_session_start")]


def test_a_test_story_step_is_the_users_text_as_a_block_with_entities_marked_up_then_the_intent(client, store):
    """As Rasa's test stories are written (`- user: |`, then `intent:`), so that `rasa test`
    checks the NLU too; `action_session_start` is not a step, as Rasa's story writer leaves it out."""
    events = [{"event": "action", "name": "action_session_start", "timestamp": 1.0},
              {"event": "session_started", "timestamp": 1.1},
              {"event": "user", "text": "send 50 euros to Anna", "timestamp": 2.0,
               "parse_data": {"intent": {"name": "transfer_money", "confidence": 0.9},
                              "entities": [{"entity": "amount", "start": 5, "end": 7, "value": "50"},
                                           {"entity": "recipient", "start": 17, "end": 21, "value": "anna"}]}},
              {"event": "action", "name": "utter_confirm", "timestamp": 3.0},
              {"event": "user", "text": "/affirm", "timestamp": 4.0, "parse_data": {"intent": {"name": "affirm"}}}]
    ingest_trackers(store, [{"sender_id": "anna-sender", "events": events}])
    text = client.get("/core/conversations/anna-sender/test-story.yml").text
    assert ("  steps:\n"
            "  - user: |\n"
            '      send [50](amount) euros to [Anna]{"entity": "recipient", "value": "anna"}\n'
            "    intent: transfer_money\n"
            "  - action: utter_confirm\n"
            "  - user: |\n"
            "      /affirm\n"
            "    intent: affirm\n") in text
    [story] = yaml.safe_load(text)["stories"]
    assert [list(step) for step in story["steps"]] == [["user", "intent"], ["action"], ["user", "intent"]]


def test_button_payloads_are_left_out_of_nlu_data(client, store):
    events = [{"event": "user", "text": text, "timestamp": float(at), "parse_data": {"intent": {"name": "greet"}}}
              for at, text in enumerate(["/greet", '/SetSlots(name="x")', "hi there"], start=1)]
    ingest_trackers(store, [{"sender_id": "payloads", "events": events}])
    for event in events:
        assert annotate(client, "payloads", event["timestamp"], intent="greet").status_code == 200
    assert nlu(client)[0] == {"greet": ["hi there"]}


def test_the_cli_writes_nlu_data_and_the_test_stories_of_the_reviewed_conversations(client, db_path, generated):
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    sender, message = user_messages(generated)[0]
    annotate(client, sender, message["timestamp"], intent="greet")
    client.put(f"/core/conversations/{sender}/reviewed")
    client.put(f"/core/conversations/{sender}/tags/regression")
    nlu_file = CliRunner().invoke(cli, ["training-data", "--db", str(db_path)])
    assert nlu_file.exit_code == 0 and yaml.safe_load(nlu_file.stdout)["nlu"][0]["intent"] == "greet"
    stories = CliRunner().invoke(cli, ["test-stories", "--db", str(db_path), "--reviewed", "--tags", "regression"])
    assert stories.exit_code == 0 and "1 test story" in stories.stderr
    [story] = yaml.safe_load(stories.stdout)["stories"]
    assert story["story"] == sender and next(s for s in story["steps"] if "intent" in s)["intent"] == "greet"
    every = CliRunner().invoke(cli, ["test-stories", "--db", str(db_path)])
    assert len(yaml.safe_load(every.stdout)["stories"]) == len(generated)
    assert every.stderr == f"{len(generated)} test stories\n"
    assert every.stdout.count("  - user: |\n") == sum(e["event"] == "user" for t in generated for e in t["events"])


def test_annotations_go_out_in_the_ndjson_export_and_come_back_with_an_import(client, store, generated, tmp_path):
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    sender, message = next((s, e) for s, e in user_messages(generated) if e["parse_data"]["entities"])
    span = message["parse_data"]["entities"][0]
    annotate(client, sender, message["timestamp"], intent="inform",
             entities=[{"entity": "x", "start": span["start"], "end": span["end"], "value": "v"}])
    exported = tmp_path / "export.ndjson"
    exported.write_text(client.get("/core/export").text)
    result = CliRunner().invoke(cli, ["import", "--db", str(tmp_path / "copy.db"), "--workers", "0", str(exported)])
    assert result.exit_code == 0, result.output
    from rasa_messaging.store import Store
    copy = Store(tmp_path / "copy.db")
    assert copy.annotations()[1] == [{**a, "annotated_at": b["annotated_at"]}
                                     for a, b in zip(store.annotations()[1], copy.annotations()[1], strict=True)]


@pytest.mark.real_data
def test_annotating_a_real_message_puts_it_in_nlu_yml_with_its_entity(client, store):
    """On the conversations made from the real conversation tests (real users' texts)."""
    from .story_trackers import generated_trackers
    trackers = generated_trackers()
    ingest_trackers(store, trackers)
    sender, message = next((t["sender_id"], e) for t in trackers for e in t["events"]
                           if e["event"] == "user" and e.get("text") and not e["text"].startswith("/"))
    text = message["text"]
    word = text.split()[0]
    body = {"intent": "corrected", "entities": [{"entity": "first_word", "start": 0, "end": len(word)}]}
    assert annotate(client, sender, message["timestamp"], **body).status_code == 200
    examples, _ = nlu(client)
    assert plain(examples["corrected"][0]) == (" ".join(text.split()), [(word, "first_word", None)])


def test_the_cli_filters_export_and_test_stories_as_the_api_filters_the_list(client, db_path, generated):
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    for params, options in [({"in_training_data": "false", "maximumConfidence": 0.8},
                             ["--not-in-training-data", "--maximum-confidence", "0.8"]),
                            ({"minimumUserMessages": 4, "intent": "greet,inform"},
                             ["--minimum-user-messages", "4", "--intent", "greet,inform"])]:
        expected = sorted(c["sender_id"] for c in client.get("/core/conversations", params=params).json())
        exported = CliRunner().invoke(cli, ["export", "--db", str(db_path), *options]).stdout.splitlines()
        assert sorted(json.loads(line)["sender_id"] for line in exported) == expected
        stories = CliRunner().invoke(cli, ["test-stories", "--db", str(db_path), *options]).stdout
        assert sorted(s["story"] for s in yaml.safe_load(stories)["stories"]) == expected
