"""Two ``hubbub serve`` processes, one PostgreSQL database, one Redis: a cluster of two nodes.

Events sent through either node reach connections on both; a watch request handled by one
node subscribes a connection held by the other (the broker's Control path). The official
Python SDK talks REST to node A; listeners are Hubbub's client on WebSockets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from hubbub.client import HubbubClient, HubbubClientError
from tests.conftest import API_KEY, API_SECRET, Server, uid
from tests.contract.conftest import MakeDatabase
from tests.contract.nodes import start_nodes, stop_nodes

EVENT_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def cluster(make_pg_database: MakeDatabase) -> Iterator[tuple[Server, Server]]:
    """Nodes A and B, started at the same time on a new database (one migrates and creates
    the app, the other waits and finds them), on a Redis channel of this module's own."""
    database_url = make_pg_database()
    broker_url = f"redis://127.0.0.1:6379/0?prefix=hubbub-test-{uuid.uuid4().hex[:10]}"
    nodes = start_nodes(2, database_url, {"HUBBUB_BROKER_URL": broker_url})
    try:
        yield nodes[0], nodes[1]
    finally:
        stop_nodes(nodes)


@pytest.fixture(scope="module")
def sdk_a(cluster: tuple[Server, Server]) -> StreamChat:
    return StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=cluster[0].url)


@pytest.fixture(scope="module")
def sdk_b(cluster: tuple[Server, Server]) -> StreamChat:
    return StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=cluster[1].url)


class Listeners:
    """Opens WebSockets as users on a node; closes them all at the end of the test."""

    def __init__(self, sdk: StreamChat) -> None:
        self.sdk = sdk
        self.clients: list[HubbubClient] = []

    async def connect(self, node: Server, user_id: str) -> HubbubClient:
        client = HubbubClient(node.url, API_KEY, self.sdk.create_token(user_id))
        await client.connect()
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


@pytest.fixture
async def listeners(sdk_a: StreamChat) -> Any:
    opened = Listeners(sdk_a)
    yield opened
    await opened.close()


