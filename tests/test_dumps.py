"""Debug dumps: JSON tracker state, Markdown (Rasa 1.x) and YAML (Rasa 2/3) stories."""

import re
import urllib.parse
from collections import Counter

import pytest
import yaml
from click.testing import CliRunner

from rasa_messaging.app import create_app
from rasa_messaging.cli import cli
from rasa_messaging.dumps import attachment
from rasa_messaging.store import Store, prepare

from .conftest import REAL_TRACKER_FILES, assert_problem, import_trackers, ingest_trackers, load_tracker
from .contract import CheckedClient
from .stories import MARKDOWN_STORY_FILES, YAML_STORY_FILES, parse_markdown, parse_yaml, story_events
from .test_conversation import EVENTS as CRAFTED_EVENTS

MARKDOWN_STORIES = [s for path in MARKDOWN_STORY_FILES for s in parse_markdown(path)]
YAML_STORIES = [s for path in YAML_STORY_FILES for s in parse_yaml(path)]

# Every real story that cannot be recorded as one conversation, and why. The test below checks
# this list against the files, so it is complete.
NOT_ROUND_TRIPPABLE = {
    "OR step": "one of several intents: a recorded conversation has exactly one of them",
    "unsupported step ['bot']": "an end-to-end `bot:` utterance without an action: Rasa records the "
                                "action that uttered it, and the dumps write that action",
}


def url(sender_id, suffix=""):
    return f"/core/conversations/{urllib.parse.quote(sender_id, safe='')}{suffix}"


def parse_content_disposition(header: str) -> dict:
    """Parse the header as RFC 6266 defines it; filename* wins over filename."""
    assert header.startswith("attachment;"), header
    params = dict(re.findall(r';\s*([\w*]+)=("(?:[^"\\]|\\.)*"|[^;]*)', header))
    assert '"' not in params["filename"].strip('"') and "/" not in params["filename"]
    if "filename*" in params:
        charset, _, encoded = params["filename*"].partition("''")
        assert charset == "UTF-8"
        return {"ascii": params["filename"].strip('"'), "name": urllib.parse.unquote(encoded)}
    return {"ascii": params["filename"].strip('"'), "name": params["filename"].strip('"')}


# --- JSON --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", REAL_TRACKER_FILES, ids=lambda p: p.name)
def test_json_dump_of_each_real_tracker_is_its_tracker_state_as_an_attachment(client, store, path):
    tracker = load_tracker(path)
    ingest_trackers(store, [tracker])
    response = client.get(url(tracker["sender_id"], "/debug-dump.json"))
    assert response.status_code == 200
    assert parse_content_disposition(response.headers["content-disposition"])["name"] == f"{tracker['sender_id']}-dump.json"
    assert [response.json()] == client.get(url(tracker["sender_id"])).json()


def test_json_dump_applies_until_and_use_history(client, store):
    ingest_trackers(store, [{"sender_id": "anna", "events": CRAFTED_EVENTS}])
    dump = client.get(url("anna", "/debug-dump.json"), params={"use_history": "false", "until": 104.65}).json()
    assert [e["timestamp"] for e in dump["events"]] == [104.0, 104.5, 104.6]
    assert dump["slots"] == [{"name": "people", "value": 2}] and dump["active_form"] == "booking_form"
    assert dump["latest_event_time"] == 104.6


@pytest.mark.real_data
def test_a_json_dump_loads_back_into_an_empty_store_as_the_same_conversation(client, store, tmp_path, app):
    trackers = [load_tracker(p) for p in REAL_TRACKER_FILES]
    ingest_trackers(store, trackers)
    sender = "mysender"  # the moodbot trackers: user messages to flag
    client.put(url(sender, f"/messages/{next(e['timestamp'] for e in store.events(sender) if e['event'] == 'user')}"))
    dump_file = tmp_path / "dump.json"
    dump_file.write_bytes(client.get(url(sender, "/debug-dump.json")).content)

    fresh_db = tmp_path / "fresh.db"
    assert CliRunner().invoke(cli, ["import", "--db", str(fresh_db), str(dump_file)]).exit_code == 0
    from rasa_messaging.store import ConversationFilter, Store
    fresh, original = Store(fresh_db), store
    strip = lambda events: [{k: v for k, v in e.items() if k != "is_flagged"} for e in events]
    assert strip(fresh.events(sender)) == strip(original.events(sender))
    [restored] = fresh.conversations(ConversationFilter())[1]
    [before] = [c for c in original.conversations(ConversationFilter())[1] if c["sender_id"] == sender]
    assert restored == before and restored["flagged_messages"]  # its flags come back too


