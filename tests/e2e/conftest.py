"""Helpers for end-to-end tests over real WebSockets with Hubbub's Python client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from stream_chat import StreamChat

from hubbub.client import HubbubClient
from tests.conftest import Server, sdk_client, uid

Connect = Callable[..., Awaitable[HubbubClient]]


@pytest.fixture
async def connect(server: Server) -> AsyncIterator[Connect]:
    """``await connect(user_id)`` opens a WebSocket as that user on the session's server."""
    async with _connector(server) as factory:
        yield factory


class _connector:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.sdk = sdk_client(server)
        self.clients: list[HubbubClient] = []

    async def __aenter__(self) -> Connect:
        async def factory(user_id: str, **kwargs: Any) -> HubbubClient:
            token = kwargs.pop("token", None) or self.sdk.create_token(user_id)
            client = HubbubClient(self.server.url, str(self.server.api_key), token, **kwargs)
            await client.connect()
            self.clients.append(client)
            return client

        return factory

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            await client.close()


def connector(server: Server) -> _connector:
    """For tests on their own server: ``async with connector(fresh_server) as connect:``."""
    return _connector(server)


def make_channel(client: StreamChat, members: list[str], *, channel_type: str = "messaging",
                 creator: str | None = None, **data: Any) -> str:
    """Upsert the members, create a channel of them, return its id."""
    client.upsert_users([{"id": m} for m in {*members, creator or members[0]}])
    channel_id = uid("ch")
    channel = client.channel(channel_type, channel_id, {"members": members, **data})
    channel.create(creator or members[0])
    return channel_id


def is_type(event_type: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("type") == event_type
