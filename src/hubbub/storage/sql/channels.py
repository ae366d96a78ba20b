"""Channel types and channels: point reads (the channel with one membership in one round trip, for
the hot path), create-once, save, delete, query (``members`` filters)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exists, func, select

from hubbub import errors
from hubbub.core.models import Channel, ChannelType, Member
from hubbub.storage.filters import SpecialField, compile_filter, compile_sort
from hubbub.storage.sql.engine import SqlEngine, from_row, translated
from hubbub.storage.sql.members import member_row
from hubbub.storage.tables import channel_types, channels, members

CHANNEL_COLUMNS = {f: f for f in ("cid", "id", "type", "created_at", "updated_at", "frozen",
                                  "disabled", "team", "last_message_at", "created_by_id")}
CHANNEL_COLUMNS["created_by"] = "created_by_id"


def channel_from_row(row: Any) -> Channel:
    return from_row(Channel, row)


def channel_row(c: Channel) -> dict[str, Any]:
    return {**asdict(c), "cid": c.cid}



class ChannelStore(SqlEngine):
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

    @translated
    async def get_channel(self, cid: str) -> Channel | None:
        if self._reader is not None and (found := self._reader.channel(cid)) is not None:
            return found[0]
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(channels).where(channels.c.cid == cid))).first()
        return channel_from_row(row) if row else None

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
        return channel_from_row(row), member

    @translated
    async def create_channel(self, channel: Channel, new_members: list[Member]) -> bool:
        async with self._engine.begin() as conn:
            stmt = self._insert(channels).values(**channel_row(channel))
            result = await conn.execute(stmt.on_conflict_do_nothing(index_elements=["cid"]))
            if result.rowcount == 0:
                return False
            await self._upsert(conn, members, [member_row(m) for m in new_members],
                               ["cid", "user_id"])
        return True

    @translated
    async def save_channel(self, channel: Channel) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, channels, [channel_row(channel)], ["cid"])

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
                    raise errors.InputError("members $in expects an array of user ids")
                clauses.append(exists().where(members.c.cid == channels.c.cid,
                                              members.c.user_id.in_(value)))
            elif op == "$eq":
                ids = value if isinstance(value, list) else [value]
                if not all(isinstance(v, str) for v in ids):
                    raise errors.InputError("members $eq expects user ids")
                # Exact member set: every listed user is a member and nobody else.
                for uid in ids:
                    clauses.append(exists().where(members.c.cid == channels.c.cid,
                                                  members.c.user_id == uid))
                if isinstance(value, list):
                    count = select(func.count()).select_from(members).where(
                        members.c.cid == channels.c.cid).scalar_subquery()
                    clauses.append(count == len(set(ids)))
            else:
                raise errors.InputError(f"unsupported operator {op} for members")
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
            return [channel_from_row(r) for r in (await conn.execute(stmt)).all()]
