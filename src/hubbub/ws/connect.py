"""``GET /connect``: the WebSocket as stream-chat-js 9 speaks it.

Handshake: authentication travels in the query string (``json``, ``api_key``, ``authorization``,
``stream-auth-type``). The first frame the server sends decides the connection: a
``health.check`` carrying ``connection_id`` and the full ``me`` on success, or one
``{"error": {...}}`` frame followed by close code 1000 on failure (the upgrade itself is never
refused: a refused upgrade leaves the SDK retrying for 15 s instead of reporting the error).

After that the client only sends pings (a JSON array) and the server answers each with a
``health.check``; events reach the socket through the hub, never from this handler. Every frame
the client sends (WebSocket pings included, which this handler answers itself) counts toward its
per-second budget. Connection slots (per user; for all anonymous callers) are reserved before
the connect's first await and freed on every exit path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
import uuid
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from yarl import URL

from hubbub import errors
from hubbub.config import Settings
from hubbub.http.base import CONTEXT_KEY, RATE_LIMITS_KEY, SETTINGS_KEY, duration_since
from hubbub.hub import Connection, Hub, text_frame
from hubbub.ratelimit import platform_of
from hubbub.service.realtime import connections
from hubbub.service.shared.authentication import authenticate

log = logging.getLogger(__name__)


def _parse_json_param(raw: str | None) -> dict[str, Any]:
    if not raw:
        raise errors.InputError("the json query parameter is required")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.InputError("the json query parameter is not valid JSON") from exc
    if not isinstance(value, dict):
        raise errors.InputError("the json query parameter must be a JSON object")
    return value


#: The slot key all anonymous connections share (a real user id cannot be empty).
ANONYMOUS_SLOT = ""


async def handle(request: web.Request) -> web.StreamResponse:
    """The connection's whole life: handshake, then read until it closes.

    What an idle connection keeps is trimmed, since it is multiplied by every open socket:
    the handshake runs in a coroutine of its own (:func:`_open`), so the parsed query, the
    user and the principal die when it returns; the query is parsed without aiohttp's and
    yarl's caches (they would keep it, token and handshake JSON included, as long as the
    request); and the read loop runs in this frame, not in a coroutine of its own. What stays
    is the socket, the hub's connection and a few numbers.

    Every frame the client sends counts toward the per-second budget, whatever its kind
    (text, binary, ping, pong)."""
    started = time.perf_counter()
    ctx = request.app[CONTEXT_KEY]
    settings = request.app[SETTINGS_KEY]
    # aiohttp's own limit is a backstop at twice ours: frames between the two get our error
    # frame before the close; larger ones are cut off by aiohttp (close 1009) unread.
    # autoping is off: pings are frames the client sends and count toward its frame budget,
    # so this handler answers them itself.
    ws = web.WebSocketResponse(compress=False, autoping=False,
                               max_msg_size=2 * settings.ws_max_frame_bytes)
    await ws.prepare(request)
    held: list[str] = []  # the connection slot the handshake reserved, if any
    try:
        conn = await _open(request, ws, started, held)
        if conn is None:
            return ws
        del request
        try:
            budget = settings.ws_max_messages_per_second
            max_frame = settings.ws_max_frame_bytes
            window, used = 0, 0
            async for msg in ws:
                if msg.type in _END:
                    break
                second = int(time.monotonic())
                window, used = (window, used + 1) if second == window else (second, 1)
                if used > budget:
                    # A flood from one client: say why, then close with a code that is not
                    # 1000 (policy violation), so an honest SDK that misbehaved reconnects.
                    await _send_error(ws, errors.RateLimited(
                        f"more than {budget} messages per second on one connection"), started)
                    await ws.close(code=1008, message=b"too many messages")
                    break
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and len(msg.data) > max_frame:
                    await _send_error(ws, errors.PayloadTooBig(
                        f"frames are limited to {max_frame} bytes"), started)
                    await ws.close(code=1009, message=b"frame too big")
                    break
                if msg.type == WSMsgType.TEXT:
                    await _on_text(conn, ws, msg.data)
                elif msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
        finally:
            await connections.unregister(ctx, conn)
    finally:
        for slot in held:
            ctx.hub.free(slot)
    return ws


_END = frozenset((WSMsgType.ERROR, WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED))


def _query(request: web.Request) -> dict[str, str]:
    """The query string's parameters (the first of each name), parsed without the caches of
    ``request.query`` (see :func:`handle`)."""
    # A URL of its own, dropped on return: yarl's parser (several times faster than
    # urllib's), without its cache on the request's URL.
    query = URL.build(query_string=request.rel_url.raw_query_string, encoded=True).query
    params: dict[str, str] = {}
    for name, value in query.items():
        params.setdefault(name, value)
    return params


def _address(request: web.Request, transport: asyncio.Transport) -> str | None:
    """The client's address, as ``request.remote`` gives it but without caching it on the
    request (which lives as long as the socket); interned, so connections from one client
    share the string."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (list, tuple)) and peer and isinstance(peer[0], str):
        return sys.intern(peer[0])
    remote = request.remote
    return sys.intern(remote) if remote else None


def _drop(ws: web.WebSocketResponse, transport: asyncio.Transport, code: int,
          reason: str) -> None:
    """A connection's ``on_drop`` (slow consumer, shutdown, deleted user): close without
    waiting."""
    if code == 1013:
        # Too slow: its buffer is full, a close frame would wait behind it. Abort.
        transport.abort()
    else:
        asyncio.ensure_future(ws.close(code=code, message=reason.encode()[:120]))


