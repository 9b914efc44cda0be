"""Every YAML file we write reads back as exactly what was meant, under PyYAML and under
ruamel.yaml (which Rasa loads training data with), whatever a chat user or a reviewer typed: text
from every Unicode category goes through the NLU data, the test stories and the debug dump's story."""

import io
import json
import re
import unicodedata

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from rasa_messaging import yaml_text
from rasa_messaging.dumps import yaml_story
from rasa_messaging.training_data import nlu_yaml
from rasa_messaging.training_data import test_stories_yaml as stories_file

# Every general category but Cs: a lone surrogate is no valid text, and ingest refuses it.
CATEGORIES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf",
              "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Cn"]
TRICKY = ["hello\u0001world", "\u007f", "v\u2028- intent: injected_intent\u2028  examples: |\u2028    - injected example",
          "a\u2029b\u0085c", "\ufeffbom", "tab\there", " lead", "trail ", "# not a comment", "- not a list", "yes",
          "null", "1.0", "'quoted'", '"double"', "a: b", "x\r\ny", "}{][)(", "\\", "%TAG", "---", "..."]


def texts(min_size=0):
    """Text mixing one Unicode category with any character, and the tricky cases above."""
    mixed = st.sampled_from(CATEGORIES).flatmap(
        lambda category: st.text(st.characters(categories=[category]) | st.characters(exclude_categories=["Cs"]),
                                 min_size=min_size, max_size=30))
    return mixed | st.sampled_from(TRICKY)


def both_parsers(text: str) -> list:
    """The document as PyYAML reads it (libyaml's and the pure loader) and as ruamel reads it
    (safe and round-trip, as Rasa's reader may be set up)."""
    documents = [yaml.load(text, Loader=yaml.SafeLoader), yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))]
    for kind in ("safe", "rt"):
        documents.append(YAML(typ=kind, pure=True).load(io.StringIO(text)))
    return documents


def plain_data(value):
    """ruamel's round-trip types as plain dicts, lists and strings."""
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_data(v) for v in value]
    return str(value) if isinstance(value, str) else value


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=texts(), other=texts())
@example(text="v\u2028- intent: injected", other="\u0085")
def test_any_string_and_block_read_back_as_written(text, other):
    document = {"text": text, "block": yaml_text.Block(f"- {other}\n- {text}\n"), "user": yaml_text.UserText(text),
                text: [other, {"nested": text}]}
    written = yaml_text.dump(document)
    expected = {"text": text, "block": f"- {other}\n- {text}\n", text: [other, {"nested": text}]}
    for parsed in both_parsers(written):
        parsed = plain_data(parsed)
        assert parsed.pop("user") in (text, f"{text}\n")
        assert parsed == expected


def markup_free(text: str) -> bool:
    return not re.search(r"[\[\]{}()]", text)


@SETTINGS
@given(text=texts(min_size=1), value=texts(), entity=texts(min_size=1), role=texts(), group=texts(),
       intent=st.from_regex(r"\A[a-z][a-z_/]{0,20}\Z"))
@example(text="send money", value="v\u2028- intent: injected_intent\u2028  examples: |\u2028    - injected example",
         entity="amount", role="\u2029", group="\u0085", intent="transfer")
def test_nlu_data_reads_back_as_one_intent_with_its_example_and_entity(text, value, entity, role, group, intent):
    """A chat user's text and a reviewer's (or the model's) entity, whatever their characters,
    stay one example of one intent; where the text holds no markup characters, the example's
    markup gives back the text and every field of the entity."""
    folded = " ".join(text.split())
    if not folded or folded.startswith("/"):  # empty, or a button's payload: no NLU example (test_training.py)
        return
    annotation = {"text": folded, "intent": intent, "predicted_entities": [],
                  "entities": [{"entity": entity, "start": 0, "end": len(folded), "value": value, "role": role,
                                "group": group}]}
    written, _ = nlu_yaml([annotation])
    for parsed in both_parsers(written):
        [block] = plain_data(parsed)["nlu"]
        assert block["intent"] == intent
        lines = block["examples"].split("\n")
        assert lines[1:] == [""] and lines[0].startswith("- ")
        if markup_free(folded):
            [(surface, markup)] = re.findall(r"^- \[(.*)\](\{.*\})$", lines[0], flags=re.S)
            assert surface == folded
            assert json.loads(markup) == {"entity": entity, **({"value": value} if value != folded else {}),
                                          "role": role, "group": group}


@SETTINGS
@given(sender=texts(min_size=1), text=texts(min_size=1), slot_value=st.recursive(
    texts() | st.integers() | st.booleans() | st.none(), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        texts(), inner, max_size=3), max_leaves=8), intent=texts(min_size=1), action=texts(min_size=1))
def test_test_stories_and_the_debug_dumps_story_read_back_as_the_conversation(sender, text, slot_value, intent, action):
    events = [{"event": "user", "text": text, "timestamp": 1.0, "parse_data": {"intent": {"name": intent}, "entities": []}},
              {"event": "action", "name": action, "timestamp": 2.0},
              {"event": "slot", "name": text, "value": slot_value, "timestamp": 3.0}]
    written, count, _ = stories_file([(sender, events, [])])
    for parsed in both_parsers(written):
        [story] = plain_data(parsed)["stories"]
        assert story["story"] == sender and count == 1
        user, said, slot = story["steps"]
        # A message of white space alone is no text to send: the step is its intent.
        assert user.get("user") in ((text, f"{text}\n") if text.strip() else (None,)) and user["intent"] == intent
        assert said == {"action": action} and slot == {"slot_was_set": [{text: slot_value}]}
    for parsed in both_parsers(yaml_story(sender, events)):
        [story] = plain_data(parsed)["stories"]
        assert story["story"] == sender and story["steps"][1:] == [{"action": action},
                                                                   {"slot_was_set": [{text: slot_value}]}]


@pytest.mark.parametrize("category", CATEGORIES)
def test_a_character_of_each_category_is_written_so_that_both_parsers_read_it(category):
    """Not left to chance: one character of every category, in every place."""
    character = next(chr(code) for code in range(0x20, 0x110000)
                     if unicodedata.category(chr(code)) == category and not 0xD800 <= code <= 0xDFFF)
    text = f"a{character}b"
    test_any_string_and_block_read_back_as_written.hypothesis.inner_test(text, character)