@pytest.mark.parametrize("sender_id", ['say "hi"', "back\\slash", "ünïcödé", "😀 emoji", "שלום", "semi;colon", "a b"])
def test_content_disposition_is_valid_for_any_sender_id(client, store, sender_id):
    ingest_trackers(store, [{"sender_id": sender_id, "events": [{"event": "user", "timestamp": 1.0, "text": "x"}]}])
    for suffix, name in (("/debug-dump.json", "-dump.json"), ("/debug-dump.md", "-story.md"), ("/debug-dump.yml", "-story.yml")):
        header = client.get(url(sender_id, suffix)).headers["content-disposition"]
        parsed = parse_content_disposition(header)
        assert parsed["name"] == sender_id + name
        assert parsed["ascii"].isascii()


@pytest.mark.parametrize("name", ["a/b", "../../etc/passwd", 'x"; filename="evil', "line\nbreak", "tab\there"])
def test_attachment_header_cannot_be_broken_by_the_name(name):
    header = attachment(name)
    assert "\n" not in header and "\t" not in header
    assert parse_content_disposition(header)["name"] == name


@pytest.mark.parametrize("suffix", ["/debug-dump.json", "/debug-dump.md", "/debug-dump.yml"])
def test_dumps_of_an_unknown_sender_are_404_and_bad_until_is_400(client, suffix):
    assert_problem(client.get(url("nobody", suffix)), 404)
    assert_problem(client.get(url("nobody", suffix), params={"until": "noon"}), 400)


# --- Markdown ----------------------------------------------------------------------------------

def test_markdown_dump_of_a_crafted_conversation(client, store):
    events = [
        {"event": "action", "timestamp": 1.0, "name": "action_session_start"},
        {"event": "session_started", "timestamp": 1.1},
        {"event": "action", "timestamp": 1.2, "name": "action_listen"},
        {"event": "user", "timestamp": 2.0, "text": "book for Berlin",
         "parse_data": {"intent": {"name": "book"}, "entities": [{"entity": "city", "value": "Berlin"}]}},
        {"event": "slot", "timestamp": 2.1, "name": "city", "value": "Berlin"},
        {"event": "action", "timestamp": 2.2, "name": "booking_form"},
        {"event": "active_loop", "timestamp": 2.3, "name": "booking_form"},
        {"event": "bot", "timestamp": 2.35, "text": "When?"},
        {"event": "active_loop", "timestamp": 2.4, "name": None},
        {"event": "user", "timestamp": 3.0, "text": "x", "parse_data": {
            "intent": {"name": "say\n## injected"}, "entities": [{"entity": "note", "value": "two\nlines \"quoted\""}]}},
        {"event": "action", "timestamp": 3.1, "name": "action_restart"},
        {"event": "restart", "timestamp": 3.2},
    ]
    ingest_trackers(store, [{"sender_id": "line\nbreak", "events": events}])
    response = client.get(url("line\nbreak", "/debug-dump.md"))
    assert response.headers["content-type"].startswith("text/markdown")
    assert response.text == (
        "## line break\n"
        '* book{"city": "Berlin"}\n'
        '    - slot{"city": "Berlin"}\n'
        "    - booking_form\n"
        '    - form{"name": "booking_form"}\n'
        '    - form{"name": null}\n'
        '* say_##_injected{"note": "two\\nlines \\"quoted\\""}\n'
        "    - action_restart\n"
        "    - restart\n"
    )


def test_markdown_and_yaml_dumps_apply_until_and_use_history(client, store):
    ingest_trackers(store, [{"sender_id": "anna", "events": CRAFTED_EVENTS}])
    md = client.get(url("anna", "/debug-dump.md"), params={"use_history": "false"}).text
    assert md.splitlines() == ["## anna", "* book", '    - form{"name": "booking_form"}', '    - slot{"people": 2}',
                               '    - slot{"empty": null}', "    - utter_ask_date"]
    yml = yaml.safe_load(client.get(url("anna", "/debug-dump.yml"), params={"until": 102.5}).text)
    assert yml["stories"][0]["steps"] == [{"intent": "greet", "user": "hi"},
                                          {"slot_was_set": [{"city": "Berlin"}]}, {"action": "utter_greet"}]


# --- Round trips of the real stories -------------------------------------------------------------

