"""The transport under load: coalesced frames, health checks in slices, connects that write
nothing when nothing changed (``last_active`` stored behind)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from stream_chat import StreamChat

from tests.burst import EVENT_TYPE, check_burst, send_burst
from tests.conftest import Server, sdk_client, start_server, uid
from tests.e2e.conftest import Connect, connector, is_type, make_channel


async def test_a_burst_of_coalesced_events_reaches_python_clients_whole_and_in_order(
        client: StreamChat, server: Server, connect: Connect) -> None:
    sender, w1, w2 = uid("srv"), uid("bob"), uid("carol")
    cid = make_channel(client, [sender, w1, w2])
    watchers = [await connect(w) for w in (w1, w2)]
    for w in watchers:
        await w.watch("messaging", cid)
    senders, per_sender = 8, 25
    await send_burst(server, client, "messaging", cid, user_id=sender, senders=senders,
                     per_sender=per_sender)
    sequences = []
    for w in watchers:
        received = [await w.next_event(is_type(EVENT_TYPE), timeout=10)
                    for _ in range(senders * per_sender)]
        check_burst(received, senders=senders, per_sender=per_sender)
        sequences.append([(e["s"], e["n"]) for e in received])
    assert sequences[0] == sequences[1]  # one hub order for every socket


async def test_health_checks_reach_every_connection(tmp_path: Path) -> None:
    # 0.3 s is cut into 6 slices: 8 connections land in every slice, two in some.
    server = start_server(tmp_path, env={"HUBBUB_HEALTH_CHECK_INTERVAL": "0.3"})
    try:
        sdk = sdk_client(server)
        users = [uid("idle") for _ in range(8)]
        sdk.upsert_users([{"id": u} for u in users])
        async with connector(server) as connect:
            conns = [await connect(u) for u in users]
            for conn in conns:
                for _ in range(2):  # unprompted: no ping is ever sent
                    got = await conn.next_event(is_type("health.check"), skip_health=False)
                    assert got["connection_id"] == conn.connection_id
                    assert got["created_at"] and got["cid"] == "*"
    finally:
        server.stop()


def _stored_last_active(sdk: StreamChat, user_id: str) -> Any:
    """``last_active`` as storage holds it (query_users reads storage, not the user cache)."""
    (user,) = sdk.query_users({"id": user_id})["users"]
    return user.get("last_active")


async def test_connect_writes_nothing_when_details_change_nothing(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={"HUBBUB_LAST_ACTIVE_FLUSH_INTERVAL": "3600"})
    try:
        sdk = sdk_client(server)
        alice = uid("alice")
        sdk.upsert_user({"id": alice, "name": "Alice"})
        stored = sdk.query_users({"id": alice})["users"][0]
        async with connector(server) as connect:
            conn = await connect(alice, user={"name": "Alice"})
            assert conn.me is not None
            assert conn.me["last_active"] and conn.me["name"] == "Alice"
            assert conn.me["updated_at"] == stored["updated_at"]
            # Nothing was written: last_active waits for the batch (an hour away here).
            assert _stored_last_active(sdk, alice) is None
            # A change is written at once, last_active with it.
            changed = await connect(alice, user={"name": "Alicia"})
            assert changed.me is not None
            (row,) = sdk.query_users({"id": alice})["users"]
            assert row["name"] == "Alicia" and row["last_active"] == changed.me["last_active"]
            again = await connect(alice, user={"name": "Alicia"})
            assert again.me is not None and again.me["name"] == "Alicia"
            assert again.me["last_active"] > changed.me["last_active"]
            assert _stored_last_active(sdk, alice) == changed.me["last_active"]
            latest = again.me["last_active"]
            await again.close()
        # A graceful stop stores what was noted (the disconnects' times are newer still).
        await asyncio.to_thread(server.stop, signal.SIGTERM)
        await asyncio.to_thread(server.start)
        assert _stored_last_active(sdk, alice) >= latest
    finally:
        server.stop()


async def test_last_active_is_stored_behind_by_the_batch(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={"HUBBUB_LAST_ACTIVE_FLUSH_INTERVAL": "0.2"})
    try:
        sdk = sdk_client(server)
        bob = uid("bob")
        sdk.upsert_user({"id": bob})
        async with connector(server) as connect:
            conn = await connect(bob)
            assert conn.me is not None
            seen = conn.me["last_active"]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while _stored_last_active(sdk, bob) != seen:
                assert loop.time() < deadline, "last_active never reached storage"
                await asyncio.sleep(0.1)
    finally:
        server.stop()
