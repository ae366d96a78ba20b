"""Issue 11, tried as an attacker with an account of their own would: access that was taken away
(removal, deletion, deactivation, revocation) is gone at once, and no limit can be raced or
sidestepped (connections per user, frames per connection, anonymous callers, watched channels,
channel roles, /metrics).

Absence is proven without sleeping where possible: after the event that must not arrive, a
marker user event is sent to the same user; one socket keeps the server's order, so the marker
arriving first proves the other never will.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from hubbub.client import HubbubClient, HubbubClientError
from tests.conftest import Server, sdk_client, start_server, uid
from tests.e2e.conftest import Connect, is_type, make_channel

#: A second loopback address: requests from it come from "another client" (Linux routes all
#: of 127.0.0.0/8 to the loopback interface).
OTHER_ADDRESS = "127.0.0.2"


def _token(server: Server, user_id: str, **claims: Any) -> str:
    import jwt

    return jwt.encode({"user_id": user_id, **claims}, str(server.api_secret), algorithm="HS256")


async def _marker(client: StreamChat, listener: HubbubClient, user_id: str) -> list[dict]:
    """Send a marker user event to ``user_id``; return every event ``listener`` delivered
    before it (health checks aside)."""
    n = uid("mark")
    client.send_user_custom_event(user_id, {"type": "hubbub_marker", "n": n})
    seen: list[dict] = []

    async def wait() -> list[dict]:
        async for event in listener.events():
            if event.get("type") == "health.check":
                continue
            if event.get("type") == "hubbub_marker" and event.get("n") == n:
                return seen
            seen.append(event)
        raise ConnectionError(f"connection closed (code {listener.close_code})")

    return await asyncio.wait_for(wait(), 10)


async def _wait_closed(listener: HubbubClient, timeout: float = 10) -> int | None:
    """Wait until the server closes ``listener``'s socket; its close code."""
    async def drain() -> None:
        async for _ in listener.events():
            pass

    await asyncio.wait_for(drain(), timeout)
    return listener.close_code


def _ws_url(server: Server) -> str:
    return server.url.replace("http", "ws", 1) + "/connect"


def _connect_params(server: Server, user_id: str | None, token: str | None) -> dict[str, str]:
    return {"json": json.dumps({"user_id": user_id, "user_details": {"id": user_id}}
                               if user_id else {"user_details": {}}),
            "api_key": str(server.api_key), "authorization": token or "",
            "stream-auth-type": "jwt" if token else "anonymous"}


async def _first_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=30)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


# --- 1. a removed member ------------------------------------------------------------------


async def test_removed_member_gets_removal_events_then_nothing_more(
        client: StreamChat, connect: Connect) -> None:
    owner, bob, carol = uid("owner"), uid("bob"), uid("carol")
    channel_id = make_channel(client, [owner, bob, carol], creator=owner)
    cid = f"messaging:{channel_id}"
    bob_socket = await connect(bob)
    carol_socket = await connect(carol)
    await bob_socket.watch("messaging", channel_id)
    await carol_socket.watch("messaging", channel_id)
    channel = client.channel("messaging", channel_id)

    channel.remove_members([bob])
    channel.send_event({"type": "secret_plan", "text": "bob must not see this"}, owner)

    before_marker = await _marker(client, bob_socket, bob)
    types = [e["type"] for e in before_marker]
    assert "secret_plan" not in types, before_marker
    note = next(e for e in before_marker if e["type"] == "notification.removed_from_channel")
    assert note["cid"] == cid and note["channel_type"] == "messaging"
    assert note["channel_id"] == channel_id
    assert note["channel"]["cid"] == cid
    assert note["member"]["user_id"] == bob and note["user"]["id"] == bob
    removed = await carol_socket.next_event(is_type("member.removed"))
    assert removed["cid"] == cid and removed["user"]["id"] == bob
    assert removed["member"]["user_id"] == bob
    assert (await carol_socket.next_event(is_type("secret_plan")))["text"]
    # Watching again is refused: bob is no member any more.
    with pytest.raises(HubbubClientError) as refused:
        await bob_socket.watch("messaging", channel_id)
    assert refused.value.code == 17


# --- 2. a deleted user ----------------------------------------------------------------------


