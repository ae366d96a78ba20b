"""Issue #14 on a cluster: two ``hubbub serve`` nodes on PostgreSQL and Redis. History lives in
Redis, so a JS SDK client cut from node A that reconnects to node B finds what it missed; a
user with no connection on either node gets user events in their inbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from stream_chat import StreamChat

from hubbub.client import HubbubClient
from tests.conftest import API_KEY, API_SECRET, Server, uid
from tests.contract.conftest import MakeDatabase
from tests.contract.nodes import start_nodes, stop_nodes
from tests.sdk.test_js_sdk import JS_DIR, NODE, make_channel, run_scenario


@pytest.fixture(scope="module")
def nodes(make_pg_database: MakeDatabase) -> Iterator[tuple[Server, Server]]:
    database_url = make_pg_database()
    broker_url = f"redis://127.0.0.1:6379/0?prefix=hubbub-test-{uuid.uuid4().hex[:10]}"
    pair = start_nodes(2, database_url, {"HUBBUB_BROKER_URL": broker_url})
    try:
        yield pair[0], pair[1]
    finally:
        stop_nodes(pair)


@pytest.mark.skipif(NODE is None or not (JS_DIR / "node_modules" / "stream-chat").is_dir(),
                    reason="node and tests/sdk/js/node_modules are needed")
def test_js_client_cut_from_one_node_syncs_on_the_other(nodes: tuple[Server, Server]) -> None:
    node_a, node_b = nodes
    sdk = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=node_a.url)
    watcher, sender = uid("walt"), uid("sam")
    channel_id = make_channel(sdk, "messaging", [watcher, sender], creator=sender)
    removed_id = make_channel(sdk, "messaging", [watcher, sender], creator=sender)
    result = run_scenario(node_a, "syncAfterCut", {
        "channelType": "messaging", "channelId": channel_id, "removedChannelId": removed_id,
        "watcher": watcher, "sender": sender, "count": 20, "otherUrl": node_b.url,
    }, timeout=60)
    assert result["missed"] == list(range(20))
    assert result["removed"] == [f"messaging:{removed_id}"]
    assert result["notes"] == 1


async def test_user_event_is_kept_only_when_no_node_holds_a_connection(
        nodes: tuple[Server, Server]) -> None:
    node_a, node_b = nodes
    sdk_a = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=node_a.url)
    user = uid("uma")
    channel_id = make_channel(sdk_a, "messaging", [user])
    # Connected to node B; the event is sent through node A: live, and not kept.
    client = HubbubClient(node_b.url, API_KEY, sdk_a.create_token(user))
    await client.connect()
    try:
        sdk_a.send_user_custom_event(user, {"type": "note", "n": 1})
        assert (await client.next_event(lambda e: e.get("type") == "note"))["n"] == 1
    finally:
        await client.close()
    # No connection anywhere now: kept, and handed out once (through either node).
    sdk_a.send_user_custom_event(user, {"type": "note", "n": 2})
    body = {"channel_cids": [f"messaging:{channel_id}"], "last_sync_at": _recent(), "user_id": user}
    sdk_b = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=node_b.url)
    first = sdk_b.post("sync", data=body)
    assert [e["n"] for e in first["events"] if e["type"] == "note"] == [2]
    second = sdk_a.post("sync", data=body)
    assert [e for e in second["events"] if e["type"] == "note"] == []


def _recent() -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
