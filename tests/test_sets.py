"""The conversation sets (store/sets.py) behind the list's filters stay exact while the store
changes: appended events move conversations between days, confidence levels and the training
data; review marks come and go; conversations are erased and new ones take their ids. After each
change, every single filter and every pair of filters must list exactly what a brute-force
computation from the raw events and the marks says, in the right order and with the right total."""

import itertools
import sqlite3

import hypothesis
import pytest

from rasa_messaging.generate import Generator
from rasa_messaging.store import ConversationFilter, Store, prepare
from rasa_messaging.store import conversations as conversations_module
from rasa_messaging.store import sets as conversation_sets

from . import reference
from .conftest import pages_through_the_sets, term_rows, terms_a_row_a_term

DAY = 86_400.0


class World:
    """The store and what it must hold: raw events per sender, and the review marks."""

    def __init__(self, store: Store):
        self.store = store
        self.events: dict[str, list] = {}
        self.flagged: set = set()
        self.reviewed: set = set()
        self.annotated: set = set()
        self.tags: dict[str, set] = {}

    def add(self, sender_id: str, events: list) -> None:
        self.store.ingest(prepare(sender_id, events))
        self.events.setdefault(sender_id, []).extend(events)
        self.reviewed.discard(sender_id)  # new events take the review mark away

    def add_ending_at(self, sender_id: str, events: list, latest: float) -> None:
        """`add` the conversation moved in time so that its last event is at `latest`."""
        shift = latest - events[-1]["timestamp"]
        self.add(sender_id, [{**e, "timestamp": e["timestamp"] + shift} for e in events])

    def erase(self, sender_id: str) -> None:
        self.store.erase(sender_id)
        del self.events[sender_id]
        for marked in (self.flagged, self.reviewed, self.annotated, *self.tags.values()):
            marked.discard(sender_id)

    def first_user_message(self, sender_id):
        return next(e for e in self.events[sender_id] if e["event"] == "user")["timestamp"]

    def expected(self, filters: ConversationFilter) -> list[dict]:
        """The matching conversations' reference metadata, in the list's default order."""
        rows = []
        for sender_id, events in reference.unique_events(
                [{"sender_id": s, "events": e} for s, e in self.events.items()]).items():
            m = reference.metadata(sender_id, events)
            texts = [t.casefold() for t in reference.user_texts(events)]
            tests = [
                not filters.intents or set(filters.intents) & set(m["intents"]),
                not filters.entities or set(filters.entities) & set(m["entities"]),
                not filters.actions or set(filters.actions) & set(m["actions"]),
                not filters.policies or set(filters.policies) & set(m["policies"]),
                not filters.text or any(filters.text.casefold() in t for t in texts),
                filters.start is None or m["latest_event_time"] >= filters.start,
                filters.until is None or m["latest_event_time"] <= filters.until,
                filters.maximum_confidence is None or (m["minimum_action_confidence"] is not None
                                                       and m["minimum_action_confidence"] <= filters.maximum_confidence),
                filters.minimum_user_messages is None or m["n_user_messages"] >= filters.minimum_user_messages,
                filters.in_training_data is None or m["in_training_data"] == filters.in_training_data,
                not filters.is_flagged or sender_id in self.flagged,
                filters.reviewed is None or (sender_id in self.reviewed) == filters.reviewed,
                filters.annotated is None or (sender_id in self.annotated) == filters.annotated,
                not filters.tags or any(sender_id in self.tags.get(t, ()) for t in filters.tags),
            ]
            if all(tests):
                rows.append(m)
        return sorted(rows, key=lambda m: (-m["latest_event_time"], m["sender_id"]))


def filter_pairs(world: World, now: float) -> dict[str, ConversationFilter]:
    singles = {
        "intent": dict(intents=("transfer_money",)),
        "entity": dict(entities=("PERSON",)),
        "action": dict(actions=("utter_greet",)),
        "policy": dict(policies=("TEDPolicy",)),
        "text": dict(text="money"),
        "short text": dict(text="hi"),
        "start": dict(start=now - 40 * DAY + 3_600.5),
        "time range": dict(start=now - 100 * DAY, until=now - 20 * DAY - 0.25),
        "maximumConfidence": dict(maximum_confidence=0.635),
        "maximumConfidence on a level": dict(maximum_confidence=0.7),
        "minimumUserMessages": dict(minimum_user_messages=4),
        "in training data": dict(in_training_data=True),
        "not in training data": dict(in_training_data=False),
        "flagged": dict(is_flagged=True),
        "reviewed": dict(reviewed=True),
        "not reviewed": dict(reviewed=False),
        "annotated": dict(annotated=True),
        "tag": dict(tags=("follow-up",)),
    }
    filters = {name: ConversationFilter(**f) for name, f in singles.items()}
    for (a, fa), (b, fb) in itertools.combinations(singles.items(), 2):
        if set(fa) & set(fb):
            continue
        filters[f"{a} + {b}"] = ConversationFilter(**fa, **fb)
    return filters