@pytest.mark.real_data
def test_the_list_of_stories_that_cannot_round_trip_is_complete():
    reasons = {s.not_linear for s in MARKDOWN_STORIES + YAML_STORIES if s.not_linear}
    assert reasons == set(NOT_ROUND_TRIPPABLE)
    linear = [s for s in MARKDOWN_STORIES + YAML_STORIES if not s.not_linear]
    assert len(linear) >= 150


def story_senders(stories) -> dict:
    """A sender id of its own for each story (by object: a file can name two stories alike)."""
    senders, seen = {}, Counter()
    for story in stories:
        name = f"story {story.id}".replace("/", "|")  # a '/' cannot be routed in a path segment
        seen[name] += 1
        senders[id(story)] = name if seen[name] == 1 else f"{name} #{seen[name]}"
    return senders


SENDERS = story_senders(MARKDOWN_STORIES + YAML_STORIES)


def story_sender(story) -> str:
    return SENDERS[id(story)]


def round_trip(served, story, suffix, loop_event):
    client, store = served
    sender = story_sender(story)
    store.ingest(prepare(sender, story_events(story, loop_event=loop_event)))
    response = client.get(url(sender, suffix))
    assert response.status_code == 200, response.text
    return response.text


@pytest.fixture(scope="module")
def story_stores(tmp_path_factory, contract):
    """A SQLite store and its app for each dump format, shared by the stories' round trips (each
    story is a conversation of its own): an app and a store for each of these 500 tests were a
    sixth of the suite's time. PostgreSQL must then write the same text for every story
    (test_every_story_dumps_the_same_on_both_stores)."""
    def served(name):
        path = tmp_path_factory.mktemp("stories") / f"{name}.db"
        return CheckedClient(create_app(path, validate_responses=True).test_client(), contract), Store(path)
    return {"md": served("md"), "yml": served("yml")}


LINEAR_MARKDOWN = [s for s in MARKDOWN_STORIES if not s.not_linear]
LINEAR = [s for s in YAML_STORIES + MARKDOWN_STORIES if not s.not_linear and not any(step[0] == "restart" for step in s.steps)]


@pytest.mark.parametrize("story", LINEAR_MARKDOWN, ids=lambda s: s.id)
def test_each_linear_markdown_story_round_trips_through_the_markdown_dump(story_stores, story, tmp_path):
    text = round_trip(story_stores["md"], story, "/debug-dump.md", loop_event="form")
    dump_file = tmp_path / "dump.md"
    dump_file.write_text(text)
    [dumped] = parse_markdown(dump_file)
    # Markdown stories keep no user text: compare intents and entities, and every other step.
    def without_text(steps):
        return [step[:3] if step[0] == "user" else step for step in steps]
    assert without_text(dumped.steps) == without_text(story.steps)


@pytest.mark.parametrize("story", LINEAR, ids=lambda s: s.id)
def test_each_linear_story_round_trips_through_the_yaml_dump(story_stores, story, tmp_path):
    text = round_trip(story_stores["yml"], story, "/debug-dump.yml", loop_event="active_loop")
    dump_file = tmp_path / "dump.yml"
    dump_file.write_text(text)
    [dumped] = parse_yaml(dump_file)
    assert dumped.name == story_sender(story)
    # A payload typed as user text (`/affirm`) is the intent itself: the dump writes the intent only.
    def payload_as_intent(steps):
        return [(*step[:3], None) if step[0] == "user" and (step[3] or "").startswith("/") else step for step in steps]
    assert dumped.steps == payload_as_intent(story.steps)


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_every_story_dumps_the_same_on_both_stores(db_path, tmp_path, contract):
    clients = []
    for where in (tmp_path / "rasa-messaging.db", db_path):
        import_trackers(Store(where), [
            *({"sender_id": "md " + story_sender(s), "events": story_events(s, loop_event="form")} for s in LINEAR_MARKDOWN),
            *({"sender_id": "yml " + story_sender(s), "events": story_events(s, loop_event="active_loop")} for s in LINEAR)])
        clients.append(CheckedClient(create_app(where, validate_responses=True).test_client(), contract))
    dumps = [(f"md {story_sender(s)}", "/debug-dump.md") for s in LINEAR_MARKDOWN]
    dumps += [(f"yml {story_sender(s)}", suffix) for s in LINEAR for suffix in ("/debug-dump.yml", "/debug-dump.json")]
    for sender, suffix in dumps:
        on_sqlite, on_postgresql = (client.get(url(sender, suffix)) for client in clients)
        assert on_sqlite.status_code == on_postgresql.status_code == 200, (sender, suffix)
        assert on_sqlite.text == on_postgresql.text, (sender, suffix)
