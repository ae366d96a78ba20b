"""Two nodes act as one server: every kind of state a node keeps in memory (settings, channel
types, grants, roles, users, channels, memberships, verified tokens) changed through node A
holds through node B on the very next request, and through A itself; presence and watcher
counts are cluster-wide, and a node killed with SIGKILL stops counting.

Each "before" call primes node B's caches with the old value, so the "after" call fails if
B served from a cache that was not invalidated.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from hubbub import auth
from hubbub.client import HubbubClient
from tests.conftest import API_KEY, API_SECRET, Server, free_port, uid
from tests.contract.conftest import MakeDatabase
from tests.contract.nodes import eventually, rest, start_nodes, stop_nodes
from tests.contract.test_cluster import EVENT_TIMEOUT, Listeners, new_channel

#: Presence heartbeat lapse in these tests (the README documents the default, 15 s).
PRESENCE_TTL = 3.0


@pytest.fixture(scope="module")
def cluster_env(make_pg_database: MakeDatabase) -> dict[str, str]:
    prefix = f"hubbub-test-{uuid.uuid4().hex[:10]}"
    return {"database_url": make_pg_database(),
            "HUBBUB_BROKER_URL": f"redis://127.0.0.1:6379/0?prefix={prefix}",
            "HUBBUB_PRESENCE_TTL": str(PRESENCE_TTL)}


@pytest.fixture(scope="module")
def pair(cluster_env: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    env = {k: v for k, v in cluster_env.items() if k != "database_url"}
    nodes = start_nodes(2, cluster_env["database_url"], env)
    try:
        yield nodes[0], nodes[1]
    finally:
        stop_nodes(nodes)


@pytest.fixture(scope="module")
def sdk_a(pair: tuple[Server, Server]) -> StreamChat:
    return StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=pair[0].url)


@pytest.fixture(scope="module")
def sdk_b(pair: tuple[Server, Server]) -> StreamChat:
    return StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=pair[1].url)


@pytest.fixture
async def listeners(sdk_a: StreamChat) -> Any:
    opened = Listeners(sdk_a)
    yield opened
    await opened.close()


def refusal(call: Any, *args: Any, **kwargs: Any) -> StreamAPIException:
    with pytest.raises(StreamAPIException) as info:
        call(*args, **kwargs)
    return info.value


def new_type(sdk: StreamChat, **settings: Any) -> str:
    name = uid("t").replace("-", "_")
    sdk.create_channel_type({"name": name, **settings})
    return name


async def send_as(node: Server, token: str, channel_type: str, channel_id: str,
                  event_type: str = "ping") -> tuple[int, dict[str, Any]]:
    response = await rest(node, token, "POST", f"/channels/{channel_type}/{channel_id}/event",
                          {"event": {"type": event_type}})
    return response.status_code, response.json()


# settings and their caches ----------------------------------------------------------------


def test_a_channel_type_created_through_a_exists_through_b(sdk_a: StreamChat,
                                                           sdk_b: StreamChat) -> None:
    name = uid("t").replace("-", "_")
    assert refusal(sdk_b.get_channel_type, name).status_code == 404
    sdk_a.create_channel_type({"name": name})
    assert sdk_b.get_channel_type(name)["name"] == name
    assert name in sdk_b.list_channel_types()["channel_types"]


def test_a_feature_switched_off_through_a_is_off_through_b(sdk_a: StreamChat,
                                                           sdk_b: StreamChat) -> None:
    name = new_type(sdk_a)
    alice = uid("alice")
    sdk_a.upsert_user({"id": alice})
    channel_id = uid("c")
    sdk_a.channel(name, channel_id, {"members": [alice]}).create(alice)
    sdk_b.channel(name, channel_id).send_event({"type": "before"}, alice)

    sdk_a.update_channel_type(name, custom_events=False)
    for sdk in (sdk_b, sdk_a):
        denial = refusal(sdk.channel(name, channel_id).send_event, {"type": "after"}, alice)
        assert (denial.status_code, denial.error_code) == (400, 18)
    assert sdk_b.get_channel_type(name)["custom_events"] is False


async def test_a_grant_revoked_through_a_is_refused_through_b(sdk_a: StreamChat,
                                                             pair: tuple[Server, Server]) -> None:
    node_a, node_b = pair
    name = new_type(sdk_a)
    alice, owner = uid("alice"), uid("owner")
    sdk_a.upsert_users([{"id": alice}, {"id": owner}])
    channel_id = uid("c")
    sdk_a.channel(name, channel_id, {"members": [alice]}).create(owner)
    token = sdk_a.create_token(alice)
    assert (await send_as(node_b, token, name, channel_id))[0] == 201
    member_grants = sdk_a.get_channel_type(name)["grants"]["channel_member"]

    sdk_a.update_channel_type(name, grants={"channel_member": [
        g for g in member_grants if g != "send-custom-event"]})
    for node in (node_b, node_a):
        status, body = await send_as(node, token, name, channel_id)
        assert (status, body["code"]) == (403, 17)

    sdk_a.update_channel_type(name, grants={"channel_member": member_grants})
    assert (await send_as(node_b, token, name, channel_id))[0] == 201


def test_a_custom_role_created_through_a_is_known_through_b(sdk_a: StreamChat,
                                                            sdk_b: StreamChat) -> None:
    name = new_type(sdk_a)
    role = uid("role").replace("-", "_")
    denial = refusal(sdk_b.update_channel_type, name, grants={role: ["read-channel"]})
    assert denial.status_code == 400
    sdk_a.create_role(role)
    sdk_b.update_channel_type(name, grants={role: ["read-channel"]})
    assert sdk_a.get_channel_type(name)["grants"][role] == ["read-channel"]


async def test_webhooks_configured_through_a_are_written_by_b(
        sdk_a: StreamChat, sdk_b: StreamChat, pair: tuple[Server, Server]) -> None:
    _, node_b = pair
    server_token = auth.create_token(API_SECRET)

    async def written() -> int:
        response = await rest(node_b, server_token, "GET", "/webhooks/deliveries")
        assert response.status_code == 200, response.text
        return sum(response.json()["counts"].values())

    alice = uid("alice")
    channel_id = new_channel(sdk_a, [alice])
    hooked = uid("hooked").replace("-", "_")
    before = await written()
    sdk_b.channel("messaging", channel_id).send_event({"type": hooked}, alice)
    assert await written() == before  # not hooked yet
    # Nothing listens there: the copies stay pending, which is all this test counts.
    sdk_a.update_app_settings(webhook_url=f"http://127.0.0.1:{free_port()}/hook",
                              webhook_events=[hooked])
    try:
        sdk_b.channel("messaging", channel_id).send_event({"type": hooked}, alice)
        assert await written() == before + 1
        assert sdk_b.get_app_settings()["app"]["webhook_events"] == [hooked]
    finally:
        sdk_a.update_app_settings(webhook_url="", webhook_events=[])


def test_a_user_changed_through_a_reads_changed_through_b(sdk_a: StreamChat,
                                                          sdk_b: StreamChat) -> None:
    alice = uid("alice")
    channel_id = new_channel(sdk_a, [alice])

    def name_through(sdk: StreamChat) -> str:
        state = sdk.channel("messaging", channel_id).query(state=True)
        return next(m["user"]["name"] for m in state["members"] if m["user_id"] == alice)

    assert name_through(sdk_b) == alice.title()
    sdk_a.update_user_partial({"id": alice, "set": {"name": "Renamed on A"}})
    assert name_through(sdk_b) == "Renamed on A"
    assert name_through(sdk_a) == "Renamed on A"


async def test_a_membership_removed_through_a_is_gone_through_b(
        sdk_a: StreamChat, sdk_b: StreamChat, pair: tuple[Server, Server]) -> None:
    node_a, node_b = pair
    alice, owner = uid("alice"), uid("owner")
    channel_id = new_channel(sdk_a, [owner, alice])
    token = sdk_a.create_token(alice)

    def members_through(sdk: StreamChat) -> list[str]:
        state = sdk.channel("messaging", channel_id).query(state=True)
        return sorted(m["user_id"] for m in state["members"])

    for node in (node_b, node_a):  # both cache the channel and alice's membership
        assert (await send_as(node, token, "messaging", channel_id))[0] == 201
    assert members_through(sdk_b) == sorted([owner, alice])  # and the member list

    sdk_a.channel("messaging", channel_id).remove_members([alice])
    for node in (node_b, node_a):
        status, body = await send_as(node, token, "messaging", channel_id)
        assert (status, body["code"]) == (403, 17)
    assert members_through(sdk_b) == [owner]

    sdk_a.channel("messaging", channel_id).add_members([alice])
    for node in (node_b, node_a):
        assert (await send_as(node, token, "messaging", channel_id))[0] == 201


async def test_a_channel_setting_changed_through_a_holds_through_b(
        sdk_a: StreamChat, pair: tuple[Server, Server]) -> None:
    node_a, node_b = pair
    alice = uid("alice")
    channel_id = new_channel(sdk_a, [alice])
    token = sdk_a.create_token(alice)
    assert (await send_as(node_b, token, "messaging", channel_id, "typing.start"))[0] == 201

    sdk_a.channel("messaging", channel_id).update_partial(
        {"config_overrides": {"typing_events": False}})
    for node in (node_b, node_a):
        status, body = await send_as(node, token, "messaging", channel_id, "typing.start")
        assert (status, body["code"]) == (400, 18)


async def test_a_channel_deleted_through_a_is_gone_through_b(
        sdk_a: StreamChat, pair: tuple[Server, Server]) -> None:
    _, node_b = pair
    alice = uid("alice")
    channel_id = new_channel(sdk_a, [alice])
    token = sdk_a.create_token(alice)
    assert (await send_as(node_b, token, "messaging", channel_id))[0] == 201
    sdk_a.channel("messaging", channel_id).delete()
    assert (await send_as(node_b, token, "messaging", channel_id))[0] == 404


async def test_revocations_through_a_refuse_cached_tokens_on_b(
        sdk_a: StreamChat, pair: tuple[Server, Server]) -> None:
    _, node_b = pair
    alice, bob = uid("alice"), uid("bob")
    channel_id = new_channel(sdk_a, [alice, bob])
    issued = int(time.time()) - 120
    alice_token = sdk_a.create_token(alice, iat=issued)
    bob_token = sdk_a.create_token(bob, iat=issued)
    for token in (alice_token, bob_token):  # verified, and the verification cached, on B
        assert (await send_as(node_b, token, "messaging", channel_id))[0] == 201

    sdk_a.revoke_user_token(alice, datetime.now(UTC) - timedelta(seconds=60))
    status, body = await send_as(node_b, alice_token, "messaging", channel_id)
    assert (status, body["code"]) == (401, 42)
    assert (await send_as(node_b, bob_token, "messaging", channel_id))[0] == 201

    sdk_a.update_app_settings(revoke_tokens_issued_before=time_iso(time.time() - 60))
    try:
        status, body = await send_as(node_b, bob_token, "messaging", channel_id)
        assert (status, body["code"]) == (401, 42)
    finally:
        sdk_a.update_app_settings(revoke_tokens_issued_before=None)
    assert (await send_as(node_b, bob_token, "messaging", channel_id))[0] == 201


def time_iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


async def test_an_expired_token_is_refused_although_its_verification_was_cached(
        sdk_a: StreamChat, pair: tuple[Server, Server]) -> None:
    _, node_b = pair
    alice = uid("alice")
    channel_id = new_channel(sdk_a, [alice])
    token = sdk_a.create_token(alice, exp=int(time.time()) + 1)
    # Within the 5 s leeway the token is still good, and its verification is now cached.
    assert (await send_as(node_b, token, "messaging", channel_id))[0] == 201

    async def attempt() -> tuple[int, dict[str, Any]]:
        return await send_as(node_b, token, "messaging", channel_id)

    status, body = await eventually(attempt, lambda r: r[0] != 201, within=30,
                                    what="the expired token being refused")
    assert (status, body["code"]) == (401, 40)


# presence ----------------------------------------------------------------------------------


async def _state_through(node: Server, channel_id: str) -> dict[str, Any]:
    response = await rest(node, auth.create_token(API_SECRET), "POST",
                          f"/channels/messaging/{channel_id}/query", {"state": True})
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def _online(sdk: StreamChat, ids: list[str]) -> dict[str, bool]:
    return {u["id"]: u["online"] for u in sdk.query_users({"id": {"$in": ids}})["users"]}


async def test_watchers_and_online_agree_through_both_nodes(
        pair: tuple[Server, Server], sdk_a: StreamChat, sdk_b: StreamChat,
        listeners: Listeners) -> None:
    node_a, node_b = pair
    alice, bob = uid("alice"), uid("bob")
    channel_id = new_channel(sdk_a, [alice, bob])
    assert _online(sdk_b, [alice, bob]) == {alice: False, bob: False}
    alice_on_a = await listeners.connect(node_a, alice)
    await alice_on_a.watch("messaging", channel_id)
    bob_on_b = await listeners.connect(node_b, bob)
    await bob_on_b.watch("messaging", channel_id)

    # B announced bob's watch with the count of the whole cluster.
    started = await alice_on_a.next_event(
        lambda e: e["type"] == "user.watching.start" and e["user"]["id"] == bob,
        timeout=EVENT_TIMEOUT)
    assert started["watcher_count"] == 2
    for node in (node_a, node_b):
        state = await _state_through(node, channel_id)
        assert state["watcher_count"] == 2
        assert sorted(w["id"] for w in state["watchers"]) == sorted([alice, bob])
        assert all(w["online"] for w in state["watchers"])
    for sdk in (sdk_a, sdk_b):
        assert _online(sdk, [alice, bob]) == {alice: True, bob: True}

    await bob_on_b.close()
    for sdk in (sdk_a, sdk_b):
        await eventually(lambda s=sdk: _async(_online(s, [alice, bob])),
                         lambda o: o == {alice: True, bob: False}, what="bob offline")
    for node in (node_a, node_b):
        assert (await _state_through(node, channel_id))["watcher_count"] == 1


async def _async(value: Any) -> Any:
    return value


async def test_presence_changes_reach_a_presence_watcher_on_the_other_node(
        pair: tuple[Server, Server], sdk_a: StreamChat, listeners: Listeners) -> None:
    node_a, node_b = pair
    alice, dave = uid("alice"), uid("dave")
    channel_id = new_channel(sdk_a, [alice, dave])
    alice_on_a = await listeners.connect(node_a, alice)
    # What the JS SDK sends for channel.watch({presence: true}).
    answer = await alice_on_a.request("POST", f"/channels/messaging/{channel_id}/query",
                                      {"state": True, "watch": True, "presence": True})
    assert answer["channel"]["id"] == channel_id

    dave_on_b = await listeners.connect(node_b, dave)
    online = await alice_on_a.next_event(
        lambda e: e["type"] == "user.presence.changed" and e["user"]["id"] == dave,
        timeout=EVENT_TIMEOUT)
    assert online["user"]["online"] is True
    await dave_on_b.close()
    offline = await alice_on_a.next_event(
        lambda e: e["type"] == "user.presence.changed" and e["user"]["id"] == dave,
        timeout=EVENT_TIMEOUT)
    assert offline["user"]["online"] is False


async def test_a_node_killed_with_sigkill_stops_counting(
        pair: tuple[Server, Server], cluster_env: dict[str, str], sdk_a: StreamChat,
        sdk_b: StreamChat, listeners: Listeners) -> None:
    node_a, node_b = pair
    env = {k: v for k, v in cluster_env.items() if k != "database_url"}
    (node_c,) = start_nodes(1, cluster_env["database_url"], env)
    try:
        alice, carol = uid("alice"), uid("carol")
        channel_id = new_channel(sdk_a, [alice, carol])
        alice_on_a = await listeners.connect(node_a, alice)
        await alice_on_a.watch("messaging", channel_id)
        carol_on_c = HubbubClient(node_c.url, API_KEY, sdk_a.create_token(carol))
        await carol_on_c.connect()
        await carol_on_c.watch("messaging", channel_id)
        for node in (node_a, node_b):
            assert (await _state_through(node, channel_id))["watcher_count"] == 2
        assert _online(sdk_b, [carol]) == {carol: True}

        node_c.stop(signal.SIGKILL)
        # Bounded by the presence TTL (3 s here) plus one heartbeat of a live node.
        for node in (node_a, node_b):
            state = await eventually(lambda n=node: _state_through(n, channel_id),
                                     lambda s: s["watcher_count"] == 1,
                                     within=6 * PRESENCE_TTL, what="carol's watch expiring")
            assert [w["id"] for w in state["watchers"]] == [alice]
        for sdk in (sdk_a, sdk_b):
            await eventually(lambda s=sdk: _async(_online(s, [carol])),
                             lambda o: o == {carol: False}, within=6 * PRESENCE_TTL,
                             what="carol offline")
        await carol_on_c.close()
    finally:
        stop_nodes([node_c])
