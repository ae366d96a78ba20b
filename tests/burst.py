"""Bursts of channel events sent server-side by concurrent senders, for the coalescing tests.

Each of ``senders`` posts its events one after another (so its own order is defined: ``n``
increases), while the senders run concurrently, so that several events reach the server, and
its hub, within one loop iteration and get coalesced into one write per connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from stream_chat import StreamChat

from tests.conftest import Server

EVENT_TYPE = "burst"


async def send_burst(server: Server, sdk: StreamChat, channel_type: str, channel_id: str, *,
                     user_id: str, senders: int, per_sender: int) -> None:
    url = f"{server.url}/channels/{channel_type}/{channel_id}/event"
    params = {"api_key": str(server.api_key)}
    headers = {"Authorization": sdk.auth_token, "stream-auth-type": "jwt"}

    async def sender(http: aiohttp.ClientSession, s: int) -> None:
        for n in range(per_sender):
            async with http.post(url, params=params, headers=headers, json={"event": {
                    "type": EVENT_TYPE, "s": s, "n": n, "user_id": user_id}}) as response:
                assert response.status == 201, await response.text()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(sender(http, s) for s in range(senders)))


def check_burst(received: list[dict[str, Any]], *, senders: int, per_sender: int) -> None:
    """Every event arrived once, whole, and each sender's events in the order it sent them."""
    pairs = [(e["s"], e["n"]) for e in received]
    assert sorted(pairs) == [(s, n) for s in range(senders) for n in range(per_sender)], pairs
    for s in range(senders):
        assert [n for (t, n) in pairs if t == s] == list(range(per_sender)), (s, pairs)
