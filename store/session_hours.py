"""Per-hour sums of the sessions, kept by the database itself, so that /analytics reads a bin's
whole hours as a few rows instead of every session in it (issue 42: 534 ms at 1M conversations).

Every write to `sessions` (ingest's splits and extensions, erasure, prune, migrations) changes the
sums through triggers: no write path can forget them. SQLite fires a trigger per row; PostgreSQL
once per statement with the statement's rows (a COPY of 100k sessions is one grouped upsert).
Writers hold the store's one write lock (BEGIN IMMEDIATE; PostgreSQL's WRITE_LOCK), so two
transactions never upsert the same hours in different orders.

An hour h holds the sessions with h * 3600 <= start < (h + 1) * 3600, compared exactly: the
quotient's double can round up to the next whole hour, which the SQL below corrects as `hour_of`
does. What a session's `conversations` count needs (its previous session's start, against the
bin's) is no sum: the partial index `sessions_returning` holds the sessions that have a previous
one, which are the ones to read (store/analytics.py).
"""

from .sets import period_of

HOUR = 3600


def hour_of(timestamp: float) -> int:
    """The hour h with h * HOUR <= timestamp < (h + 1) * HOUR, as the triggers compute it."""
    return period_of(timestamp, HOUR)


def first_hour_from(timestamp: float) -> int:
    """The first hour starting at or after `timestamp`."""
    hour = hour_of(timestamp)
    return hour if hour * HOUR == timestamp else hour + 1


COLUMNS = "hour, sessions, new_users, user_messages, bot_messages, length_sum"
TABLE = ("CREATE TABLE session_hours (hour BIGINT PRIMARY KEY, sessions BIGINT NOT NULL, new_users BIGINT NOT NULL, "
         "user_messages BIGINT NOT NULL, bot_messages BIGINT NOT NULL, length_sum {float} NOT NULL)")
RETURNING_INDEX = "CREATE INDEX sessions_returning ON sessions (start, previous_start) WHERE previous_start IS NOT NULL"
_ADD = ("ON CONFLICT (hour) DO UPDATE SET sessions = session_hours.sessions + excluded.sessions, "
        "new_users = session_hours.new_users + excluded.new_users, "
        "user_messages = session_hours.user_messages + excluded.user_messages, "
        "bot_messages = session_hours.bot_messages + excluded.bot_messages, "
        "length_sum = session_hours.length_sum + excluded.length_sum")

# SQLite: CAST truncates toward zero, one hour above the floor for a negative time or a rounded-up quotient.
_SQLITE_HOUR = "(CAST({t} / 3600 AS INTEGER) - (CAST({t} / 3600 AS INTEGER) * 3600 > {t}))"
# PostgreSQL: floor of the quotient, one hour above where the quotient rounded up.
_POSTGRESQL_HOUR = "(CAST(floor({t} / 3600) AS BIGINT) - CASE WHEN floor({t} / 3600) * 3600 > {t} THEN 1 ELSE 0 END)"


def _filled(hour: str) -> str:
    """The sums of the sessions a store already holds, when the triggers are made."""
    return (f"INSERT INTO session_hours ({COLUMNS}) SELECT {hour.format(t='start')}, count(*), sum(is_new_user), "
            "sum(n_user_messages), sum(n_bot_messages), sum(\"end\" - start) FROM sessions GROUP BY 1")


def _sqlite_values(row: str, sign: str) -> str:
    return (f"SELECT {_SQLITE_HOUR.format(t=row + '.start')}, {sign}1, {sign}{row}.is_new_user, "
            f"{sign}{row}.n_user_messages, {sign}{row}.n_bot_messages, {sign}({row}.\"end\" - {row}.start) WHERE true")


def _postgresql_values(rows: str, sign: str) -> str:
    return (f"SELECT {_POSTGRESQL_HOUR.format(t='start')}, {sign}count(*), {sign}sum(is_new_user), "
            f"{sign}sum(n_user_messages), {sign}sum(n_bot_messages), {sign}sum(\"end\" - start) "
            f"FROM {rows} GROUP BY 1 ORDER BY 1")


SQLITE = [
    TABLE.format(float="FLOAT"),
    RETURNING_INDEX,
    _filled(_SQLITE_HOUR),
    f"CREATE TRIGGER session_hours_added AFTER INSERT ON sessions BEGIN "
    f"INSERT INTO session_hours ({COLUMNS}) {_sqlite_values('NEW', '')} {_ADD}; END",
    f"CREATE TRIGGER session_hours_removed AFTER DELETE ON sessions BEGIN "
    f"INSERT INTO session_hours ({COLUMNS}) {_sqlite_values('OLD', '-')} {_ADD}; END",
    f"CREATE TRIGGER session_hours_changed AFTER UPDATE OF start, \"end\", n_user_messages, n_bot_messages, "
    f"is_new_user ON sessions BEGIN "
    f"INSERT INTO session_hours ({COLUMNS}) {_sqlite_values('OLD', '-')} {_ADD}; "
    f"INSERT INTO session_hours ({COLUMNS}) {_sqlite_values('NEW', '')} {_ADD}; END",
]

POSTGRESQL = [
    TABLE.format(float="DOUBLE PRECISION"),
    RETURNING_INDEX,
    _filled(_POSTGRESQL_HOUR),
    f"""CREATE FUNCTION session_hours_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO session_hours ({COLUMNS}) {_postgresql_values('new_rows', '')} {_ADD};
        RETURN NULL; END $$""",
    f"""CREATE FUNCTION session_hours_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO session_hours ({COLUMNS}) {_postgresql_values('old_rows', '-')} {_ADD};
        RETURN NULL; END $$""",
    f"""CREATE FUNCTION session_hours_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO session_hours ({COLUMNS}) {_postgresql_values('old_rows', '-')} {_ADD};
        INSERT INTO session_hours ({COLUMNS}) {_postgresql_values('new_rows', '')} {_ADD};
        RETURN NULL; END $$""",
    "CREATE TRIGGER session_hours_added AFTER INSERT ON sessions REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION session_hours_added()",
    "CREATE TRIGGER session_hours_removed AFTER DELETE ON sessions REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION session_hours_removed()",
    "CREATE TRIGGER session_hours_changed AFTER UPDATE ON sessions REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION session_hours_changed()",
]


