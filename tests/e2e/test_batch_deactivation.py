"""Batch deactivation and reactivation (issue 16) with the official Python SDK: a task that
completes with the users changed, and the deactivated users' open sockets closed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.conftest import uid
from tests.e2e.conftest import Connect


def _completed(client: StreamChat, task_id: str) -> dict[str, Any]:
    """Poll the task as Stream's docs tell callers to, until it is no longer running."""
    for _ in range(50):
        task = client.get_task(task_id)
        if task["status"] in ("completed", "failed"):
            return dict(task)
    raise AssertionError(f"task {task_id} never completed")


def _deactivated(client: StreamChat, ids: list[str]) -> dict[str, bool]:
    found = client.query_users({"id": {"$in": ids}}, include_deactivated_users=True)["users"]
    return {u["id"]: bool(u.get("deactivated_at")) for u in found}


async def test_deactivate_users_closes_sockets_then_reactivate_users(
        client: StreamChat, connect: Connect) -> None:
    online, offline, bystander = uid("on"), uid("off"), uid("by")
    missing = uid("nobody")
    client.upsert_users([{"id": online}, {"id": offline}, {"id": bystander}])
    conn = await connect(online)
    watcher = await connect(bystander)

    resp = await asyncio.to_thread(
        client.deactivate_users, [online, offline, missing], mark_messages_deleted=False,
        created_by_id=bystander)
    assert isinstance(resp["task_id"], str) and resp["task_id"]
    task = await asyncio.to_thread(_completed, client, resp["task_id"])
    assert task["status"] == "completed"
    assert task["result"][online] == {"status": "ok"}
    assert task["result"][offline] == {"status": "ok"}
    assert task["result"][missing]["status"] == "error"

    # The deactivated user's socket is closed by the server; the bystander's stays open.
    with pytest.raises(ConnectionError):
        await conn.next_event(timeout=10)
    assert conn.close_code not in (None, 1000)
    assert await asyncio.to_thread(_deactivated, client, [online, offline, bystander]) == {
        online: True, offline: True, bystander: False}
    assert client.query_users({"id": online})["users"] == []  # hidden by default
    await watcher.ping()
    await watcher.next_event(lambda e: e.get("type") == "health.check", skip_health=False)

    # Stream's batch twin (the JS SDK's reactivateUsers: POST /users/reactivate).
    back = await asyncio.to_thread(client.post, "users/reactivate",
                                   data={"user_ids": [online, offline]})
    task = await asyncio.to_thread(_completed, client, back["task_id"])
    assert task["result"] == {online: {"status": "ok"}, offline: {"status": "ok"}}
    assert await asyncio.to_thread(_deactivated, client, [online, offline]) == {
        online: False, offline: False}
    again = await connect(online)  # a reactivated user can connect again
    assert again.connection_id


def test_deactivate_users_is_server_side_and_checks_its_input(client: StreamChat) -> None:
    user = uid("u")
    client.upsert_user({"id": user})
    with pytest.raises(StreamAPIException) as excinfo:
        client.deactivate_users([])
    assert excinfo.value.status_code == 400
    with pytest.raises(StreamAPIException) as excinfo:
        client.deactivate_users(["not valid!"])
    assert excinfo.value.status_code == 400
    # A user token may not deactivate anyone (not even itself).
    resp = httpx.post(f"{client.base_url}/users/deactivate",
                      params={"api_key": client.api_key},
                      headers={"Authorization": client.create_token(user),
                               "stream-auth-type": "jwt"},
                      json={"user_ids": [user]})
    assert resp.status_code == 403 and resp.json()["code"] == 17
    assert _deactivated(client, [user]) == {user: False}
