"""What SQLite and PostgreSQL spell differently, for the SQL the rest of the store shares.

Everything else (upserts, window functions, `->>`) is written once in the SQL both accept. Text
search differs by more than spelling: store/search.py keeps both variants side by side.
"""

import json
from dataclasses import dataclass

NO_LIMIT = 2**62  # LIMIT for "all rows": SQLite says -1, PostgreSQL ALL; both take a number this large


@dataclass(frozen=True)
class Dialect:
    name: str
    # A table function of one parameter, a JSON array, with a row per element in column `value`.
    json_rows: str
    # The position of a substring, 0 when absent: f"{position}(haystack, needle)".
    position: str
    # Whole bins from a non-negative float: SQLite's CAST truncates, PostgreSQL's rounds.
    floor: str
    # The smaller of two values (SQLite's scalar min, PostgreSQL's least).
    least: str
    # "Is one of a list of ids", of one parameter given by `id_list`: PostgreSQL plans an array
    # from its length (an index probe per id), a JSON table function as 100 rows (a table scan).
    any_id: str
    # Whether a walk by confidence skips a time range inside the walked index (m015): SQLite's
    # time range + in_training_data=false at 100k conversations, 9.0 → 2.1-3.3 ms. PostgreSQL,
    # estimating the unindexed condition blind, sorted the whole table instead (1.7 → 25.6 ms),
    # so it walks without it and skips the range's misses one by one, as before.
    walk_skips_time_range: bool
    # Whether GROUP BY sorts the rows it groups (SQLite) rather than hashing them (PostgreSQL):
    # /analytics then reads a bin at a time where that is cheaper (store/analytics.py).
    groups_by_sorting: bool
    # The conversations of a list of distinct ids (`id_list`'s one parameter: a set's), as a page
    # of them is sorted: in the index that holds their sort keys (m029 / p016), which SQLite
    # passes over for the table unless told. SQLite probes it from the list's rows, as a join (a
    # row each, so the ids must be distinct): `IN (SELECT ...)` first copied the list into a
    # temporary index (100k generated, 19.7k ids: 19.7 → 13.9 ms). PostgreSQL reads them behind
    # `OFFSET 0`, which it does not flatten: else it may walk the list's order index instead,
    # keeping the listed ids, through every conversation ranked before them (663 ids of
    # intent + in_training_data=false at 100k, past the CALM conversations: 10.9 → 1.2 ms).
    ids_by_sort_keys: str
    # Whether a query's rows are made as they are fetched (SQLite), so that a walk reads on in one
    # query, or sent whole when it runs (PostgreSQL), so that a walk asks for a chunk at a time.
    steps_on_demand: bool
    # The table an import's staged batch is read from (store/staging.py), and its rows' order:
    # SQLite's attached database's, PostgreSQL's temporary table's.
    staged_events: str
    staged_order: str
    # The names of the store's indexes.
    index_names: str

    def id_list(self, ids: list[int]) -> str:
        """`ids` as `any_id`'s one parameter: a JSON array, or PostgreSQL's text of an array (psycopg
        dumping a list of 9k ids took 9 ms, their text 4.5 ms with the query's rows)."""
        return json.dumps(ids) if self.name == "sqlite" else "{" + ",".join(map(str, ids)) + "}"


SQLITE = Dialect("sqlite", json_rows="json_each(?)", position="instr", floor="CAST({} AS INTEGER)", least="min",
                 any_id="IN (SELECT value FROM json_each(?))", walk_skips_time_range=True,
                 groups_by_sorting=True, steps_on_demand=True, staged_events="staging.events", staged_order="rowid",
                 index_names="SELECT name FROM sqlite_master WHERE type = 'index'",
                 ids_by_sort_keys="json_each(?) j CROSS JOIN conversations c INDEXED BY conversations_sort_keys "
                                  "WHERE c.id = j.value")
POSTGRESQL = Dialect("postgresql", json_rows="jsonb_array_elements(CAST(? AS jsonb))", position="strpos",
                     floor="CAST(floor({}) AS BIGINT)", least="least", any_id="= ANY(CAST(? AS BIGINT[]))",
                     walk_skips_time_range=False, groups_by_sorting=False, steps_on_demand=False,
                     staged_events="pg_temp.staged_events", staged_order="position",
                     index_names="SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()",
                     ids_by_sort_keys="(SELECT id, minimum_action_confidence, sender_id, latest_event_time "
                                      "FROM conversations WHERE id = ANY(CAST(? AS BIGINT[])) OFFSET 0) c")