def in_list_order(filters: ConversationFilter, expected: list[dict]) -> list[str]:
    """Newest first; conversations out of the training data by confidence, highest first (none
    ranks as 1.0)."""
    if filters.in_training_data is False:
        expected = sorted(expected, key=lambda m: (-(m["minimum_action_confidence"] if m["minimum_action_confidence"]
                                                     is not None else 1.0), m["sender_id"]))
    return [m["sender_id"] for m in expected]


def assert_lists_match(world: World, now: float) -> None:
    store = world.store
    for name, filters in filter_pairs(world, now).items():
        expected = in_list_order(filters, world.expected(filters))
        total, everything = store.conversations(filters, limit=None)
        assert total == len(expected), name
        assert [c["sender_id"] for c in everything] == expected, name
        # A small page is walked (sets say where to start) or read by ids: the same rows either way.
        for offset in (0, 1, len(expected) // 3, len(expected) // 2, len(expected) - 1):
            for limit in (1, 2, 7):
                _, page = store.conversations(filters, limit=limit, offset=offset)
                assert [c["sender_id"] for c in page] == expected[offset:offset + limit], (name, offset, limit)


@pytest.fixture(params=["few read at once", "pages found by the sets", "pages walked in a mark's order"])
def paging(request, monkeypatch):
    """Small stores read their few matches at once (a time range too: looked up in their rows);
    with that off, every page and every time range is found through the sets (a span, its
    candidates read). Walking costing nothing, a page is walked: in list order through the
    members of a review mark among the filters, else through the span, which the sets found."""
    if request.param == "pages walked in a mark's order":
        pages_through_the_sets(monkeypatch, walked_per_read=0)
    elif request.param == "pages found by the sets":  # the sets and the rows alone
        pages_through_the_sets(monkeypatch, walked_per_read=10**9)
    else:
        monkeypatch.setattr(conversations_module, "_WALKED_PER_READ", 10**9)


@pytest.mark.slow
def test_filters_stay_exact_while_conversations_grow_get_marked_and_are_erased(tmp_path, paging):
    store = Store(tmp_path / "rasa.db")
    world = World(store)
    generator = Generator(seed=11)
    now = 1_700_000_000.0
    senders = []
    for number in range(60):
        sender_id, events = generator.conversation(number)
        shift = now - 120 * DAY + number * 2 * DAY - events[0]["timestamp"]  # one every two days
        world.add(sender_id, [{**e, "timestamp": e["timestamp"] + shift} for e in events])
        senders.append(sender_id)
    for sender_id in senders[::7]:
        timestamp = world.first_user_message(sender_id)
        store.flag(sender_id, timestamp)
        world.flagged.add(sender_id)
        store.annotate(sender_id, timestamp, "greet", None)
        world.annotated.add(sender_id)
    for sender_id in senders[::5]:
        store.mark_reviewed(sender_id)
        world.reviewed.add(sender_id)
        store.add_tag(sender_id, "follow-up")
        world.tags.setdefault("follow-up", set()).add(sender_id)
    assert_lists_match(world, now)

    # Old conversations come back: later days, a lower confidence, TEDPolicy (out of the training
    # data), more user messages, new text; review marks go with new events.
    for number, sender_id in enumerate(senders[:40:3]):
        latest = max(e["timestamp"] for e in world.events[sender_id])
        world.add(sender_id, [
            {"event": "user", "timestamp": latest + (number + 1) * 9 * DAY, "text": "send money to Ann",
             "parse_data": {"intent": {"name": "transfer_money", "confidence": 0.7}, "entities": []}},
            {"event": "action", "timestamp": latest + (number + 1) * 9 * DAY + 1, "name": "utter_greet",
             "policy": "policy_1_TEDPolicy", "confidence": 0.05 + number * 0.06},
        ])
    # Marks change: unflagged, unannotated, untagged, unreviewed.
    for sender_id in senders[::14]:
        store.unflag(sender_id, world.first_user_message(sender_id))
        world.flagged.discard(sender_id)
        store.unannotate(sender_id, world.first_user_message(sender_id))
        world.annotated.discard(sender_id)
    for sender_id in senders[::10]:
        store.remove_tag(sender_id, "follow-up")
        world.tags["follow-up"].discard(sender_id)
        if sender_id in world.reviewed:
            store.unmark_reviewed(sender_id)
            world.reviewed.discard(sender_id)
    assert_lists_match(world, now)

    # Erased conversations leave every set; the newest one's id is given to the next conversation,
    # an older one, flagged too: it takes its place in the list by its own time, not the erased one's.
    store.flag(senders[-1], world.first_user_message(senders[-1]))
    for sender_id in (senders[0], senders[7], senders[-1]):
        world.erase(sender_id)
    sender_id, events = generator.conversation(1000)
    world.add(sender_id, [{**e, "timestamp": e["timestamp"] + now - 200 * DAY - events[0]["timestamp"]}
                          for e in events])
    store.flag(sender_id, world.first_user_message(sender_id))
    world.flagged.add(sender_id)
    assert_lists_match(world, now)


def test_the_text_filter_kept_between_requests_sees_new_messages_and_erasures(tmp_path):
    store = Store(tmp_path / "rasa.db")
    world = World(store)
    world.add("ann", [{"event": "user", "timestamp": 1.0, "text": "I need help"}])
    world.add("bob", [{"event": "user", "timestamp": 2.0, "text": "hello"}])
    needing_help = ConversationFilter(text="HELP")
    assert store.conversations(needing_help)[0] == 1
    world.add("bob", [{"event": "user", "timestamp": 3.0, "text": "help me"}])
    world.add("cy", [{"event": "user", "timestamp": 4.0, "text": "no HELP needed"}])
    assert [c["sender_id"] for c in store.conversations(needing_help)[1]] == ["cy", "bob", "ann"]
    world.erase("cy")  # the newest conversation: its id is given again
    world.add("dee", [{"event": "user", "timestamp": 5.0, "text": "thanks"}])
    assert [c["sender_id"] for c in store.conversations(needing_help)[1]] == ["bob", "ann"]


def test_kept_text_and_time_matches_lose_the_conversations_erased_without_searching_again(db_path, monkeypatch):
    """`prune` erases while reviewers read: the kept matches drop the erased conversations; the
    store is searched again only when the newest event's or conversation's id went with them
    (SQLite gives those ids again)."""
    store = Store(db_path)
    world = World(store)
    for number, (sender_id, text) in enumerate([("old", "help"), ("ann", "I need help"), ("bob", "hello"),
                                                ("cy", "no HELP needed"), ("dee", "thanks")]):
        world.add(sender_id, [{"event": "user", "timestamp": 10.0 + number, "text": text}])
    searches, ranges = [], []
    search, between = store._text_search, store._between
    monkeypatch.setattr(store, "_text_search", lambda needle: searches.append(needle) or search(needle))
    monkeypatch.setattr(store, "_between", lambda *bounds: ranges.append(bounds) or between(*bounds))
    needing_help, in_range = ConversationFilter(text="HELP"), ConversationFilter(start=0.0, until=21.5)

    def listed(filters) -> list[str]:
        total, page = store.conversations(filters)
        assert total == len(page)
        return [c["sender_id"] for c in page]

    assert listed(needing_help) == ["cy", "ann", "old"] and len(listed(in_range)) == 5
    world.erase("old")  # the oldest conversation, as prune erases
    assert listed(needing_help) == ["cy", "ann"] and listed(in_range) == ["dee", "cy", "bob", "ann"]
    assert (len(searches), len(ranges)) == (1, 1)  # neither searched again
    world.add("bob", [{"event": "user", "timestamp": 20.0, "text": "help please"}])  # the newest event: bob's
    assert listed(needing_help) == ["bob", "cy", "ann"] and len(searches) == 1  # its new messages searched
    world.erase("bob")  # the newest event goes: its id may come again
    assert listed(needing_help) == ["cy", "ann"] and len(searches) == 2
    world.add("dee", [{"event": "user", "timestamp": 21.0, "text": "help after all"}])  # SQLite: bob's event id
    world.erase("cy")
    assert listed(needing_help) == ["dee", "ann"] and len(searches) == 2
    world.erase("dee")  # the newest conversation
    world.add("eve", [{"event": "user", "timestamp": 21.5, "text": "HELP"}])  # SQLite: dee's id
    assert listed(needing_help) == ["eve", "ann"] and len(searches) == 3
    assert listed(in_range) == ["eve", "ann"]


def test_rebuilding_the_sets_gives_what_ingest_and_marks_kept(tmp_path):
    """The migration's `rebuild` and the incremental upkeep are two ways to the same sets."""
    store = Store(tmp_path / "rasa.db")
    generator = Generator(seed=3)
    senders = []
    for number in range(300):
        sender_id, events = generator.conversation(number)
        senders.append(sender_id)
        store.ingest(prepare(sender_id, events[: len(events) // 2]))
        if number % 9 == 0:
            store.add_tag(sender_id, "later")
            store.mark_reviewed(sender_id)  # taken away by the next ingest unless marked again
        store.ingest(prepare(sender_id, events[len(events) // 2:]))
        if number % 18 == 9:
            store.mark_reviewed(sender_id)
        if number % 11 == 0:
            store.flag(sender_id, next(e for e in events if e["event"] == "user")["timestamp"])
    store.erase(senders[9])
    query = "SELECT kind, value, chunk, bits FROM conversation_sets ORDER BY 1, 2, 3"
    kept = store.db.execute(query).fetchall()
    with store.transaction() as db:
        terms_a_row_a_term(db)  # as m014, which rebuilt them, found the terms
        conversation_sets.rebuild(db)
    assert store.db.execute(query).fetchall() == kept
    assert {kind for kind, *_ in kept} >= {"intent", "entity", "action", "policy", "all", "training", "confidence",
                                          "messages", "day", "days8", "days64", "days512", "reviewed", "tag", "flagged"}


def test_a_store_made_before_the_sets_gets_them_when_opened(tmp_path):
    """m014 builds the sets and re-makes the text index of an existing store."""
    path = tmp_path / "rasa.db"
    store = Store(path)
    generator = Generator(seed=4)
    for number in range(40):
        store.ingest(prepare(*generator.conversation(number)))
    filters = ConversationFilter(text="money", policies=("TEDPolicy",), maximum_confidence=0.8)
    before = store.conversations(filters)
    with store.transaction() as db:
        terms_a_row_a_term(db)
    store.close()
    with sqlite3.connect(path) as conn:  # back to how m013 left it
        conn.execute("DROP TABLE conversation_sets")
        conn.execute("DROP TABLE counters")
        conn.execute("DROP INDEX conversations_by_user_messages")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm014_conversation_sets'")
    assert Store(path).conversations(filters) == before
    assert before[0] > 0


def test_a_store_made_before_marks_were_kept_in_list_order_gets_them_when_opened(db_path):
    """m016 (SQLite) and p003 (PostgreSQL) fill `marked_conversations` from the marks a store has."""
    store = Store(db_path)
    generator = Generator(seed=6)
    for number in range(30):
        sender_id, events = generator.conversation(number)
        store.ingest(prepare(sender_id, events))
        first_message = next(e for e in events if e["event"] == "user")["timestamp"]
        if number % 3 == 0:
            store.flag(sender_id, first_message)
        if number % 4 == 0:
            store.mark_reviewed(sender_id)
            store.add_tag(sender_id, "later")
        if number % 5 == 0:
            store.annotate(sender_id, first_message, "greet", None)
    marked = "SELECT kind, value, id, latest_event_time, minimum_action_confidence, in_training_data, sender_id " \
             "FROM marked_conversations ORDER BY kind, value, id"
    kept = store.db.execute(marked).fetchall()
    assert len(kept) == 10 + 8 + 8 + 6
    lists = [ConversationFilter(is_flagged=True), ConversationFilter(reviewed=True, in_training_data=False),
             ConversationFilter(tags=("later",), annotated=True), ConversationFilter(annotated=True)]
    pages = [store.conversations(filters, limit=2, offset=1) for filters in lists]
    sqlite, migrations = store.db.dialect.name == "sqlite", ("_sqlite_migrations", "m016_marked_conversations_in_list_order")
    if not sqlite:
        migrations = ("rasa_messaging_migrations", "p003_marked_conversations_in_list_order")
    with store.transaction() as db:  # back to before the marks were kept in list order
        db.execute("DROP TABLE marked_conversations")
        db.execute(f"DELETE FROM {migrations[0]} WHERE name = ?", [migrations[1]])
    store.close()
    reopened = Store(db_path)
    assert reopened.db.execute(marked).fetchall() == kept
    assert [reopened.conversations(filters, limit=2, offset=1) for filters in lists] == pages


@pytest.mark.parametrize("value, level", [(0.0, 0), (0.005, 1), (0.01, 1), (0.6, 60), (0.6000001, 61),
                                          (0.999, 100), (1.0, 100), (1.2, 101), (-0.5, 0)])
def test_confidence_levels_agree_with_sql_comparisons(value, level):
    assert conversation_sets.confidence_level(value) == level
    assert all(value <= k / 100 for k in range(level, 101))
    assert level == 0 or level == 101 or value > (level - 1) / 100


@pytest.mark.parametrize("maximum", [-1e308, -0.1, 0.0, 0.3, 0.635, 0.7, 1.0, 3.0, 1e308])
def test_the_level_within_a_maximum_is_the_highest_at_or_below_it(maximum):
    level = conversation_sets.level_within(maximum)
    assert level == -1 or level / 100 <= maximum
    assert level == 100 or (level + 1) / 100 > maximum


def test_time_blocks_cover_exactly_the_days_asked_for():
    for first, last in [(0, 0), (3, 200), (64, 127), (19_000, 19_090), (5, 4)]:
        days = set()
        for kind, value in conversation_sets.time_blocks(first, last):
            shift = dict(conversation_sets.TIME_BLOCKS)[kind]
            block = range(int(value) << shift, (int(value) + 1) << shift)
            assert not days & set(block)
            days |= set(block)
        assert days == set(range(first, last + 1))
    assert len(conversation_sets.time_blocks(19_000, 19_090)) <= 16


def test_timestamps_centuries_apart_cost_a_few_blocks_not_a_block_a_day(tmp_path):
    """Timestamps as far apart as ingest takes (±1e11 s, 6,000 years) once made a time range or a
    newest-first walk read a set per 64 days: 36k reads a request. Counted in statements, not time."""
    store = Store(tmp_path / "rasa.db")
    for number, timestamp in enumerate((-1e11, -5e10, 1_700_000_000.0, 1_700_000_100.0, 9e10, 1e11)):
        store.ingest(prepare(f"s{number}", [{"event": "user", "timestamp": timestamp, "text": "hi"}]))
    statements = []
    store.db.conn.set_trace_callback(statements.append)
    total, page = store.conversations(ConversationFilter(start=-9e10, until=9.5e10), limit=1, offset=2)
    assert (total, [c["sender_id"] for c in page]) == (4, ["s2"])
    total, page = store.conversations(ConversationFilter(), limit=1, offset=3)  # many match: a walk
    assert (total, [c["sender_id"] for c in page]) == (6, ["s2"])
    assert len(statements) < 300


def test_pages_inside_crowded_days_are_walked_from_the_right_place(tmp_path, paging):
    """Thirty conversations a day over three days: a page's span (a day) holds more than a few
    pages, so the page is walked from its day, after the matches of the newer days."""
    store = Store(tmp_path / "rasa.db")
    world = World(store)
    generator = Generator(seed=21)
    now = 1_700_000_000.0
    for number in range(90):
        sender_id, events = generator.conversation(number)
        world.add_ending_at(sender_id, events, now - (number // 30) * DAY - (number % 30) * 60)
    for filters in (ConversationFilter(), ConversationFilter(policies=("TEDPolicy",)),
                    ConversationFilter(in_training_data=False), ConversationFilter(minimum_user_messages=2)):
        expected = in_list_order(filters, world.expected(filters))
        for offset in (0, 5, 29, 30, 31, 45, 61, len(expected) - 2):
            _, page = store.conversations(filters, limit=3, offset=offset)
            assert [c["sender_id"] for c in page] == expected[offset:offset + 3], (filters, offset)


def test_a_time_ranges_page_is_walked_from_the_ranges_end_not_from_its_crowded_days_end(tmp_path, monkeypatch):
    """A range that ends early in a crowded day: the walk for its page starts at the range's end.
    From the day's end it met the day's later conversations first, none of them a match, and at
    more than its bound it gave up and read every candidate of the day (at 1M generated
    conversations, 2.7k a day: 1,024 candidates read, 4.9 ms on PostgreSQL in-process)."""
    pages_through_the_sets(monkeypatch, walked_per_read=0)
    store = Store(tmp_path / "rasa.db")
    world = World(store)
    generator = Generator(seed=22)
    day_start = (1_700_000_000 // DAY) * DAY
    for number in range(60):
        sender_id, events = generator.conversation(number)
        world.add_ending_at(sender_id, events, day_start + 3_600 + number * 60)
    filters = ConversationFilter(start=day_start, until=day_start + 3_600 + 9 * 60)  # the day's first ten
    read_whole = []
    rows = conversations_module.ConversationQueries._rows
    monkeypatch.setattr(conversations_module.ConversationQueries, "_rows",
                        lambda self, ids, *rest: read_whole.append(ids.bit_count()) or rows(self, ids, *rest))
    expected = in_list_order(filters, world.expected(filters))
    assert len(expected) == 10
    for offset in range(10):
        _, page = store.conversations(filters, limit=1, offset=offset)
        assert [c["sender_id"] for c in page] == expected[offset:offset + 1], offset
    assert read_whole == []


def test_a_time_ranges_page_counts_the_matches_of_the_ranges_days_only(db_path, monkeypatch):
    """A page in list order is found by counting matches in time blocks, newest first: with a
    range, from the range's last day, not the store's. The blocks after the range hold no match,
    and at 1M generated conversations each count is an AND of two 1M-bit sets (16 counted for
    the bench's `time range` page where 1 was needed)."""
    pages_through_the_sets(monkeypatch, walked_per_read=0)
    store = Store(db_path)
    world = World(store)
    generator = Generator(seed=23)
    first_day = 1_700_000_000 // DAY
    for number in range(120):  # three a day over 40 days
        sender_id, events = generator.conversation(number)
        world.add_ending_at(sender_id, events, (first_day + number // 3) * DAY + 3_600 * (1 + number % 3))
    counted_days = []
    day_of_rank = conversations_module.ConversationQueries._day_of_rank

    def counting(self, matches, rank, days, counted):
        found = day_of_rank(self, matches, rank, days, counted)
        for kind, value in counted:  # every day of each block counted
            size = 1 << dict(conversation_sets.TIME_BLOCKS)[kind]
            counted_days.extend(range(int(value) * size, (int(value) + 1) * size))
        return found
    monkeypatch.setattr(conversations_module.ConversationQueries, "_day_of_rank", counting)
    for start_day, end_day in ((first_day + 5, first_day + 20), (first_day + 30, first_day + 45)):
        filters = ConversationFilter(start=start_day * DAY, until=end_day * DAY + 2 * 3_600)  # two of the last day
        expected = in_list_order(filters, world.expected(filters))
        for offset in (0, 4, 11, len(expected) - 2):
            counted_days.clear()
            total, page = store.conversations(filters, limit=3, offset=offset)
            assert total == len(expected)
            assert [c["sender_id"] for c in page] == expected[offset:offset + 3], (start_day, offset)
            assert counted_days and max(counted_days) <= min(end_day, first_day + 39), (start_day, offset)


def test_only_the_latest_texts_are_kept(tmp_path):
    store = Store(tmp_path / "rasa.db")
    store.ingest(prepare("ann", [{"event": "user", "timestamp": 1.0, "text": "word0 word1 word2"}]))
    for number in range(40):
        expected = 1 if number < 3 else 0
        assert store.conversations(ConversationFilter(text=f"word{number}"))[0] == expected
    assert len(store._kept) == 32 and ("text", "word39") in store._kept and ("text", "word0") not in store._kept


def test_a_decoded_set_follows_writes_from_another_process(db_path):
    """Sets are decoded once until the sets are next written (ConversationQueries._set), by any
    process on the store: each mark, ingest and erasure by the other one shows at once."""
    store, other_process = Store(db_path), Store(db_path)
    for number, sender in enumerate(("ann", "bob", "cy")):
        store.ingest(prepare(sender, [{"event": "user", "timestamp": 1_700_000_000 + number, "text": "hi"}]))
    flagged = ConversationFilter(is_flagged=True)

    def listed(filters=flagged):
        return [c["sender_id"] for c in store.conversations(filters)[1]]

    assert listed() == []
    other_process.flag("bob", 1_700_000_001)
    assert listed() == ["bob"]
    other_process.flag("ann", 1_700_000_000)
    assert listed() == ["bob", "ann"]
    other_process.ingest(prepare("ann", [{"event": "bot", "timestamp": 1_700_000_005, "text": "later"}]))
    assert listed() == ["ann", "bob"]  # ann's latest event is now the newest
    assert listed(ConversationFilter(minimum_user_messages=1)) == ["ann", "cy", "bob"]
    other_process.erase("ann")
    assert listed() == ["bob"]
    assert listed(ConversationFilter(minimum_user_messages=1)) == ["cy", "bob"]


def test_a_kept_time_range_follows_new_events_and_erasures(db_path):
    store, other_process = Store(db_path), Store(db_path)  # a replica keeps its own
    day = 86_400.0
    for number, sender in enumerate(("ann", "bob", "cy")):
        store.ingest(prepare(sender, [{"event": "user", "timestamp": 1_700_000_000 + number * day, "text": "hi"}]))
    in_range = ConversationFilter(start=1_700_000_000 - 1, until=1_700_000_000 + 1.5 * day)

    def listed(through):
        return sorted(c["sender_id"] for c in through.conversations(in_range)[1])

    assert listed(store) == listed(other_process) == ["ann", "bob"]
    other_process.ingest(prepare("ann", [{"event": "bot", "timestamp": 1_700_000_000 + 5 * day, "text": "later"}]))
    assert listed(store) == ["bob"]  # ann's latest event left the range
    other_process.erase("bob")
    store.ingest(prepare("dee", [{"event": "user", "timestamp": 1_700_000_000 + 0.5 * day, "text": "hi"}]))
    assert listed(store) == ["dee"]
    assert ("time", in_range.start, in_range.until) in store._kept


def test_a_store_made_before_terms_were_keyed_by_conversation_keeps_them_when_opened(db_path):
    """m018 (SQLite) and p005 (PostgreSQL) move `conversation_terms` to its key by conversation;
    the list's terms and the unique values (read from the sets) stay as they were, an erased
    conversation's only intent leaving the unique values too."""
    store = Store(db_path)
    generator = Generator(seed=8)
    for number in range(20):
        store.ingest(prepare(*generator.conversation(number)))
    store.ingest(prepare("odd_one", [{"event": "user", "timestamp": 5.0, "text": "?",
                                      "parse_data": {"intent": {"name": "only_here", "confidence": 0.4}}}]))
    kept = term_rows(store.db)
    expected = {kind: sorted({value for _, k, value in kept if k == kind}) for kind in ("intent", "entity", "action", "policy")}
    assert "only_here" in expected["intent"] and all(expected.values())
    page = store.conversations(ConversationFilter(), limit=25)
    sqlite = store.db.dialect.name == "sqlite"
    table, name = ("_sqlite_migrations", "m018_terms_by_conversation") if sqlite else \
        ("rasa_messaging_migrations", "p005_terms_by_conversation")
    with store.transaction() as db:  # back to the layout before m018 / p005
        terms_a_row_a_term(db)
        db.execute("ALTER TABLE conversation_terms RENAME TO terms_before")
        db.execute("CREATE TABLE conversation_terms (kind TEXT NOT NULL, value TEXT NOT NULL, conversation_id BIGINT NOT NULL, "
                   "PRIMARY KEY (kind, value, conversation_id))")
        db.execute("CREATE INDEX terms_by_conversation_id ON conversation_terms (conversation_id)")
        db.execute("INSERT INTO conversation_terms SELECT kind, value, conversation_id FROM terms_before")
        db.execute("DROP TABLE terms_before")
        db.execute(f"DELETE FROM {table} WHERE name = ?", [name])
    store.close()
    reopened = Store(db_path)
    assert term_rows(reopened.db) == kept
    assert reopened.conversations(ConversationFilter(), limit=25) == page
    assert {kind: reopened.unique_terms(kind) for kind in expected} == expected
    reopened.erase("odd_one")
    assert "only_here" not in reopened.unique_terms("intent")
    assert reopened.unique_terms("intent") == [i for i in expected["intent"] if i != "only_here"]


def page_of(page: tuple, sender_id: str) -> dict:
    return next(c for c in page[1] if c["sender_id"] == sender_id)


def test_a_store_that_kept_a_row_a_term_keeps_them_a_row_a_conversation_when_opened(db_path):
    """m028 / p015 move a conversation's terms, flows' included, into one row of its own; the
    list shows the same terms, and new events and erasures keep them after."""
    from rasa_messaging.generate_calm import CalmGenerator
    store = Store(db_path)
    trackers = Generator(seed=28).trackers(12) + CalmGenerator(seed=28).trackers(12)
    for tracker in trackers:
        store.ingest(prepare(tracker["sender_id"], tracker["events"]))
    store.erase(trackers[0]["sender_id"])
    kept, page = term_rows(store.db), store.conversations(ConversationFilter(), limit=30)
    assert {kind for _, kind, _ in kept} >= {"intent", "action", "policy", "flow", "flow_status", "command"}
    with store.transaction() as db:
        terms_a_row_a_term(db)
        assert db.execute("SELECT count(*) FROM conversation_terms").fetchone()[0] == len(kept)
    store.close()
    reopened = Store(db_path)  # migrates
    assert term_rows(reopened.db) == kept
    assert reopened.conversations(ConversationFilter(), limit=30) == page
    assert reopened.db.execute("SELECT count(*) FROM conversation_terms").fetchone()[0] == len(trackers) - 1
    sender = trackers[1]["sender_id"]
    reopened.ingest(prepare(sender, [{"event": "user", "timestamp": 2e9, "text": "?",
                                      "parse_data": {"intent": {"name": "new_here", "confidence": 0.5}}}]))
    (found,) = reopened.conversations(ConversationFilter(intents=("new_here",)))[1]
    assert found["sender_id"] == sender and found["intents"] == sorted({*page_of(page, sender)["intents"], "new_here"})
    reopened.erase(sender)
    assert reopened.db.execute("SELECT count(*) FROM conversation_terms").fetchone()[0] == len(trackers) - 2


def test_a_store_made_before_input_channels_were_terms_gets_them_when_opened(db_path, tmp_path):
    """m020 / p007: the input channels of the conversations stored before are derived once, as
    terms and sets, so that the filter and the field are exact on an old store too."""
    from rasa_messaging.store.conversations import TERM_KINDS

    from .conftest import import_trackers
    trackers = Generator(seed=38).trackers(100)
    store = Store(db_path)
    import_trackers(store, trackers)
    assert store.db.execute("SELECT count(*) FROM event_dictionaries").fetchone()[0]  # events packed: read in Python
    migration = "m020_input_channels_as_terms" if store.db.dialect.name == "sqlite" else "p007_input_channels_as_terms"
    table = "_sqlite_migrations" if store.db.dialect.name == "sqlite" else "rasa_messaging_migrations"
    with store.transaction() as db:  # as a store made before m020 / p007 holds it
        for (value,) in db.execute("SELECT DISTINCT value FROM conversation_sets WHERE kind = 'input_channel'").fetchall():
            db.execute("DELETE FROM conversation_sets WHERE kind = 'input_channel' AND value = ?", [value])
        terms_a_row_a_term(db)
        db.execute("DELETE FROM conversation_terms WHERE kind = 'input_channel'")
        db.execute(f"DELETE FROM {table} WHERE name = ?", [migration])
        assert db.execute("SELECT count(*) FROM conversation_sets WHERE kind = 'input_channel'").fetchone()[0] == 0
    store.close()
    reopened = Store(db_path)  # migrates
    expected = reference.all_metadata(trackers)
    channels = sorted({c for m in expected.values() for c in m["input_channels"]})
    assert "input_channel" in TERM_KINDS and reopened.unique_terms("input_channel") == channels and len(channels) > 1
    for channel in channels:
        found = reopened.conversations(ConversationFilter.from_parameters(input_channel=channel))[1]
        assert sorted(c["sender_id"] for c in found) == sorted(s for s, m in expected.items() if channel in m["input_channels"])


@hypothesis.given(hypothesis.strategies.sets(hypothesis.strategies.integers(0, 5_000)))
def test_a_sets_ids_are_its_bits_ascending(ids):
    bits = sum(1 << conversation_id for conversation_id in ids)
    assert conversation_sets.ids_of(bits) == sorted(ids)
    member = conversation_sets.contains(bits)
    assert [i for i in range(5_002) if member(i)] == sorted(ids)
