"""Issue 16 on a cluster of two nodes (the fixtures of ``test_cluster``: one PostgreSQL
database, one Redis): a batch deactivation through node A closes the user's socket on node B,
and a custom command created through A is served by B (B reloads its in-memory copy when A
announces the change on the broker)."""

from __future__ import annotations

import asyncio
import time

import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.conftest import Server, uid
from tests.contract.test_cluster import Listeners, cluster, listeners, sdk_a, sdk_b

__all__ = ["cluster", "listeners", "sdk_a", "sdk_b"]


async def test_batch_deactivation_through_a_closes_the_socket_on_b(
        cluster: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    _, node_b = cluster
    gone, stays = uid("gone"), uid("stays")
    sdk_a.upsert_users([{"id": gone}, {"id": stays}])
    gone_on_b = await listeners.connect(node_b, gone)
    stays_on_b = await listeners.connect(node_b, stays)

    task_id = (await asyncio.to_thread(sdk_a.deactivate_users, [gone]))["task_id"]
    assert (await asyncio.to_thread(sdk_a.get_task, task_id))["result"] == {
        gone: {"status": "ok"}}
    with pytest.raises(ConnectionError):
        await gone_on_b.next_event(timeout=10)
    await stays_on_b.ping()
    await stays_on_b.next_event(lambda e: e.get("type") == "health.check", skip_health=False)


def test_custom_command_created_through_a_is_served_by_b(sdk_a: StreamChat,
                                                          sdk_b: StreamChat) -> None:
    name = uid("cmd")
    sdk_b.list_commands()  # B has loaded its commands before A changes them
    sdk_a.create_command({"name": name, "description": "Made on A"})
    for _ in range(200):  # B applies A's announcement on its own: wait for it, bounded
        try:
            assert sdk_b.get_command(name)["description"] == "Made on A"
            break
        except StreamAPIException as exc:
            assert exc.status_code == 404
        time.sleep(0.05)
    else:
        raise AssertionError("node B never served the command created through node A")
    sdk_a.delete_command(name)
    for _ in range(200):
        if name not in {c["name"] for c in sdk_b.list_commands()["commands"]}:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("node B still lists the command deleted through node A")
