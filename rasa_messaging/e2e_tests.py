"""Conversations as Rasa Pro end-to-end tests: what a CALM team runs with `rasa test e2e`.

The format is Rasa Pro 3.21's (rasa/e2e_test/schema/e2e_test_schema.yml, assertions generally
available since 3.12): `test_cases:`, each `- test_case: NAME` with `steps:`, a step being
`- user: TEXT`, `- utter: RESPONSE_NAME`, or `- bot: TEXT` for a bot text no response names.
Each user step carries `assertions:` of what the recorded conversation did after that message
and before the next: `flow_started`, `flow_completed` and `flow_cancelled` (user flows, as the
recorded `flow_*` events say), `slot_was_set` (values set, Rasa's own slots left out),
`bot_uttered` with `utter_name`, and `action_executed` (custom actions: neither responses nor
Rasa's built-in actions). A test case with assertions is checked by them; its `utter`/`bot`
steps show the conversation to the reader.

A conversation with several sessions gives a test case per session: each starts as a new
conversation does. Button payloads (`/SetSlots(...)`, `/greet`) stay as the user's input.
"""

import re

from . import yaml_text

RASA_PRO_VERSION = "3.21"
# Rasa Pro 3.21's built-in actions (rasa/shared/core/constants.py DEFAULT_ACTION_NAMES) and slots
# (DEFAULT_SLOT_NAMES): the engine's own moves, no assertion of what the assistant's designer built.
BUILT_IN_ACTIONS = frozenset({
    "action_listen", "action_restart", "action_session_start", "action_default_fallback", "action_deactivate_loop",
    "action_revert_fallback_events", "action_default_ask_affirmation", "action_default_ask_rephrase",
    "action_two_stage_fallback", "action_unlikely_intent", "action_back", "action_send_text",
    "action_agent_request_user_input", "...", "action_extract_slots", "action_cancel_flow", "action_correct_flow_slot",
    "action_clarify_flows", "action_run_slot_rejections", "action_clean_stack", "action_trigger_search",
    "action_trigger_chitchat", "action_reset_routing", "action_hangup", "action_handoff_metric",
    "action_repeat_bot_messages", "action_default_capabilities", "action_continue_interrupted_flow",
    "action_cancel_interrupted_flows", "action_send_text_update",
})
BUILT_IN_SLOTS = frozenset({"requested_slot", "session_started_metadata", "flow_hashes", "mocked_datetime",
                            "dialogue_stack", "return_value"})
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def test_case_name(sender_id: str) -> str:
    """A test case's name from a sender id: letters, digits, `_` and `-` (Rasa reports by name)."""
    return _NAME.sub("_", str(sender_id)).strip("_") or "conversation"


def e2e_test_cases(sender_id: str, events: list[dict]) -> list[dict]:
    """The test cases of a conversation's events (in order): one a session with a user message."""
    cases, steps, assertions = [], [], None
    name = test_case_name(sender_id)
    said = False

    def close():
        if any("user" in step for step in steps):
            cases.append({"test_case": name, "steps": list(steps)})

    for event in events:
        kind = event.get("event")
        if kind in ("session_started", "restart") and said:
            close()
            steps.clear()
            assertions, said = None, False
        elif kind == "user" and isinstance(event.get("text"), str) and event["text"].strip():
            assertions = []
            steps.append({"user": event["text"].strip(), "assertions": assertions})
            said = True
        elif kind == "bot":
            name_of_response = _response_name(event)
            text = event.get("text")
            if name_of_response:
                steps.append({"utter": name_of_response})
            elif isinstance(text, str) and text.strip():
                steps.append({"bot": text.strip()})
            if assertions is not None and name_of_response:
                _add(assertions, {"bot_uttered": {"utter_name": name_of_response}})
        elif assertions is not None:
            if (assertion := _assertion(event)) is not None:
                _add(assertions, assertion)
    close()
    for number, case in enumerate(cases, start=1):
        if len(cases) > 1:
            case["test_case"] = f"{name}-session-{number}"
        for step in case["steps"]:
            if step.get("assertions") == []:
                del step["assertions"]
    return cases


def e2e_tests_yaml(conversations) -> tuple[str, int, list]:
    """(a Rasa Pro e2e test file, how many test cases, the conversations left out with the
    reason) for (sender_id, events) pairs; a conversation with no user message has no test."""
    cases, left_out = [], []
    for sender_id, events in conversations:
        found = e2e_test_cases(sender_id, events)
        if not found:
            left_out.append((sender_id, "it has no user message"))
        cases += found
    header = (f"# Rasa Pro {RASA_PRO_VERSION} end-to-end tests (rasa test e2e), written by rasa-messaging from "
              "recorded conversations\n")
    return header + yaml_text.dump({"test_cases": cases}), len(cases), left_out


def _response_name(event: dict) -> str | None:
    metadata = event.get("metadata")
    name = metadata.get("utter_action") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name.startswith("utter_") else None


def _assertion(event: dict) -> dict | None:
    kind = event.get("event")
    if kind in ("flow_started", "flow_completed", "flow_cancelled"):
        flow_id = event.get("flow_id")
        if not isinstance(flow_id, str) or not flow_id or flow_id.startswith("pattern_"):
            return None
        return {kind: flow_id} if kind == "flow_started" else {kind: {"flow_id": flow_id}}
    if kind == "slot":
        name, value = event.get("name"), event.get("value")
        if isinstance(name, str) and name not in BUILT_IN_SLOTS and value is not None:
            return {"slot_was_set": [{"name": name, "value": value}]}
    if kind == "action":
        name = event.get("name")
        if isinstance(name, str) and name not in BUILT_IN_ACTIONS and not name.startswith("utter_"):
            return {"action_executed": name}
    return None


def _add(assertions: list, assertion: dict) -> None:
    if assertion not in assertions:
        assertions.append(assertion)
