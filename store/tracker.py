"""Rasa's tracker state, replayed from stored events (what `GET /conversations/{id}` returns)."""

_RESETTING_EVENTS = {"restart", "session_started"}
_LOOP_EVENTS = {"form", "active_loop"}


def tracker_state(sender_id: str, events: list[dict], flagged_messages: list[float]) -> dict:
    """Replay `events` (in timestamp order) the way Rasa applies them to a tracker.

    `restart` and `session_started` reset slots, pause, follow-up action and active loop, as
    Rasa's `tracker._reset()` does; the slots that `action_session_start` carries over arrive
    as `slot` events after it.
    """
    slots: dict = {}
    paused = False
    followup_action = None
    active_form = None
    latest_message = None
    latest_input_channel = None
    latest_action_name = None
    for event in events:
        kind = event.get("event")
        if kind in _RESETTING_EVENTS:
            slots, paused, followup_action, active_form = {}, False, None, None
        elif kind == "slot" and isinstance(event.get("name"), str):
            slots[event["name"]] = event.get("value")
        elif kind == "reset_slots":
            slots = {}
        elif kind == "pause":
            paused = True
        elif kind == "resume":
            paused = False
        elif kind == "followup":
            followup_action = event.get("name")
        elif kind in _LOOP_EVENTS:
            active_form = event.get("name") or None
        elif kind == "user":
            latest_message = event.get("text")
            latest_input_channel = event.get("input_channel")
        elif kind == "action":
            latest_action_name = event.get("name")
            if latest_action_name == followup_action:
                followup_action = None
    return {
        "sender_id": sender_id,
        "latest_event_time": max((e["timestamp"] for e in events), default=None),
        "events": events,
        "latest_message": latest_message,
        "paused": paused,
        "followup_action": followup_action,
        "slots": [{"name": name, "value": value} for name, value in slots.items() if value is not None],
        "latest_input_channel": latest_input_channel,
        "latest_action_name": latest_action_name,
        "active_form": active_form,
        "flagged_messages": flagged_messages,
    }
