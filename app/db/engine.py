"""Database engine and sessions for SQLite (default) and Postgres (shared setups)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15_000
READ_ONLY = "ingest_read_only"  # execution option of the read-only sessions


class DatabaseError(RuntimeError):
    """The database URL cannot be used; the message says what to fix."""


def normalize_url(url: str) -> str:
    """Accept the usual spellings of a Postgres URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    raise DatabaseError(f"unsupported database URL {parsed.render_as_string(hide_password=True)}: "
                        "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")


def _sqlite_begin(connection) -> None:
    # A deferred transaction that reads, then writes, fails at once with "database is locked"
    # when another connection wrote in between (WAL snapshot); taking the write lock at BEGIN
    # makes it wait its turn (busy_timeout) instead. Read-only sessions (Database.read) never
    # write, so they begin deferred and never queue behind the workers.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN itself
    # WAL lets the window read while workers write; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# SQLSTATEs of a transaction the database aborted to break a deadlock or a serialization
# conflict: running it again is the remedy.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def lost_a_conflict(exc: BaseException) -> bool:
    """True when the database aborted this transaction against a concurrent one (Postgres)."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


class Database:
    """One engine, its sessions, and a way to use them from asyncio without blocking the loop."""

    def __init__(self, url: str, *, threads: int = 4) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="db")

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def describe(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    async def run(self, fn: Callable[[Session], T]) -> T:
        """Run `fn(session)` in a transaction on a database thread."""

        def call() -> T:
            with self.session() as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run `fn(session)` on a database thread in a read-only transaction (rolled back):
        for lists and views, which must not wait behind the workers' writes."""

        def call() -> T:
            with self.read_sessions() as session:
                try:
                    return fn(session)
                finally:
                    session.rollback()

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.engine.dispose()
