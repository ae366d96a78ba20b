"""A Redis outage under a running two-node cluster (a private ``redis-server`` the test kills
and restarts empty, as a crash would leave it).

The documented behaviour (README, "Running on several machines"): while Redis is down an
event a caller sends is refused with a retryable 503 in Stream's error body, delivered to
nobody and with no webhook copy; what the server says on its own (``user.watching.start``)
still reaches the node's own connections; ``/readyz`` answers 503 and ``/healthz`` says the
broker is disconnected; one warning line when the outage starts and one when it ends, no
traceback. Once Redis is back, the first call through a node that was idle meanwhile works,
and presence is registered again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from hubbub import auth
from hubbub.client import HubbubClient
from tests.conftest import API_KEY, API_SECRET, Server, free_port, uid
from tests.contract.conftest import MakeDatabase
from tests.contract.nodes import PrivateRedis, eventually, rest, start_nodes, stop_nodes
from tests.contract.test_cluster import EVENT_TIMEOUT, custom, new_channel


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pair(make_pg_database: MakeDatabase,
         redis_server: PrivateRedis) -> Iterator[tuple[Server, Server]]:
    broker = f"{redis_server.url}?prefix=outage-{uuid.uuid4().hex[:8]}"
    nodes = start_nodes(2, make_pg_database(), {"HUBBUB_BROKER_URL": broker})
    try:
        yield nodes[0], nodes[1]
    finally:
        stop_nodes(nodes)


async def _probe(node: Server, path: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        response = await http.get(path)
    return response.status_code, response.json()


async def test_a_redis_outage_is_answered_cleanly_and_recovered_from(
        pair: tuple[Server, Server], redis_server: PrivateRedis, tmp_path: Path) -> None:
    node_a, node_b = pair
    sdk_a = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=node_a.url)
    sdk_b = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=node_b.url)
    server_token = auth.create_token(API_SECRET)
    alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
    channel_id = new_channel(sdk_a, [alice, bob, carol])
    hooked = uid("hooked").replace("-", "_")
    sdk_a.update_app_settings(webhook_url=f"http://127.0.0.1:{free_port()}/hook",
                              webhook_events=[hooked])

    async def copies() -> int:
        response = await rest(node_a, server_token, "GET", "/webhooks/deliveries")
        assert response.status_code == 200, response.text
        return sum(response.json()["counts"].values())

    async with HubbubClient(node_a.url, API_KEY, sdk_a.create_token(alice)) as alice_on_a, \
            HubbubClient(node_b.url, API_KEY, sdk_a.create_token(bob)) as bob_on_b:
        await alice_on_a.watch("messaging", channel_id)
        await bob_on_b.watch("messaging", channel_id)
        before = await copies()

        def carols_name_through(sdk: StreamChat) -> str:
            state = sdk.channel("messaging", channel_id).query(state=True)
            return next(m["user"]["name"] for m in state["members"] if m["user_id"] == carol)

        assert carols_name_through(sdk_b) == carol.title()  # cached on B

        redis_server.stop()
        for node in (node_a, node_b):
            status, body = await eventually(lambda n=node: _probe(n, "/readyz"),
                                            lambda r: r[0] == 503, what="readyz failing")
            assert body["broker"] == "disconnected"
            status, body = await _probe(node, "/healthz")
            assert status == 200 and body["broker"] == "disconnected"

        # An event sent during the outage: refused as a whole, retryable.
        with pytest.raises(StreamAPIException) as info:
            sdk_a.channel("messaging", channel_id).send_event({"type": hooked}, alice)
        assert info.value.status_code == 503 and info.value.error_code == -1
        assert "retry" in info.value.error_message
        assert await copies() == before

        # A write during the outage stands; its invalidation cannot be published, and B
        # does not serve its stale copy meanwhile.
        sdk_a.update_user_partial({"id": carol, "set": {"name": "Renamed during the outage"}})
        assert carols_name_through(sdk_b) == "Renamed during the outage"

        # What the server says on its own still reaches this node's connections, and
        # watching works.
        async with HubbubClient(node_a.url, API_KEY, sdk_a.create_token(carol)) as carol_on_a:
            await carol_on_a.watch("messaging", channel_id)
            started = await alice_on_a.next_event(
                lambda e: e["type"] == "user.watching.start" and e["user"]["id"] == carol,
                timeout=EVENT_TIMEOUT)
            assert started["cid"] == f"messaging:{channel_id}"

        redis_server.start()
        for node in (node_a, node_b):
            await eventually(lambda n=node: _probe(n, "/readyz"), lambda r: r[0] == 200,
                             what="readyz passing again")

        # B dropped what it cached before (it may have missed invalidations).
        assert carols_name_through(sdk_b) == "Renamed during the outage"

        # Node B published nothing during the outage: its first call works.
        sent = sdk_b.channel("messaging", channel_id).send_event(
            {"type": hooked, "n": 1}, bob)["event"]
        for listener in (alice_on_a, bob_on_b):
            assert await listener.next_event(custom, timeout=EVENT_TIMEOUT) == sent
        sdk_a.channel("messaging", channel_id).send_event({"type": hooked, "n": 2}, alice)
        for listener in (alice_on_a, bob_on_b):
            assert (await listener.next_event(custom, timeout=EVENT_TIMEOUT))["n"] == 2
        assert await copies() == before + 2

        # The restarted Redis was empty: the nodes registered their watchers again.
        async def watcher_count(node: Server) -> int:
            response = await rest(node, server_token, "POST",
                                  f"/channels/messaging/{channel_id}/query", {"state": True})
            return int(response.json()["watcher_count"])

        for node in (node_a, node_b):
            await eventually(lambda n=node: watcher_count(n), lambda c: c == 2,
                             what="watchers registered again")
    sdk_a.update_app_settings(webhook_url="", webhook_events=[])

    for node in (node_a, node_b):
        log = node.log()
        assert "Traceback" not in log
        warnings = [line for line in log.splitlines()
                    if " WARNING hubbub.broker.redis" in line]
        assert len(warnings) == 2, warnings  # the outage starts; it ends
        assert " 500 " not in log