async def test_deleted_user_cannot_call_connect_or_restore_itself(client: StreamChat,
                                                                  server: Server,
                                                                  connect: Connect) -> None:
    mallory = uid("mallory")
    client.upsert_user({"id": mallory, "name": "M"})
    token = client.create_token(mallory)
    socket = await connect(mallory, token=token)

    client.delete_user(mallory)
    # The open socket is closed, with a code that is not 1000 (the SDK's one reconnect is then
    # refused below, which stops it).
    code = await _wait_closed(socket)
    assert code is not None and code != 1000

    # REST with the old token: Stream's answer, 404 code 16 "the user X was deleted".
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": token, "stream-auth-type": "jwt"}
        params = {"api_key": str(server.api_key)}
        for method, path, body in (
                ("POST", "/users", {"users": {mallory: {"id": mallory, "name": "back"}}}),
                ("PATCH", "/users", {"users": [{"id": mallory, "set": {"name": "back"}}]}),
                ("GET", "/users", None)):
            async with session.request(method, server.url + path, params=params, json=body,
                                       headers=headers) as resp:
                answer = await resp.json()
                assert resp.status == 404, (path, answer)
                assert answer["code"] == 16 and "was deleted" in answer["message"]
        # Connecting is refused the same way (error frame, close 1000: the SDK stops).
        async with session.ws_connect(_ws_url(server),
                                      params=_connect_params(server, mallory, token)) as ws:
            frame = await _first_frame(ws)
            assert frame["error"]["code"] == 16 and "was deleted" in frame["error"]["message"]
            await ws.receive(timeout=10)
            assert ws.close_code == 1000
    # Nothing of that restored the account.
    assert client.query_users({"id": mallory})["users"] == []
    client.restore_users([mallory])
    assert client.query_users({"id": mallory})["users"][0]["name"] == "M"


async def test_server_upsert_does_not_restore_a_deleted_user(client: StreamChat) -> None:
    gone = uid("gone")
    client.upsert_user({"id": gone})
    client.delete_user(gone)
    client.upsert_user({"id": gone, "name": "again"})
    assert client.query_users({"id": gone})["users"] == []


# --- 3. revocation closes open sockets -----------------------------------------------------


async def test_user_revocation_closes_covered_sockets_and_refuses_their_tokens(
        client: StreamChat, server: Server, connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    client.upsert_users([{"id": alice}, {"id": bob}])
    now = int(time.time())
    old = await connect(alice, token=_token(server, alice, iat=now - 3600))
    no_iat = await connect(alice, token=_token(server, alice))
    fresh = await connect(alice, token=_token(server, alice, iat=now))
    bystander = await connect(bob, token=_token(server, bob, iat=now - 3600))

    client.revoke_user_token(alice, datetime.now(UTC) - timedelta(seconds=60))

    assert await _wait_closed(old) not in (None, 1000)
    assert await _wait_closed(no_iat) not in (None, 1000)
    assert await _marker(client, fresh, alice) == []
    assert await _marker(client, bystander, bob) == []
    for token in (_token(server, alice, iat=now - 3600), _token(server, alice)):
        again = HubbubClient(server.url, str(server.api_key), token)
        with pytest.raises(HubbubClientError) as refused:
            await again.connect()
        assert refused.value.code == 42


async def test_app_revocation_closes_sockets_with_and_without_iat(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        client = sdk_client(server)
        alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
        client.upsert_users([{"id": u} for u in (alice, bob, carol)])
        now = int(time.time())
        sockets = {}
        for user_id, token in ((alice, client.create_token(alice)),
                               (bob, _token(server, bob, iat=now - 3600)),
                               (carol, _token(server, carol, iat=now))):
            sockets[user_id] = HubbubClient(server.url, str(server.api_key), token)
            await sockets[user_id].connect()
        try:
            client.revoke_tokens(datetime.now(UTC) - timedelta(seconds=60))
            assert await _wait_closed(sockets[alice]) not in (None, 1000)
            assert await _wait_closed(sockets[bob]) not in (None, 1000)
            assert await _marker(client, sockets[carol], carol) == []
            # The SDK's default token (no iat) is refused from now on, on REST and connect.
            sdk_token = client.create_token(alice)
            again = HubbubClient(server.url, str(server.api_key), sdk_token)
            with pytest.raises(HubbubClientError) as refused:
                await again.connect()
            assert refused.value.code == 42
            resp = await asyncio.to_thread(httpx.get, server.url + "/users", params={
                "api_key": str(server.api_key),
                "payload": json.dumps({"filter_conditions": {"id": alice}})},
                headers={"Authorization": sdk_token, "stream-auth-type": "jwt"})
            assert resp.status_code == 401 and resp.json()["code"] == 42
            # Server tokens are not revoked: the revocation can be undone.
            client.update_app_settings(revoke_tokens_issued_before=None)
            await again.connect()
            await again.close()
        finally:
            for socket in sockets.values():
                await socket.close()
    finally:
        server.stop()


# --- 4. the per-user connection limit ------------------------------------------------------


async def test_200_concurrent_connects_leave_exactly_the_limit_open(client: StreamChat,
                                                                    server: Server) -> None:
    greedy = uid("greedy")
    client.upsert_user({"id": greedy})
    token = client.create_token(greedy)
    params = _connect_params(server, greedy, token)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets: list[aiohttp.ClientWebSocketResponse] = []

        async def open_one() -> dict[str, Any]:
            ws = await session.ws_connect(_ws_url(server), params=params)
            sockets.append(ws)
            return await _first_frame(ws)

        try:
            frames = await asyncio.gather(*(open_one() for _ in range(200)))
            opened = [f for f in frames if f.get("type") == "health.check"]
            refused = [f for f in frames if "error" in f]
            assert len(opened) == 50, (len(opened), len(refused))
            assert len(refused) == 150 and all(f["error"]["code"] == 9 for f in refused)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))


