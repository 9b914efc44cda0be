"""The confidence order in blocks (store/order_blocks.py): a page of a filter's matches that lie
behind a long run of other conversations in confidence order is read from the order's leading
blocks, exactly, while another process adds events that move conversations, adds conversations
and erases the newest one (whose id the next conversation is given)."""

import random

import hypothesis
import pytest
from hypothesis import strategies

from rasa_messaging.store import ConversationFilter, Store, order_blocks, prepare, sets
from rasa_messaging.store import conversations as conversations_module

from .conftest import pages_through_the_sets

T0 = 1_700_000_000.0
MATCHES = ConversationFilter(intents=("transfer_money",), in_training_data=False)


@hypothesis.given(strategies.integers(0, 300), strategies.integers(1, 40), strategies.integers(0, 2**32),
                  strategies.integers(1, 50))
def test_blocks_hold_their_candidates_and_are_counted_as_read(n, block, seed, wanted):
    rng = random.Random(seed)
    read_order = rng.sample(range(n), n * 3 // 4)  # conversation ids in list order, as read; the rest new
    candidates = sets.bits_of(i for i in range(n) if rng.random() < 0.2)
    blocks = order_blocks.OrderBlocks(
        tuple(sets.bits_of(read_order[s:s + block]) for s in range(0, len(read_order), block)),
        tuple((1.0, str(i)) for i in read_order[block - 1::block]), sets.bits_of(read_order), block, 0)
    first, taken, in_first = order_blocks.blocks_holding(blocks, candidates, wanted)
    counted = [i for i in read_order[:taken * block] if candidates >> i & 1]
    assert taken == len(blocks.blocks) or len(counted) >= wanted > len(counted) - sum(
        candidates >> i & 1 for i in read_order[(taken - 1) * block:taken * block])
    assert in_first == sum(candidates >> i & 1 for i in read_order[first * block:(first + 1) * block])
    assert not counted or (in_first and not any(candidates >> i & 1 for i in read_order[:first * block]))
    new = [i for i in range(n) if i not in read_order and candidates >> i & 1]
    assert sets.ids_of(order_blocks.candidates_in(blocks, candidates, taken)) == sorted(counted + new)
    # None among the first `wanted` as read, and none new: told by the blocks that hold those.
    leading = read_order[:-(-wanted // block) * block]
    assert order_blocks.none_among_first(blocks, candidates, wanted) == (
        not new and not any(candidates >> i & 1 for i in leading))


def conversation(sender_id: str, at: float, confidence: float, intent: str | None) -> list:
    """A user message (with `intent`, if any) and a TEDPolicy action: out of the training data."""
    return [{"event": "user", "timestamp": at, "text": "hello",
             "parse_data": {"intent": {"name": intent, "confidence": 0.9} if intent else {}, "entities": []}},
            {"event": "action", "timestamp": at + 1, "name": "utter_ok", "policy": "policy_1_TEDPolicy",
             "confidence": confidence}]


@pytest.fixture(params=[0, 10**6], ids=["walked", "read"])
def short_walks(monkeypatch, request):
    """Pages found through the sets and walked (walking costing nothing), walks cut short at once,
    and blocks of two conversations; or (walking costing a million reads) a page's candidates
    read, and from the blocks that hold it. Returns the `wanted` of each page counted in the
    blocks."""
    pages_through_the_sets(monkeypatch, walked_per_read=request.param)
    monkeypatch.setattr(conversations_module, "_READ_FROM_BLOCKS_ABOVE", 0)
    monkeypatch.setattr(order_blocks, "BLOCK_AT_LEAST", 2)
    monkeypatch.setattr(order_blocks, "BLOCKS_AT_MOST", 10**6)
    led = []
    holding = order_blocks.blocks_holding
    monkeypatch.setattr(order_blocks, "blocks_holding", lambda *args: led.append(args[2]) or holding(*args))
    return led


def test_pages_behind_a_run_of_other_conversations_come_from_the_leading_blocks(db_path, short_walks):
    store, other_process = Store(db_path), Store(db_path)
    confidence: dict[str, float] = {}  # of every match

    def add(sender_id, at, conf, intent=None):
        other_process.ingest(prepare(sender_id, conversation(sender_id, at, conf, intent)))
        if intent:
            confidence[sender_id] = min(conf, confidence.get(sender_id, 1.0))

    def assert_pages_exact(reader):
        expected = sorted(confidence, key=lambda s: (-confidence[s], s))
        assert reader.conversations(MATCHES, limit=None)[0] == len(expected)
        for offset in range(len(expected) + 1):
            for limit in (1, 3):
                total, page = reader.conversations(MATCHES, limit=limit, offset=offset)
                assert (total, [c["sender_id"] for c in page]) == (len(expected), expected[offset:offset + limit])

    # The top band opens with 30 CALM-like conversations (confidence 1.0, no intent), as at 1M.
    for number in range(30):
        add(f"calm-{number:03d}", T0 + number, 1.0)
    for number in range(36):
        add(f"web-{number:03d}", T0 + 100 + number, [1.0, 1.0, 0.995, 0.42][number % 4], "transfer_money")
        add(f"web-{number:03d}x", T0 + 200 + number, 1.0)  # between the matches
    assert_pages_exact(store)
    assert short_walks, "no page came from the blocks"
    read_as_of = store._confidence_order.as_of

    # Events since the blocks were read: a new match ranks first, inside the CALM run, and no
    # block holds it; then the first two matches fall within the band (counted where they ranked
    # then), another falls out of it. The blocks are not read again.
    add("calm-020a", T0 + 500, 1.0, "transfer_money")
    assert_pages_exact(store)
    add("web-000", T0 + 502, 0.993, "transfer_money")
    add("web-001", T0 + 503, 0.993, "transfer_money")
    add("web-002", T0 + 504, 0.3, "transfer_money")
    short_walks.clear()
    assert_pages_exact(store)
    assert short_walks and store._confidence_order.as_of == read_as_of

    # A reader that reads its blocks with the newest conversation in them, ranked last; that one
    # erased, the next conversation is given its id (SQLite) and ranks first: the blocks are
    # read again.
    add("zzz", T0 + 550, 0.2, "transfer_money")
    reader = Store(db_path)
    assert_pages_exact(reader)
    read_as_of = reader._confidence_order.as_of
    other_process.erase("zzz")
    del confidence["zzz"]
    add("web-0005", T0 + 600, 1.0, "transfer_money")
    short_walks.clear()
    assert_pages_exact(reader)
    assert short_walks and reader._confidence_order.as_of != read_as_of

    # The first match, alone in its block among the CALM run, falls within the band: that
    # block's range of sender ids holds no match any more, and the page is found after it.
    read = reader._confidence_order
    add("calm-020a", T0 + 700, 0.994, "transfer_money")
    assert_pages_exact(reader)
    assert reader._confidence_order is read


def test_a_row_is_ranked_against_a_blocks_last_key_as_the_store_orders_sender_ids(db_path):
    store = Store(db_path)
    senders = ["a-b", "a_b", "A", "b", "é", "e", "10", "9", "calm-1", "calm1"]
    for number, sender_id in enumerate(senders):
        store.ingest(prepare(sender_id, conversation(sender_id, T0 + number, 0.5 if number % 2 else 1.0, None)))
    rows = [dict(row) for row in store.db.query(
        f"SELECT minimum_action_confidence, sender_id FROM conversations c ORDER BY {conversations_module._ORDER_BY_CONFIDENCE}")]
    for position, row in enumerate(rows):
        for other_position, other in enumerate(rows):
            key = (other["minimum_action_confidence"], other["sender_id"])
            assert store._ranks_by_confidence_no_later(row, key) == (position <= other_position)


def test_a_page_behind_a_run_longer_than_a_walks_bound_is_taken_from_the_blocks_without_a_walk(
        db_path, monkeypatch):
    """Once the blocks are read, a first page whose candidates all lie past the walk's bound (the
    CALM run at 1M: 300k conversations of confidence 1.0 before any match of an intent) comes
    from the blocks at once, and is the same page the walk and the blocks gave before."""
    pages_through_the_sets(monkeypatch, walked_per_read=0)
    # A walk's bound (24 rows for the first page: 4 × 60 in the band / 10 candidates) too short
    # for the blocks to be asked first (8 × 10), and shorter than the run (40).
    monkeypatch.setattr(conversations_module, "_WALKED_AT_LEAST", 10)
    monkeypatch.setattr(order_blocks, "BLOCK_AT_LEAST", 2)
    monkeypatch.setattr(order_blocks, "BLOCKS_AT_MOST", 10**6)
    store = Store(db_path)
    for number in range(40):
        store.ingest(prepare(f"calm-{number:03d}", conversation(f"calm-{number:03d}", T0 + number, 1.0, None)))
    matches = []
    for number in range(10):
        store.ingest(prepare(f"web-{number:03d}", conversation(f"web-{number:03d}", T0 + 100 + number, 1.0, "transfer_money")))
        store.ingest(prepare(f"web-{number:03d}x", conversation(f"web-{number:03d}x", T0 + 200 + number, 1.0, None)))
        matches.append(f"web-{number:03d}")
    walks = []
    walk = conversations_module.ConversationQueries._walk
    monkeypatch.setattr(conversations_module.ConversationQueries, "_walk",
                        lambda self, *args, **kwargs: walks.append((args[2], kwargs.get("at_most"))) or walk(self, *args, **kwargs))

    assert [c["sender_id"] for c in store.conversations(MATCHES, limit=1)[1]] == matches[:1]
    # The blocks not read yet: a walk from the top was cut short within the run, then they were read.
    assert walks[0] == ("TRUE", 24) and store._confidence_order is not None
    walks.clear()
    assert [c["sender_id"] for c in store.conversations(MATCHES, limit=1)[1]] == matches[:1]
    assert not [where for where, _ in walks if where == "TRUE"], walks
    for offset in range(len(matches) + 1):
        total, page = store.conversations(MATCHES, limit=1, offset=offset)
        assert (total, [c["sender_id"] for c in page]) == (len(matches), matches[offset:offset + 1])


@pytest.mark.sqlite_only("PostgreSQL reads a walk's chunks as queries of their own, 4× larger each")
def test_a_walk_on_sqlite_steps_no_further_than_a_chunk_past_its_page(db_path, monkeypatch):
    """SQLite steps a walk's one query on demand: it reads chunks of the first's size, not 4×
    larger each, which stepped rows the walk never looked at (12.2k read to look at 3.2k, at 1M)."""
    pages_through_the_sets(monkeypatch, walked_per_read=0)
    store = Store(db_path)
    for number in range(90):  # the lowest confidences, none a match: walked first
        store.ingest(prepare(f"low-{number:03d}", conversation(f"low-{number:03d}", T0 + number, 0.1, None)))
    for number in range(30):
        store.ingest(prepare(f"web-{number:03d}", conversation(f"web-{number:03d}", T0 + 100 + number, 0.9, "transfer_money")))
    fetched = []
    execute = store.db.execute

    class Counted:
        def __init__(self, cursor):
            self.cursor = cursor

        def fetchmany(self, size):
            rows = self.cursor.fetchmany(size)
            fetched.append(len(rows))
            return rows

        def close(self):
            self.cursor.close()

    monkeypatch.setattr(store.db, "execute", lambda sql, params=None: Counted(execute(sql, params))
                        if sql.startswith("SELECT c.id FROM conversations c WHERE") else execute(sql, params))
    total, page = store.conversations(ConversationFilter(intents=("transfer_money",)), limit=1, order="lowest_confidence")
    assert total == 30 and page[0]["sender_id"].startswith("web-")
    assert fetched and set(fetched) == {4} and sum(fetched) <= 91 + 4, fetched  # a chunk of 4 × (limit + offset)
