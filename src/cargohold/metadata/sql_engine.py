"""The SQL plumbing under every metadata store: the engine, connections, write
transactions with retries, and group commit on SQLite.

Writes run on a worker thread so the event loop never waits on a lock; on SQLite
they start with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout
instead of failing half way. Hot single-statement reads on SQLite run inline on one
autocommit connection owned by the event loop: in WAL mode a reader never waits for
a writer, and a lookup costs tens of microseconds, far less than a hop to a thread
and a pooled transaction. On PostgreSQL every call goes through the thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from cargohold import offload

T = TypeVar("T")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _dt(value: Any) -> datetime | None:
    if isinstance(value, str):  # raw SQLite rows carry SQLAlchemy's text format
        value = datetime.fromisoformat(value)
    return _utc(value)


class _Query:
    """A statement built once, with its SQL compiled once for the inline path."""

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        self._compiled: dict[str, tuple[str, list[str] | None, dict[str, Any]]] = {}

    def compiled(self, dialect: Any) -> tuple[str, list[str] | None, dict[str, Any]]:
        """SQL text, positional parameter order (None for named styles), and the
        values of parameters the statement fixes itself (literals in ``values()``)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            c = self.stmt.compile(dialect=dialect)
            order = list(c.positiontup) if c.positiontup is not None else None
            fixed = {k: v for k, v in c.params.items() if v is not None}
            found = self._compiled[dialect.name] = (str(c), order, fixed)
        return found

    def args(self, dialect: Any, params: dict[str, Any]) -> tuple[str, Any]:
        sql, order, fixed = self.compiled(dialect)
        merged = {**fixed, **params}
        return sql, merged if order is None else [merged[k] for k in order]


def _enable_wal(cursor: Any, patience: float = 30.0) -> None:
    """Switch a new database to WAL, waiting out other processes doing the same.

    Changing the journal mode needs an exclusive lock, and SQLite answers BUSY at
    once (without its busy handler) when two workers open a fresh database together.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        from pathlib import Path

        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions defer locks).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement is its own transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("cargohold_write") else "BEGIN")

    return engine


class SqlEngine:
    """Connections and transactions; `SqlMetadataStore` adds the queries."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._inline = self.dialect == "sqlite"
        self._pending: list[tuple[Callable[[Any], Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._write_lock: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if self._inline else contextlib.nullcontext()
        )
        self._loop_conn: Any = None

    # -- plumbing ---------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await offload.run_sync(fn, *args)

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        with self.engine.connect() as conn, conn.begin():
            return fn(conn, *args)

    async def _fetchone(self, query: _Query, **params: Any) -> tuple[Any, ...] | None:
        """One row of a hot lookup: inline on SQLite, on a worker thread elsewhere."""
        if self._inline:
            try:
                return self._fetchone_inline(query, params)
            except sqlite3.OperationalError:
                pass  # busy: wait for it on a worker thread, not on the loop
        row = await self._run(self._read, lambda c: c.execute(query.stmt, params).first())
        return None if row is None else tuple(row)

    def _fetchone_inline(self, query: _Query, params: dict[str, Any]) -> tuple[Any, ...] | None:
        if self._loop_conn is None:
            # A raw DBAPI connection: SQLAlchemy's per-execute overhead is ten times
            # the cost of the indexed lookup itself. Autocommit, so no snapshot lingers.
            self._loop_conn = self.engine.raw_connection()
            # Never park the event loop: a busy database (WAL recovery, checkpoint)
            # sends the lookup to a worker thread instead.
            self._loop_conn.driver_connection.execute("PRAGMA busy_timeout=20")
        cursor = self._loop_conn.driver_connection.execute(*query.args(self.engine.dialect, params))
        result: tuple[Any, ...] | None = cursor.fetchone()
        return result

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run a write transaction, again if a concurrent writer inserted the same
        row first (PostgreSQL); the retry sees that row."""
        conflicts = (IntegrityError, self.engine.dialect.loaded_dbapi.IntegrityError)
        for tries in range(3):
            try:
                return attempt()
            except conflicts:
                if tries == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, fn: Callable[..., T], *args: Any) -> T:
        def attempt() -> T:
            # SQLite takes one writer at a time anyway; queueing here, not in its
            # busy handler (which sleeps up to 100 ms between tries), keeps
            # concurrent pushes from stalling each other.
            with (
                self._write_lock,
                self.engine.connect().execution_options(cargohold_write=True) as conn,
                conn.begin(),
            ):
                return fn(conn, *args)

        return self._retrying(attempt)

    def _write_raw(self, fn: Callable[..., T], *args: Any) -> T:
        """A write transaction straight on the DBAPI connection, for the push path.

        SQLAlchemy's execution layer costs about 1.5 ms of CPU per small transaction
        here, five times the statements themselves; the hot writes (blob links,
        manifests, tags) use prebuilt statements compiled once per dialect.
        """

        def attempt() -> T:
            with self._write_lock:
                raw = self.engine.raw_connection()
                try:
                    dbapi: Any = raw.driver_connection
                    cursor = dbapi.cursor()
                    if self._inline:
                        cursor.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(cursor, *args)
                        dbapi.commit()
                        return result
                    except BaseException:
                        dbapi.rollback()
                        raise
                finally:
                    raw.close()

        return self._retrying(attempt)

    async def _submit(self, fn: Callable[[Any], T]) -> T:
        """Run a push-path write. On SQLite, writes that arrive while a transaction
        is committing go together into the next one (group commit): one fsync of the
        log for all of them. Each runs in its own savepoint, so one that fails
        leaves the others in."""
        if not self._inline:
            return await self._run(self._write_raw, fn)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                outcomes = await self._run(self._write_raw, self._apply_batch, batch)
            except Exception as exc:  # the transaction itself failed: so did every write
                outcomes = [(False, exc)] * len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # the caller went away; its write stands
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    @staticmethod
    def _apply_batch(
        cursor: Any, batch: list[tuple[Callable[[Any], Any], Any]]
    ) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        for fn, _ in batch:
            cursor.execute("SAVEPOINT cargohold_write")
            try:
                outcomes.append((True, fn(cursor)))
            except Exception as exc:
                cursor.execute("ROLLBACK TO cargohold_write")
                outcomes.append((False, exc))
            cursor.execute("RELEASE cargohold_write")
        return outcomes

    def _exec(self, cursor: Any, query: _Query, **params: Any) -> Any:
        cursor.execute(*query.args(self.engine.dialect, params))
        return cursor

    def _ts(self, value: datetime) -> Any:
        """A timestamp parameter as SQLAlchemy would have stored it."""
        if self._inline:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def _insert_ignore(self, table: Any) -> Any:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    async def close(self) -> None:
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        self.engine.dispose()


class SqlStorePart:
    """Base of the other stores on the same engine (accounts, governance): they
    borrow this store's connections, transactions and retry rules."""

    def __init__(self, base: SqlEngine) -> None:
        self._base = base

    async def _read(self, fn: Callable[[Connection], Any]) -> Any:
        return await self._base._run(self._base._read, fn)

    async def _write(self, fn: Callable[[Connection], Any]) -> Any:
        return await self._base._run(self._base._write, fn)
