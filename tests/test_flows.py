"""CALM flows as data (issue 39): episodes, patterns, commands and model ids derived at ingest
must equal a brute-force recomputation from the raw events (tests/reference.py) while events
arrive in pieces and out of order, conversations are erased and files imported again; on real
rasa-pro 3.21 data they must equal its manifest. The API's answers are checked against the spec
by the contract client."""

import json
import random
import statistics as stats
from collections import Counter, defaultdict

import hypothesis
import pytest
import yaml
from hypothesis import strategies

from rasa_messaging.generate import Generator
from rasa_messaging.generate_calm import CalmGenerator
from rasa_messaging.store import ConversationFilter, prepare

from . import reference
from .conftest import RASA_DATA, forget_migration, terms_a_row_a_term
from .test_import import run_import

FLOW_FILTERS = {  # name → (the list's parameters, whether a conversation's reference data matches)
    "flow": (dict(flows=("transfer_money", "block_card")),
             lambda r: {"transfer_money", "block_card"} & {e["flow_id"] for e in r["episodes"]}),
    "flow_status": (dict(flow_statuses=("abandoned",)), lambda r: any(e["outcome"] == "abandoned" for e in r["episodes"])),
    "interrupted": (dict(flow_statuses=("interrupted",)), lambda r: any(e["interrupted"] for e in r["episodes"])),
    "flow with flow_status: one episode": (
        dict(flows=("transfer_money",), flow_statuses=("cancelled", "interrupted")),
        lambda r: any(e["flow_id"] == "transfer_money" and (e["outcome"] == "cancelled" or e["interrupted"])
                      for e in r["episodes"])),
    "pattern": (dict(patterns=("pattern_cancel_flow",)), lambda r: "pattern_cancel_flow" in r["patterns"]),
    "command": (dict(commands=("cancel flow", "chitchat")), lambda r: {"cancel flow", "chitchat"} & set(r["commands"])),
    "model_id": (dict(model_ids=("0c3a94d2e6b14f0aa8d1f7e2b5c6d901",)),
                 lambda r: "0c3a94d2e6b14f0aa8d1f7e2b5c6d901" in r["model_ids"]),
    "flow and an intent": (dict(flows=("check_balance",), intents=("check_balance",)),
                           lambda r: "check_balance" in {e["flow_id"] for e in r["episodes"]}
                           and "check_balance" in r["intents"]),
    "flow and a time range": (dict(flows=("add_contact",), start=1_600_000_000 + 60 * 86_400),
                              lambda r: "add_contact" in {e["flow_id"] for e in r["episodes"]}
                              and r["latest_event_time"] >= 1_600_000_000 + 60 * 86_400),
}


def reference_of(events_by_sender: dict) -> dict:
    found = {}
    for sender_id, events in reference.unique_events(
            [{"sender_id": s, "events": e} for s, e in events_by_sender.items()]).items():
        found[sender_id] = {**reference.metadata(sender_id, events), "episodes": reference.flow_episodes(events),
                            "patterns_pushed": reference.patterns_pushed(events)}
    return found


def flows_of(references: dict, start=None, end=None) -> list[dict]:
    """GET /flows from the reference episodes."""
    by_flow: dict = defaultdict(list)
    for r in references.values():
        for episode in r["episodes"]:
            if (start is None or episode["started_at"] >= start) and (end is None or episode["started_at"] <= end):
                by_flow[episode["flow_id"]].append(episode)
    result = []
    for flow_id, episodes in by_flow.items():
        outcomes = Counter(e["outcome"] for e in episodes)
        completed = [e["n_user_messages"] for e in episodes if e["outcome"] == "completed"]
        result.append({"flow_id": flow_id, "started": len(episodes), "completed": outcomes["completed"],
                       "cancelled": outcomes["cancelled"], "abandoned": outcomes["abandoned"],
                       "interrupted": sum(e["interrupted"] for e in episodes),
                       "completion_rate": outcomes["completed"] / len(episodes),
                       "median_user_messages_to_completion": stats.median(completed) if completed else None})
    return sorted(result, key=lambda f: (-f["started"], f["flow_id"]))


