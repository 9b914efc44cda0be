"""A conversation's terms: the intents, entities, actions, policies, input channels, commands,
model ids, flows and patterns it holds, as the list shows them beside it. (Which conversations
hold a term, what the filters read, are the sets: store/sets.py.)

One row a conversation, its terms as JSON `{kind: [values, sorted]}` (m028 / p015): a row a term
cost PostgreSQL a 24-byte header and an entry in the key for each of a generated conversation's
17 terms, 208 MB of the 1,448 MB store of 100k conversations; now 45 MB (SQLite: 60 → 42 MB).
A row is written only when a batch brings a term the conversation had not got.

The JSON is packed as the events' is, with the store's dictionary of events (store/packing.py),
which holds the names of its intents, actions and flows: a generated conversation's 398 bytes
pack to 133 (a dictionary trained on terms would make them 54, at the cost of keeping a second
kind of dictionary). Terms written before, or before the store had a dictionary, are plain
until `rasa-messaging vacuum` (`pack_plain_terms`).
"""

import json
from collections import defaultdict

from . import packing

_CHUNK = 500  # ids a statement


def encode(terms: set) -> str:
    """The text of a set of (kind, value): kinds and values sorted, so that equal sets are equal
    texts."""
    by_kind: dict = defaultdict(list)
    for kind, value in sorted(terms):
        by_kind[kind].append(value)
    return json.dumps(by_kind, ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> set:
    return {(kind, value) for kind, values in json.loads(text).items() for value in values}


def stored_terms(db, ids) -> dict[int, set]:
    """conversation id → its terms, of those of `ids` that have any."""
    ids = list(ids)
    held = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        for conversation_id, text in db.execute(
                f"SELECT conversation_id, terms FROM conversation_terms WHERE conversation_id IN "
                f"({','.join('?' * len(chunk))})", chunk):
            held[conversation_id] = decode(packing.unpacked_text(db, text))
    return held


def store_terms(db, terms: dict[int, set], *, new: set) -> None:
    """Make `terms` (conversation id → all its terms) the conversations' terms: the ids in `new`
    have no row yet (an import's new conversations, copied in at once on PostgreSQL); a
    conversation left with none has no row."""
    pack = packing.packer(packing.current_dictionary(db))
    db.insert_many("conversation_terms", "conversation_id, terms",
                   [(i, pack(encode(held))) for i, held in terms.items() if i in new and held])
    db.executemany("INSERT INTO conversation_terms (conversation_id, terms) VALUES (?, ?) "
                   "ON CONFLICT (conversation_id) DO UPDATE SET terms = excluded.terms",
                   [(i, pack(encode(held))) for i, held in terms.items() if i not in new and held])
    db.executemany("DELETE FROM conversation_terms WHERE conversation_id = ?",
                   [(i,) for i, held in terms.items() if i not in new and not held])


def pack_plain_terms(db, dictionary: tuple[int, bytes], *, after_id: int = 0, through_id: int) -> int:
    """Pack with `dictionary` the plain terms of the conversations with ids in (`after_id`,
    `through_id`]; how many they were."""
    pack = packing.packer(dictionary)
    plain = [(pack(packing.unpacked_text(db, text)), conversation_id) for conversation_id, text in db.execute(
        "SELECT conversation_id, terms FROM conversation_terms WHERE conversation_id > ? AND conversation_id <= ?",
        [after_id, through_id]) if not packing.is_packed(text)]
    db.executemany("UPDATE conversation_terms SET terms = ? WHERE conversation_id = ?", plain)
    return len(plain)