def is_type(event_type: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("type") == event_type


def custom(event: dict[str, Any]) -> bool:
    """A custom event (no dot in its type): skips health checks and presence events."""
    return "." not in str(event.get("type"))


def new_channel(sdk: StreamChat, members: list[str]) -> str:
    sdk.upsert_users([{"id": m, "name": m.title()} for m in members])
    channel_id = uid("cluster")
    sdk.channel("messaging", channel_id, {"members": members}).create(members[0])
    return channel_id


async def watch_through(node: Server, token: str, channel_id: str,
                        connection_id: str) -> dict[str, Any]:
    """What the JS SDK sends to watch, with ``connection_id``, to a node of our choice."""
    async with httpx.AsyncClient(base_url=node.url) as http:
        response = await http.post(
            f"/channels/messaging/{channel_id}/query",
            params={"api_key": API_KEY, "connection_id": connection_id},
            headers={"Authorization": token, "stream-auth-type": "jwt"},
            json={"state": True, "watch": True, "presence": False})
    assert response.status_code == 201 or response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def stop_watching_through(node: Server, token: str, channel_id: str,
                                connection_id: str) -> None:
    async with httpx.AsyncClient(base_url=node.url) as http:
        response = await http.post(
            f"/channels/messaging/{channel_id}/stop-watching",
            params={"api_key": API_KEY, "connection_id": connection_id},
            headers={"Authorization": token, "stream-auth-type": "jwt"}, json={})
    assert response.status_code in (200, 201), response.text


# the cluster ---------------------------------------------------------------------------------


def test_both_nodes_serve_one_app_from_one_database(sdk_a: StreamChat,
                                                    sdk_b: StreamChat) -> None:
    someone = uid("shared")
    sdk_a.upsert_user({"id": someone, "name": "Written on A"})
    found = sdk_b.query_users({"id": someone})["users"]
    assert [(u["id"], u["name"]) for u in found] == [(someone, "Written on A")]


async def test_channel_event_sent_through_node_a_reaches_watchers_on_both_nodes(
        cluster: tuple[Server, Server], sdk_a: StreamChat, sdk_b: StreamChat,
        listeners: Listeners) -> None:
    node_a, node_b = cluster
    alice, bob = uid("alice"), uid("bob")
    channel_id = new_channel(sdk_a, [alice, bob])
    bob_on_b = await listeners.connect(node_b, bob)
    alice_on_a = await listeners.connect(node_a, alice)
    await bob_on_b.watch("messaging", channel_id)
    await alice_on_a.watch("messaging", channel_id)

    sent = sdk_a.channel("messaging", channel_id).send_event(
        {"type": "cluster_ping", "text": "from A", "n": 1}, alice)["event"]

    for listener in (bob_on_b, alice_on_a):
        got = await listener.next_event(custom, timeout=EVENT_TIMEOUT)
        assert got == sent  # the very event the REST call answered with, on both nodes
        assert got["cid"] == f"messaging:{channel_id}" and got["user"]["id"] == alice

    # And the other way round: sent through B, heard on A.
    sdk_b.channel("messaging", channel_id).send_event({"type": "cluster_pong"}, bob)
    for listener in (alice_on_a, bob_on_b):
        got = await listener.next_event(custom, timeout=EVENT_TIMEOUT)
        assert got["type"] == "cluster_pong" and got["user"]["id"] == bob


async def test_events_from_one_node_keep_their_order_on_the_other(
        cluster: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    _, node_b = cluster
    carol = uid("carol")
    channel_id = new_channel(sdk_a, [carol])
    carol_on_b = await listeners.connect(node_b, carol)
    await carol_on_b.watch("messaging", channel_id)

    channel = sdk_a.channel("messaging", channel_id)
    for i in range(20):
        channel.send_event({"type": "numbered", "i": i}, carol)
    got = [(await carol_on_b.next_event(custom, timeout=EVENT_TIMEOUT))["i"] for _ in range(20)]
    assert got == list(range(20))


async def test_user_event_through_node_a_reaches_the_users_connections_on_both_nodes(
        cluster: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    node_a, node_b = cluster
    dan, eve = uid("dan"), uid("eve")
    sdk_a.upsert_users([{"id": dan, "name": "Dan"}, {"id": eve}])
    dan_on_a = await listeners.connect(node_a, dan)
    dan_on_b = await listeners.connect(node_b, dan)
    eve_on_b = await listeners.connect(node_b, eve)

    sdk_a.send_user_custom_event(dan, {"type": "friendship_request", "text": "hi Dan"})
    sdk_a.send_user_custom_event(eve, {"type": "barrier"})

    for connection in (dan_on_a, dan_on_b):
        got = await connection.next_event(custom, timeout=EVENT_TIMEOUT)
        assert got["type"] == "friendship_request" and got["text"] == "hi Dan"
        assert got["user"]["id"] == dan and "cid" not in got
    # Eve's connection on B got her own event, and Dan's never.
    assert (await eve_on_b.next_event(custom, timeout=EVENT_TIMEOUT))["type"] == "barrier"


async def test_watch_sent_to_node_a_subscribes_a_connection_held_by_node_b(
        cluster: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    node_a, node_b = cluster
    frank, grace = uid("frank"), uid("grace")
    channel_id = new_channel(sdk_a, [frank, grace])
    channel = sdk_a.channel("messaging", channel_id)
    frank_on_b = await listeners.connect(node_b, frank)
    assert frank_on_b.connection_id is not None

    channel.send_event({"type": "before_watch"}, grace)  # frank is not watching yet
    answer = await watch_through(node_a, sdk_a.create_token(frank), channel_id,
                                 frank_on_b.connection_id)
    assert answer["channel"]["id"] == channel_id
    # Node A published the watch (Control) before this event: B applies them in that order.
    channel.send_event({"type": "after_watch"}, grace)
    assert (await frank_on_b.next_event(custom, timeout=EVENT_TIMEOUT))["type"] == "after_watch"

    # Stop watching through node A too.
    await stop_watching_through(node_a, sdk_a.create_token(frank), channel_id,
                                frank_on_b.connection_id)
    channel.send_event({"type": "after_unwatch"}, grace)
    sdk_a.send_user_custom_event(frank, {"type": "barrier"})
    assert (await frank_on_b.next_event(custom, timeout=EVENT_TIMEOUT))["type"] == "barrier"


async def test_a_watch_through_node_a_cannot_subscribe_someone_elses_connection(
        cluster: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    node_a, node_b = cluster
    victim, mallory = uid("victim"), uid("mallory")
    secret_channel = new_channel(sdk_a, [mallory])
    sdk_a.upsert_user({"id": victim})
    victim_on_b = await listeners.connect(node_b, victim)
    assert victim_on_b.connection_id is not None

    # Mallory may read her channel, but the connection she names is the victim's.
    await watch_through(node_a, sdk_a.create_token(mallory), secret_channel,
                        victim_on_b.connection_id)
    sdk_a.channel("messaging", secret_channel).send_event({"type": "leak"}, mallory)
    sdk_a.send_user_custom_event(victim, {"type": "barrier"})
    assert (await victim_on_b.next_event(custom, timeout=EVENT_TIMEOUT))["type"] == "barrier"


async def test_remote_watch_announces_the_watcher(
        cluster: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    """The node that holds the connection applies a remote watch and tells the channel
    (``user.watching.start`` / ``stop``), as it does for a local one."""
    node_a, node_b = cluster
    host, guest = uid("host"), uid("guest")
    channel_id = new_channel(sdk_a, [host, guest])
    host_on_a = await listeners.connect(node_a, host)
    await host_on_a.watch("messaging", channel_id)
    guest_on_b = await listeners.connect(node_b, guest)
    assert guest_on_b.connection_id is not None

    await watch_through(node_a, sdk_a.create_token(guest), channel_id, guest_on_b.connection_id)
    started = await host_on_a.next_event(
        lambda e: e["type"] == "user.watching.start" and e["user"]["id"] == guest,
        timeout=EVENT_TIMEOUT)
    assert started["cid"] == f"messaging:{channel_id}" and started["user"]["name"] == guest.title()

    await stop_watching_through(node_a, sdk_a.create_token(guest), channel_id,
                                guest_on_b.connection_id)
    stopped = await host_on_a.next_event(is_type("user.watching.stop"), timeout=EVENT_TIMEOUT)
    assert stopped["user"]["id"] == guest


async def test_anonymous_remote_watch_of_livestream(
        cluster: tuple[Server, Server], sdk_a: StreamChat) -> None:
    node_a, node_b = cluster
    host = uid("host")
    sdk_a.upsert_user({"id": host})
    channel_id = uid("live")
    sdk_a.channel("livestream", channel_id, {"members": [host]}).create(host)
    async with HubbubClient(node_b.url, API_KEY, None, anonymous=True) as viewer:
        assert viewer.connection_id is not None
        async with httpx.AsyncClient(base_url=node_a.url) as http:
            response = await http.post(
                f"/channels/livestream/{channel_id}/query",
                params={"api_key": API_KEY, "connection_id": viewer.connection_id},
                headers={"stream-auth-type": "anonymous"}, json={"state": True, "watch": True})
        assert response.status_code == 201, response.text
        sdk_a.channel("livestream", channel_id).send_event({"type": "goal"}, host)
        assert (await viewer.next_event(custom, timeout=EVENT_TIMEOUT))["type"] == "goal"


# issue 16 on the cluster ---------------------------------------------------------------------


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
    await stays_on_b.next_event(is_type("health.check"), skip_health=False)


def test_custom_command_created_through_a_is_served_by_b(sdk_a: StreamChat,
                                                          sdk_b: StreamChat) -> None:
    """B keeps the custom commands in memory: it reloads them when A announces a change."""
    name = uid("cmd")
    sdk_b.list_commands()
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


# issue 11: access taken away through one node is gone on the other ---------------------------


async def _closed(listener: HubbubClient) -> int | None:
    async def drain() -> None:
        async for _ in listener.events():
            pass

    await asyncio.wait_for(drain(), EVENT_TIMEOUT * 2)
    return listener.close_code


async def test_removed_member_stops_watching_on_the_other_node(
        cluster: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    _, node_b = cluster
    owner, bob = uid("owner"), uid("bob")
    channel_id = new_channel(sdk_a, [owner, bob])
    bob_on_b = await listeners.connect(node_b, bob)
    await watch_through(node_b, sdk_a.create_token(bob), channel_id, str(bob_on_b.connection_id))
    channel = sdk_a.channel("messaging", channel_id)
    channel.remove_members([bob])
    channel.send_event({"type": "after_removal"}, owner)
    sdk_a.send_user_custom_event(bob, {"type": "barrier"})
    seen = []
    while True:
        event = await bob_on_b.next_event(timeout=EVENT_TIMEOUT)
        if event["type"] == "barrier":
            break
        seen.append(event["type"])
    assert "after_removal" not in seen and "notification.removed_from_channel" in seen


async def test_revocations_through_node_a_close_sockets_on_node_b(
        cluster: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    node_a, node_b = cluster
    alice, carol = uid("alice"), uid("carol")
    sdk_a.upsert_users([{"id": alice}, {"id": carol}])
    alice_on_b = await listeners.connect(node_b, alice)
    sdk_a.revoke_user_token(alice, datetime.now(UTC) - timedelta(seconds=60))
    assert await _closed(alice_on_b) not in (None, 1000)

    # App-wide, tokens without iat included (the SDK's default): last in this module, undone.
    carol_on_b = await listeners.connect(node_b, carol)
    try:
        sdk_a.revoke_tokens(datetime.now(UTC) - timedelta(seconds=60))
        assert await _closed(carol_on_b) not in (None, 1000)
        # (Refused through node A: node B learns of app settings changes through the
        # cluster's cache invalidation, issue 13.)
        again = HubbubClient(node_a.url, API_KEY, sdk_a.create_token(carol))
        with pytest.raises(HubbubClientError) as refused:
            await again.connect()
        assert refused.value.code == 42
    finally:
        sdk_a.update_app_settings(revoke_tokens_issued_before=None)
