"""Memberships: a channel's members, one user's memberships in a page of channels, member queries
over the member's user's fields, counts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select

from hubbub.core.models import Member
from hubbub.storage.filters import compile_filter, compile_sort
from hubbub.storage.sql.engine import SqlEngine, from_row, translated
from hubbub.storage.tables import members, users

MEMBER_COLUMNS = {"user_id": "user_id", "id": "user_id", "channel_role": "channel_role",
                  "created_at": "created_at", "updated_at": "updated_at", "invite": "invited"}


def member_from_row(row: Any) -> Member:
    return from_row(Member, row)


def member_row(m: Member) -> dict[str, Any]:
    return asdict(m)



class MemberStore(SqlEngine):
    @translated
    async def get_members(self, cid: str, user_ids: list[str] | None = None) -> list[Member]:
        stmt = select(members).where(members.c.cid == cid)
        if user_ids is not None:
            stmt = stmt.where(members.c.user_id.in_(user_ids))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt.order_by(members.c.created_at,
                                                     members.c.user_id))).all()
        return [member_from_row(r) for r in rows]

    @translated
    async def get_memberships(self, cids: list[str], user_id: str) -> dict[str, Member]:
        if not cids:
            return {}
        stmt = select(members).where(members.c.user_id == user_id, members.c.cid.in_(cids))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {row.cid: member_from_row(row) for row in rows}

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
            return [member_from_row(r) for r in (await conn.execute(stmt)).all()]

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
            await self._upsert(conn, members, [member_row(m) for m in batch], ["cid", "user_id"])

    @translated
    async def remove_members(self, cid: str, user_ids: list[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(members.delete().where(members.c.cid == cid,
                                                      members.c.user_id.in_(user_ids)))
