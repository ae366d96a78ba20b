"""The engine every SQL store shares: one SQLAlchemy async engine for SQLite (aiosqlite) or
PostgreSQL (asyncpg), migrated to head when opened, and the few helpers where the two dialects
differ (upsert, connection set-up).

Every public method of a store is wrapped in :func:`translated`: driver errors stop here, so
callers see :class:`~hubbub.storage.base.StorageError` only (or ``InputError`` for text the
database cannot hold). Each method commits what it wrote before it returns, or writes nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import fields
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hubbub import errors
from hubbub.storage.base import StorageError
from hubbub.storage.sql.sqlite_reads import SqlitePointReader

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
#: Where the Alembic migrations live (``storage/migrations``).
MIGRATIONS = Path(__file__).parent.parent / "migrations"


def async_url(url: str) -> str:
    """Pick the async driver for a plain database URL (``sqlite:///x.db``, ``postgresql://...``)."""
    for plain, driver in (("sqlite://", "sqlite+aiosqlite://"),
                          ("postgresql://", "postgresql+asyncpg://"),
                          ("postgres://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


#: PostgreSQL advisory lock held while migrating (any constant; this one spells "hubbub").
MIGRATION_LOCK_ID = 0x687562627562
_migration_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = \
    weakref.WeakKeyDictionary()


def _migration_lock() -> asyncio.Lock:
    """One migration at a time per event loop: Alembic keeps its running migration context in
    module globals, so two storages opening at once in one process must not interleave."""
    loop = asyncio.get_running_loop()
    lock = _migration_locks.get(loop)
    if lock is None:
        lock = _migration_locks[loop] = asyncio.Lock()
    return lock


#: SQLSTATEs of text PostgreSQL cannot hold: the NUL character (``\u0000``), in TEXT or JSONB.
#: SQLite stores it, so it is the client's data, not a failure of the database.
UNSTORABLE_TEXT = frozenset({"22P05", "22021"})


def translated(fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Driver errors stop here: callers see ``StorageError`` only (or ``InputError`` for text
    the database cannot hold)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) in UNSTORABLE_TEXT:
                raise errors.InputError(
                    "text may not contain the NUL character (\\u0000)") from exc
            raise StorageError(f"{fn.__name__}: {exc.__class__.__name__}") from exc
        except OSError as exc:
            raise StorageError(f"{fn.__name__}: database unreachable") from exc

    return wrapper


def from_row(cls: type[T], row: Any) -> T:
    """A model from a row whose columns are named like its fields (extra columns ignored)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in row._mapping.items() if k in names})


class SqlEngine:
    """The connection to the database that every store of :class:`SqlStorage` works through."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.engine: AsyncEngine | None = None
        self._reader: SqlitePointReader | None = None

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def _engine(self) -> AsyncEngine:
        if self.engine is None:
            raise StorageError("storage is not open")
        return self.engine

    @translated
    async def open(self) -> None:
        if self.url.startswith("sqlite"):
            path = self.url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(self.url, connect_args={"timeout": 30})

            @event.listens_for(self.engine.sync_engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                # WAL lets readers run beside the writer; NORMAL sync is durable in WAL mode.
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()
        else:
            self.engine = create_async_engine(self.url, pool_size=10, max_overflow=10,
                                              pool_pre_ping=True)
        async with _migration_lock(), self._engine.begin() as conn:
            if self.dialect == "postgresql":
                # Nodes that start together on a new database: one migrates, the others wait
                # here and then find the schema at head (without the lock they would both
                # create the tables, and all but one would fail to start).
                await conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))
            await conn.run_sync(_upgrade)
        file = _sqlite_file(self.url)
        if file is not None:
            self._reader = SqlitePointReader(file)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert(table) if self.dialect == "postgresql"
                else sqlite.insert(table))

    async def _upsert(self, conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]],
                      keys: list[str], *, keep: frozenset[str] = frozenset()) -> None:
        if not rows:
            return
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c.name: stmt.excluded[c.name] for c in table.columns
                  if c.name not in keys and c.name not in keep},
        )
        await conn.execute(stmt, rows)


def _sqlite_file(url: str) -> str | None:
    """The database file of a plain ``sqlite+aiosqlite:///path`` URL; None for anything else
    (another database, ``:memory:``, URI options) so that those keep the asynchronous path."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix):]
    if not path or path == ":memory:" or "?" in path or path.startswith("file:"):
        return None
    return str(Path(path).expanduser())


def _upgrade(sync_conn: sa.Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = sync_conn
    command.upgrade(config, "head")
