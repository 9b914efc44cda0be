"""Flows, patterns and the dialogue stack of a CALM conversation, replayed from its events.

Rasa Pro writes no "episode" event: a flow's life is in the `stack` events, each a JSON-patch
update of the dialogue stack (`update`, a JSON text). A frame is one flow running: it appears with
a `frame_id`, moves through its steps (`step_id`), and leaves the stack when it ends. This module
applies the updates in order (jsonpatch, the library Rasa Pro writes them with) and reads:

- the **episodes** of user flows: flow id, start, outcome, the steps reached in order, the last
  one, whether it was interrupted and resumed on the way. A frame that leaves the stack ends its
  episode `completed`, or `cancelled` when Rasa cancelled it: its id is in a `pattern_cancel_flow`
  frame's `canceled_frames`, its step jumped to `NEXT:END` (what `action_cancel_flow` does), or a
  `flow_cancelled` event named its flow. A frame still on the stack when a session starts again,
  the conversation restarts, or the events end, is `abandoned`.
- the **patterns** pushed: every frame whose flow id starts with `pattern_` (Rasa's convention for
  its pattern flows), in order.
- the stack itself at any event (`stack_at`), for the transcript.

Flows are frames of type `flow` (with a `frame_type`: regular, interrupt, link, call) whose id is
no pattern's; agent and search frames are neither. A stack update that does not apply (events
missing, a hand-written dump) is skipped and counted: the stack stays as it was.
"""

import copy
import json
import re
from dataclasses import dataclass, field

import jsonpatch

# The events that make a conversation one to replay, and the ones the replay reads.
FLOW_EVENT_TYPES = ("stack", "flow_interrupted", "flow_resumed", "flow_cancelled")
REPLAYED_TYPES = (*FLOW_EVENT_TYPES, "session_started", "restart", "user")
PATTERN_PREFIX = "pattern_"
# Step ids that are no step of the flow: where every flow starts and ends, and a jump ("NEXT:x").
_NOT_A_STEP = frozenset({"START", "END"})
CANCELLED_STEP = "NEXT:END"
OUTCOMES = ("completed", "cancelled", "abandoned")
# What the `flow_status` filter takes: an outcome, or what happened on the way.
FLOW_STATUSES = (*OUTCOMES, "interrupted")


@dataclass
class Episode:
    flow_id: str
    frame_id: str
    started_at: float
    session: int
    users_before: int  # user messages before the one whose turn started the flow
    steps: list = field(default_factory=list)  # the steps reached, each once, in the order first reached
    last_step_id: str | None = None
    ended_at: float | None = None
    outcome: str = "abandoned"
    interrupted: bool = False
    resumed: bool = False
    cancelled: bool = False
    n_user_messages: int = 0

    @property
    def statuses(self) -> tuple:
        """What the `flow_status` filter finds this episode by."""
        return (self.outcome, "interrupted") if self.interrupted else (self.outcome,)


def _frame_key(frame, position: int) -> str:
    frame_id = frame.get("frame_id") if isinstance(frame, dict) else None
    return frame_id if isinstance(frame_id, str) else f"#{position}"


def stack_update(event: dict):
    """The JSON patch of a `stack` event: Rasa writes it as JSON text; a list is taken too."""
    update = event.get("update")
    if isinstance(update, str):
        try:
            update = json.loads(update)
        except ValueError:
            return None
    return update if isinstance(update, list) else None


def patched(stack: list, update: list):
    """`stack` with the JSON patch `update` applied, `stack` left as it was (also when the patch
    fails halfway). Rasa's patches add or remove a frame ("/1") or replace a field of one
    ("/0/step_id"): those are applied here (`_applied_simply`), the rest by jsonpatch on a copy.
    jsonpatch's own copy is a deep one, every frame each time; for a path no deeper than a frame's
    field a copy of the list and of its frames is enough, and cheaper: replaying 422k generated
    events (110k read, 88k patches) took the storing process of an import 9.3 s in apply_patch,
    4.4 of them copying (cProfile). A deeper path gets the deep copy."""
    if (simply := _applied_simply(stack, update)) is not None:
        return simply
    shallow = all(isinstance(op, dict) and isinstance(op.get("path"), str) and op["path"].count("/") <= 2
                  and op.get("op") in ("add", "remove", "replace", "test") for op in update)
    work = [dict(frame) if isinstance(frame, dict) else frame for frame in stack] if shallow \
        else copy.deepcopy(stack)
    return jsonpatch.JsonPatch(update).apply(work, in_place=True)


# A frame ("/1") or a frame's field ("/0/step_id"), as jsonpointer reads an index (no leading
# zeros) and a name with no escape ("~").
_FRAME_OR_FIELD = re.compile(r"/(0|[1-9][0-9]*)(?:/([^/~]*))?")


