"""CALM conversations of a banking assistant, deterministic from a seed, shaped like Rasa Pro
3.21's (and like ../shared/rasa-data/calm): for the demo store, the tests and the benchmark.

The engine is modelled as Rasa Pro's works: a user message carries its `commands`; the dialogue
stack changes frame by frame and each change is written as a `stack` event whose `update` is the
JSON patch between the stacks before and after (jsonpatch, as Rasa Pro makes them); a flow's
`collect` step pushes `pattern_collect_information`, the end of a flow pushes `pattern_completed`,
a cancellation `pattern_cancel_flow` (with `canceled_frames`; the flow's step jumps to
`NEXT:END`), an interruption puts a flow on top (`flow_interrupted`, later
`pattern_continue_interrupted` and `flow_resumed`), chitchat `pattern_chitchat`. A bot message
says where its text came from (`utter_source`), each turn ends with `bot_turn_ended` (execution
times), slots say who filled them (`filled_by`), and `dispute_transaction` calls a sub-agent
(`agent_started`, `mcp_tool_executed`, `agent_completed`). Some sessions end with a flow open
(`abandoned`).
"""

import copy
import json
import random
import string

import jsonpatch

DAY = 86_400.0
MODELS = (("f8861b5922cc4f588c018b18ed79e485", "20261128-164205-lucid-orchard"),
          ("0c3a94d2e6b14f0aa8d1f7e2b5c6d901", "20261201-091500-brisk-harbor"))
CHANNELS = ("socketio", "rest", "twilio_voice", "slack")
# A flow's steps as Rasa names them when the flow does not: {flow}_{index}_{kind}_{name}.
FLOWS = {
    "transfer_money": [("collect", "recipient"), ("collect", "amount"), ("collect", "transfer_confirmation"),
                       ("action", "action_execute_transfer"), ("utter", "utter_transfer_complete")],
    "check_balance": [("action", "action_check_balance"), ("utter", "utter_current_balance")],
    "block_card": [("collect", "card_to_block"), ("collect", "block_reason"), ("action", "action_block_card"),
                   ("utter", "utter_card_blocked")],
    "add_contact": [("collect", "contact_name"), ("collect", "contact_handle"), ("action", "action_add_contact"),
                    ("utter", "utter_contact_added")],
    "dispute_transaction": [("call", "dispute_agent"), ("utter", "utter_dispute_filed")],
}
STARTS = {"transfer_money": ["I want to send money", "transfer money please", "Ich möchte Geld überweisen"],
          "check_balance": ["what's my balance", "how much money do I have", "¿cuál es mi saldo?"],
          "block_card": ["I lost my card", "block my card please"],
          "add_contact": ["add a new contact", "save a payee"],
          "dispute_transaction": ["there's a charge I don't recognise", "dispute a payment"]}
ANSWERS = {"recipient": ["Lucas Mensah", "Anna", "my landlord"], "amount": ["50", "120.5", "30 bitte!"],
           "transfer_confirmation": ["/SetSlots(transfer_confirmation=true)", "yes"],
           "card_to_block": ["debit", "credit"], "block_reason": ["lost", "stolen"],
           "contact_name": ["Mia", "Joe"], "contact_handle": ["@mia", "joe@example.com"]}
CHITCHAT = ["how are you?", "you're funny", "what's your name"]
CANCEL = ["stop", "cancel that", "abbrechen"]


class CalmGenerator:
    def __init__(self, seed: int = 1, *, months: int = 6, start: float = 1_600_000_000.0):
        self.rng = random.Random(seed)
        self.start = start
        self.span = months * 30 * DAY

    def conversation(self, number: int) -> tuple[str, list[dict]]:
        return CalmConversation(self, number).events_of()

    def trackers(self, conversations: int) -> list[dict]:
        """`conversations` tracker dumps (`{"sender_id", "events"}`, events without `sender_id`)."""
        return [{"sender_id": sender_id, "events": [{k: v for k, v in e.items() if k != "sender_id"} for e in events]}
                for sender_id, events in map(self.conversation, range(conversations))]


