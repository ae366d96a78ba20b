"""The WebSocket: handshake, keep-alive, errors, watching, slow clients and shutdown."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import aiohttp
import jwt
import pytest
from stream_chat import StreamChat

from hubbub.client import HubbubClient, HubbubClientError
from tests.conftest import Server, sdk_client, start_server, uid
from tests.e2e.conftest import Connect, connector, is_type, make_channel


async def test_handshake_is_a_health_check_with_connection_id_and_me(client: StreamChat,
                                                                     connect: Connect) -> None:
    alice = uid("alice")
    client.upsert_user({"id": alice, "name": "Alice", "color": "red"})
    first = await connect(alice)
    assert first.connection_id
    me = first.me
    assert me is not None
    assert me["id"] == alice and me["name"] == "Alice" and me["color"] == "red"
    assert me["online"] is True
    for key in ("devices", "mutes", "channel_mutes", "blocked_user_ids"):
        assert me[key] == []
    second = await connect(alice)
    assert second.connection_id != first.connection_id


async def test_ping_is_answered_with_health_check(client: StreamChat, connect: Connect) -> None:
    alice = uid("alice")
    client.upsert_user({"id": alice})
    conn = await connect(alice)
    await conn.ping()
    got = await conn.next_event(is_type("health.check"), skip_health=False)
    assert got["connection_id"] == conn.connection_id and got["cid"] == "*"


async def test_connect_cannot_raise_own_role(client: StreamChat, connect: Connect) -> None:
    alice = uid("alice")
    conn = await connect(alice, user={"id": alice, "role": "admin", "name": "A",
                                      "teams": ["red"]})
    assert conn.me is not None
    assert conn.me["role"] == "user" and conn.me["teams"] == []
    assert conn.me["name"] == "A"
    stored = client.query_users({"id": alice})["users"][0]
    assert stored["role"] == "user"


async def test_connect_with_other_users_details_is_refused(client: StreamChat,
                                                           server: Server) -> None:
    alice, bob = uid("alice"), uid("bob")
    conn = HubbubClient(server.url, str(server.api_key), client.create_token(alice),
                        user={"id": bob})
    with pytest.raises(HubbubClientError) as refused:
        await conn.connect()
    assert refused.value.status == 403


async def _raw_connect(server: Server, **params: str) -> tuple[dict, int | None]:
    """Open /connect with raw query parameters; return the first frame and the close code."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.url.replace("http", "ws") + "/connect",
                                      params=params) as ws:
            first = await ws.receive(timeout=5)
            closing = await ws.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            return json.loads(first.data), ws.close_code


@pytest.mark.parametrize("case", ["bad_signature", "expired", "unknown_key", "alg_none"])
async def test_auth_failure_is_one_error_frame_then_close_1000(client: StreamChat,
                                                               server: Server, case: str) -> None:
    alice = uid("alice")
    payload = {"user_id": alice}
    token = {
        "bad_signature": jwt.encode(payload, "wrong-secret-wrong-secret-wrong-secret",
                                    algorithm="HS256"),
        "expired": jwt.encode({**payload, "exp": int(time.time()) - 3600},
                              str(server.api_secret), algorithm="HS256"),
        "unknown_key": client.create_token(alice),
        "alg_none": _unsigned_token(payload),
    }[case]
    params = {"json": json.dumps({"user_id": alice, "user_details": {"id": alice}}),
              "api_key": "nope" if case == "unknown_key" else str(server.api_key),
              "authorization": token, "stream-auth-type": "jwt"}
    frame, close_code = await _raw_connect(server, **params)
    expected = {"bad_signature": 43, "expired": 40, "unknown_key": 2, "alg_none": 43}[case]
    assert frame["error"]["code"] == expected
    assert frame["error"]["StatusCode"] == 401
    assert frame["error"]["message"].startswith("Connect failed with error:")
    assert close_code == 1000


