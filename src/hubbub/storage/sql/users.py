"""Users: point reads, upserts that keep chosen columns, queries (teams included), ``last_active``
in batches, hard deletes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exists, func, select
from sqlalchemy.dialects import postgresql

from hubbub import errors
from hubbub.core.models import User
from hubbub.storage.filters import compile_filter, compile_sort
from hubbub.storage.sql.engine import SqlEngine, from_row, translated
from hubbub.storage.tables import members, users

USER_COLUMNS = {f: f for f in ("id", "role", "created_at", "updated_at", "last_active", "banned",
                               "language", "invisible", "deactivated_at", "deleted_at")}


def user_from_row(row: Any) -> User:
    return from_row(User, row)


def user_row(u: User) -> dict[str, Any]:
    return asdict(u)


class UserStore(SqlEngine):
    @translated
    async def get_users(self, ids: list[str]) -> dict[str, User]:
        if not ids:
            return {}
        if self._reader is not None and (found := self._reader.users(ids)) is not None:
            return found
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(users).where(users.c.id.in_(set(ids))))).all()
        return {row.id: user_from_row(row) for row in rows}

    @translated
    async def save_users(self, batch: list[User], *,
                         keep: frozenset[str] = frozenset()) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, users, [user_row(u) for u in batch], ["id"], keep=keep)

    def _in_teams(self, names: list[str]) -> sa.ColumnElement[bool]:
        """The user is in at least one of the teams ``names``."""
        if not names:
            return sa.false()
        if self.dialect == "postgresql":
            return users.c.teams.op("?|")(sa.cast(postgresql.array(names),
                                                  postgresql.ARRAY(sa.Text)))
        team = func.json_each(users.c.teams).table_valued("value")
        return exists(select(sa.literal(1)).select_from(team).where(team.c.value.in_(names)))

    def _no_teams(self) -> sa.ColumnElement[bool]:
        length = (func.jsonb_array_length if self.dialect == "postgresql"
                  else func.json_array_length)
        return sa.func.coalesce(length(users.c.teams), 0) == 0

    def _teams_filter(self, _field: str, condition: Any) -> sa.ColumnElement[bool]:
        """``teams``: a JSON array column, so it needs its own operators (see the protocol)."""
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        clauses: list[sa.ColumnElement[bool]] = []
        for op, value in ops.items():
            if op in ("$in", "$eq", "$contains"):
                names = value if isinstance(value, list) else [value]
                if not all(isinstance(v, str) for v in names):
                    raise errors.InputError(f"teams {op} expects team names")
                clauses.append(self._no_teams() if op == "$eq" and value == []
                               else self._in_teams(names))
            elif op == "$exists":
                clauses.append(sa.not_(self._no_teams()) if value else self._no_teams())
            else:
                raise errors.InputError(f"unsupported operator {op} for teams")
        return sa.and_(*clauses)

    @translated
    async def query_users(self, filter_conditions: Any, sort: Any, limit: int,
                          offset: int) -> list[User]:
        where = compile_filter(filter_conditions, users, columns=USER_COLUMNS,
                               special={"teams": self._teams_filter})
        order = compile_sort(sort, users, columns=USER_COLUMNS) or [users.c.created_at.asc()]
        stmt = select(users).where(where).order_by(*order, users.c.id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            return [user_from_row(r) for r in (await conn.execute(stmt)).all()]

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
