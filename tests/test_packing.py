"""Events' JSON packed with zstd and a dictionary trained on the store's own (store/packing.py):
what is read back is what came, whichever way the events arrived and whenever they were packed."""

import itertools
import json

import pytest
import zstandard
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from rasa_messaging.cli import cli
from rasa_messaging.generate import Generator
from rasa_messaging.generate_calm import CalmGenerator
from rasa_messaging.store import ConversationFilter, Store, packing
from rasa_messaging.store.events import validate_event
from rasa_messaging.store.ingest import prepare
from rasa_messaging.store.packing import TRAIN_AT, text_of

from . import reference
from .conftest import forget_migration, ingest_trackers, term_rows


def _trackers(seed: int, n: int) -> list[dict]:
    return Generator(seed=seed).trackers(n) + CalmGenerator(seed=seed).trackers(n // 2)


def _stored(store) -> list[tuple]:
    """(sender_id, JSON text, packed?) of every stored event, in id order."""
    return [(sender_id, text_of(store.db, data, timestamp), packing.is_packed(data))
            for sender_id, timestamp, data in store.db.execute("SELECT sender_id, timestamp, data FROM events ORDER BY id")]


def _texts(trackers: list[dict]) -> list[tuple[str, str]]:
    """(sender_id, the JSON text an event is stored as) of the trackers' events, in order."""
    return [(row.sender_id, row.data) for t in trackers for row in prepare(t["sender_id"], t["events"])]


def _packed_and_texts(store, where: str) -> list[tuple]:
    """(stored data, JSON text) of the events `where` picks."""
    return [(data, text_of(store.db, data, timestamp))
            for timestamp, data in store.db.execute(f"SELECT timestamp, data FROM events WHERE {where}")]


def _n_dictionaries(store) -> int:
    return store.db.execute("SELECT count(*) FROM event_dictionaries").fetchone()[0]


def test_a_store_keeps_events_plain_until_it_can_train_then_packs_every_one_and_reads_them_as_they_came(store):
    trackers = _trackers(11, 140)
    few = trackers[:10]
    assert len(_texts(few)) < TRAIN_AT
    ingest_trackers(store, few)
    assert _n_dictionaries(store) == 0 and not any(packed for *_, packed in _stored(store))

    ingest_trackers(store, trackers[10:])  # one transaction a conversation, as the API stores them
    stored = _stored(store)
    assert len(stored) > TRAIN_AT
    assert all(packed for *_, packed in stored)  # the first ones too, once the dictionary was trained
    assert [(sender_id, text) for sender_id, text, _ in stored] == _texts(trackers)
    packed_texts = [packing.unpacked_text(store.db, data) for (data,) in store.db.execute("SELECT data FROM events")]
    without_time = [text for text in packed_texts
                    if (start := packing._time_position(text)) >= 0 and text[start:start + 1] in (",", "}")]
    assert len(without_time) == len(packed_texts)  # every generated event as Rasa writes it
    # The CALM conversations, after the classic ones, did not fit the first dictionary (0.70× their
    # size): a second was trained on the latest events, and packs them to a sixth. A try that
    # gains too little to keep (the latest events were still mostly classic) is not made again
    # for `TRAIN_AT` events: the CALM events stored meanwhile stay in the first dictionary.
    assert _n_dictionaries(store) == 2
    (second,) = store.db.execute("SELECT id FROM event_dictionaries ORDER BY trained_at DESC LIMIT 1").fetchone()
    calm = _packed_and_texts(store, "sender_id LIKE 'calm-%'")
    in_second = [(data, text) for data, text in calm if packing._packed_with(data, second)]
    longest = max(len(t["events"]) for t in trackers)
    assert len(calm) - len(in_second) <= TRAIN_AT + longest
    assert sum(len(data) for data, _ in in_second) < 0.2 * sum(len(text.encode()) for _, text in in_second)
    classic = _packed_and_texts(store, "sender_id NOT LIKE 'calm-%'")
    assert sum(len(data) for data, _ in classic) < 0.3 * sum(len(text.encode()) for _, text in classic)
    # What the API reads is the events as they came (the transcript adds whether each is flagged).
    for tracker in trackers[:20] + trackers[-20:]:
        assert [{k: v for k, v in e.items() if k != "is_flagged"} for e in store.events(tracker["sender_id"])] \
            == [json.loads(json.dumps(validate_event(e))) for e in tracker["events"]]


def test_an_import_whose_first_chunks_were_parsed_before_the_store_could_train_packs_them_too(db_path, tmp_path):
    """Chunks handed to the workers before the store had a dictionary arrive plain, after it has
    one: they are packed when stored. Imported again, every event is found stored already."""
    trackers = _trackers(12, 160)
    path = tmp_path / "events.jsonl"
    lines = [(t["sender_id"], json.dumps(e)) for t in trackers for e in t["events"]]  # as kept: without sender ids
    path.write_text("".join(line.replace("{", f'{{"sender_id": "{sender_id}", ', 1) + "\n" for sender_id, line in lines))
    from rasa_messaging.store import importer
    original, importer.CHUNK_SIZE = importer.CHUNK_SIZE, 300  # many chunks in flight at the start
    try:
        first = CliRunner().invoke(cli, ["import", "--workers", "2", "--db", str(db_path), str(path)])
        again = CliRunner().invoke(cli, ["import", "--workers", "2", "--db", str(db_path), str(path)])
    finally:
        importer.CHUNK_SIZE = original
    n_events = len(lines)
    assert first.exit_code == 0, first.output
    assert f"{n_events} events stored, 0 duplicates skipped" in first.output
    assert f"0 events stored, {n_events} duplicates skipped" in again.output
    store = Store(db_path)
    stored = _stored(store)
    assert all(packed for *_, packed in stored) and _n_dictionaries(store) >= 1
    assert sorted((sender_id, text) for sender_id, text, _ in stored) == sorted(lines)  # each kept as it came


def test_a_store_made_before_events_were_packed_reads_them_plain_and_vacuum_packs_them(db_path):
    """m026 / p013: a store whose events are plain JSON text trains its dictionary when opened,
    packs what it stores from then on, and reads both; `vacuum` packs the old ones."""
    trackers = _trackers(13, 120)
    store = Store(db_path)
    ingest_trackers(store, trackers[:100])
    with store.transaction() as db:  # as a store made before m026 / p013 holds its events
        sqlite = db.dialect.name == "sqlite"
        texts = [(text_of(db, data, timestamp), event_id)
                 for event_id, timestamp, data in db.execute("SELECT id, timestamp, data FROM events")]
        if not sqlite:
            db.execute("ALTER TABLE events ALTER COLUMN data TYPE TEXT USING ''")
        db.executemany("UPDATE events SET data = ? WHERE id = ?", texts)
        db.execute("DROP TABLE event_dictionaries")
        forget_migration(db, "m026_packed_events", "p013_packed_events")
    listed = store.conversations(ConversationFilter())[1]
    transcripts = {t["sender_id"]: store.events(t["sender_id"]) for t in trackers[:100]}
    store.close()

    reopened = Store(db_path)  # migrates: trains a dictionary, leaves the events as they are
    assert _n_dictionaries(reopened) == 1 and not any(packed for *_, packed in _stored(reopened))
    assert reopened.conversations(ConversationFilter())[1] == listed
    assert {sender_id: reopened.events(sender_id) for sender_id in transcripts} == transcripts
    ingest_trackers(reopened, trackers[100:])
    stored = _stored(reopened)
    assert [packed for *_, packed in stored] == [False] * len(texts) + [True] * (len(stored) - len(texts))

    terms_before = term_rows(reopened.db)
    assert not all(packing.is_packed(data) for (data,) in reopened.db.execute("SELECT terms FROM conversation_terms"))
    result = CliRunner().invoke(cli, ["vacuum", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert f"packed {len(texts)} events" in result.stderr
    stored = _stored(Store(db_path))
    assert all(packed for *_, packed in stored)
    assert all(packing.is_packed(data) for (data,) in Store(db_path).db.execute("SELECT terms FROM conversation_terms"))
    assert term_rows(Store(db_path).db) == terms_before
    assert [(sender_id, text) for sender_id, text, _ in stored] == _texts(trackers)
    assert {sender_id: Store(db_path).events(sender_id) for sender_id in transcripts} == transcripts


def test_events_packed_in_frames_with_zstds_magic_number_read_as_they_came_and_vacuum_packs_them_lean(db_path):
    """A store packed its events in zstd's whole frames before; it now leaves out the magic
    number, 4 bytes an event, and the event's time, which its row holds. It reads both, and
    `vacuum` packs the old ones lean."""
    trackers = _trackers(14, 120)
    store = Store(db_path)
    ingest_trackers(store, trackers)
    lean = store.db.execute("SELECT id, timestamp, data FROM events ORDER BY id").fetchall()
    assert all(packing._frame_format(data) == packing.LEAN for _, _, data in lean)
    transcripts = {t["sender_id"]: store.events(t["sender_id"]) for t in trackers}
    with store.transaction() as db:  # as a store packed them before
        dictionary = zstandard.ZstdCompressionDict(packing.current_dictionary(db)[1])
        whole_frames = zstandard.ZstdCompressor(level=packing.LEVEL, dict_data=dictionary, write_checksum=False)
        old = [(whole_frames.compress(text_of(db, data, timestamp).encode()), event_id)
               for event_id, timestamp, data in lean]
        db.executemany("UPDATE events SET data = ? WHERE id = ?", old)
    assert all(bytes(data[:4]) == packing.ZSTD_MAGIC for data, _ in old)
    assert {sender_id: store.events(sender_id) for sender_id in transcripts} == transcripts
    store.close()

    result = CliRunner().invoke(cli, ["vacuum", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert f"packed {len(old)} events" in result.stderr
    reopened = Store(db_path)
    repacked = reopened.db.execute("SELECT id, data FROM events ORDER BY id").fetchall()
    assert all(packing._frame_format(data) == packing.LEAN for _, data in repacked)
    assert sum(map(len, (data for data, _ in old))) - sum(len(data) for _, data in repacked) >= 3.5 * len(old)
    assert {sender_id: reopened.events(sender_id) for sender_id in transcripts} == transcripts


def test_a_conversations_terms_are_packed_with_the_events_dictionary_once_the_store_has_one(store):
    """store/terms.py: the list's terms beside each conversation, as the reference derives them,
    from rows packed with the store's dictionary of events, or plain where they were written
    before it had one."""
    trackers = _trackers(15, 120)
    ingest_trackers(store, trackers)
    n_events = list(itertools.accumulate(len(t["events"]) for t in trackers))
    n_before = sum(total < TRAIN_AT for total in n_events)  # the next one's ingest trains the dictionary first
    rows = store.db.execute("SELECT c.sender_id, t.terms FROM conversation_terms t "
                            "JOIN conversations c ON c.id = t.conversation_id").fetchall()
    plain = {sender_id for sender_id, data in rows if not packing.is_packed(data)}
    assert plain == {t["sender_id"] for t in trackers[:n_before]}
    packed = [data for _, data in rows if packing.is_packed(data)]
    assert sum(map(len, packed)) < 0.45 * sum(len(packing.unpacked_text(store.db, data).encode()) for data in packed)
    expected = reference.all_metadata(trackers)
    listed = store.conversations(ConversationFilter(), limit=len(expected))[1]
    assert len(listed) == len(expected)
    for conversation in listed:
        wanted = expected[conversation["sender_id"]]
        for field in ("intents", "entities", "actions", "policies", "input_channels", "flows", "patterns", "commands"):
            assert conversation[field] == wanted[field], (conversation["sender_id"], field)


def test_an_events_text_packed_leaves_out_its_time_only_where_rasa_writes_it_and_reads_back_whole():
    """Packed, an event's JSON leaves out the number of its time (its row holds it) where Rasa
    writes it, first or after the type; any other text is kept whole, and every text reads back
    as it was."""
    time = 1614269774.724231
    for whole in [json.dumps({"event": "user", "timestamp": time, "text": "hi", "parse_data": {"timestamp": 3.5}}),
                  '{"event":"user","timestamp":1614269774.724231,"text":"hi"}',
                  '{"timestamp":1614269774.724231,"event":"action","name":"action_listen"}',
                  '{"timestamp": 1614269774.724231, "event": "user"}',
                  '{"event": "restart", "timestamp": 1614269774.724231}']:
        left_out = packing._without_time(whole, time)
        assert left_out == whole.replace("1614269774.724231", "", 1) and packing._with_time(left_out, time) == whole
        with pytest.raises(ValueError):
            packing._with_time(left_out, None)
    for whole in ['{"event": "user", "timestamp": 1614269774, "text": "hi"}',  # not as the row's float writes it
                  '{"event": "user", "timestamp": 1614269774.7242310}',
                  '{"event": "user", "timestamp": 1614269774.7242311}',
                  '{"event": "user",  "timestamp": 1614269774.724231}',
                  '{"text": "hi", "event": "user", "timestamp": 1614269774.724231}',
                  '{"event": "us\\"er", "timestamp": 1614269774.724231}',
                  '{"action": ["action_listen"], "intent": ["greet"]}']:  # a conversation's terms
        assert packing._without_time(whole, time) == whole and packing._with_time(whole, time) == whole


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)),
                       max_size=4),
       st.text(max_size=12), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["event", "time", "rest"]),
       st.booleans())