class CalmConversation:
    """One conversation; `generator` gives the random numbers (`rng`), `start` and `span`."""

    def __init__(self, generator, number: int):
        self.rng = rng = generator.rng
        self.sender_id = f"calm-{number:07d}"
        self.channel = rng.choice(CHANNELS)
        self.model_id, self.model_name = MODELS[0] if rng.random() < 0.7 else MODELS[1]
        self.clock = generator.start + rng.random() * generator.span
        self.events: list[dict] = []
        self.stack: list[dict] = []

    def events_of(self) -> tuple[str, list[dict]]:
        rng = self.rng
        for _session in range(1 if rng.random() < 0.85 else 2):
            self.session_start()
            for _episode in range(rng.randint(1, 3)):
                if rng.random() < 0.15:
                    self.chitchat()
                if not self.episode(rng.choice(list(FLOWS))):
                    break  # abandoned: the user went away
            self.clock += rng.uniform(1, 10) * DAY
        return self.sender_id, self.events

    # --- what the engine writes -------------------------------------------------------------
    def emit(self, event: dict, *, step: float = 0.001) -> None:
        self.clock += step
        self.events.append({"sender_id": self.sender_id, "event": event.pop("event"), "timestamp": round(self.clock, 6),
                            "metadata": {"model_id": self.model_id, "model_name": self.model_name,
                                         "assistant_id": "moneybot", **event.pop("metadata", {})}, **event})

    def update_stack(self, change) -> None:
        before = copy.deepcopy(self.stack)
        change(self.stack)
        self.emit({"event": "stack", "update": jsonpatch.make_patch(before, self.stack).to_string()})

    def push(self, flow_id: str, kind: str = "flow", **fields) -> dict:
        frame = {"frame_id": "".join(self.rng.choices(string.ascii_uppercase + string.digits, k=8)),
                 "flow_id": flow_id, "step_id": "START", **fields, "type": kind}
        self.update_stack(lambda stack: stack.append(frame))
        self.emit({"event": "flow_started", "flow_id": flow_id})
        return frame

    def step(self, frame: dict, step_id: str) -> None:
        self.update_stack(lambda stack: _frame(stack, frame).update(step_id=step_id))

    def pop(self, frame: dict, *, completed: bool = True) -> None:
        last_step = _frame(self.stack, frame)["step_id"]
        self.step(frame, "END" if completed else "NEXT:END")
        self.update_stack(lambda stack: stack.remove(_frame(stack, frame)))
        self.emit({"event": "flow_completed" if completed else "flow_cancelled", "flow_id": frame["flow_id"],
                   "step_id": last_step})

    def session_start(self) -> None:
        self.stack = []
        self.emit({"event": "action", "name": "action_session_start", "policy": None, "confidence": 1.0})
        self.emit({"event": "session_started"})
        self.emit({"event": "action", "name": "action_listen", "policy": None, "confidence": None})

    def user(self, text: str, commands: list[dict]) -> None:
        self.emit({"event": "user", "text": text, "input_channel": self.channel,
                   "parse_data": {"intent": {"name": None, "confidence": 0.0}, "entities": [], "text": text,
                                  "commands": commands}}, step=self.rng.uniform(3, 40))
        self.emit({"event": "user_featurization", "use_text_for_featurization": False})

    def bot(self, utter: str, text: str, frame: dict | None, source: str | None = None) -> None:
        self.emit({"event": "action", "name": utter, "policy": "FlowPolicy", "confidence": 1.0})
        self.emit({"event": "bot", "text": text, "data": {}, "metadata": {
            "utter_action": utter, "active_flow": frame["flow_id"] if frame else None,
            "step_id": frame["step_id"] if frame else None,
            "utter_source": source or self.rng.choice(["ContextualResponseRephraser", "TemplatedNaturalLanguageGenerator"])}})

    def end_turn(self) -> None:
        self.emit({"event": "action", "name": "action_listen", "policy": "FlowPolicy", "confidence": 1.0})
        self.emit({"event": "bot_turn_ended", "metadata": {"execution_times": {
            "command_processor": round(self.rng.uniform(300, 3000), 3),
            "prediction_loop": round(self.rng.uniform(10, 900), 3)}}})

    # --- what happens in a conversation --------------------------------------------------------
    def chitchat(self) -> None:
        self.user(self.rng.choice(CHITCHAT), [{"command": "chitchat"}])
        frame = self.push("pattern_chitchat", "pattern_chitchat")
        self.step(frame, "pattern_chitchat_0_action_trigger_chitchat")
        self.bot("utter_free_chitchat_response", "I'm doing great, thanks for asking!", frame,
                 "ContextualResponseRephraser")
        self.pop(frame)
        self.end_turn()

    def episode(self, flow_id: str, *, interrupting: bool = False) -> bool:
        """One episode of `flow_id`; False when the user went away with it open."""
        rng = self.rng
        if not interrupting:
            self.user(rng.choice(STARTS[flow_id]), [{"command": "start flow", "flow": flow_id}])
        frame = self.push(flow_id, frame_type="interrupt" if interrupting else "regular")
        for index, (kind, name) in enumerate(FLOWS[flow_id]):
            self.step(frame, f"{flow_id}_{index}_{kind}_{name}")
            if kind == "collect":
                outcome = self.collect(frame, name, interruptible=not interrupting)
                if outcome != "done":
                    return outcome == "cancelled"
            elif kind == "action":
                self.emit({"event": "action", "name": name, "policy": "FlowPolicy", "confidence": 1.0})
            elif kind == "call":
                self.sub_agent(frame, name)
            else:
                self.bot(name, f"Done: {flow_id.replace('_', ' ')}.", frame)
        self.pop(frame)
        if not interrupting:
            self.end_turn()
        return True

    def collect(self, frame: dict, slot: str, *, interruptible: bool) -> str:
        """Ask for `slot`: "done", "cancelled", or "abandoned" (the session ends here)."""
        rng = self.rng
        ask = self.push("pattern_collect_information", "pattern_collect_information", collect=slot)
        self.step(ask, "ask_collect")
        self.bot(f"utter_ask_{slot}", f"What is the {slot.replace('_', ' ')}?", frame)
        self.end_turn()
        roll = rng.random()
        if roll < 0.05:
            self.emit({"event": "inactive"}, step=3600)
            return "abandoned"
        if roll < 0.11:
            self.user(rng.choice(CANCEL), [{"command": "cancel flow"}])
            self.update_stack(lambda stack: stack.remove(_frame(stack, ask)))
            cancel = self.push("pattern_cancel_flow", "pattern_cancel_flow", canceled_frames=[frame["frame_id"]])
            self.step(cancel, "pattern_cancel_flow_0_action_cancel_flow")
            self.emit({"event": "action", "name": "action_cancel_flow", "policy": "FlowPolicy", "confidence": 1.0})
            self.pop(frame, completed=False)
            self.bot("utter_flow_cancelled_rasa", "No problem, I've stopped that.", cancel)
            self.pop(cancel)
            self.end_turn()
            return "cancelled"
        if interruptible and roll < 0.17:
            other = rng.choice([flow for flow in ("check_balance", "add_contact") if flow != frame["flow_id"]])
            self.user(rng.choice(STARTS[other]), [{"command": "start flow", "flow": other}])
            self.update_stack(lambda stack: stack.remove(_frame(stack, ask)))
            self.emit({"event": "flow_interrupted", "flow_id": frame["flow_id"], "step_id": frame["step_id"]})
            if not self.episode(other, interrupting=True):
                return "abandoned"
            resume = self.push("pattern_continue_interrupted", "pattern_continue_interrupted",
                               previous_flow_name=frame["flow_id"].replace("_", " "))
            self.emit({"event": "flow_resumed", "flow_id": frame["flow_id"], "step_id": frame["step_id"]})
            self.pop(resume)
            ask = self.push("pattern_collect_information", "pattern_collect_information", collect=slot)
            self.bot(f"utter_ask_{slot}", f"Back to it: what is the {slot.replace('_', ' ')}?", frame)
            self.end_turn()
        value = rng.choice(ANSWERS[slot])
        self.user(value, [{"command": "set slot", "name": slot, "value": value, "extractor": "LLM"}])
        self.emit({"event": "slot", "name": slot, "value": value, "filled_by": "LLM"})
        self.pop(ask)
        return "done"

    def sub_agent(self, frame: dict, agent: str) -> None:
        agent_frame = {"frame_id": "".join(self.rng.choices(string.ascii_uppercase, k=8)), "agent_id": agent,
                       "type": "agent", "state": "running"}
        self.update_stack(lambda stack: stack.append(agent_frame))
        self.emit({"event": "agent_started", "agent_id": agent, "flow_id": frame["flow_id"]})
        self.emit({"event": "mcp_tool_executed", "server_name": "payments", "tool_name": "recent_card_payments",
                   "result": json.dumps([{"merchant": "GymPro", "amount": 102.13}])})
        self.bot("utter_dispute_question", "I can see a GymPro payment of $102.13. Is that the one?", frame,
                 "agent")
        self.emit({"event": "agent_completed", "agent_id": agent, "flow_id": frame["flow_id"],
                   "status": "completed"})
        self.update_stack(lambda stack: stack.remove(agent_frame))


def _frame(stack: list, frame: dict) -> dict:
    return next(f for f in stack if f["frame_id"] == frame["frame_id"])
