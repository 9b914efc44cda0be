"""How an event's JSON text is kept on disk: compressed with zstd and a dictionary trained on the
store's own events (issue 42: the store was 1.59× the JSON Lines it came from, its events' JSON
alone 1.0×).

One event is too short for zstd alone (282 bytes, generated): what repeats is across events (the
keys, the model id, the intent names), which a dictionary holds. Trained on the first 2,000-5,000
events of a store, 32 kB, it makes their JSON 0.19-0.20× (100k generated conversations: 282 → 54
bytes an event; 1.5 µs to pack one, 0.8 to read one back; training 0.06 s).

A stored `data` is one of:
- a zstd frame without zstd's magic number (`LEAN`), naming its dictionary in its header: 4 bytes
  of 52 fewer than a frame with it (100k generated conversations: 51.8 → 47.8 bytes an event;
  without the content size too, 47.3, but reading one back took 1.2 µs instead of 0.6); its text
  leaves out the event's time where Rasa writes it, which the row holds (`_without_time`);
- a zstd frame with the magic number, as a store packed them before (`rasa-messaging vacuum` packs
  them again lean);
- the JSON text as it came, plain (UTF-8 bytes; text in a SQLite store made before).
They are told apart by their first byte: a lean frame's is its header's flags, which say "a
dictionary id, no checksum" (reserved and checksum bits 0, the id's size 1-3): never an event's
JSON object's `{` or white space, nor the magic's 0x28.
Plain are the events a store holds before it can train a dictionary, until it holds `TRAIN_AT`
(then they are packed), and those of a store made before this (packed by `vacuum`). A store
trains a new dictionary when its latest events no longer fit the current one (another kind of
bot, a new model); the older frames keep naming theirs.
"""

import re
import secrets
import threading
import time

import zstandard

from . import json_text
from .events import last_event_id

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LEAN = zstandard.FORMAT_ZSTD1_MAGICLESS
_RESERVED_AND_CHECKSUM_BITS, _DICTIONARY_ID_SIZE_BITS = 0x1C, 0x03  # of a frame header's first byte
TRAIN_AT = 2_000  # events a store holds when it trains its dictionary: 0.20× from 2,000, 0.19 from 5,000
SAMPLES = 5_000
DICTIONARY_SIZE = 32_768  # 64 kB: 0.186× against 0.189, and slower to read back
LEVEL = 3
RETRAIN_ABOVE = 0.3  # a new dictionary is tried when the latest events pack to more than this share
KEEP_BELOW = 0.8  # and kept when it packs them to at most this share of what the current one does

DICTIONARY_TABLE_SQLITE = "CREATE TABLE event_dictionaries (id BIGINT PRIMARY KEY, trained_at FLOAT NOT NULL, data BLOB NOT NULL)"
DICTIONARY_TABLE_POSTGRESQL = ("CREATE TABLE event_dictionaries (id BIGINT PRIMARY KEY, trained_at DOUBLE PRECISION NOT NULL, "
                               "data BYTEA NOT NULL)")

# Every dictionary a process has met, by its id. An id is random in zstd's range for private ones
# ([2^15, 2^31)), so two stores read by one process (a copy between them) do not share one.
_dictionaries: dict[int, zstandard.ZstdCompressionDict] = {}
# zstd's contexts serve one thread at a time; the server reads on a pool of them.
_contexts = threading.local()


def text_of(db, data, timestamp: float) -> str:
    """The JSON text of an event's stored `data` (of `db`'s store, which holds its dictionary);
    `timestamp`: the event's (its row's), which its packed text may leave out (`_without_time`)."""
    return _with_time(unpacked_text(db, data), timestamp)


def unpacked_text(db, data) -> str:
    """The JSON text of a stored `data` packed as events are, or plain: an event's as packed (its
    time left out: `text_of` puts it back), a conversation's terms, a flow episode's steps."""
    frame_format = _frame_format(data)
    if frame_format is None:
        return data if isinstance(data, str) else bytes(data).decode()
    dictionary_id = zstandard.get_frame_parameters(data, format=frame_format).dict_id
    return _decompressor(db, dictionary_id, frame_format).decompress(data).decode()


def event_of(db, data, timestamp: float) -> dict:
    """The event an event's stored `data` and `timestamp` hold."""
    return json_text.loads(text_of(db, data, timestamp))


def packer(dictionary: tuple[int, bytes] | None):
    """The function that packs a JSON text with `dictionary` ((id, bytes) as `current_dictionary`
    gives it); with None, one that keeps it plain, as bytes (PostgreSQL's column is `bytea`)."""
    if dictionary is None:
        return str.encode
    compress = _compressor(dictionary).compress
    return lambda text: compress(text.encode())


def event_packer(dictionary: tuple[int, bytes] | None):
    """`packer`'s for an event: a function of its JSON text and time, which the text packed leaves
    out (`_without_time`)."""
    if dictionary is None:
        return lambda text, timestamp: text.encode()
    compress = _compressor(dictionary).compress
    return lambda text, timestamp: compress(_without_time(text, timestamp).encode())