def test_every_event_text_reads_back_as_it_was_whether_or_not_its_time_was_left_out(rest, kind, time, first, compact):
    event = {"event": {"event": kind, "timestamp": time, **rest}, "time": {"timestamp": time, "event": kind, **rest},
             "rest": {**rest, "event": kind, "timestamp": time}}[first]
    text = json.dumps(event, separators=(",", ":") if compact else None, ensure_ascii=False)
    packed = packing._without_time(text, time)
    assert packing._with_time(packed, time) == text
    written, space = json.dumps(kind, ensure_ascii=False), "" if compact else " "
    time_first = text.startswith(f'{{"timestamp":{space}{time!r},')
    after_type = text.startswith(f'{{"event":{space}{written},{space}"timestamp":{space}{time!r}') and "\\" not in written
    assert (len(packed) < len(text)) == (time_first or after_type)


def test_a_stored_datas_first_byte_tells_a_lean_frame_from_a_whole_one_and_from_plain_json():
    """An event's plain JSON text starts with `{` (or white space); a frame with the magic number
    with 0x28; a lean frame with flags whose reserved and checksum bits are 0."""
    compressor = zstandard.ZstdCompressor(compression_params=packing._LEAN_PARAMETERS)
    for text in ['{"event": "user"}', ' {"event": "bot"}', '\n\t{"a": 1}', '\r\n{}']:
        assert packing._frame_format(text) is None and packing._frame_format(text.encode()) is None
        assert packing._frame_format(zstandard.ZstdCompressor().compress(text.encode())) == zstandard.FORMAT_ZSTD1
    for size in (1, 2, 4):  # a dictionary id's 1, 2 or 4 bytes in the header
        dictionary = zstandard.train_dictionary(1024, [f'{{"i": {i}, "n": "x{i % 7}"}}'.encode() for i in range(400)],
                                                dict_id=2 ** (8 * size - 1) + 1)
        lean = zstandard.ZstdCompressor(dict_data=dictionary, compression_params=packing._LEAN_PARAMETERS)
        assert packing._frame_format(lean.compress(b'{"event": "user"}')) == packing.LEAN
    assert packing._frame_format(compressor.compress(b"{}")) is None  # no dictionary named: not a frame this store writes


def test_a_store_file_given_to_import_is_refused_with_what_copies_it(tmp_path):
    """A store's `events` table looks like Rasa's SQL event broker's, but its events are packed and
    it holds reviewers' work: `copy` moves it, an import says so instead of refusing every row."""
    store = Store(tmp_path / "a.db")
    ingest_trackers(store, _trackers(14, 60))
    store.close()
    result = CliRunner().invoke(cli, ["import", "--db", str(tmp_path / "b.db"), str(tmp_path / "a.db")])
    assert result.exit_code == 1
    assert "a rasa-messaging store, not Rasa's" in result.output and "rasa-messaging copy --from" in result.output
    assert "row id" not in result.output  # not a rejection a row
