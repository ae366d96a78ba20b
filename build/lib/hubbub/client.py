"""A small asyncio client for listening: connect as a user, watch channels, receive events.

The official Python SDK speaks REST only; this client adds the WebSocket side the way the JS SDK
does it (same handshake, same REST calls with ``connection_id``), for scripts, bots, our tests
and the benchmark::

    async with HubbubClient("http://127.0.0.1:8800", api_key, token) as client:
        await client.watch("messaging", "general")
        await client.send_event("messaging", "general", {"type": "ping"})
        async for event in client.events():
            print(event["type"])
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson


class HubbubClientError(Exception):
    """The server refused a request or the connection: carries Stream's error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"StreamChat error code {body.get('code')}: {body.get('message')}")
        self.status = status
        self.code = body.get("code")
        self.body = body


class HubbubClient:
    """One user's connection. Events arrive in order on an internal queue.

    ``anonymous=True`` connects without a token (role ``anonymous``).
    """

    def __init__(self, base_url: str, api_key: str, token: str | None, *,
                 user: dict[str, Any] | None = None, anonymous: bool = False,
                 queue_size: int = 10_000) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.token = token or ""
        self.anonymous = anonymous
        self.user = user or {}
        self.connection_id: str | None = None
        self.me: dict[str, Any] | None = None
        self.close_code: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(queue_size)

    async def __aenter__(self) -> HubbubClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def _auth_type(self) -> str:
        return "anonymous" if self.anonymous else "jwt"

    def _headers(self) -> dict[str, str]:
        headers = {"stream-auth-type": self._auth_type, "X-Stream-Client": "hubbub-python-client"}
        if not self.anonymous:
            headers["Authorization"] = self.token
        return headers

    async def connect(self) -> dict[str, Any]:
        """Open the WebSocket; return the handshake ``health.check`` (with ``me``)."""
        self._session = aiohttp.ClientSession()
        user_id = self.user.get("id") or _token_user_id(self.token)
        params = {
            "json": json.dumps({"user_id": user_id, "user_details": {"id": user_id, **self.user},
                                "client_request_id": str(uuid.uuid4())}),
            "api_key": self.api_key,
            "authorization": "" if self.anonymous else self.token,
            "stream-auth-type": self._auth_type,
        }
        ws_url = self.base_url.replace("http", "ws", 1) + "/connect"
        self._ws = await self._session.ws_connect(ws_url, params=params, autoping=True)
        first = await self._ws.receive()
        if first.type != aiohttp.WSMsgType.TEXT:
            await self.close()
            raise HubbubClientError(0, {"code": None, "message": f"connection closed: {first}"})
        handshake = orjson.loads(first.data)
        if "error" in handshake:
            await self.close()
            raise HubbubClientError(handshake["error"].get("StatusCode", 0), handshake["error"])
        self.connection_id = handshake["connection_id"]
        self.me = handshake.get("me")
        self._reader = asyncio.create_task(self._read())
        return handshake

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self._queue.put(orjson.loads(msg.data))
        finally:
            self.close_code = self._ws.close_code
            await self._queue.put(None)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every event received, health checks included, until the socket closes."""
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def next_event(self, predicate: Callable[[dict[str, Any]], bool] | None = None, *,
                         timeout: float = 5.0, skip_health: bool = True) -> dict[str, Any]:
        """The next event matching ``predicate``; ``TimeoutError`` if none comes in time,
        ``ConnectionError`` if the socket closes first."""

        async def wait() -> dict[str, Any]:
            async for event in self.events():
                if skip_health and event.get("type") == "health.check":
                    continue
                if predicate is None or predicate(event):
                    return event
            raise ConnectionError(f"connection closed (code {self.close_code})")

        return await asyncio.wait_for(wait(), timeout)

    async def ping(self) -> None:
        """Send the JS SDK's keep-alive (a JSON array); the server answers with a health check."""
        assert self._ws is not None
        await self._ws.send_str(json.dumps([{"type": "health.check",
                                             "client_id": f"{self.connection_id}"}]))

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                      params: dict[str, str] | None = None) -> dict[str, Any]:
        """A REST call as this user, with ``connection_id`` like the JS SDK sends it."""
        assert self._session is not None, "connect() first"
        query = {"api_key": self.api_key}
        if self.connection_id:
            query["connection_id"] = self.connection_id
        query.update(params or {})
        async with self._session.request(method, self.base_url + path, params=query,
                                         json=body, headers=self._headers()) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 300:
                raise HubbubClientError(resp.status, data)
            return data  # type: ignore[no-any-return]

    async def watch(self, channel_type: str, channel_id: str,
                    data: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"state": True, "watch": True, "presence": False}
        if data:
            body["data"] = data
        return await self.request("POST", f"/channels/{channel_type}/{channel_id}/query", body)

    async def stop_watching(self, channel_type: str, channel_id: str) -> dict[str, Any]:
        return await self.request("POST", f"/channels/{channel_type}/{channel_id}/stop-watching",
                                  {})

    async def send_event(self, channel_type: str, channel_id: str,
                         event: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", f"/channels/{channel_type}/{channel_id}/event",
                                  {"event": event})

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()
        if self._session is not None:
            await self._session.close()


def _token_user_id(token: str) -> str | None:
    import base64

    try:
        segment = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError):
        return None
    value = payload.get("user_id")
    return value if isinstance(value, str) else None
