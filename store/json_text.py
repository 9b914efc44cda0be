"""JSON text in and out of the store: where an import spends most of its time.

Decoding: msgspec, where it gives what `json.loads` gives (1.5 against 3.9 µs a real-shaped
event, best of 3). Where msgspec refuses a text (invalid JSON, and what the standard library
reads but msgspec does not: NaN, Infinity, numbers beyond a float, lone surrogates), `json.loads`
reads it or says why not, so what a file means and why a line is rejected do not change.

Encoding: the standard library's C encoder, made once. `JSONEncoder.encode` makes it again on
every call, and tracks the containers it is inside against cycles, which decoded JSON cannot
have: 8.0 against 6.0 µs for the fingerprint's text of a real-shaped event (best of 3). The text is the
same, byte for byte: it is the encoder `JSONEncoder.encode` calls (tests/test_json_text.py).
"""

import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

import msgspec

_DECODER = msgspec.json.Decoder()


def loads(text: str | bytes):
    """The value of a JSON text, as `json.loads` reads it; ValueError when it is not JSON
    (RecursionError when it nests deeper than Python's recursion limit)."""
    return loads_strict(text)[0]


def loads_strict(text: str | bytes) -> tuple[object, bool]:
    """(`loads(text)`, whether `text` is strict JSON: msgspec read it, so it holds no NaN,
    Infinity, number beyond a float or lone surrogate, and can be stored as it is)."""
    try:
        return _DECODER.decode(text), True
    except (msgspec.DecodeError, RecursionError):
        return json.loads(text), False


def encoder(*, sort_keys: bool = False, separators: tuple[str, str] | None = None) -> Callable[[object], str]:
    """`JSONEncoder(sort_keys=…, separators=…, ensure_ascii=False, allow_nan=False).encode`, made
    once: NaN and Infinity are a ValueError (they are not JSON), as are values JSON has no form
    for (TypeError)."""
    options = json.JSONEncoder(sort_keys=sort_keys, separators=separators, ensure_ascii=False, allow_nan=False,
                               check_circular=False)
    if c_make_encoder is None:  # a Python built without the json accelerator
        return options.encode
    encode = c_make_encoder(None, options.default, encode_basestring, None, options.key_separator,
                            options.item_separator, options.sort_keys, options.skipkeys, options.allow_nan)
    return lambda value: "".join(encode(value, 0))