# --- 5. frames of every kind count ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "ping"])
async def test_binary_and_ping_floods_are_cut_off(client: StreamChat, server: Server,
                                                  kind: str) -> None:
    flooder = uid("flood")
    client.upsert_user({"id": flooder})
    params = _connect_params(server, flooder, client.create_token(flooder))
    async with aiohttp.ClientSession() as session, session.ws_connect(
            _ws_url(server), params=params) as ws:
        assert (await _first_frame(ws))["type"] == "health.check"
        for _ in range(200):
            if ws.closed:
                break
            if kind == "binary":
                await ws.send_bytes(b"\x00" * 16)
            else:
                await ws.ping(b"x")
        error = None
        while True:
            msg = await ws.receive(timeout=10)
            if msg.type == aiohttp.WSMsgType.TEXT and "error" in json.loads(msg.data):
                error = json.loads(msg.data)["error"]
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING):
                break
        assert error is not None and error["code"] == 9
        assert ws.close_code == 1008


async def test_pings_are_still_answered(client: StreamChat, server: Server) -> None:
    pinger = uid("pinger")
    client.upsert_user({"id": pinger})
    params = _connect_params(server, pinger, client.create_token(pinger))
    async with aiohttp.ClientSession() as session, session.ws_connect(
            _ws_url(server), params=params, autoping=False) as ws:
        assert (await _first_frame(ws))["type"] == "health.check"
        await ws.ping(b"hello")
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.PONG and msg.data == b"hello"


# --- 8. a connect racing a deactivation ----------------------------------------------------


async def _race_a_deactivation(client: StreamChat, server: Server, victim: str) -> None:
    """40 connects of ``victim`` spread around one deactivation; wait until each socket the
    server let in is closed by it again."""
    params = _connect_params(server, victim, client.create_token(victim))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets: list[aiohttp.ClientWebSocketResponse] = []

        async def open_one(delay: float) -> None:
            await asyncio.sleep(delay)
            sockets.append(await session.ws_connect(_ws_url(server), params=params))

        async def deactivate() -> None:
            await asyncio.sleep(0.05)
            await asyncio.to_thread(client.deactivate_user, victim)

        await asyncio.gather(deactivate(), *(open_one(i * 0.005) for i in range(40)))
        try:
            for ws in sockets:
                while True:
                    msg = await ws.receive(timeout=10)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.CLOSING):
                        break
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))


async def test_connects_racing_a_deactivation_never_leave_a_socket_open(
        client: StreamChat, server: Server) -> None:
    for _ in range(3):
        victim = uid("racer")
        client.upsert_user({"id": victim})
        # Every socket that was let in is closed by the server: none stays open...
        await _race_a_deactivation(client, server, victim)
        # ...and no connect undid the deactivation.
        stored = client.query_users({"id": victim}, include_deactivated_users=True)["users"]
        assert stored and stored[0].get("deactivated_at"), stored


# --- 6, 7, 9, 10: limits on a server of their own ------------------------------------------


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("limits"), env={
        "HUBBUB_WS_MAX_WATCHED_CHANNELS": "3", "HUBBUB_METRICS_TOKEN": "metrics-s3cret"})
    yield server
    server.stop()


@pytest.fixture
def anonymous_limits_server(tmp_path: Path) -> Iterator[Server]:
    """Stream's real per-user limit (60/min, 2/s) and room for 3 anonymous connections."""
    server = start_server(tmp_path, env={"HUBBUB_WS_MAX_ANONYMOUS_CONNECTIONS": "3",
                                         "HUBBUB_RATE_LIMIT_PER_USER": "60"})
    yield server
    server.stop()


