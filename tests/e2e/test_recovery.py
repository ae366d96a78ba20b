"""Hubbub's Python client recovers by itself (issue 14): after a dropped connection it
reconnects, watches again, and delivers what it missed from ``/sync`` in order, before new
events, never one twice."""

from __future__ import annotations

import asyncio
from typing import Any

from stream_chat import StreamChat

from hubbub.client import HubbubClient
from tests.conftest import Server, sdk_client, uid
from tests.e2e.conftest import make_channel

WANTED = ("tick", "note", "connection.recovered")


async def collect_until(client: HubbubClient, last_n: int | None) -> list[dict[str, Any]]:
    """Every tick, note and connection.recovered, in delivery order, up to tick ``last_n``
    (None: up to connection.recovered)."""
    got = []
    while True:
        event = await client.next_event(lambda e: e["type"] in WANTED, timeout=20)
        got.append(event)
        if (event["type"] == "tick" and event["n"] == last_n) or (
                last_n is None and event["type"] == "connection.recovered"):
            return got


def send_ticks(sdk: StreamChat, channel_id: str, sender: str, numbers: range) -> None:
    channel = sdk.channel("messaging", channel_id)
    for n in numbers:
        channel.send_event({"type": "tick", "n": n}, sender)


def shape(events: list[dict[str, Any]]) -> list[Any]:
    return [e["n"] if e["type"] == "tick" else e["type"] for e in events]


async def test_python_client_resumes_after_a_server_restart_with_no_gap_and_no_duplicate(
        fresh_server: Server) -> None:
    sdk = sdk_client(fresh_server)
    watcher, sender = uid("walt"), uid("sam")
    channel_id = make_channel(sdk, [watcher, sender])
    gate = asyncio.Event()
    client = HubbubClient(fresh_server.url, str(fresh_server.api_key),
                          sdk.create_token(watcher), recover=True, before_reconnect=gate.wait)
    await client.connect()
    try:
        await client.watch("messaging", channel_id)
        send_ticks(sdk, channel_id, sender, range(5))
        first = await collect_until(client, 4)
        # The server restarts under the client; while it stays away (the gate is shut), ten
        # channel events and a user event are sent.
        await asyncio.to_thread(fresh_server.restart)
        send_ticks(sdk, channel_id, sender, range(5, 15))
        sdk.send_user_custom_event(watcher, {"type": "note"})
        gate.set()
        rest = await collect_until(client, None)
        assert rest[-1] == {"type": "connection.recovered", "complete": True}
        send_ticks(sdk, channel_id, sender, range(15, 18))
        live = await collect_until(client, 17)
    finally:
        await client.close()
    events = first + rest + live
    assert shape(events) == [*range(15), "note", "connection.recovered", 15, 16, 17]
    ticks = [e for e in events if e["type"] == "tick"]
    assert len({e["created_at"] for e in ticks}) == len(ticks)
    assert client.recoveries == 1 and client.recovered_events == 11


async def test_python_client_drops_what_sync_returns_that_it_already_had(
        server: Server, client: StreamChat) -> None:
    watcher, sender = uid("walt"), uid("sam")
    channel_id = make_channel(client, [watcher, sender])
    gate = asyncio.Event()
    listener = HubbubClient(server.url, str(server.api_key), client.create_token(watcher),
                            recover=True, before_reconnect=gate.wait)
    await listener.connect()
    try:
        await listener.watch("messaging", channel_id)
        send_ticks(client, channel_id, sender, range(3))
        first = await collect_until(listener, 2)
        # Cut the socket underneath the client (the server did not close it).
        assert listener._ws is not None and listener._ws._conn is not None
        transport = listener._ws._conn.transport
        assert transport is not None
        transport.abort()
        send_ticks(client, channel_id, sender, range(3, 6))
        gate.set()
        rest = await collect_until(listener, None)
    finally:
        await listener.close()
    # /sync went back before ticks 0..2 (a safety margin): they were not delivered again.
    assert shape(first + rest) == [0, 1, 2, 3, 4, 5, "connection.recovered"]
    assert listener.recovered_events == 3
