"""Opening the store a command names with --db, or saying in one line why it cannot be used.

`--db` is a SQLite file (a path, or `sqlite:///path`) or a PostgreSQL database
(`postgresql://user:password@host:port/dbname`); the database must exist (`createdb`), and is
given its tables on first use by any command.

Only the commands that fill a store (`serve`, `import`, `consume`) create one; the others refuse a
path with no store, so that a mistyped --db is an error instead of an empty store that reports
"no conversation". Paths that cannot hold a store (empty, `:memory:`, a missing directory, a file
of another program, a read-only file) are refused before a server starts, not as a 500 on every
request.
"""

import re
import sqlite3
from pathlib import Path

from .store import NotOurDatabase, Store, StoreUnavailable
from .store.database import store_location, without_password

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")  # what is left after postgresql:// and sqlite:///


class StoreNotUsable(Exception):
    """The --db path cannot be this command's store; the message says why, in one line."""


def open_or_create_store(db_path) -> Store:
    if store_location(db_path)[0] == "postgresql":
        return _open_postgresql(str(db_path))
    path = _file_path(db_path)
    if not path.parent.is_dir():
        raise StoreNotUsable(f"no directory {path.parent} to hold the store {path}")
    return _open(path)


def open_existing_store(db_path) -> Store:
    if store_location(db_path)[0] == "postgresql":
        from .store.postgres import holds_store  # psycopg, for a PostgreSQL store only

        url = str(db_path)
        if not _postgresql_error(holds_store, url):
            raise StoreNotUsable(f"no store at {without_password(url)}: the database has no rasa-messaging tables "
                                 "(check --db or RASA_MESSAGING_DB; `serve`, `import` and `consume` create them)")
        return _open_postgresql(url)
    path = _file_path(db_path)
    if not path.is_file():
        raise StoreNotUsable(f"no store at {path} (check --db or RASA_MESSAGING_DB; `serve`, `import` and "
                             "`consume` create one)")
    return _open(path)


def _file_path(db_path) -> Path:
    text = store_location(db_path)[1]
    scheme = _URL_SCHEME.match(text)
    if scheme:
        raise StoreNotUsable(f"--db {without_password(text)}: the scheme {scheme[1]}:// is not supported. A store is a "
                             "SQLite file (a path, or sqlite:///path) or a PostgreSQL database (postgresql://...)")
    if not text.strip() or text.startswith((":memory:", "file:")):
        raise StoreNotUsable(f"--db {text!r} is not a file: the store is a SQLite file that outlives this process")
    return Path(text)


def _open(path: Path) -> Store:
    try:
        store = Store(path)
        store.check_writable()
    except NotOurDatabase as error:
        raise StoreNotUsable(error.detail) from None
    except sqlite3.OperationalError as error:
        if getattr(error, "sqlite_errorname", "") == "SQLITE_READONLY":
            raise StoreNotUsable(f"{path} is read-only: the server writes flags, review marks and events into it. "
                                 "Make the file and its directory writable.") from None
        raise StoreNotUsable(f"cannot open {path}: {error}") from None
    except sqlite3.DatabaseError as error:
        raise StoreNotUsable(f"{path} is not a SQLite store ({error})") from None
    return store


def _open_postgresql(url: str) -> Store:
    store = _postgresql_error(Store, url)
    _postgresql_error(lambda _: store.check_writable(), url)
    return store


def _postgresql_error(call, url: str):
    """`call(url)`, with what PostgreSQL refuses said as `StoreNotUsable` in one line."""
    import psycopg  # here, not for every command: importing it took 120 of a command's 300 ms start
    try:
        return call(url)
    except NotOurDatabase as error:
        raise StoreNotUsable(error.detail) from None
    except (psycopg.Error, StoreUnavailable) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreNotUsable(f"cannot use the PostgreSQL store {without_password(url)}: {reason}") from None