@pytest.fixture
async def other_address_session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose requests come from another client address."""
    connector = aiohttp.TCPConnector(local_addr=(OTHER_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def test_reserved_user_ids_cannot_be_taken(client: StreamChat, server: Server) -> None:
    for reserved in ("anonymous", "anon-1234abcd"):
        resp = httpx.post(server.url + "/guest", params={"api_key": str(server.api_key)},
                          json={"user": {"id": reserved}},
                          headers={"stream-auth-type": "anonymous"})
        assert resp.status_code == 400, resp.text
        with pytest.raises(StreamAPIException) as refused:
            client.upsert_user({"id": reserved})
        assert refused.value.status_code == 400


async def test_anonymous_request_cannot_drive_another_clients_anonymous_connection(
        client: StreamChat, server: Server,
        other_address_session: aiohttp.ClientSession) -> None:
    owner = uid("owner")
    public = make_channel(client, [owner], channel_type="livestream")
    async with HubbubClient(server.url, str(server.api_key), None, anonymous=True) as victim:
        path = f"/channels/livestream/{public}/query"
        async with other_address_session.post(
                server.url + path, json={"watch": True, "state": True},
                params={"api_key": str(server.api_key), "connection_id": victim.connection_id},
                headers={"stream-auth-type": "anonymous"}) as resp:
            body = await resp.json()
            assert resp.status == 400, body
        async with other_address_session.post(
                server.url + f"/channels/livestream/{public}/stop-watching", json={},
                params={"api_key": str(server.api_key), "connection_id": victim.connection_id},
                headers={"stream-auth-type": "anonymous"}) as resp:
            assert resp.status == 400, await resp.json()
        # Its own client (same address) may.
        await victim.watch("livestream", public)
        client.channel("livestream", public).send_event({"type": "score"}, owner)
        assert (await victim.next_event(is_type("score")))["cid"] == f"livestream:{public}"


async def test_anonymous_callers_have_their_own_budget_and_a_capped_number_of_sockets(
        anonymous_limits_server: Server,
        other_address_session: aiohttp.ClientSession) -> None:
    limits_server = anonymous_limits_server
    params = {"api_key": str(limits_server.api_key)}
    headers = {"stream-auth-type": "anonymous"}
    refused = 0
    for _ in range(70):
        async with other_address_session.post(limits_server.url + "/guest", params=params,
                                              json={"user": {}}, headers=headers) as resp:
            refused += resp.status == 429
    assert refused > 0
    # Another client's guest sign-up is not blocked by that one.
    resp = await asyncio.to_thread(httpx.post, limits_server.url + "/guest", params=params,
                                   json={"user": {}}, headers=headers)
    assert resp.status_code == 201, resp.text

    opened = [HubbubClient(limits_server.url, str(limits_server.api_key), None, anonymous=True)
              for _ in range(3)]
    try:
        for anon in opened:
            await anon.connect()
        extra = HubbubClient(limits_server.url, str(limits_server.api_key), None,
                             anonymous=True)
        with pytest.raises(HubbubClientError) as capped:
            await extra.connect()
        assert capped.value.code == 9
        await opened.pop().close()
        await extra.connect()
        opened.append(extra)
    finally:
        for anon in opened:
            await anon.close()


async def test_one_connection_watches_at_most_the_configured_number_of_channels(
        limits_server: Server) -> None:
    client = sdk_client(limits_server)
    owner, watcher = uid("owner"), uid("watcher")
    client.upsert_users([{"id": owner}, {"id": watcher}])
    ids = [make_channel(client, [owner], channel_type="livestream") for _ in range(4)]
    async with HubbubClient(limits_server.url, str(limits_server.api_key),
                            client.create_token(watcher)) as conn:
        for channel_id in ids[:3]:
            await conn.watch("livestream", channel_id)
        with pytest.raises(HubbubClientError) as refused:
            await conn.watch("livestream", ids[3])
        assert refused.value.status == 400 and refused.value.code == 4
        assert "at most 3 channels" in refused.value.body["message"]
        await conn.watch("livestream", ids[0])  # watching one again is no new channel
        await conn.stop_watching("livestream", ids[0])
        await conn.watch("livestream", ids[3])


async def test_client_cannot_give_itself_a_user_role_as_channel_role(
        client: StreamChat, connect: Connect) -> None:
    schemer = uid("schemer")
    client.upsert_user({"id": schemer})
    conn = await connect(schemer)
    for role in ("admin", "moderator", "user"):
        with pytest.raises(HubbubClientError) as refused:
            await conn.request("POST", f"/channels/messaging/{uid('ch')}/query", {
                "data": {"members": [{"user_id": schemer, "channel_role": role}]}})
        assert refused.value.status == 400 and refused.value.code == 4, role
    state = await conn.request("POST", f"/channels/messaging/{uid('ch')}/query", {
        "data": {"members": [{"user_id": schemer, "channel_role": "channel_moderator"}]}})
    assert state["members"][0]["channel_role"] == "channel_moderator"


def test_metrics_need_the_bearer_token_when_one_is_set(limits_server: Server) -> None:
    url = limits_server.url + "/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    resp = httpx.get(url, headers={"Authorization": "Bearer metrics-s3cret"})
    assert resp.status_code == 200 and "hubbub_connections" in resp.text
