"""Brute-force computations from raw events, written from SEMANTICS.md and sharing no code with
the store: what the server's incrementally maintained answers must equal."""

import json

MEMO = {"MemoizationPolicy", "AugmentedMemoizationPolicy", "RulePolicy"}


def _policy(name):
    if not name:
        return None
    parts = name.split("_", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "policy" and parts[1].isdigit() else name


def unique_events(trackers):
    """Per sender, each distinct event once (what idempotent ingest keeps), in arrival order."""
    by_sender = {}
    for tracker in trackers:
        seen = by_sender.setdefault(tracker["sender_id"], {})
        for event in tracker["events"]:
            key = json.dumps(_nulls_left_out({k: v for k, v in event.items() if k not in ("sender_id", "is_flagged")}),
                             sort_keys=True)
            seen.setdefault(key, event)
    return {sender: list(events.values()) for sender, events in by_sender.items()}


def _nulls_left_out(value):
    """A key that is null counts as absent, at any depth (a null in a list keeps its place)."""
    if isinstance(value, dict):
        return {k: _nulls_left_out(v) for k, v in value.items() if v is not None}
    return [_nulls_left_out(v) for v in value] if isinstance(value, list) else value


def metadata(sender_id, events):
    users = [e for e in events if e["event"] == "user"]
    actions = [e for e in events if e["event"] == "action"]
    latest_user = max(users, key=lambda e: e["timestamp"], default=None)
    policies = [_policy(a.get("policy")) for a in actions if a.get("policy")]
    return {
        "sender_id": sender_id,
        "latest_event_time": max(e["timestamp"] for e in events),
        "latest_input_channel": latest_user.get("input_channel") if latest_user else None,
        "latest_message": latest_user.get("text") if latest_user else None,
        "intents": sorted({u["parse_data"]["intent"]["name"] for u in users
                           if (u.get("parse_data") or {}).get("intent", {}).get("name")}),
        "entities": sorted({x["entity"] for u in users for x in (u.get("parse_data") or {}).get("entities", [])}),
        "actions": sorted({a["name"] for a in actions}),
        "policies": sorted(set(policies)),
        "input_channels": sorted({u["input_channel"] for u in users
                                  if isinstance(u.get("input_channel"), str) and u["input_channel"]}),
        "flows": sorted({episode["flow_id"] for episode in flow_episodes(events)}),
        "patterns": sorted(set(patterns_pushed(events))),
        "commands": sorted(set(commands(events))),
        "model_ids": model_ids(events),
        "minimum_action_confidence": min((a["confidence"] for a in actions if a.get("confidence") is not None),
                                         default=None),
        "in_training_data": bool(policies) and all(p in MEMO for p in policies),
        "n_user_messages": len(users),
    }


def all_metadata(trackers):
    return {sender: metadata(sender, events) for sender, events in unique_events(trackers).items()}


def user_texts(events):
    return [e.get("text") or "" for e in events if e["event"] == "user"]


def statistics(trackers, limit=10):
    """GET /statistics recomputed from the raw events of `trackers` (each distinct event once)."""
    from collections import Counter
    counts = {kind: Counter() for kind in ("intent", "entity", "action", "policy", "flow", "command", "pattern")}
    messages = Counter()
    for events in unique_events(trackers).values():
        for e in events:
            messages[e["event"]] += 1
            if e["event"] == "user":
                parse_data = e.get("parse_data") or {}
                if (parse_data.get("intent") or {}).get("name"):
                    counts["intent"][parse_data["intent"]["name"]] += 1
                counts["entity"].update({x["entity"] for x in parse_data.get("entities") or []})
            elif e["event"] == "action":
                if e.get("name") and e["name"] != "action_listen":
                    counts["action"][e["name"]] += 1
                if e.get("policy"):
                    counts["policy"][_policy(e["policy"])] += 1
        counts["flow"].update(episode["flow_id"] for episode in flow_episodes(events))
        counts["command"].update(commands(events))
        counts["pattern"].update(patterns_pushed(events))

    def top(counter):
        return [{"name": n, "count": c} for n, c in sorted(counter.items(), key=lambda nc: (-nc[1], nc[0]))[:limit]]

    return {"user_messages": messages["user"], "bot_messages": messages["bot"],
            "top_intents": top(counts["intent"]), "top_entities": top(counts["entity"]),
            "top_actions": top(counts["action"]), "top_policies": top(counts["policy"]),
            "top_flows": top(counts["flow"]), "top_commands": top(counts["command"]),
            "top_patterns": top(counts["pattern"])}


def sessions(trackers):
    """Every session per SEMANTICS.md, split by brute force: (sender, start, end, users, bots, new).
    A splitting session_started takes the action_session_start just before it into its session."""
    result = []
    for sender, events in unique_events(trackers).items():
        ordered = sorted(events, key=lambda e: e["timestamp"])  # stable: arrival order on ties
        groups = [[]]
        for event in ordered:
            current = groups[-1]
            if event["event"] == "session_started" and any(e["event"] in ("user", "bot") for e in current):
                moved = [current.pop()] if current[-1].get("name") == "action_session_start" and len(current) > 1 else []
                groups.append(moved)
            groups[-1].append(event)
        for number, group in enumerate(g for g in groups if g):
            result.append({"sender": sender, "start": group[0]["timestamp"],
                           "end": max(e["timestamp"] for e in group),
                           "user": sum(e["event"] == "user" for e in group),
                           "bot": sum(e["event"] == "bot" for e in group), "new": number == 0})
    return result


def analytics(trackers, start=None, end=None, window=None):
    import math
    found = sessions(trackers)
    start = min(s["start"] for s in found) if start is None else start
    end = max(s["end"] for s in found) if end is None else end
    width = window or max(1, math.ceil((end - start) / 10))
    count = 10 if window is None else max(1, math.ceil((end - start) / window))
    bins = [[] for _ in range(count)]
    for s in found:
        if start <= s["start"] <= end:
            bins[min(int((s["start"] - start) // width), count - 1)].append(s)

    def mean(values):
        return sum(values) / len(values) if values else 0

    senders = [len({s["sender"] for s in b}) for b in bins]
    return {
        "newUsers": [sum(s["new"] for s in b) for b in bins],
        "conversations": senders,
        "user_messages": [sum(s["user"] for s in b) for b in bins],
        "bot_messages": [sum(s["bot"] for s in b) for b in bins],
        "total_messages": [sum(s["user"] + s["bot"] for s in b) for b in bins],
        "sessions_per_user": [len(b) / n if n else 0 for b, n in zip(bins, senders, strict=True)],
        "conversation_length": [mean([s["end"] - s["start"] for s in b]) for b in bins],
        "conversation_steps": [mean([s["user"] for s in b]) for b in bins],
        "bin_centers": [start + width * (i + 0.5) for i in range(count)],
        "bin_width": width,
    }


# The 59 event types of rasa-pro 3.21.0 (the `type_name` of each Event class in its
# rasa/shared/core/events.py), written down here independently of the store's own list.
RASA_PRO_3_21_TYPES = (
    "user", "bot", "action", "restart", "session_started", "slot", "reset_slots", "reminder", "cancel_reminder",
    "pause", "resume", "followup", "export", "undo", "rewind", "user_featurization", "action_execution_rejected",
    "active_loop", "form", "form_validation", "loop_interrupted", "agent", "entities", "stack", "flow_started",
    "flow_interrupted", "flow_resumed", "flow_completed", "flow_cancelled", "routing_session_ended", "session_ended",
    "user_barge_in", "user_silence_timeout", "user_input_suppressed", "tts_finished", "memory_set", "memory_cleared",
    "inactive", "skill_activated", "skill_completed", "skill_cancelled", "skill_interrupted", "skill_resumed",
    "ordered_block_entered", "ordered_block_completed", "ordered_block_cancelled", "ordered_block_interrupted",
    "ordered_block_resumed", "agent_completed", "agent_started", "mcp_tool_executed", "tool_executed",
    "unsupported_request_classified", "agent_interrupted", "agent_cancelled", "agent_resumed", "agent_processing",
    "error", "bot_turn_ended",
)


def every_event_type() -> list[dict]:
    """One event of each rasa-pro 3.21 type, each with a field of its own to come back unchanged."""
    return [{"event": kind, "timestamp": 1.0 + i, "detail": {"of": kind}} for i, kind in enumerate(RASA_PRO_3_21_TYPES)]


# CALM, from docs/semantics.md: a user flow's episode is a stack frame (type `flow`, an id not
# starting with `pattern_`) from the update that adds it to the one that removes it; cancelled if
# Rasa cancelled it (named in a pattern_cancel_flow frame's canceled_frames, stepped to NEXT:END,
# or a flow_cancelled event of its flow while it ran), else completed; abandoned if a session
# start, a restart or the end of the events finds it still on the stack.

def calm_snapshots(events):
    """The stack after every event, from scratch: (event, the stack as a list of frames)."""
    import jsonpatch
    stack, snapshots = [], []
    for event in sorted(events, key=lambda e: e["timestamp"]):
        if event["event"] in ("session_started", "restart"):
            stack = []
        elif event["event"] == "stack":
            update = event["update"]
            try:  # one that does not apply (an earlier piece still missing) is skipped
                stack = jsonpatch.apply_patch(stack, json.loads(update) if isinstance(update, str) else update)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
                pass
        snapshots.append((event, json.loads(json.dumps(stack))))
    return snapshots


def _is_step(step):
    return isinstance(step, str) and step not in ("START", "END") and not step.startswith("NEXT:")


def flow_episodes(events):
    """Every user-flow episode: flow_id, outcome, last_step_id, steps, interrupted, resumed,
    started_at, n_user_messages (from the user message whose turn started it to its end)."""
    snapshots = calm_snapshots(events)
    result = []
    for start, (event, stack) in enumerate(snapshots):
        before = {frame["frame_id"] for frame in snapshots[start - 1][1]} if start else set()
        for frame in stack:
            if frame.get("type") != "flow" or frame["flow_id"].startswith("pattern_") or frame["frame_id"] in before:
                continue
            end = start  # the first snapshot without the frame
            while end < len(snapshots) and any(f["frame_id"] == frame["frame_id"] for f in snapshots[end][1]):
                end += 1
            removed = end < len(snapshots) and snapshots[end][0]["event"] == "stack"
            life = snapshots[start:end]
            mine = [f for _, stack_then in life for f in stack_then if f["frame_id"] == frame["frame_id"]]
            steps = []
            for f in mine:
                if _is_step(f.get("step_id")) and f["step_id"] not in steps:
                    steps.append(f["step_id"])
            cancelled = any(f.get("step_id") == "NEXT:END" for f in mine) or any(
                frame["frame_id"] in f.get("canceled_frames", []) for _, stack_then in life for f in stack_then
                if f.get("type") == "pattern_cancel_flow")
            kinds = {e["event"] for e, _ in life if e.get("flow_id") == frame["flow_id"]}
            users = [e for e, _ in snapshots[:end] if e["event"] == "user"]
            earlier = [e["event"] for e, _ in snapshots[:start] if e["event"] in ("user", "session_started", "restart")]
            users_before = sum(e == "user" for e in earlier) - (1 if earlier and earlier[-1] == "user" else 0)
            result.append({
                "flow_id": frame["flow_id"],
                "outcome": ("cancelled" if cancelled or "flow_cancelled" in kinds else "completed") if removed
                else "abandoned",
                "last_step_id": next((f["step_id"] for f in reversed(mine) if _is_step(f.get("step_id"))), None),
                "steps": steps, "interrupted": "flow_interrupted" in kinds, "resumed": "flow_resumed" in kinds,
                "started_at": event["timestamp"], "n_user_messages": len(users) - users_before,
            })
    return result


def patterns_pushed(events):
    pushed, seen = [], set()
    for _, stack in calm_snapshots(events):
        for frame in stack:
            if str(frame.get("flow_id", "")).startswith("pattern_") and frame["frame_id"] not in seen:
                pushed.append(frame["flow_id"])
            seen.add(frame["frame_id"])
        seen &= {frame["frame_id"] for frame in stack}
    return pushed


def commands(events):
    return [c["command"] for e in events if e["event"] == "user"
            for c in (e.get("parse_data") or {}).get("commands") or [] if isinstance(c.get("command"), str)]


def model_ids(events):
    return sorted({e["metadata"]["model_id"] for e in events
                   if isinstance(e.get("metadata"), dict) and isinstance(e["metadata"].get("model_id"), str)})


def message_groups(trackers, annotated, *, intents=(), maximum_confidence=None, text=None, commands=()):
    """GET /messages by brute force: every user message of `trackers` (unique events) that is
    language (not `/...`) and not annotated (its (sender, timestamp) in `annotated`), passing the
    filters, grouped by exact text → {text: (count, lowest confidence or None, {(intent, commands)
    of the messages with it})}."""
    groups = {}
    for sender_id, events in unique_events(trackers).items():
        for event in events:
            body = event.get("text")
            if event.get("event") != "user" or not isinstance(body, str) or not body.strip() \
                    or body.lstrip().startswith("/") or (sender_id, float(event["timestamp"])) in annotated:
                continue
            parse_data = event.get("parse_data") or {}
            intent = parse_data.get("intent") or {}
            confidence = intent.get("confidence") if intent.get("name") else None  # no intent: no confidence
            said = tuple(c["command"] for c in parse_data.get("commands") or [] if c.get("command"))
            if intents and intent.get("name") not in intents or text and text.casefold() not in body.casefold() \
                    or maximum_confidence is not None and (confidence is None or confidence > maximum_confidence) \
                    or commands and not set(commands) & set(said):
                continue
            rank = 2.0 if confidence is None else confidence
            count, lowest, examples = groups.get(body, (0, 3.0, set()))
            if rank < lowest:
                lowest, examples = rank, set()
            if rank == lowest:
                examples.add((intent.get("name"), said))
            groups[body] = (count + 1, lowest, examples)
    return {body: (count, None if lowest == 2.0 else lowest, examples) for body, (count, lowest, examples) in groups.items()}
