"""Storage on SQLAlchemy Core (async): SQLite through aiosqlite, PostgreSQL through asyncpg.

One implementation for both databases: the queries are portable Core, and the two places where
the dialects differ (upsert, connection set-up) are chosen by dialect name. On a SQLite file,
the point reads of the hot paths (users, a channel, a channel with one membership) go through a
synchronous reader of their own instead (:mod:`hubbub.storage.sqlite_reads`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hubbub import errors
from hubbub.core.models import App, Channel, ChannelType, Member, Task, User, WebhookDelivery
from hubbub.storage.base import StorageError
from hubbub.storage.filters import SpecialField, compile_filter, compile_sort
from hubbub.storage.sqlite_reads import SqlitePointReader
from hubbub.storage.tables import (
    apps,
    channel_types,
    channels,
    members,
    roles,
    tasks,
    users,
    webhook_deliveries,
)

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

USER_COLUMNS = {f: f for f in ("id", "role", "created_at", "updated_at", "last_active", "banned",
                               "language", "invisible", "deactivated_at", "deleted_at")}
CHANNEL_COLUMNS = {f: f for f in ("cid", "id", "type", "created_at", "updated_at", "frozen",
                                  "disabled", "team", "last_message_at", "created_by_id")}
CHANNEL_COLUMNS["created_by"] = "created_by_id"
MEMBER_COLUMNS = {"user_id": "user_id", "id": "user_id", "channel_role": "channel_role",
                  "created_at": "created_at", "updated_at": "updated_at", "invite": "invited"}


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


def _from_row(cls: type[T], row: Any) -> T:
    """A model from a row whose columns are named like its fields (extra columns ignored)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in row._mapping.items() if k in names})


def _user(row: Any) -> User:
    return _from_row(User, row)


def _channel(row: Any) -> Channel:
    return _from_row(Channel, row)


def _member(row: Any) -> Member:
    return _from_row(Member, row)


def _user_row(u: User) -> dict[str, Any]:
    return asdict(u)


def _channel_row(c: Channel) -> dict[str, Any]:
    return {**asdict(c), "cid": c.cid}


def _member_row(m: Member) -> dict[str, Any]:
    return asdict(m)