def _applied_simply(stack: list, update: list) -> list | None:
    """`patched`, where every operation of `update` is an add, remove or replace of a frame or a
    frame's field that jsonpatch would apply without a complaint; None for any other patch, which
    jsonpatch then applies (or refuses) itself. The stack's list and each frame an operation
    changes are copies; the values go in as they came, since the patch was read for this replay
    alone (jsonpatch copies them deeply). The replays of a worker's chunk of an import (40k
    generated events, 303 CALM conversations) took 115 ms with jsonpatch, 46 ms so."""
    work = list(stack)
    for op in update:
        if not isinstance(op, dict) or not isinstance(path := op.get("path"), str) \
                or (kind := op.get("op")) not in ("add", "remove", "replace") \
                or (kind != "remove" and "value" not in op) or (where := _FRAME_OR_FIELD.fullmatch(path)) is None:
            return None
        index, name = int(where[1]), where[2]
        if name is None:  # a frame
            if index > len(work) or (index == len(work) and kind != "add"):
                return None
            if kind == "add":
                work.insert(index, op["value"])
            elif kind == "remove":
                del work[index]
            else:
                work[index] = op["value"]
            continue
        if index >= len(work) or not isinstance(work[index], dict) or (kind != "add" and name not in work[index]):
            return None
        frame = work[index] = dict(work[index])
        if kind == "remove":
            del frame[name]
        else:
            frame[name] = op["value"]
    return work


class Replay:
    """Feed a conversation's events in order (`add`), then `finish()`."""

    def __init__(self) -> None:
        self.stack: list = []
        self.episodes: list[Episode] = []
        self.patterns: list[str] = []
        self.skipped_updates = 0
        self._open: dict[str, Episode] = {}
        self._cancelled_frames: set = set()
        self._users = 0
        self._users_this_session = 0
        self._session = 1
        self._said_this_session = False

    def add(self, event: dict) -> None:
        kind = event.get("event")
        if kind in ("session_started", "restart"):
            self._end_open()
            self.stack = []
            self._cancelled_frames = set()
            self._users_this_session = 0
            # A session_started before anything was said continues its session (store/sessions.py).
            if kind == "session_started" and self._said_this_session:
                self._session += 1
                self._said_this_session = False
        self._said_this_session |= kind in ("user", "bot")
        if kind == "user":
            self._users += 1
            self._users_this_session += 1
        elif kind == "stack":
            self._apply(event)
        elif kind in ("flow_interrupted", "flow_resumed", "flow_cancelled"):
            episode = self._latest_open(event.get("flow_id"))
            if episode is not None:
                setattr(episode, kind.removeprefix("flow_"), True)

    def finish(self) -> list[Episode]:
        """The episodes, in the order they started; those still open are abandoned."""
        self._end_open()
        return sorted(self.episodes, key=lambda episode: episode.started_at)

    def _apply(self, event: dict) -> None:
        update = stack_update(event)
        try:
            if update is None:
                raise jsonpatch.JsonPatchException("no JSON patch")
            stack = patched(self.stack, update)
            if not isinstance(stack, list):
                raise jsonpatch.JsonPatchException("the stack is no list")
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError, KeyError):
            self.skipped_updates += 1
            return
        timestamp = event.get("timestamp")
        before = {_frame_key(frame, i) for i, frame in enumerate(self.stack)}
        self.stack = stack
        after = {}
        for position, frame in enumerate(stack):
            if not isinstance(frame, dict):
                continue
            key = _frame_key(frame, position)
            after[key] = frame
            if frame.get("type") == "pattern_cancel_flow" and isinstance(frame.get("canceled_frames"), list):
                self._cancelled_frames.update(f for f in frame["canceled_frames"] if isinstance(f, str))
            if key not in before:
                self._appeared(key, frame, timestamp)
            if (episode := self._open.get(key)) is not None:
                self._reached(episode, frame.get("step_id"))
        for key in before - after.keys():
            if (episode := self._open.pop(key, None)) is not None:
                episode.ended_at = timestamp
                episode.n_user_messages = self._users - episode.users_before
                episode.outcome = "cancelled" if episode.cancelled or key in self._cancelled_frames else "completed"

    def _appeared(self, key: str, frame: dict, timestamp) -> None:
        flow_id = frame.get("flow_id")
        if not isinstance(flow_id, str) or not flow_id:  # an agent's or a search's frame
            return
        if flow_id.startswith(PATTERN_PREFIX):
            self.patterns.append(flow_id)
        elif frame.get("type") == "flow":
            episode = Episode(flow_id=flow_id, frame_id=key, started_at=timestamp, session=self._session,
                              users_before=self._users - (1 if self._users_this_session else 0))
            self._open[key] = episode
            self.episodes.append(episode)

    @staticmethod
    def _reached(episode: Episode, step_id) -> None:
        if not isinstance(step_id, str):
            return
        if step_id == CANCELLED_STEP:
            episode.cancelled = True
        elif step_id not in _NOT_A_STEP and not step_id.startswith("NEXT:"):
            episode.last_step_id = step_id
            if step_id not in episode.steps:
                episode.steps.append(step_id)

    def _latest_open(self, flow_id) -> Episode | None:
        for episode in reversed(self._open.values()):
            if episode.flow_id == flow_id:
                return episode
        return None

    def _end_open(self) -> None:
        for episode in self._open.values():
            episode.n_user_messages = self._users - episode.users_before
        self._open = {}


def replay(events) -> Replay:
    """The replay of `events` (dicts, in the conversation's order), finished."""
    state = Replay()
    for event in events:
        state.add(event)
    state.episodes = state.finish()
    return state