def funnel_of(references: dict, flow_id: str, start=None, end=None) -> dict:
    episodes = [e for r in references.values() for e in r["episodes"] if e["flow_id"] == flow_id
                and (start is None or e["started_at"] >= start) and (end is None or e["started_at"] <= end)]
    positions = defaultdict(list)
    for episode in episodes:
        for position, step in enumerate(episode["steps"]):
            positions[step].append(position)
    order = sorted(positions, key=lambda step: (sum(positions[step]) / len(positions[step]), step))
    outcomes = Counter(e["outcome"] for e in episodes)
    return {"flow_id": flow_id, "episodes": len(episodes),
            **{o: outcomes[o] for o in ("completed", "cancelled", "abandoned")},
            "steps": [{"step_id": step, "reached": len(positions[step]),
                       "ended_here": {o: sum(e["last_step_id"] == step and e["outcome"] == o for e in episodes)
                                      for o in ("completed", "cancelled", "abandoned")}} for step in order]}


def assert_store_matches(store, events_by_sender: dict) -> None:
    references = reference_of(events_by_sender)
    for sender_id, r in references.items():
        got = store.conversation_flows(sender_id)
        assert [{k: e[k] for k in ("flow_id", "outcome", "last_step_id", "steps", "interrupted", "resumed",
                                   "started_at", "n_user_messages")} for e in got] == \
            sorted(r["episodes"], key=lambda e: e["started_at"]), sender_id
    for start, end in ranges_of(references):
        assert store.flows(start=start, end=end) == flows_of(references, start, end), (start, end)
        for flow_id in ("transfer_money", "block_card", "dispute_transaction"):
            assert store.funnel(flow_id, start=start, end=end) == funnel_of(references, flow_id, start, end)
    statistics = store.statistics(limit=50)
    assert statistics["top_patterns"] == _top(Counter(p for r in references.values() for p in r["patterns_pushed"]))
    assert statistics["top_flows"] == _top(Counter(e["flow_id"] for r in references.values() for e in r["episodes"]))
    assert statistics["top_commands"] == _top(Counter(c for s in events_by_sender for c in reference.commands(
        reference.unique_events([{"sender_id": s, "events": events_by_sender[s]}])[s])))
    for name, (filters, matches) in FLOW_FILTERS.items():
        expected = sorted((r for r in references.values() if matches(r)),
                          key=lambda r: (-r["latest_event_time"], r["sender_id"]))
        total, page = store.conversations(ConversationFilter(**filters), limit=None)
        assert [c["sender_id"] for c in page] == [r["sender_id"] for r in expected], name
        assert total == len(expected)
        for conversation in page:
            r = references[conversation["sender_id"]]
            assert {k: conversation[k] for k in ("flows", "patterns", "commands", "model_ids")} == \
                {k: r[k] for k in ("flows", "patterns", "commands", "model_ids")}


