"""Reading the events(id, sender_id, data) table of Rasa's SQL event broker, in a SQLite file or a
PostgreSQL database: the rows after a given id, in id order."""

import sqlite3
from pathlib import Path
from urllib.parse import urlparse

_SQLITE_AFTER = "SELECT id, sender_id, data FROM events WHERE id > ? ORDER BY id LIMIT ?"
_POSTGRES_AFTER = "SELECT id, sender_id, data FROM events WHERE id > %s ORDER BY id LIMIT %s"


def broker_table_errors() -> tuple:
    """What reading a broker table raises when it is unreadable. psycopg is imported only when a
    command needs it: importing it took 120 of a command's 300 ms start."""
    import psycopg
    return (sqlite3.Error, psycopg.Error, OSError)


class UnsupportedBrokerUrl(ValueError):
    """The URL cannot name a Rasa SQL event broker table (another scheme, or no such file)."""


def open_broker_table(url: str):
    """A context manager giving `read(after_id, limit) -> [(id, sender_id, data)]`.

    `url`: SQLAlchemy's form, as Rasa's endpoints.yml leads to it: `sqlite:////absolute/path`,
    `sqlite:///relative/path`, or `postgresql://user:pass@host:port/db`. Raises
    `UnsupportedBrokerUrl` for any other URL, or a SQLite file that does not exist."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not Path(path).is_file():
            raise UnsupportedBrokerUrl(f"no SQLite file at {path}")
        return _SqliteTable(path)
    if urlparse(url).scheme in ("postgresql", "postgres"):
        return _PostgresTable(url)
    raise UnsupportedBrokerUrl("not a sqlite:///path or postgresql://user@host/db URL "
                               "(the SQL event broker of Rasa writes to SQLite or PostgreSQL)")


class _SqliteTable:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.conn = sqlite3.connect(f"file:{Path(self.path).resolve()}?mode=ro", uri=True, timeout=30)
        return lambda after_id, limit: self.conn.execute(_SQLITE_AFTER, [after_id, limit]).fetchall()

    def __exit__(self, *exc):
        self.conn.close()


class _PostgresTable:
    def __init__(self, url):
        self.url = url

    def __enter__(self):
        import psycopg
        self.conn = psycopg.connect(self.url, autocommit=True)
        return lambda after_id, limit: self.conn.execute(_POSTGRES_AFTER, [after_id, limit]).fetchall()

    def __exit__(self, *exc):
        self.conn.close()