# An event's time is its row's `timestamp`. Packed, its JSON leaves out the number where Rasa
# writes it, first or right after the type (`{"event": "user", "timestamp": 1614269774.724231, …`,
# or as the API keeps them, `{"timestamp":1614269774.724231,"event":"user",…`): the rest of the
# text packs to 40.1 bytes instead of 47.8 (100k generated conversations), digits being what a
# dictionary cannot foresee. Left out only where the text has it as Python writes the row's time
# (`repr`, as Rasa's JSON does), so that it comes back as it was; other texts are kept whole. A
# text without the number is not JSON (`"timestamp": ,`): none is taken for one.
_TIME_KEY = re.compile(r'\{(?:"event": ?"[^"\\]*", ?)?"timestamp": ?')


def _time_position(text: str) -> int:
    """Where the number of an event's time starts in `text`, as Rasa writes it; -1 if not so."""
    match = _TIME_KEY.match(text)
    return match.end() if match else -1


def _without_time(text: str, timestamp: float) -> str:
    start = _time_position(text)
    number = repr(timestamp)
    if start < 0 or not text.startswith(number, start) or text[start + len(number):start + len(number) + 1] not in (",", "}"):
        return text
    return text[:start] + text[start + len(number):]


def _with_time(text: str, timestamp: float | None) -> str:
    start = _time_position(text)
    if start < 0 or text[start:start + 1] not in (",", "}"):
        return text
    if timestamp is None:
        raise ValueError("an event's packed text is read with its time")
    return text[:start] + repr(timestamp) + text[start:]


def current_dictionary(db) -> tuple[int, bytes] | None:
    """The dictionary new events are packed with: (id, bytes), or None while the store has none."""
    row = db.execute("SELECT id FROM event_dictionaries ORDER BY trained_at DESC, id LIMIT 1").fetchone()
    if row is None:
        return None
    if row[0] not in _dictionaries:
        _load(db, row[0])
    return row[0], _dictionaries[row[0]].as_bytes()


def settle(db, last_id: int, *, packed: bool) -> None:
    """After events were stored with ids above `last_id` (`packed` with the current dictionary, or
    plain as the store had none when they were made): train the store's dictionary once it holds
    `TRAIN_AT` events, pack the plain ones, and train a new dictionary when they no longer fit the
    current one (`_better_dictionary`)."""
    dictionary = current_dictionary(db)
    if dictionary is None:
        if (dictionary := train_if_due(db)) is not None:
            pack_stored(db, dictionary)  # every stored event is plain
        return
    if not packed:
        pack_stored(db, dictionary, after_id=last_id)
    if (better := _better_dictionary(db, dictionary, last_id)) is not None:
        pack_stored(db, better, after_id=last_id, only_plain=False)


def train_if_due(db) -> tuple[int, bytes] | None:
    """`train` a store that holds `TRAIN_AT` events (and has no dictionary)."""
    if db.execute("SELECT count(*) FROM (SELECT 1 FROM events LIMIT ?) e", [TRAIN_AT]).fetchone()[0] < TRAIN_AT:
        return None
    return _keep(db, _trained(_texts(db, "SELECT timestamp, data FROM events ORDER BY id LIMIT ?", [SAMPLES])))


