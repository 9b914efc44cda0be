"""Training data from review: annotations as Rasa 3 NLU data, and conversations as Rasa 3 test
stories (the debug dump's YAML story, with the reviewer's intents and entities where set).

NLU data: one `- intent:` block per intent, `examples: |` with one `- text` line per distinct
text, entities marked up inline as Rasa reads them. A text annotated with two intents keeps the
latest annotation (a reviewer's latest word), and the others are listed as conflicts in comments
at the top (Rasa's `rasa data validate` refuses one example under two intents).
"""

from . import yaml_text
from .dumps import marked_up, stories_file, story_steps, story_text
from .yaml_text import Block


def nlu_yaml(annotations: list[dict]) -> tuple[str, list[dict]]:
    """(the nlu.yml text, the conflicts); `annotations` newest first, as the store lists them."""
    chosen: dict[str, dict] = {}
    others: dict[str, set] = {}
    for annotation in annotations:
        text = " ".join((annotation["text"] or "").split())
        if not text or text.startswith("/"):  # a button's payload (`/greet`) is no example of how people talk
            continue
        if text in chosen:
            if annotation["intent"] != chosen[text]["intent"]:
                others.setdefault(text, set()).add(annotation["intent"])
        else:
            chosen[text] = annotation
    conflicts = [{"text": text, "kept": chosen[text]["intent"], "dropped": sorted(intents)}
                 for text, intents in sorted(others.items())]
    by_intent: dict[str, list[str]] = {}
    for text, annotation in chosen.items():
        entities = annotation["entities"] if annotation["entities"] is not None else annotation["predicted_entities"]
        shown = marked_up(text, [_with_value(e, text) for e in entities]) if text == annotation["text"] else None
        by_intent.setdefault(annotation["intent"], []).append(shown or text)
    # A comment holds Python's repr of each text (and of a name that is not plain): it escapes
    # whatever could end the line.
    name = lambda intent: intent if yaml_text.plain_safe(intent) else repr(intent)  # noqa: E731
    comments = "".join(f"# conflict: {c['text']!r} was also annotated as {', '.join(map(name, c['dropped']))}; "
                       f"kept {name(c['kept'])} (the latest)\n" for c in conflicts)
    document = {"version": "3.1", "nlu": [
        {"intent": intent, "examples": Block("".join(f"- {example}\n" for example in sorted(by_intent[intent])))}
        for intent in sorted(by_intent)]}
    return comments + yaml_text.dump(document), conflicts


def test_stories_yaml(conversations) -> tuple[str, int, list]:
    """(a Rasa 3 test stories file, how many stories, the conversations left out with the reason):
    one story for each (sender_id, events, annotations) of `conversations`, with the annotated
    intents and entities where set. Each story is written on its own, so that one that cannot be
    written (a value nested past the recursion limit, stored before ingest refused such events)
    leaves out that conversation only; it emptied the whole file."""
    stories, left_out = [], []
    for sender_id, events, annotations in conversations:
        try:
            stories.append(story_text(test_story(sender_id, events, annotations)))
        except RecursionError:
            left_out.append((sender_id, "its events nest too deep to be written as YAML"))
    return stories_file(stories), len(stories), left_out


def test_story(sender_id: str, events: list[dict], annotations: list[dict]) -> dict:
    """The conversation as a Rasa 3 test story; `annotations` are its annotations (each with the
    `timestamp` of its message, `intent` and `entities`)."""
    by_timestamp = {annotation["timestamp"]: annotation for annotation in annotations}
    annotated = [_annotated_event(event, by_timestamp.get(event.get("timestamp")))
                 if event.get("event") == "user" else event for event in events]
    return {"story": str(sender_id), "steps": story_steps(annotated, test_story=True)}


def _annotated_event(event: dict, annotation: dict | None) -> dict:
    if annotation is None:
        return event
    text = event.get("text") or ""
    parse_data = dict(event.get("parse_data") or {})
    parse_data["intent"] = {"name": annotation["intent"]}
    if annotation["entities"] is not None:
        parse_data["entities"] = [_with_value(e, text) for e in annotation["entities"]]
    return {**event, "parse_data": parse_data}


def _with_value(entity: dict, text: str) -> dict:
    """An annotated entity without a value takes the text it spans (Rasa's default)."""
    if "value" in entity or not isinstance(entity.get("start"), int):
        return entity
    return {**entity, "value": text[entity["start"]:entity["end"]]}


