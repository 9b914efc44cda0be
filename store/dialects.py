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
    # Up to how many bins /analytics reads each bin's range of the sessions index with a query of
    # its own rather than grouping them all in one (store/analytics.py). SQLite groups by sorting
    # every session in range. At 10k generated conversations (13,070 sessions), one by one against
    # grouped, best of 5: SQLite 11.3 / 21.2 ms with 10 bins, 13.6 / 21.6 with 100, 33.7 / 27.0
    # with 1,000; PostgreSQL, which groups by hashing, 14.7 / 9.8 with 10 and 56.5 / 11.2 with 100.
    most_bins_one_by_one: int

    def id_list(self, ids: list[int]):
        return json.dumps(ids) if self.name == "sqlite" else ids


SQLITE = Dialect("sqlite", json_rows="json_each(?)", position="instr", floor="CAST({} AS INTEGER)", least="min",
                 any_id="IN (SELECT value FROM json_each(?))", walk_skips_time_range=True,
                 most_bins_one_by_one=100)
POSTGRESQL = Dialect("postgresql", json_rows="jsonb_array_elements(CAST(? AS jsonb))", position="strpos",
                     floor="CAST(floor({}) AS BIGINT)", least="least", any_id="= ANY(CAST(? AS BIGINT[]))",
                     walk_skips_time_range=False, most_bins_one_by_one=0)