def _better_dictionary(db, current: tuple[int, bytes], last_id: int) -> tuple[int, bytes] | None:
    """A dictionary trained on the latest events, kept and returned if the events stored after
    `last_id` pack to more than `RETRAIN_ABOVE` of their size with `current` and it packs the
    latest events to at most `KEEP_BELOW` of what `current` does. Tried at most once a
    `TRAIN_AT` events, or a twentieth of the store's, so that a store of events that pack badly
    whatever the dictionary (long texts) pays for it once in a while (0.1 s). A conversation
    of another kind of bot (CALM after classic) made the first dictionary pack 0.71× (tests)."""
    newest = last_event_id(db)
    row = db.execute("SELECT value FROM counters WHERE name = 'dictionary_checked_through'").fetchone()
    if newest - (row[0] if row else 0) < max(TRAIN_AT, newest // 20):
        return None
    stored = _texts(db, "SELECT timestamp, data FROM events WHERE id > ? ORDER BY id LIMIT 200", [last_id])
    if not stored or _ratio(current, stored) <= RETRAIN_ABOVE:
        return None
    db.execute("INSERT INTO counters (name, value) VALUES ('dictionary_checked_through', ?) "
               "ON CONFLICT (name) DO UPDATE SET value = excluded.value", [newest])
    latest = _texts(db, "SELECT timestamp, data FROM events ORDER BY id DESC LIMIT ?", [SAMPLES])
    candidate = _trained(latest)
    check = latest[::max(1, len(latest) // 500)]
    if _ratio((candidate.dict_id(), candidate.as_bytes()), check) > KEEP_BELOW * _ratio(current, check):
        return None
    return _keep(db, candidate)


def _texts(db, query: str, parameters: list) -> list[bytes]:
    """What is packed of the events `query` gives (timestamp, data): their texts without their times."""
    return [_without_time(unpacked_text(db, data), timestamp).encode() for timestamp, data in db.execute(query, parameters)]


def _trained(samples: list[bytes]) -> zstandard.ZstdCompressionDict:
    dictionary_id = secrets.randbelow(2**31 - 2**15) + 2**15
    return zstandard.train_dictionary(DICTIONARY_SIZE, list[bytes | bytearray | memoryview](samples),
                                      dict_id=dictionary_id, level=LEVEL)


def _keep(db, trained: zstandard.ZstdCompressionDict) -> tuple[int, bytes]:
    db.execute("INSERT INTO event_dictionaries (id, trained_at, data) VALUES (?, ?, ?)",
               [trained.dict_id(), time.time(), trained.as_bytes()])
    _dictionaries[trained.dict_id()] = trained
    return trained.dict_id(), trained.as_bytes()


def _ratio(dictionary: tuple[int, bytes], texts: list[bytes]) -> float:
    compress = _compressor(dictionary).compress
    return sum(len(compress(text)) for text in texts) / max(1, sum(map(len, texts)))


def pack_stored(db, dictionary: tuple[int, bytes], *, after_id: int = 0, through_id: int | None = None,
                only_plain: bool = True, batch: int = 20_000) -> int:
    """Pack with `dictionary` the plain events and those packed in frames with the magic number
    (`only_plain`; else every one not packed lean with `dictionary`) with ids in (`after_id`,
    `through_id`]; how many they were."""
    pack = event_packer(dictionary)
    n_packed = 0
    last = after_id
    while rows := db.execute("SELECT id, timestamp, data FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                             [last, through_id if through_id is not None else 2**62, batch]).fetchall():
        repacked = [(pack(text_of(db, data, timestamp), timestamp), event_id) for event_id, timestamp, data in rows
                    if not _packed_with(data, None if only_plain else dictionary[0])]
        db.executemany("UPDATE events SET data = ? WHERE id = ?", repacked)
        n_packed += len(repacked)
        last = rows[-1][0]
    return n_packed


def _packed_with(data, dictionary_id: int | None) -> bool:
    """Whether `data` is packed lean (with the dictionary `dictionary_id`, unless None)."""
    if _frame_format(data) != LEAN:
        return False
    return dictionary_id is None or zstandard.get_frame_parameters(data, format=LEAN).dict_id == dictionary_id


def is_packed(data) -> bool:
    """Whether a stored `data` is a zstd frame, not plain JSON (text, or its UTF-8 bytes)."""
    return _frame_format(data) is not None


def _frame_format(data) -> int | None:
    """zstd's format of a stored `data`'s frame (`LEAN`, or with the magic number), None if plain."""
    if isinstance(data, str) or not data:
        return None
    if not data[0] & _RESERVED_AND_CHECKSUM_BITS and data[0] & _DICTIONARY_ID_SIZE_BITS:
        return LEAN
    return zstandard.FORMAT_ZSTD1 if data[:4] == ZSTD_MAGIC else None


def _thread_contexts() -> dict:
    contexts = getattr(_contexts, "by_kind", None)
    if contexts is None:
        contexts = _contexts.by_kind = {}
    return contexts


def _known(dictionary_id: int, data: bytes) -> zstandard.ZstdCompressionDict:
    if dictionary_id not in _dictionaries:
        _dictionaries[dictionary_id] = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)
    return _dictionaries[dictionary_id]


# zstd's parameters for `LEVEL` and an input of unknown size, as a compressor given the level chose
# them, with the frame's header naming the dictionary and the content's size (which lets a reader
# decompress in one call) and without the magic number and a checksum.
_LEAN_PARAMETERS = zstandard.ZstdCompressionParameters.from_level(
    LEVEL, format=LEAN, write_content_size=True, write_dict_id=True, write_checksum=False)


def _compressor(dictionary: tuple[int, bytes]) -> zstandard.ZstdCompressor:
    """This thread's compressor for `dictionary` (a candidate's too, while it is weighed)."""
    compressors = _thread_contexts().setdefault("compressors", {})
    compressor = compressors.get(dictionary[0])
    if compressor is None:
        compressor = compressors[dictionary[0]] = zstandard.ZstdCompressor(
            dict_data=_known(*dictionary), compression_params=_LEAN_PARAMETERS)
    return compressor


def _load(db, dictionary_id: int) -> None:
    row = db.execute("SELECT data FROM event_dictionaries WHERE id = ?", [dictionary_id]).fetchone()
    if row is None:
        raise LookupError(f"an event was packed with a dictionary ({dictionary_id}) this store does not hold")
    _known(dictionary_id, bytes(row[0]))


def _decompressor(db, dictionary_id: int, frame_format: int) -> zstandard.ZstdDecompressor:
    decompressors = _thread_contexts().setdefault("decompressors", {})
    decompressor = decompressors.get((dictionary_id, frame_format))
    if decompressor is None:
        if dictionary_id not in _dictionaries:
            _load(db, dictionary_id)
        decompressor = decompressors[dictionary_id, frame_format] = zstandard.ZstdDecompressor(
            dict_data=_dictionaries[dictionary_id], format=frame_format)
    return decompressor
