"""The indexer's database session: one connection, one writer, retries with backoff on outages.

Every unit of work is one transaction, so retrying it after the connection dropped is safe: it either
committed or left nothing behind. An advisory lock (held by the session, taken again on reconnect)
keeps two indexing runs from writing the same index at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import psycopg2

from core.database import Connection, DatabaseUnavailable, first_line

log = logging.getLogger(__name__)
T = TypeVar("T")
WRITER_LOCK = 727_002


class Session(Protocol):
    """Runs one unit of work in a transaction and commits it (``Database``, ``ConnectionSession``)."""

    retries: int

    def run(self, what: str, work: Callable[[Connection], T]) -> T: ...


class IndexingError(Exception):
    """The run cannot go on; the message says why and what to do. Re-running resumes."""


class Database:
    """Runs units of work on one connection, reconnecting with exponential backoff when it fails."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        *,
        attempts: int = 6,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        lock_wait: float = 30.0,
        writer: bool = True,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self._connect = connect
        self._attempts = attempts
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._lock_wait = lock_wait
        self._writer = writer  # False: a reader (status), which neither takes nor waits for the lock
        self._conn: Connection | None = None
        self.retries = 0

    def run(self, what: str, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction and commit; retry on a lost database, else IndexingError."""
        started = time.monotonic()
        delay = self._first_delay
        for attempt in range(1, self._attempts + 1):
            try:
                conn = self._connection()
                try:
                    result = work(conn)
                    conn.commit()
                except BaseException:
                    if not conn.closed:
                        conn.rollback()
                    raise
                return result
            except (DatabaseUnavailable, psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                self.close()
                reason = first_line(exc)
                if attempt == self._attempts:
                    raise IndexingError(
                        f"the database is unavailable: {what} failed {attempt} times over "
                        f"{time.monotonic() - started:.0f} s ({reason}); re-run the command to resume"
                    ) from exc
                log.warning(
                    "database unavailable during %s (%s); retry %d/%d in %.1f s",
                    what,
                    reason,
                    attempt,
                    self._attempts - 1,
                    delay,
                )
                self.retries += 1
                self._sleep(delay)
                delay = min(delay * 2, self._max_delay)
        raise AssertionError("unreachable")

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            # A killed run's session can outlive it for a few seconds (a forked decode worker still
            # holds its socket), so wait a while before calling the lock taken.
            deadline = time.monotonic() + self._lock_wait
            while self._writer and not self._try_lock(conn):
                if time.monotonic() >= deadline:
                    conn.close()
                    raise IndexingError(
                        "another indexing run is writing to this database; wait for it to end"
                    )
                time.sleep(0.5)
            self._conn = conn
        return self._conn

    @staticmethod
    def _try_lock(conn: Connection) -> bool:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK,))
            row = cur.fetchone()
        conn.commit()
        return bool(row and row[0])

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None


class ConnectionSession:
    """``Database``'s interface on a connection the caller owns: each unit of work commits, no retries.

    For tests, evaluation and benchmarks that hold a plain connection, so they write through the same
    code as a production run.
    """

    retries = 0

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def run(self, what: str, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction and commit; roll back and re-raise if it fails."""
        try:
            result = work(self._conn)
            self._conn.commit()
        except BaseException:
            if not self._conn.closed:
                self._conn.rollback()
            raise
        return result

    def close(self) -> None:
        """The connection is the caller's: it stays open."""
