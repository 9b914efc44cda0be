"""store/json_text.py: faster JSON that reads and writes exactly what the standard library does."""

import json
import math

import pytest

from rasa_messaging.store import json_text

# Texts where msgspec and the standard library part ways (the standard library reads NaN, numbers
# beyond a float and lone surrogates; msgspec refuses them), or where either could go wrong.
TEXTS = [
    '{"a": 1, "b": 2, "a": 3}', "[18446744073709551616, -9223372036854775809, 123456789012345678901234567890]",
    "[1e400, -1e400, 1.7976931348623157e309, -1e-400, 5e-324, 2.2250738585072014e-308]", "[-0.0, -0, 0.1e1, 1E+2]",
    '["\\ud800", "\\udc00\\ud800", "\\u0000", "\\/", "caf\\u00e9", "café", "\u2028", "\x7f"]', '{"\\ud800": 1}',
    "[NaN, Infinity, -Infinity]", " \t[1]\n", '{"event": "user", "parse_data": {"intent_ranking": [{"id": 4355185944119022103}]}}',
]
INVALID = ['["a\x01b"]', "[01]", "[1.]", "[.5]", "[1]\x0c", "[1, ]", "{not json", "", "[" * 5000 + "]" * 5000]


@pytest.mark.parametrize("text", TEXTS)
def test_loads_reads_what_json_loads_reads(text):
    assert repr(json_text.loads(text)) == repr(json.loads(text))  # repr: NaN and -0.0 compare as written
    assert repr(json_text.loads(text.encode())) == repr(json.loads(text.encode()))


@pytest.mark.parametrize("text, strict", [
    ('{"a": [1.5, "caf\\u00e9", "café", 123456789012345678901234567890]}', True), ("[NaN]", False),
    ('{"a": {"b": Infinity}}', False), ("[1e400]", False), ('["\\ud800"]', False)])
def test_loads_strict_says_whether_a_text_can_be_stored_as_it_is(text, strict):
    """An imported line's text is stored as it is only when it is strict JSON of valid Unicode."""
    value, is_strict = json_text.loads_strict(text)
    assert repr(value) == repr(json.loads(text)) and is_strict == strict


@pytest.mark.parametrize("text", INVALID)
def test_loads_refuses_what_json_loads_refuses_and_says_the_same(text):
    with pytest.raises((ValueError, RecursionError)) as expected:
        json.loads(text)
    with pytest.raises(type(expected.value)) as got:
        json_text.loads(text)
    assert str(got.value) == str(expected.value)


VALUES = [
    ["sender", {"b": 1, "a": [1.5, 1e16, 1e-05, 123456789012345678.0, -0.0, 4355185944119022103, True, None]}],
    {"text": "café \u2028 \x00 \"quoted\" \\ \n", "nested": {"z": {}, "y": [], "x": [{"b": 2, "a": 1}]}},
    "just a string", 3, 2.5, None, [],
]


@pytest.mark.parametrize("options", [{"sort_keys": True}, {"separators": (",", ":")}])
@pytest.mark.parametrize("value", VALUES)
def test_the_encoder_writes_what_json_writes_byte_for_byte(value, options):
    expected = json.JSONEncoder(ensure_ascii=False, allow_nan=False, **options).encode(value)
    assert json_text.encoder(**options)(value) == expected


@pytest.mark.parametrize("value, error", [([math.nan], ValueError), ({"a": math.inf}, ValueError),
                                          ({"a": object()}, TypeError), ({1: {2, 3}}, TypeError)])
def test_the_encoder_refuses_what_json_refuses(value, error):
    with pytest.raises(error):
        json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True).encode(value)
    with pytest.raises(error):
        json_text.encoder(sort_keys=True)(value)
