"""A small asyncio client for listening: connect as a user, watch channels, receive events.

The official Python SDK speaks REST only; this client adds the WebSocket side the way the JS SDK
does it (same handshake, same REST calls with ``connection_id``), for scripts, bots, our tests
and the benchmark::

    async with HubbubClient("http://127.0.0.1:8800", api_key, token) as client:
        await client.watch("messaging", "general")
        await client.send_event("messaging", "general", {"type": "ping"})
        async for event in client.events():
            print(event["type"])

With ``recover=True`` the client survives a dropped connection (network, server restart): it
reconnects with backoff, watches its channels again, asks ``/sync`` for what it missed and
delivers those events, in order, before any new one, and never one twice; then it delivers
``{"type": "connection.recovered"}`` (with ``"complete": false`` when the server's history no
longer reached back, so the application knows to reload state).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson

log = logging.getLogger(__name__)

#: How far before the server's last health check the client assumes it may have missed
#: something (an event stamped earlier can still be on its way through the broker).
CAUGHT_UP_MARGIN = timedelta(seconds=10)
#: Stamps remembered per channel to drop what ``/sync`` returns that was already delivered.
SEEN_PER_STREAM = 1024
#: Close codes after which the client does not reconnect (1000: the server meant it).
FINAL_CLOSE_CODES = frozenset({1000})


class _Seen:
    """The ``created_at`` of the recent events of one channel (or of the user's own events)."""

    def __init__(self) -> None:
        self.order: collections.deque[str] = collections.deque()
        self.stamps: set[str] = set()
        self.last = ""

    def add(self, stamp: str) -> bool:
        """Remember ``stamp``; False if it was delivered already."""
        if stamp in self.stamps or (len(self.order) == SEEN_PER_STREAM and stamp < self.order[0]):
            return False
        self.order.append(stamp)
        self.stamps.add(stamp)
        if len(self.order) > SEEN_PER_STREAM:
            self.stamps.discard(self.order.popleft())
        self.last = max(self.last, stamp)
        return True


class HubbubClientError(Exception):
    """The server refused a request or the connection: carries Stream's error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"StreamChat error code {body.get('code')}: {body.get('message')}")
        self.status = status
        self.code = body.get("code")
        self.body = body


class HubbubClient:
    """One user's connection. Events arrive in order on an internal queue.

    ``anonymous=True`` connects without a token (role ``anonymous``). ``recover=True``
    reconnects and recovers missed events (see the module's docstring); ``before_reconnect``
    is awaited before each reconnect attempt (default: exponential backoff within
    ``reconnect_delay``).
    """

    def __init__(self, base_url: str, api_key: str, token: str | None, *,
                 user: dict[str, Any] | None = None, anonymous: bool = False,
                 queue_size: int = 10_000, recover: bool = False,
                 reconnect_delay: tuple[float, float] = (0.1, 5.0),
                 before_reconnect: Callable[[], Awaitable[None]] | None = None) -> None:
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
        self.recover = recover
        self._reconnect_delay = reconnect_delay
        self._before_reconnect = before_reconnect
        self._closing = False
        self._recovering = False
        #: Watched channels (cid -> channel data sent with the watch), watched again on recovery.
        self._channels: dict[str, dict[str, Any] | None] = {}
        self._watched_at: dict[str, str] = {}
        #: What was delivered, per cid ("" for the user's own events).
        self._seen: dict[str, _Seen] = {}
        #: The server's time in its last health check: everything before it (less a margin)
        #: has reached this client.
        self._server_time = ""
        #: Completed recoveries, and the events they delivered from ``/sync``.
        self.recoveries = 0
        self.recovered_events = 0

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
        handshake = await self._open()
        self._reader = asyncio.create_task(self._read())
        return handshake

    async def _open(self) -> dict[str, Any]:
        assert self._session is not None
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
        self._server_time = max(self._server_time, str(handshake.get("created_at") or ""))
        return handshake

    async def _read(self) -> None:
        try:
            while True:
                ws = self._ws
                assert ws is not None
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        await self._deliver(orjson.loads(msg.data))
                self.close_code = ws.close_code
                if self._closing or not self.recover or self.close_code in FINAL_CLOSE_CODES:
                    return
                await self._recover()
        finally:
            await self._queue.put(None)

    async def _deliver(self, event: dict[str, Any]) -> None:
        """Queue ``event`` unless it was delivered already (live and again by ``/sync``)."""
        stamp = event.get("created_at")
        kind = event.get("type")
        if kind == "health.check":
            if isinstance(stamp, str):
                self._server_time = max(self._server_time, stamp)
        elif isinstance(stamp, str) and kind != "connection.recovered":
            seen = self._seen.setdefault(str(event.get("cid") or ""), _Seen())
            if not seen.add(stamp):
                return
        await self._queue.put(event)

    # recovery --------------------------------------------------------------------------------

    async def _recover(self) -> None:
        """Reconnect, watch again, deliver what ``/sync`` says was missed, oldest first."""
        self._recovering = True
        try:
            await self._reconnect()
        finally:
            self._recovering = False
        if self._closing:
            return
        await self._catch_up()

    async def _reconnect(self) -> None:
        delay, longest = self._reconnect_delay
        while not self._closing:
            if self._before_reconnect is not None:
                await self._before_reconnect()
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
            try:
                await self._open()
                break
            except (aiohttp.ClientError, OSError, HubbubClientError) as exc:
                log.info("hubbub client: reconnect failed (%s); retrying", exc)

    async def _catch_up(self) -> None:
        since = self._sync_cursor()
        complete = True
        for cid, data in list(self._channels.items()):
            channel_type, _, channel_id = cid.partition(":")
            try:
                await self.watch(channel_type, channel_id, data)
            except HubbubClientError as exc:
                log.info("hubbub client: cannot watch %s again (%s)", cid, exc.body)
        if self._channels:
            try:
                answer = await self.request("POST", "/sync", {
                    "channel_cids": list(self._channels), "last_sync_at": since})
            except HubbubClientError as exc:
                log.warning("hubbub client: events missed while away are lost (%s)",
                            exc.body.get("message"))
                complete = False
            else:
                for event in answer.get("events", []):
                    cid = str(event.get("cid") or "")
                    if str(event.get("created_at")) <= self._watched_at.get(cid, ""):
                        continue
                    if event.get("type") == "notification.removed_from_channel":
                        self._channels.pop(cid, None)
                    before = self._queue.qsize()
                    await self._deliver(event)
                    self.recovered_events += self._queue.qsize() - before
        self.recoveries += 1
        await self._queue.put({"type": "connection.recovered", "complete": complete})

    def _sync_cursor(self) -> str:
        """Where ``/sync`` must start so that no watched channel has a gap: the oldest of each
        channel's last delivered event and the time up to which the socket was caught up."""
        caught_up = self._server_time
        if caught_up:
            moment = datetime.fromisoformat(caught_up) - CAUGHT_UP_MARGIN
            caught_up = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cursors = [max(self._seen[cid].last if cid in self._seen else "", caught_up,
                       self._watched_at.get(cid, "")) for cid in self._channels]
        cursors.append(max(self._seen[""].last if "" in self._seen else "", caught_up))
        return min(cursors)

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
        answer = await self.request("POST", f"/channels/{channel_type}/{channel_id}/query", body)
        cid = f"{channel_type}:{channel_id}"
        self._channels[cid] = data
        # Events before the first watch were never this client's: /sync must not add them.
        self._watched_at.setdefault(cid, self._server_time)
        return answer

    async def stop_watching(self, channel_type: str, channel_id: str) -> dict[str, Any]:
        self._channels.pop(f"{channel_type}:{channel_id}", None)
        self._watched_at.pop(f"{channel_type}:{channel_id}", None)
        return await self.request("POST", f"/channels/{channel_type}/{channel_id}/stop-watching",
                                  {})

    async def send_event(self, channel_type: str, channel_id: str,
                         event: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", f"/channels/{channel_type}/{channel_id}/event",
                                  {"event": event})

    async def close(self) -> None:
        self._closing = True
        if self._recovering and self._reader is not None:
            self._reader.cancel()
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
