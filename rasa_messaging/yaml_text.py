"""Writing YAML (NLU data, stories, test stories) that reads back as exactly what was meant, with
PyYAML and with ruamel.yaml (which Rasa loads training data with), whatever a chat user typed.

A string stands plain, or in a literal block, only when every character of it reads the same there
in both: printable, and neither a byte-order mark nor one of YAML 1.1's extra line breaks (U+0085,
U+2028, U+2029: PyYAML breaks a line there, ruamel does not, so a user's `v\u2028- intent: x` once
became an intent of its own). Any other string is double-quoted, where both read the same escapes
(`\\x01`, `\\N`, `\\L`, `\\P`, `\\uFEFF`).
"""

import re

import yaml

# What is not one of those characters: controls (C0, DEL, C1), the three line breaks, surrogates, BOM.
_UNSAFE = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
WIDTH = 1 << 20  # no folding: a long text stays one line


def plain_safe(text: str) -> bool:
    """Whether `text` may stand plain (or in any other style): one line of such characters."""
    return _UNSAFE.search(text) is None


def block_safe(text: str) -> bool:
    """Whether `text` may be a literal block (`|`): lines of such characters ending in a line break,
    none starting or ending with a space."""
    lines = text.split("\n")
    return (text.endswith("\n") and all(plain_safe(line) for line in lines)
            and not any(line[:1] == " " or line[-1:] == " " for line in lines))


class Block(str):
    """A string written as a literal block where it can be (NLU examples: `examples: |`)."""


class UserText(str):
    """A user's text in a test story: `user: |` and the text below it, as Rasa's test stories
    write it (Rasa strips the block's closing line break). Double-quoted where no block holds it."""


class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML's safe dumper (libyaml's where PyYAML has it: 18 s against 0.7 s for a 50,000-event
    conversation's test story, pure Python against JSON), choosing each string's style as above."""


# Plain text that one of the two could read as something else: YAML 1.2 (ruamel) reads `0E0` and
# `1_000` as numbers where PyYAML's YAML 1.1 does not, and PyYAML only guards against 1.1's.
_NOT_PLAIN_TEXT = re.compile(r"[-+.0-9]|(?i:null|~|true|false|yes|no|on|off|y|n)\Z")


def _text(dumper, text: str):
    plain = plain_safe(text) and not _NOT_PLAIN_TEXT.match(text)
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=None if plain else '"')


def _block(dumper, text: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style="|" if block_safe(text) else '"')


def _user_text(dumper, text: str):
    return _block(dumper, Block(f"{text}\n")) if block_safe(f"{text}\n") else _text(dumper, str(text))


Dumper.add_representer(str, _text)
Dumper.add_representer(Block, _block)
Dumper.add_representer(UserText, _user_text)


def dump(document) -> str:
    return yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=WIDTH)