def ranges_of(references: dict) -> list[tuple]:
    """Ranges that cut the per-day sums (store/flow_days.py) every way: none, open at either end,
    at an episode's own start (the ends are inclusive), at a day's first second, inside one day,
    across a day's end, and reaching past every stored time."""
    times = sorted(e["started_at"] for r in references.values() for e in r["episodes"])
    if not times:
        return [(None, None)]
    day = 86_400
    first_day = int(times[0] // day) * day
    middle, quarter = times[len(times) // 2], times[len(times) // 4]
    return [(None, None), (middle, None), (None, middle), (quarter, middle), (middle, middle),
            (first_day + day, first_day + 3 * day), (first_day + day, first_day + 3 * day - 0.001),
            (middle - 3600, middle + 3600), (int(middle // day) * day - 1, int(middle // day) * day + 1),
            (times[-1], times[-1]), (times[0] + 0.5, times[-1] - 0.5), (-1e300, 1e300), (1e300, None)]


def _top(counter: Counter) -> list[dict]:
    return [{"name": n, "count": c} for n, c in sorted(counter.items(), key=lambda nc: (-nc[1], nc[0]))[:50]]


def test_flow_data_stays_exact_while_events_arrive_in_pieces_out_of_order_and_conversations_are_erased(store):
    rng = random.Random(39)
    conversations = dict(map(CalmGenerator(seed=39).conversation, range(40)))
    conversations.update(map(Generator(seed=39).conversation, range(10)))
    world: dict = {}
    # Each conversation comes in two to four pieces, the pieces of all conversations shuffled, so
    # that a later piece can come first (a broker redelivering out of order).
    pieces = []
    for sender_id, events in conversations.items():
        cuts = sorted(rng.sample(range(1, len(events)), min(len(events) - 1, rng.randint(1, 3))))
        pieces += [(sender_id, events[a:b]) for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    rng.shuffle(pieces)
    for number, (sender_id, events) in enumerate(pieces):
        store.ingest(prepare(sender_id, events))
        world.setdefault(sender_id, []).extend(events)
        if number in (len(pieces) // 3, len(pieces) - 1):
            assert_store_matches(store, world)
    filters = FLOW_FILTERS["flow with flow_status: one episode"][0]
    assert store.conversations(ConversationFilter(**filters))[0] > 0, "the data must make the pair discriminate"
    for sender_id in rng.sample(sorted(conversations), 8):
        store.erase(sender_id)
        del world[sender_id]
    assert_store_matches(store, world)
    for sender_id, events in world.items():  # everything again: duplicates change nothing
        assert store.ingest(prepare(sender_id, events)).stored == 0
    assert_store_matches(store, world)
    assert not store.db.execute("SELECT 1 FROM flow_episodes e WHERE NOT EXISTS "
                                "(SELECT 1 FROM conversations c WHERE c.id = e.conversation_id)").fetchall()


def test_an_import_derives_the_flows_of_conversations_split_between_batches_and_out_of_order(db_path, tmp_path, monkeypatch):
    """An import's flows are those of the conversations as stored: with lines out of time order
    or repeated within a batch, and conversations split between batches and between a batch's
    chunks (the workers replay a conversation a batch makes; the storing process the others)."""
    from rasa_messaging.store import Store, importer
    rng = random.Random(7)
    conversations = dict(map(CalmGenerator(seed=7).conversation, range(30)))
    conversations.update(map(Generator(seed=7).conversation, range(5)))
    first, later = [], []
    for number, (sender_id, events) in enumerate(conversations.items()):
        events = [{**event, "sender_id": sender_id} for event in events]
        for _ in range(3):  # lines out of time order within a batch
            k = rng.randrange(len(events) - 1)
            events[k], events[k + 1] = events[k + 1], events[k]
        if number % 4 == 1:  # a stack update delivered twice in a row: stored, and replayed, once
            k = next((k for k, event in enumerate(events) if event["event"] == "stack"), 0)
            events.insert(k, events[k])
        cut = len(events) // 2 if number % 3 == 0 else len(events)  # a third continued at the end
        first += events[:cut]
        later += events[cut:]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in first + later))
    # Chunks of 50 kB (about 180 lines), batches of 300 events: conversations split between
    # batches.
    monkeypatch.setattr(importer, "CHUNK_SIZE", 200)
    monkeypatch.setattr(importer, "BATCH_SIZE", 300)
    assert run_import(db_path, path).exit_code == 0
    world: dict = {}
    for event in first + later:
        world.setdefault(event["sender_id"], []).append(event)
    assert sum(1 for events in world.values() if any(e["event"] == "stack" for e in events)) == 30
    assert_store_matches(Store(db_path), world)


def test_an_abandoned_flow_completes_when_its_conversation_goes_on(store):
    sender_id, events = CalmGenerator(seed=3).conversation(0)
    cut = next(i for i, e in enumerate(events) if e["event"] == "stack" and '"op": "remove"' in e["update"]
               and i > 10)
    store.ingest(prepare(sender_id, events[:cut]))
    before = store.conversation_flows(sender_id)
    assert before[0]["outcome"] == "abandoned" and before[0]["ended_at"] is None
    assert store.conversations(ConversationFilter(flow_statuses=("abandoned",)))[0] == 1
    store.ingest(prepare(sender_id, events[cut:]))
    after = store.conversation_flows(sender_id)
    assert after[0]["outcome"] != "abandoned" and after[0]["ended_at"] is not None
    assert store.conversations(ConversationFilter(flow_statuses=("abandoned",)))[0] == \
        sum(e["outcome"] == "abandoned" for e in after)


def test_the_flows_api_answers_as_the_store_and_refuses_a_bad_range(client, store):
    trackers = CalmGenerator(seed=4).trackers(15)
    for tracker in trackers:
        store.ingest(prepare(tracker["sender_id"], tracker["events"]))
    references = reference_of({t["sender_id"]: t["events"] for t in trackers})
    assert client.get("/core/flows").json() == flows_of(references)
    middle = sorted(e["started_at"] for r in references.values() for e in r["episodes"])[30]
    assert client.get("/core/flows", params={"start": middle}).json() == flows_of(references, start=middle)
    assert client.get("/core/flows/transfer_money/funnel").json() == funnel_of(references, "transfer_money")
    assert client.get("/core/flows/no_such_flow/funnel").json()["steps"] == []
    response = client.get("/core/flows", params={"start": "2026-01-02", "end": "2026-01-01"})
    assert response.status_code == 400 and response.json()["parameter"] == "end"
    assert client.get("/core/flows", params={"start": "soon"}).json()["parameter"] == "start"
    assert client.get("/core/conversations", params={"flow_status": "lost"}).status_code == 400
    sender_id = trackers[0]["sender_id"]
    assert client.get(f"/core/conversations/{sender_id}/flows").json() == store.conversation_flows(sender_id)
    assert client.get("/core/conversationFlows").json() == sorted(
        {e["flow_id"] for r in references.values() for e in r["episodes"]})
    assert client.get("/core/conversationCommands").json() == sorted(
        {c for r in references.values() for c in r["commands"]})
    assert client.get("/core/conversationPatterns").json() == sorted(
        {p for r in references.values() for p in r["patterns"]})
    assert client.get("/core/conversationModels").json() == sorted(
        {m for r in references.values() for m in r["model_ids"]})
    assert client.get("/core/conversations/nobody/flows").status_code == 404


def test_the_stack_at_a_message_is_rebuilt_from_the_patches(client, store):
    sender_id, events = CalmGenerator(seed=6).conversation(1)
    store.ingest(prepare(sender_id, events))
    for event in events:
        if event["event"] == "bot":
            expected = next(stack for e, stack in reversed(reference.calm_snapshots(events))
                            if e["timestamp"] <= event["timestamp"])
            assert client.get(f"/core/conversations/{sender_id}/stack",
                              params={"until": event["timestamp"]}).json() == expected
    assert client.get(f"/core/conversations/{sender_id}/stack").json() == reference.calm_snapshots(events)[-1][1]


def test_an_e2e_test_replays_the_users_texts_and_asserts_the_flows_and_responses(client, store):
    trackers = CalmGenerator(seed=8).trackers(10)
    for tracker in trackers:
        store.ingest(prepare(tracker["sender_id"], tracker["events"]))
        assert_e2e_test_of(client, tracker)


def assert_e2e_test_of(client, tracker, *, flows=None):
    response = client.get(f"/core/conversations/{tracker['sender_id']}/e2e-test.yml")
    assert response.headers["Content-Type"].startswith("text/yaml")
    document = yaml.safe_load(response.text)
    steps = [step for case in document["test_cases"] for step in case["steps"]]
    assert all(set(case) == {"test_case", "steps"} for case in document["test_cases"])
    assert all(set(step) <= {"user", "assertions"} or set(step) in ({"utter"}, {"bot"}) for step in steps)
    users = [e["text"].strip() for e in tracker["events"] if e["event"] == "user" and (e.get("text") or "").strip()]
    assert [step["user"] for step in steps if "user" in step] == users
    asserted = [a for step in steps for a in step.get("assertions", [])]
    started = {a["flow_started"] for a in asserted if "flow_started" in a}
    episodes = flows if flows is not None else {e["flow_id"] for e in reference.flow_episodes(tracker["events"])}
    assert started == episodes
    uttered = {a["bot_uttered"]["utter_name"] for a in asserted if "bot_uttered" in a}
    assert uttered == {e["metadata"]["utter_action"] for e in tracker["events"] if e["event"] == "bot"
                       and str((e.get("metadata") or {}).get("utter_action", "")).startswith("utter_")}
    assert uttered == {step["utter"] for step in steps if "utter" in step}
    return document


def test_the_e2e_tests_command_writes_a_suite_of_the_matching_conversations(db_path, store):
    from click.testing import CliRunner

    from rasa_messaging.cli import cli
    trackers = CalmGenerator(seed=9).trackers(12) + Generator(seed=9).trackers(3)
    for tracker in trackers:
        store.ingest(prepare(tracker["sender_id"], tracker["events"]))
    store.add_tag(trackers[0]["sender_id"], "regression")
    store.add_tag(trackers[1]["sender_id"], "regression")
    result = CliRunner().invoke(cli, ["e2e-tests", "--db", str(db_path), "--tags", "regression",
                                      "--flow", "transfer_money,block_card,check_balance,add_contact,"
                                                "dispute_transaction"])
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.stdout)
    names = {case["test_case"].split("-session-")[0] for case in document["test_cases"]}
    assert names == {t["sender_id"] for t in trackers[:2]} and "test case" in result.stderr


@pytest.mark.real_data
@pytest.mark.parametrize("kind", ["trackers", "lines", "sql"])
def test_the_real_calm_data_gives_the_manifests_episodes_patterns_commands_and_flows(tmp_path, kind):
    from rasa_messaging.store import Store
    calm = RASA_DATA / "calm"
    manifest = json.loads((calm / "manifest.json").read_text())
    files = {"trackers": sorted((calm / "trackers").glob("*.json")), "lines": [calm / "broker_events.jsonl"],
             "sql": [calm / "sql_event_broker.db"]}[kind]
    result = run_import(tmp_path / "calm.db", *files)
    assert result.exit_code == 0 and " 0 rejected" in result.output, result.output[-2000:]
    store = Store(tmp_path / "calm.db")
    for sender_id, truth in manifest["conversations"].items():
        got = store.conversation_flows(sender_id)
        assert sorted((e["flow_id"], e["outcome"], e["last_step_id"], e["interrupted"], e["resumed"], e["session"])
                      for e in got) == sorted(
            (e["flow_id"], e["outcome"].rsplit("-then-", 1)[-1], e["last_step_id"], e["interrupted"], e["resumed"],
             e["session"]) for e in truth["episodes"]), sender_id
        [metadata] = store.conversations(ConversationFilter(sender_id=sender_id))[1]
        assert metadata["patterns"] == sorted(set(truth["patterns_pushed"]))
        assert metadata["commands"] == sorted(set(truth["commands"]))
        assert metadata["model_ids"] == truth["model_ids"]
        assert metadata["input_channels"] == [truth["input_channel"]]
    totals = manifest["totals"]
    flows = {f["flow_id"]: f for f in store.flows()}
    assert set(flows) == set(manifest["user_flows"])
    for flow_id, expected in totals["flows"].items():
        assert {k: flows[flow_id][k] for k in ("started", "completed", "cancelled", "abandoned", "interrupted")} == \
            {k: expected[k] for k in ("started", "completed", "cancelled", "abandoned", "interrupted")}, flow_id
        ended = {s["step_id"]: s["ended_here"]["abandoned"] for s in store.funnel(flow_id)["steps"]}
        assert {step: n for step, n in ended.items() if n} == totals["abandoned_at_step"].get(flow_id, {})
    statistics = store.statistics(limit=100)
    assert {t["name"]: t["count"] for t in statistics["top_patterns"]} == totals["patterns_pushed"]
    assert {t["name"]: t["count"] for t in statistics["top_commands"]} == totals["commands"]
    assert {t["name"]: t["count"] for t in statistics["top_flows"]} == {
        flow_id: f["started"] for flow_id, f in totals["flows"].items()}


@pytest.mark.real_data
def test_each_real_calm_conversation_makes_an_e2e_test_of_its_flows_and_responses(client, store):
    calm = RASA_DATA / "calm"
    manifest = json.loads((calm / "manifest.json").read_text())
    for path in sorted((calm / "trackers").glob("*.json")):
        tracker = json.loads(path.read_text())
        store.ingest(prepare(tracker["sender_id"], tracker["events"]))
        truth = manifest["conversations"][tracker["sender_id"]]
        # The user flows the conversation started: its episodes' flows (what flow_started says).
        assert_e2e_test_of(client, tracker, flows={e["flow_id"] for e in truth["episodes"]})


def test_a_store_that_kept_calm_events_before_flows_were_derived_gets_them_when_opened(db_path):
    """m022 / p009: a store that took CALM events before (every stack event was known) derives
    their episodes, patterns, commands, model ids, terms, sets and statistics once, when opened."""
    from rasa_messaging.store import Store

    from .conftest import import_trackers
    trackers = CalmGenerator(seed=22).trackers(45) + Generator(seed=22).trackers(30)
    store = Store(db_path)
    import_trackers(store, trackers)
    assert store.db.execute("SELECT count(*) FROM event_dictionaries").fetchone()[0]  # events packed: read in Python
    derived = {s: store.conversation_flows(s) for s in (t["sender_id"] for t in trackers)}
    listed = store.conversations(ConversationFilter())[1]
    statistics = store.statistics(limit=50)
    kinds = ("flow", "flow_status", "flow_episode", "pattern", "command", "model_id")
    with store.transaction() as db:  # as a store made before m022 / p009 holds it
        terms_a_row_a_term(db)
        for kind in kinds:
            db.execute("DELETE FROM conversation_sets WHERE kind = ?", [kind])
            db.execute("DELETE FROM conversation_terms WHERE kind = ?", [kind])
        db.execute("DELETE FROM statistics WHERE kind IN ('flow', 'pattern', 'command')")
        db.execute("DROP TABLE flow_episodes")
        db.execute("DROP TABLE conversation_patterns")
        db.execute("ALTER TABLE conversations DROP COLUMN n_flow_events")
        forget_migration(db, "m022_flows", "p009_flows")
        if db.dialect.name == "postgresql":  # and p022, which made the episodes' steps bytes
            forget_migration(db, "", "p022_packed_steps")
    store.close()
    reopened = Store(db_path)  # migrates
    assert {s: reopened.conversation_flows(s) for s in derived} == derived
    assert reopened.conversations(ConversationFilter())[1] == listed
    assert reopened.statistics(limit=50) == statistics
    assert reopened.conversations(ConversationFilter(flows=("transfer_money",), flow_statuses=("completed",)))[0] > 0


def test_an_episodes_steps_are_packed_and_those_written_plain_before_read_the_same(db_path):
    """store/flow_days.py `stored_steps`: the steps are packed with the store's dictionary of
    events once it has one; a store that wrote them as JSON text before (p022 makes PostgreSQL's
    column bytes) reads them the same in the transcript's flows, the funnels and an erasure's sums."""
    from rasa_messaging.store import Store, packing
    from rasa_messaging.store.flow_days import stored_steps

    from .conftest import import_trackers
    trackers = CalmGenerator(seed=22).trackers(60)
    store = Store(db_path)
    import_trackers(store, trackers)
    stored = store.db.execute("SELECT conversation_id, position, steps FROM flow_episodes").fetchall()
    assert sum(packing.is_packed(steps) for _, _, steps in stored) > 0.9 * len(stored)
    flows = {t["sender_id"]: store.conversation_flows(t["sender_id"]) for t in trackers}
    funnels = {flow_id: store.funnel(flow_id) for flow_id in {e["flow_id"] for f in flows.values() for e in f}}
    assert sum(len(f) for f in flows.values()) == len(stored) > 30
    with store.transaction() as db:  # as a store made before held them
        plain = [(json.dumps(stored_steps(db, steps)), i, position) for i, position, steps in stored]
        if db.dialect.name == "postgresql":
            db.execute("ALTER TABLE flow_episodes ALTER COLUMN steps TYPE TEXT USING ''")
            forget_migration(db, "", "p022_packed_steps")
        db.executemany("UPDATE flow_episodes SET steps = ? WHERE conversation_id = ? AND position = ?", plain)
    store.close()
    reopened = Store(db_path)
    assert not any(packing.is_packed(steps) for (steps,) in reopened.db.execute("SELECT steps FROM flow_episodes"))
    assert {sender_id: reopened.conversation_flows(sender_id) for sender_id in flows} == flows
    assert {flow_id: reopened.funnel(flow_id) for flow_id in funnels} == funnels
    erased = trackers[0]["sender_id"]
    reopened.erase(erased)  # takes its plain steps off the sums by day
    rest = reference_of({t["sender_id"]: t["events"] for t in trackers[1:]})
    assert {flow_id: reopened.funnel(flow_id) for flow_id in funnels} == {
        flow_id: funnel_of(rest, flow_id) for flow_id in funnels}


def test_a_store_made_before_the_sums_by_day_gets_them_when_opened(db_path):
    """m024 / p011: a store holding episodes before /flows read sums by day makes them, once,
    from its episodes, when opened."""
    from rasa_messaging.store import Store

    from .conftest import import_trackers
    trackers = CalmGenerator(seed=24).trackers(30)
    store = Store(db_path)
    import_trackers(store, trackers)
    references = reference_of({t["sender_id"]: t["events"] for t in trackers})
    with store.transaction() as db:
        db.execute("DROP TABLE flow_days")
        db.execute("DROP TABLE flow_step_days")
        forget_migration(db, "m024_flow_days", "p011_flow_days")
    store.close()
    reopened = Store(db_path)
    for start, end in ranges_of(references):
        assert reopened.flows(start=start, end=end) == flows_of(references, start, end)
        assert reopened.funnel("transfer_money", start=start, end=end) == \
            funnel_of(references, "transfer_money", start, end)


_FRAMES = strategies.one_of(
    strategies.fixed_dictionaries({"frame_id": strategies.sampled_from(["A", "B", "C"])},
                                  optional={"step_id": strategies.sampled_from(["0_ask", "END"]),
                                            "nested": strategies.just({"deep": [1]})}),
    strategies.sampled_from(["a frame that is text", 7, None, ["a", "list"]]))
_OPERATIONS = strategies.fixed_dictionaries(
    {}, optional={"op": strategies.sampled_from(["add", "remove", "replace", "test", "move", "copy", 3]),
                  "path": strategies.sampled_from(["/0", "/1", "/2", "/3", "/-", "/01", "/x", "", "/0/step_id",
                                                   "/1/step_id", "/0/", "/0/~1", "/0/a~0b", "/0/nested/deep",
                                                   "/-/step_id", "/5/step_id", 0]),
                  "value": _FRAMES, "from": strategies.sampled_from(["/0", "/1/step_id"])})


@hypothesis.settings(max_examples=3_000, deadline=None)
@hypothesis.given(strategies.lists(_FRAMES, max_size=4),
                  strategies.lists(strategies.one_of(_OPERATIONS, strategies.just("not an operation")), max_size=4))
def test_a_stack_is_patched_exactly_as_jsonpatch_patches_it_and_left_as_it_was(stack, update):
    """`patched` applies the patches Rasa writes itself and leaves the rest to jsonpatch: the
    stack it makes, or its refusal, must be jsonpatch's on any stack and patch, and the stack
    it was given must stay as it was."""
    import copy

    import jsonpatch

    from rasa_messaging.store.flows import patched
    refused = (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError, KeyError)
    given = copy.deepcopy(stack)
    try:
        expected = jsonpatch.JsonPatch(copy.deepcopy(update)).apply(copy.deepcopy(stack))
    except refused:
        expected = "refused"
    try:
        made = patched(stack, update)
    except refused:
        made = "refused"
    assert made == expected
    assert stack == given