def _unsigned_token(payload: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


async def test_non_member_cannot_watch_messaging_but_anyone_watches_livestream(
        client: StreamChat, connect: Connect) -> None:
    alice, eve = uid("alice"), uid("eve")
    private = make_channel(client, [alice])
    public = make_channel(client, [alice], channel_type="livestream")
    client.upsert_user({"id": eve})
    intruder = await connect(eve)

    with pytest.raises(HubbubClientError) as refused:
        await intruder.watch("messaging", private)
    assert refused.value.status == 403 and refused.value.code == 17
    state = await intruder.watch("livestream", public)
    assert state["channel"]["cid"] == f"livestream:{public}"
    assert state["messages"] == [] and isinstance(state["members"], list)


async def test_anonymous_user_can_watch_livestream_but_not_send(client: StreamChat,
                                                                server: Server) -> None:
    alice = uid("alice")
    public = make_channel(client, [alice], channel_type="livestream")
    async with HubbubClient(server.url, str(server.api_key), None, anonymous=True) as anon:
        await anon.watch("livestream", public)
        client.channel("livestream", public).send_event({"type": "score", "home": 1}, alice)
        assert (await anon.next_event(is_type("score")))["home"] == 1
        with pytest.raises(HubbubClientError) as refused:
            await anon.send_event("livestream", public, {"type": "spam"})
        assert refused.value.status == 403


async def test_stop_watching_and_close_unsubscribe(client: StreamChat, connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    cid = make_channel(client, [alice, bob])
    stays, leaves = await connect(alice), await connect(bob)
    await stays.watch("messaging", cid)
    state = await leaves.watch("messaging", cid)
    assert state["watcher_count"] == 2
    started = await stays.next_event(lambda e: e["type"] == "user.watching.start"
                                     and e["user"]["id"] == bob)
    assert started["watcher_count"] == 2 and started["cid"] == f"messaging:{cid}"

    await leaves.stop_watching("messaging", cid)
    stopped = await stays.next_event(is_type("user.watching.stop"))
    assert stopped["user"]["id"] == bob and stopped["watcher_count"] == 1
    await stays.send_event("messaging", cid, {"type": "after_stop"})
    await stays.next_event(is_type("after_stop"))
    client.send_user_custom_event(bob, {"type": "barrier"})
    first = await leaves.next_event(lambda e: e["type"] in ("after_stop", "barrier"))
    assert first["type"] == "barrier"

    await leaves.watch("messaging", cid)
    await stays.next_event(is_type("user.watching.start"))
    await leaves.close()
    closed = await stays.next_event(is_type("user.watching.stop"))
    assert closed["user"]["id"] == bob and closed["watcher_count"] == 1


async def test_cannot_watch_with_another_users_connection(client: StreamChat,
                                                          connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    cid = make_channel(client, [alice, bob])
    victim, attacker = await connect(alice), await connect(bob)
    with pytest.raises(HubbubClientError) as refused:
        await attacker.request("POST", f"/channels/messaging/{cid}/query",
                               {"watch": True, "state": True},
                               params={"connection_id": str(victim.connection_id)})
    assert refused.value.status == 400


async def test_query_channels_with_watch_resubscribes_like_sdk_recovery(
        client: StreamChat, connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    first, second = make_channel(client, [alice, bob]), make_channel(client, [alice, bob])
    conn = await connect(bob)
    result = await conn.request("POST", "/channels", {
        "filter_conditions": {"cid": {"$in": [f"messaging:{first}", f"messaging:{second}"]}},
        "sort": [{"field": "last_message_at", "direction": -1}],
        "limit": 30, "state": True, "watch": True, "presence": False})
    assert {c["channel"]["id"] for c in result["channels"]} == {first, second}
    for cid in (first, second):
        client.channel("messaging", cid).send_event({"type": "recovered", "cid_id": cid}, alice)
        assert (await conn.next_event(is_type("recovered")))["cid_id"] == cid


async def test_server_sends_health_checks_on_its_own(tmp_path) -> None:  # noqa: ANN001
    server = start_server(tmp_path, env={"HUBBUB_HEALTH_CHECK_INTERVAL": "0.3"})
    try:
        sdk = sdk_client(server)
        sdk.upsert_user({"id": "idle"})
        async with connector(server) as connect:
            conn = await connect("idle")
            for _ in range(2):  # two unprompted health checks, no ping sent
                got = await conn.next_event(is_type("health.check"), skip_health=False)
                assert got["connection_id"] == conn.connection_id
    finally:
        server.stop()


async def test_shutdown_closes_sockets_with_a_reconnect_code(fresh_server: Server) -> None:
    sdk = sdk_client(fresh_server)
    sdk.upsert_user({"id": "someone"})
    async with connector(fresh_server) as connect:
        conn = await connect("someone")
        await asyncio.to_thread(fresh_server.stop)
        with pytest.raises(ConnectionError):
            await conn.next_event(timeout=10)
        assert conn.close_code not in (None, 1000)


async def test_slow_client_is_dropped_without_slowing_others(tmp_path) -> None:  # noqa: ANN001
    server = start_server(tmp_path, env={"HUBBUB_WS_WRITE_BUFFER_BYTES": "65536"})
    try:
        sdk = sdk_client(server)
        cid = make_channel(sdk, ["fast", "slow"])
        slow_sock = _stalled_websocket(server, sdk.create_token("slow"), "slow")
        async with connector(server) as connect:
            fast = await connect("fast")
            await fast.watch("messaging", cid)
            await fast.request("POST", f"/channels/messaging/{cid}/query",
                               {"state": True}, params={})
            await _watch_raw(server, sdk.create_token("slow"), cid, slow_sock.connection_id)
            blob = "x" * 4000
            sent = 0
            async with aiohttp.ClientSession() as http:
                while sent < 3000:
                    batch = [http.post(
                        f"{server.url}/channels/messaging/{cid}/event",
                        params={"api_key": str(server.api_key)},
                        headers={"Authorization": sdk.auth_token, "stream-auth-type": "jwt"},
                        json={"event": {"type": "flood", "n": sent + i, "blob": blob,
                                        "user_id": "fast"}}) for i in range(50)]
                    for response in await asyncio.gather(*batch):
                        assert response.status == 201
                        response.release()
                    sent += 50
                    for _ in range(50):
                        await fast.next_event(is_type("flood"))
                    if slow_sock.closed_by_server():
                        break
            assert slow_sock.closed_by_server(), "the stalled client was never dropped"
            # The fast watcher got every event in order and is still served.
            sdk.channel("messaging", cid).send_event({"type": "after"}, "fast")
            await fast.next_event(is_type("after"))
    finally:
        server.stop()


class _StalledSocket:
    """A WebSocket client that completes the handshake, then never reads again."""

    def __init__(self, sock: socket.socket, connection_id: str) -> None:
        self.sock = sock
        self.connection_id = connection_id

    def closed_by_server(self) -> bool:
        try:
            self.sock.setblocking(False)
            self.sock.send(b"")
            # An aborted connection shows up as a reset on the next write of real bytes.
            self.sock.send(b"\x89\x80\x00\x00\x00\x00")  # masked empty ping
            return False
        except (BrokenPipeError, ConnectionResetError):
            return True
        except BlockingIOError:
            return False


def _stalled_websocket(server: Server, token: str, user_id: str) -> _StalledSocket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    query = aiohttp.helpers.quote(json.dumps({"user_id": user_id,
                                              "user_details": {"id": user_id}}), safe="")
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((
        f"GET /connect?json={query}&api_key={server.api_key}&authorization={token}"
        f"&stream-auth-type=jwt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode())
    data = b""
    while b"connection_id" not in data or not data.rstrip().endswith(b"}"):
        data += sock.recv(65536)
    body = data[data.index(b"{"):]
    return _StalledSocket(sock, json.loads(body)["connection_id"])


async def _watch_raw(server: Server, token: str, cid: str, connection_id: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/channels/messaging/{cid}/query",
                             params={"api_key": str(server.api_key),
                                     "connection_id": connection_id},
                             headers={"Authorization": token, "stream-auth-type": "jwt"},
                             json={"state": True, "watch": True}) as response:
            assert response.status == 201, await response.text()


async def test_connections_per_user_are_limited(tmp_path) -> None:  # noqa: ANN001
    server = start_server(tmp_path, env={"HUBBUB_WS_MAX_CONNECTIONS_PER_USER": "2"})
    try:
        sdk = sdk_client(server)
        sdk.upsert_users([{"id": "greedy"}, {"id": "other"}])
        async with connector(server) as connect:
            await connect("greedy")
            await connect("greedy")
            with pytest.raises(HubbubClientError) as refused:
                await connect("greedy")
            assert refused.value.code == 9 and refused.value.status == 429
            assert (await connect("other")).connection_id
    finally:
        server.stop()


def _connect_params(client: StreamChat, server: Server, user_id: str) -> dict[str, str]:
    """The query string stream-chat-js sends to /connect, for tests that speak raw WebSocket."""
    client.upsert_user({"id": user_id})
    return {"json": json.dumps({"user_id": user_id, "user_details": {"id": user_id}}),
            "api_key": str(server.api_key), "authorization": client.create_token(user_id),
            "stream-auth-type": "jwt"}


async def test_message_flood_on_socket_gets_error_then_close(client: StreamChat,
                                                             server: Server) -> None:
    params = _connect_params(client, server, uid("alice"))
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.url.replace("http", "ws") + "/connect",
                                      params=params) as ws:
            await ws.receive(timeout=5)  # handshake
            for _ in range(100):
                if ws.closed:
                    break
                await ws.send_str("{}")
            frames = []
            while True:
                msg = await ws.receive(timeout=5)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frames.append(json.loads(msg.data))
            errors = [f["error"] for f in frames if "error" in f]
            assert errors and errors[0]["code"] == 9
            assert ws.close_code == 1008


async def test_oversized_frame_closes_with_1009(client: StreamChat, server: Server) -> None:
    params = _connect_params(client, server, uid("alice"))
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.url.replace("http", "ws") + "/connect",
                                      params=params) as ws:
            await ws.receive(timeout=5)
            await ws.send_str("[" + "1," * 40_000 + "1]")  # 80 KB, over the 64 KiB limit
            frames = []
            msg = await ws.receive(timeout=5)
            while msg.type == aiohttp.WSMsgType.TEXT:
                frames.append(json.loads(msg.data))
                msg = await ws.receive(timeout=5)
            assert [f["error"]["code"] for f in frames if "error" in f] == [22]
            assert ws.close_code == 1009