async def _open(request: web.Request, ws: web.WebSocketResponse, started: float,
                held: list[str]) -> Connection | None:
    """Authenticate, reserve a slot (appended to ``held``, for the caller to free), register
    and greet. The greeted connection, or None when it was refused (error frame sent, socket
    closed) or is already gone; then it is unregistered again."""
    ctx = request.app[CONTEXT_KEY]
    settings = request.app[SETTINGS_KEY]
    query = _query(request)
    try:
        params = _parse_json_param(query.get("json"))
        principal = await authenticate(
            ctx, query.get("api_key"), query.get("authorization") or None,
            query.get("stream-auth-type"))
        details = params.get("user_details") or {}
        if not isinstance(details, dict):
            raise errors.InputError("user_details must be an object")
        claimed = params.get("user_id")
        if principal.server:
            raise errors.AuthError("a server token cannot open a user connection")
        if claimed is not None and principal.user_id is not None and (
                claimed != principal.user_id):
            raise errors.NotAllowed("user_id does not match the token's user_id")
        limits = request.app[RATE_LIMITS_KEY]
        if not (await limits.hit("Connect", platform_of(request, server=False),
                                 None)).allowed:
            raise errors.RateLimited("too many connections opened to this app; retry later")
        # The connection limits are reserved here, before the next await, and held until
        # the socket is gone: concurrent connects cannot all pass a check made earlier.
        held.append(_reserve(ctx.hub, principal.user_id, settings))
        user = await connections.connect(ctx, principal, details)
    except errors.HubbubError as exc:
        await _refuse(ws, exc, started)
        return None

    transport = request.transport
    if transport is None or ws.closed:
        return None

    conn = Connection(id=str(uuid.uuid4()), user_id=user.id, transport=transport,
                      on_drop=functools.partial(_drop, ws, transport),
                      anonymous=principal.anonymous, issued_at=principal.issued_at,
                      address=_address(request, transport), greeted=False)
    # Registered first, then checked again: a deactivation, deletion or revocation that
    # committed during the awaited work above is seen by this check, and one that commits
    # after registration reaches the connection through the broker.
    greeted = False
    try:
        # Inside the try: a cancellation during registration still unregisters.
        await connections.register(ctx, conn, user)
        try:
            await connections.check_still_allowed(ctx, principal)
        except errors.HubbubError as exc:
            ctx.hub.remove(conn)
            await _refuse(ws, exc, started)
            return None
        if conn.dropped:
            # Disconnected (deleted, deactivated, revoked) while being checked: its close
            # is under way; the SDK's retry will be refused by the checks above.
            return None
        # The handshake frame is the first thing the client reads: nothing is written to
        # a connection before it (the hub skips connections not yet greeted). Written to the
        # socket directly, as the hub writes events (aiohttp's writer costs more per frame).
        if transport.is_closing():
            return None
        transport.write(text_frame(connections.health_check(conn, me=user.to_own_wire())))
        conn.greeted = greeted = True
        return conn
    finally:
        if not greeted:  # every other exit, cancellation included
            await connections.unregister(ctx, conn)


def _reserve(hub: Hub, user_id: str | None, settings: Settings) -> str:
    """Take a connection slot of ``user_id`` (anonymous: of all anonymous callers) or refuse
    (429, code 9). Returns the slot's key, to be freed when the connection ends."""
    if user_id is None:
        if not hub.reserve(ANONYMOUS_SLOT, settings.ws_max_anonymous_connections):
            raise errors.RateLimited(
                f"{settings.ws_max_anonymous_connections} anonymous connections are open "
                "already; retry later")
        return ANONYMOUS_SLOT
    if not hub.reserve(user_id, settings.ws_max_connections_per_user):
        raise errors.RateLimited(
            f"user {user_id!r} already has {settings.ws_max_connections_per_user} "
            "connections open")
    return user_id


async def _refuse(ws: web.WebSocketResponse, exc: errors.HubbubError, started: float) -> None:
    """A refused connect: one error frame, then close 1000 (the SDK does not retry it)."""
    await _send_error(ws, exc, started)
    await ws.close(code=1000, message=b"")


async def _send_error(ws: web.WebSocketResponse, exc: errors.HubbubError, started: float) -> None:
    body = errors.error_body(exc, operation="Connect", duration=duration_since(started))
    await ws.send_frame(orjson.dumps({"error": body}), WSMsgType.TEXT)


async def close_connections(app: web.Application) -> None:
    """``on_shutdown`` hook: close every socket with 1012 (service restart) before aiohttp waits
    for its handlers. Without it aiohttp cancels each WebSocket handler only after its
    ``shutdown_timeout`` and the client sees an abnormal 1006 seconds later, instead of a close
    code that makes stream-chat-js reconnect at once (it retries on any code but 1000)."""
    app[CONTEXT_KEY].hub.drop_all(1012, "server is restarting")


async def _on_text(conn: Connection, ws: web.WebSocketResponse, data: str) -> None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    # The JS SDK's ping is a JSON array holding one health.check; answer with ours.
    if isinstance(value, list):
        await ws.send_frame(connections.health_check(conn), WSMsgType.TEXT)
