"""Reads from PostgreSQL streaming replicas (`serve --db-read URL`, repeatable; issue 42).

A write goes to the primary (`--db`). So does a read that must see a write its caller made: after
each write, the primary's WAL position is remembered for the caller (a person, an unnamed token,
or an open server's client address), and a replica serves that caller's reads only once it has
replayed that far. Every other read goes to the replicas in turn. A replica that cannot be
reached is left out for RETRY_SECONDS, and the primary serves meanwhile: a replica stopping costs
no request. `/core/ready` reports each replica's lag.
"""

import itertools
import threading
import time

from rasa_messaging.store import Store, StoreError, StoreUnavailable

from .metrics import READS
from .store.database import without_password

RETRY_SECONDS = 5.0
# A caller's last write is remembered this long: a replica more than a minute behind is broken.
REMEMBER_WRITES_SECONDS = 60.0
READ_METHODS = {"GET", "HEAD"}


class ReadRouting:
    def __init__(self, primary: Store, replica_urls: list[str]):
        if replica_urls and primary.db.dialect.name != "postgresql":
            raise StoreUnavailable("--db-read names replicas of a PostgreSQL --db; this --db is a SQLite file")
        self.primary = primary
        self.replicas = [(without_password(url), Store(url, replica=True)) for url in replica_urls]
        self._turn = itertools.cycle(range(len(self.replicas))) if self.replicas else None
        self._down_until: dict[int, float] = {}
        self._written: dict[str, tuple[int, float]] = {}  # caller → (primary WAL position, when)
        self._lock = threading.Lock()

    def store_for(self, method: str, caller: str) -> Store:
        """The store that serves a request of `caller` with `method`."""
        if not self.replicas or method not in READ_METHODS:
            return self.primary
        written, when = self._written.get(caller, (0, 0.0))
        must_see = written if time.monotonic() - when < REMEMBER_WRITES_SECONDS else 0
        for _ in range(len(self.replicas)):
            with self._lock:
                index = next(self._turn)  # type: ignore[arg-type]
            if self._down_until.get(index, 0.0) > time.monotonic():
                continue
            _, replica = self.replicas[index]
            try:
                if replica.wal_position() >= must_see:
                    READS.labels("replica").inc()
                    return replica
            except StoreError:  # stopped or unreachable: the primary serves meanwhile
                replica.close()
                self._down_until[index] = time.monotonic() + RETRY_SECONDS
        READS.labels("primary").inc()
        return self.primary

    def wrote(self, caller: str) -> None:
        """After a write of `caller`: their next reads see it."""
        if self.replicas:
            self._written[caller] = (self.primary.wal_position(), time.monotonic())

    def lag(self) -> list[dict]:
        """Each replica: how many bytes of the primary's log it has yet to replay, or why it
        cannot say."""
        if not self.replicas:
            return []
        primary = self.primary.wal_position()
        report = []
        for url, replica in self.replicas:
            try:
                report.append({"url": url, "status": "streaming", "lag_bytes": max(0, primary - replica.wal_position())})
            except StoreError as error:
                replica.close()
                report.append({"url": url, "status": "unreachable", "detail": error.detail})
        return report

