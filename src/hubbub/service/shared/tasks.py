"""Tasks: Stream runs bulk operations (deleting users or channels) as tasks the caller polls.
Hubbub completes the work before it reports the task, so a task is stored already completed."""

from __future__ import annotations

import uuid
from typing import Any

from hubbub import errors
from hubbub.core.models import Task, utcnow
from hubbub.service.shared.context import Context


def entry(error: str | None) -> dict[str, Any]:
    """One id's entry in a bulk task's ``result``, as Stream answers it: ``{"status": "ok"}``
    (callers poll until ``result[id]`` is that), or an error entry for an id that failed."""
    return {"status": "ok"} if error is None else {"status": "error", "error": error}


async def record_completed(ctx: Context, task_type: str, result: dict[str, Any]) -> str:
    """Store a completed task with ``result`` (Stream's shape: keyed by each id the task was
    about, each an :func:`entry`); return its id."""
    now = utcnow()
    task = Task(id=str(uuid.uuid4()), type=task_type, status="completed", result=result,
                created_at=now, updated_at=now)
    await ctx.storage.save_task(task)
    return task.id


async def get_task(ctx: Context, task_id: str) -> dict[str, Any]:
    task = await ctx.storage.get_task(task_id)
    if task is None:
        raise errors.NotFound(f"task {task_id!r} does not exist")
    return {"task_id": task.id, "status": task.status, "result": task.result,
            "created_at": task.created_at, "updated_at": task.updated_at}
