"""Events' JSON packed with zstd and a dictionary trained on the store's own (store/packing.py):
what is read back is what came, whichever way the events arrived and whenever they were packed."""

import json

from click.testing import CliRunner

from rasa_messaging.cli import cli
from rasa_messaging.generate import Generator
from rasa_messaging.generate_calm import CalmGenerator
from rasa_messaging.store import ConversationFilter, Store
from rasa_messaging.store.events import validate_event
from rasa_messaging.store.ingest import prepare
from rasa_messaging.store.packing import TRAIN_AT, ZSTD_MAGIC, text_of

from .conftest import forget_migration, ingest_trackers


def _trackers(seed: int, n: int) -> list[dict]:
    return Generator(seed=seed).trackers(n) + CalmGenerator(seed=seed).trackers(n // 2)


def _stored(store) -> list[tuple]:
    """(sender_id, JSON text, packed?) of every stored event, in id order."""
    return [(sender_id, text_of(store.db, data), bytes(data[:4]) == ZSTD_MAGIC if isinstance(data, bytes) else False)
            for sender_id, data in store.db.execute("SELECT sender_id, data FROM events ORDER BY id")]


def _texts(trackers: list[dict]) -> list[tuple[str, str]]:
    """(sender_id, the JSON text an event is stored as) of the trackers' events, in order."""
    return [(row.sender_id, row.data) for t in trackers for row in prepare(t["sender_id"], t["events"])]


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
    # The CALM conversations, after the classic ones, did not fit the first dictionary (0.71× their
    # size): a second was trained on the latest events, and packs them to a fifth.
    assert _n_dictionaries(store) == 2
    calm = store.db.execute("SELECT data FROM events WHERE sender_id LIKE 'calm-%'").fetchall()
    assert sum(len(data) for (data,) in calm) < 0.25 * sum(len(text_of(store.db, data).encode()) for (data,) in calm)
    packed_bytes = sum(len(data) for (data,) in store.db.execute("SELECT data FROM events"))
    assert packed_bytes < 0.3 * sum(len(text.encode()) for _, text in _texts(trackers))
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
        texts = [(text_of(db, data), event_id) for event_id, data in db.execute("SELECT id, data FROM events")]
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

    result = CliRunner().invoke(cli, ["vacuum", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert f"packed {len(texts)} events" in result.stderr
    stored = _stored(Store(db_path))
    assert all(packed for *_, packed in stored)
    assert [(sender_id, text) for sender_id, text, _ in stored] == _texts(trackers)
    assert {sender_id: Store(db_path).events(sender_id) for sender_id in transcripts} == transcripts


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
