"""The app (its one row and settings), custom roles and slash commands, and the tasks that bulk
operations report."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select

from hubbub.core.models import App, Command, Task
from hubbub.storage.sql.engine import SqlEngine, from_row, translated
from hubbub.storage.tables import apps, commands, members, roles, tasks, users


class AppStore(SqlEngine):
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

    @translated
    async def count_role_uses(self, role: str) -> int:
        async with self._engine.connect() as conn:
            n_users = (await conn.execute(select(func.count()).select_from(users).where(
                users.c.role == role))).scalar_one()
            n_members = (await conn.execute(select(func.count()).select_from(members).where(
                members.c.channel_role == role))).scalar_one()
        return int(n_users) + int(n_members)

    @translated
    async def list_commands(self) -> list[Command]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(commands).order_by(commands.c.name))).all()
        return [from_row(Command, r) for r in rows]

    @translated
    async def save_command(self, cmd: Command) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, commands, [asdict(cmd)], ["name"])

    @translated
    async def delete_command(self, name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(commands.delete().where(commands.c.name == name))
            return bool(result.rowcount)

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