class SqlStorage:
    """:class:`~hubbub.storage.base.Storage` over SQLite or PostgreSQL."""

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

    # app -----------------------------------------------------------------------------------

    @translated
    async def get_app(self) -> App | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(apps).order_by(apps.c.id).limit(1))).first()
        if row is None:
            return None
        return App(api_key=row.api_key, api_secret=row.api_secret, settings=dict(row.settings),
                   created_at=row.created_at)

    @translated
    async def create_app(self, app: App) -> App:
        async with self._engine.begin() as conn:
            stmt = self._insert(apps).values(id=1, api_key=app.api_key, api_secret=app.api_secret,
                                             settings=app.settings, created_at=app.created_at)
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
        stored = await self.get_app()
        assert stored is not None
        return stored

    @translated
    async def save_app_settings(self, settings: dict[str, Any]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(apps.update().where(apps.c.id == 1).values(settings=settings))

    # users ---------------------------------------------------------------------------------

    @translated
    async def get_users(self, ids: list[str]) -> dict[str, User]:
        if not ids:
            return {}
        if self._reader is not None and (found := self._reader.users(ids)) is not None:
            return found
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(users).where(users.c.id.in_(set(ids))))).all()
        return {row.id: _user(row) for row in rows}

    @translated
    async def save_users(self, batch: list[User], *,
                         keep: frozenset[str] = frozenset()) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, users, [_user_row(u) for u in batch], ["id"], keep=keep)

    @translated
    async def query_users(self, filter_conditions: Any, sort: Any, limit: int,
                          offset: int) -> list[User]:
        where = compile_filter(filter_conditions, users, columns=USER_COLUMNS)
        order = compile_sort(sort, users, columns=USER_COLUMNS) or [users.c.created_at.asc()]
        stmt = select(users).where(where).order_by(*order, users.c.id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            return [_user(r) for r in (await conn.execute(stmt)).all()]

    @translated
    async def touch_users(self, last_active: dict[str, str]) -> None:
        if not last_active:
            return
        stmt = users.update().where(users.c.id == sa.bindparam("uid")).values(
            last_active=sa.bindparam("ts"))
        async with self._engine.begin() as conn:
            await conn.execute(stmt, [{"uid": k, "ts": v} for k, v in last_active.items()])

    @translated
    async def delete_users(self, ids: list[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(members.delete().where(members.c.user_id.in_(ids)))
            await conn.execute(users.delete().where(users.c.id.in_(ids)))

    # channel types ---------------------------------------------------------------------------

    @translated
    async def list_channel_types(self) -> list[ChannelType]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(channel_types))).all()
        return [ChannelType(name=r.name, config=dict(r.config), grants=dict(r.grants),
                            commands=list(r.commands), created_at=r.created_at,
                            updated_at=r.updated_at, builtin=r.builtin) for r in rows]

    @translated
    async def save_channel_type(self, ct: ChannelType) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, channel_types, [dict(
                name=ct.name, config=ct.config, grants=ct.grants, commands=ct.commands,
                builtin=ct.builtin, created_at=ct.created_at, updated_at=ct.updated_at)], ["name"])

    @translated
    async def delete_channel_type(self, name: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(channel_types.delete().where(channel_types.c.name == name))

    @translated
    async def count_channels(self, channel_type: str) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(channels).where(
                channels.c.type == channel_type))).scalar_one())

    # channels ------------------------------------------------------------------------------

    @translated
    async def get_channel(self, cid: str) -> Channel | None:
        if self._reader is not None and (found := self._reader.channel(cid)) is not None:
            return found[0]
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(channels).where(channels.c.cid == cid))).first()
        return _channel(row) if row else None

    @translated
    async def get_channel_and_member(self, cid: str,
                                     user_id: str) -> tuple[Channel | None, Member | None]:
        if self._reader is not None and (
                pair := self._reader.channel_and_member(cid, user_id)) is not None:
            return pair
        joined = channels.outerjoin(
            members, sa.and_(members.c.cid == channels.c.cid, members.c.user_id == user_id))
        stmt = select(channels, members.c.user_id.label("m_user_id"),
                      members.c.channel_role.label("m_channel_role"),
                      members.c.created_at.label("m_created_at"),
                      members.c.updated_at.label("m_updated_at")).select_from(joined).where(
            channels.c.cid == cid)
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None, None
        member = None
        if row.m_user_id is not None:
            member = Member(cid=cid, user_id=row.m_user_id, channel_role=row.m_channel_role,
                            created_at=row.m_created_at, updated_at=row.m_updated_at)
        return _channel(row), member

    @translated
    async def create_channel(self, channel: Channel, new_members: list[Member]) -> bool:
        async with self._engine.begin() as conn:
            stmt = self._insert(channels).values(**_channel_row(channel))
            result = await conn.execute(stmt.on_conflict_do_nothing(index_elements=["cid"]))
            if result.rowcount == 0:
                return False
            await self._upsert(conn, members, [_member_row(m) for m in new_members],
                               ["cid", "user_id"])
        return True

    @translated
    async def save_channel(self, channel: Channel) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, channels, [_channel_row(channel)], ["cid"])

    @translated
    async def delete_channels(self, cids: list[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(members.delete().where(members.c.cid.in_(cids)))
            await conn.execute(channels.delete().where(channels.c.cid.in_(cids)))

    def _members_filter(self, _field: str, condition: Any) -> sa.ColumnElement[bool]:
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        clauses: list[sa.ColumnElement[bool]] = []
        for op, value in ops.items():
            if op == "$in":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    from hubbub.errors import InputError
                    raise InputError("members $in expects an array of user ids")
                clauses.append(exists().where(members.c.cid == channels.c.cid,
                                              members.c.user_id.in_(value)))
            elif op == "$eq":
                ids = value if isinstance(value, list) else [value]
                if not all(isinstance(v, str) for v in ids):
                    from hubbub.errors import InputError
                    raise InputError("members $eq expects user ids")
                # Exact member set: every listed user is a member and nobody else.
                for uid in ids:
                    clauses.append(exists().where(members.c.cid == channels.c.cid,
                                                  members.c.user_id == uid))
                if isinstance(value, list):
                    count = select(func.count()).select_from(members).where(
                        members.c.cid == channels.c.cid).scalar_subquery()
                    clauses.append(count == len(set(ids)))
            else:
                from hubbub.errors import InputError
                raise InputError(f"unsupported operator {op} for members")
        return sa.and_(*clauses)

    @translated
    async def query_channels(self, filter_conditions: Any, sort: Any, limit: int,
                             offset: int) -> list[Channel]:
        special: dict[str, SpecialField] = {"members": self._members_filter}
        where = compile_filter(filter_conditions, channels, columns=CHANNEL_COLUMNS,
                               special=special)
        order = compile_sort(sort, channels, columns=CHANNEL_COLUMNS) or [
            channels.c.updated_at.desc()]
        stmt = select(channels).where(where).order_by(*order, channels.c.cid).limit(
            limit).offset(offset)
        async with self._engine.connect() as conn:
            return [_channel(r) for r in (await conn.execute(stmt)).all()]

    @translated
    async def get_members(self, cid: str, user_ids: list[str] | None = None) -> list[Member]:
        stmt = select(members).where(members.c.cid == cid)
        if user_ids is not None:
            stmt = stmt.where(members.c.user_id.in_(user_ids))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt.order_by(members.c.created_at,
                                                     members.c.user_id))).all()
        return [_member(r) for r in rows]

    @translated
    async def get_memberships(self, cids: list[str], user_id: str) -> dict[str, Member]:
        if not cids:
            return {}
        stmt = select(members).where(members.c.user_id == user_id, members.c.cid.in_(cids))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {row.cid: _member(row) for row in rows}

    @translated
    async def query_members(self, cid: str, filter_conditions: Any, sort: Any, limit: int,
                            offset: int) -> list[Member]:
        # Fields other than the member's own are the member's user's (``name``, custom data),
        # as in Stream: a subquery puts the user's data beside the membership.
        joined = select(members, users.c.data.label("user_data")).select_from(
            members.outerjoin(users, users.c.id == members.c.user_id)).where(
            members.c.cid == cid).subquery()
        where = compile_filter(filter_conditions, joined, columns=MEMBER_COLUMNS,
                               data_column="user_data")
        order = compile_sort(sort, joined, columns=MEMBER_COLUMNS,
                             data_column="user_data") or [joined.c.created_at]
        stmt = select(joined).where(where).order_by(
            *order, joined.c.user_id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            return [_member(r) for r in (await conn.execute(stmt)).all()]

    @translated
    async def count_members(self, cids: list[str]) -> dict[str, int]:
        if not cids:
            return {}
        stmt = select(members.c.cid, func.count()).where(members.c.cid.in_(cids)).group_by(
            members.c.cid)
        async with self._engine.connect() as conn:
            counts = {row[0]: int(row[1]) for row in (await conn.execute(stmt)).all()}
        return {cid: counts.get(cid, 0) for cid in cids}

    @translated
    async def save_members(self, batch: list[Member]) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, members, [_member_row(m) for m in batch], ["cid", "user_id"])

    @translated
    async def remove_members(self, cid: str, user_ids: list[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(members.delete().where(members.c.cid == cid,
                                                      members.c.user_id.in_(user_ids)))

    @translated
    async def count_role_uses(self, role: str) -> int:
        async with self._engine.connect() as conn:
            n_users = (await conn.execute(select(func.count()).select_from(users).where(
                users.c.role == role))).scalar_one()
            n_members = (await conn.execute(select(func.count()).select_from(members).where(
                members.c.channel_role == role))).scalar_one()
        return int(n_users) + int(n_members)

    # roles ---------------------------------------------------------------------------------

    @translated
    async def list_roles(self) -> list[dict[str, str]]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(roles).order_by(roles.c.name))).all()
        return [{"name": r.name, "created_at": r.created_at, "updated_at": r.updated_at}
                for r in rows]

    @translated
    async def create_role(self, name: str, now: str) -> bool:
        async with self._engine.begin() as conn:
            stmt = self._insert(roles).values(name=name, created_at=now, updated_at=now)
            result = await conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            return bool(result.rowcount)

    @translated
    async def delete_role(self, name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(roles.delete().where(roles.c.name == name))
            return bool(result.rowcount)

    # tasks ---------------------------------------------------------------------------------

    @translated
    async def save_task(self, task: Task) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, tasks, [dict(
                id=task.id, type=task.type, status=task.status, result=task.result,
                created_at=task.created_at, updated_at=task.updated_at)], ["id"])

    @translated
    async def get_task(self, task_id: str) -> Task | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
        if row is None:
            return None
        return Task(id=row.id, type=row.type, status=row.status, result=dict(row.result),
                    created_at=row.created_at, updated_at=row.updated_at)

    # webhook outbox ------------------------------------------------------------------------

    @translated
    async def enqueue_webhooks(self, batch: list[WebhookDelivery]) -> None:
        if not batch:
            return
        async with self._engine.begin() as conn:
            await conn.execute(webhook_deliveries.insert(), [_webhook_row(d) for d in batch])

    @translated
    async def claim_due_webhooks(self, now: float, limit: int,
                                 lease_seconds: float) -> list[WebhookDelivery]:
        """Pending deliveries that are due and not leased, leased to the caller for their
        own timeout plus ``lease_seconds``. The conditional update makes each claim exclusive
        across processes: two senders never hold the same delivery at once."""
        wd = webhook_deliveries
        due = select(wd).where(wd.c.state == "pending", wd.c.next_attempt_at <= now,
                               wd.c.lease_until <= now).order_by(
            wd.c.next_attempt_at).limit(limit)
        claimed = []
        async with self._engine.begin() as conn:
            for row in (await conn.execute(due)).all():
                result = await conn.execute(wd.update().where(
                    wd.c.id == row.id, wd.c.state == "pending", wd.c.lease_until <= now,
                ).values(lease_until=now + row.timeout + lease_seconds))
                if result.rowcount:
                    delivery = _webhook(row)
                    delivery.lease_until = now + row.timeout + lease_seconds
                    claimed.append(delivery)
        return claimed

    @translated
    async def save_webhook_attempt(self, delivery: WebhookDelivery) -> None:
        """Record an attempt's outcome and release the lease."""
        wd = webhook_deliveries
        async with self._engine.begin() as conn:
            await conn.execute(wd.update().where(wd.c.id == delivery.id).values(
                state=delivery.state, attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at, lease_until=0.0,
                last_status=delivery.last_status, last_error=delivery.last_error,
                delivered_at=delivery.delivered_at))

    @translated
    async def list_webhooks(self, state: str | None, limit: int,
                            offset: int) -> list[WebhookDelivery]:
        wd = webhook_deliveries
        stmt = select(wd)
        if state:
            stmt = stmt.where(wd.c.state == state)
        stmt = stmt.order_by(wd.c.created_at, wd.c.id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            return [_webhook(r) for r in (await conn.execute(stmt)).all()]

    @translated
    async def requeue_dead_webhooks(self, ids: list[str] | None, now: float) -> int:
        wd = webhook_deliveries
        stmt = wd.update().where(wd.c.state == "dead")
        if ids is not None:
            stmt = stmt.where(wd.c.id.in_(ids))
        async with self._engine.begin() as conn:
            result = await conn.execute(stmt.values(state="pending", next_attempt_at=now,
                                                    attempts=0, created_at=now,
                                                    lease_until=0.0))
            return int(result.rowcount)

    @translated
    async def count_webhooks(self) -> dict[str, int]:
        wd = webhook_deliveries
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(wd.c.state, func.count()).group_by(
                wd.c.state))).all()
        return {row[0]: int(row[1]) for row in rows}


def _webhook_row(d: WebhookDelivery) -> dict[str, Any]:
    return asdict(d)


def _webhook(row: Any) -> WebhookDelivery:
    return _from_row(WebhookDelivery, row)


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
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = sync_conn
    command.upgrade(config, "head")
