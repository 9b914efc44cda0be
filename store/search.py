"""Full-text search over user messages: a trigram index on their case-folded text.

On SQLite it is an FTS5 trigram index, kept by hand (below). On PostgreSQL it is a `pg_trgm` GIN
index on `events.search_text` (store/postgres_schema.py), which PostgreSQL keeps itself and which
answers `LIKE '%needle%'` for any needle: the functions below are SQLite's work only.

The `text` filter is a case-insensitive substring match. A trigram index answers any substring of
three or more characters exactly (its phrase query is a run of consecutive trigrams); shorter
ones are matched by reading the messages. The index is contentless (the text is in `events`), so
removing an event from it takes the indexed text: see `unindex_conversation`.

A message's rowid in the index is its conversation's id in the high 32 bits and its event id in
the low ones, so a match names its conversation without a lookup in `events` (which was 27 of the
31 ms of `text=help` at 100k conversations: 11k random reads of a 4M-row table).
"""

TRIGRAM = 3
INDEXED_PREFIX = 32  # characters of a PostgreSQL needle the trigram index is asked for (30 trigrams)

CREATE_INDEX = ("CREATE VIRTUAL TABLE user_text USING fts5(text, content='', "
                "tokenize='trigram case_sensitive 1')")
CREATE_INDEX_POSTGRESQL = "CREATE INDEX user_text ON events USING gin (search_text gin_trgm_ops) WHERE type = 'user'"


_ROWID = "(c.id << 32) | e.id"


def phrase(needle: str) -> str:
    """An FTS5 query matching `needle` as a substring (quotes doubled inside the phrase)."""
    return '"' + needle.replace('"', '""') + '"'


def text_index_query(db, text: str) -> tuple[str, list] | None:
    """The conversation id of each user message containing `text` (case-folded), or None when the index
    cannot answer: `text` is shorter than a trigram, or holds a NUL (FTS5 reads its query as a C
    string)."""
    needle = text.casefold()
    if db.dialect.name == "postgresql":
        # The index is asked for the needle's first INDEXED_PREFIX characters only; the whole
        # needle is then checked on the rows found (strpos, which no index serves). pg_trgm reads
        # every trigram of a LIKE pattern: a 20,000-character needle took 3.5-15.8 s of CPU.
        pattern = "%" + _like_escaped(needle[:INDEXED_PREFIX]) + "%"
        query = ("SELECT c.id FROM events e JOIN conversations c ON c.sender_id = e.sender_id "
                 "WHERE e.type = 'user' AND e.search_text LIKE ?")
        if len(needle) <= INDEXED_PREFIX:
            return query, [pattern]
        return f"{query} AND strpos(e.search_text, ?) > 0", [pattern, needle]
    if len(needle) < TRIGRAM or "\x00" in needle:
        return None
    return "SELECT rowid >> 32 FROM user_text WHERE user_text MATCH ?", [phrase(needle)]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def index_events_after(db, event_id: int) -> None:
    """Index the user messages stored after `event_id` (rowids grow, so they are the new ones),
    once their conversation rows exist."""
    if db.dialect.name != "sqlite":
        return
    db.execute(f"INSERT INTO user_text (rowid, text) SELECT {_ROWID}, e.search_text FROM events e "
               "JOIN conversations c ON c.sender_id = e.sender_id "
               "WHERE e.id > ? AND e.type = 'user' AND e.search_text IS NOT NULL", [event_id])


def unindex_conversation(db, sender_id: str) -> None:
    """Take a conversation's messages out of the index; before its events are deleted."""
    if db.dialect.name != "sqlite":
        return
    db.execute(f"INSERT INTO user_text (user_text, rowid, text) SELECT 'delete', {_ROWID}, e.search_text "
               "FROM events e JOIN conversations c ON c.sender_id = e.sender_id "
               "WHERE e.sender_id = ? AND e.type = 'user' AND e.search_text IS NOT NULL", [sender_id])
