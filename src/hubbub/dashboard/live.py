"""Live events: a channel's or a user's events as they pass through this process's hub, streamed
to the browser as server-sent events; and a form that sends a test event server-side.

The stream taps the hub (a dashboard-only listener, not a WebSocket connection): it changes no
watcher count, sends no ``user.watching.*`` and sees exactly the bytes the clients receive. A
browser that cannot keep up loses events (counted, and told) rather than growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import web

from hubbub import errors
from hubbub.dashboard import ops
from hubbub.dashboard.sessions import PATH
from hubbub.dashboard.web import (
    DASHBOARD_KEY,
    SECURITY_HEADERS,
    dashboard_of,
    describe,
    guarded,
    render,
)

routes = web.RouteTableDef()
LIVE = PATH + "/live"
QUEUE_SIZE = 1000
KEEPALIVE_SECONDS = 15.0


def _target(query: Any) -> tuple[str, str] | None:
    channel = str(query.get("channel") or "").strip()
    user = str(query.get("user") or "").strip()
    if channel:
        return "channel", channel
    if user:
        return "user", user
    return None


@routes.get(LIVE)
@guarded(page=True)
async def live(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    target = _target(request.query)
    return render(request, "live.html", target=target,
                  types=[t["name"] for t in ops.channel_types(ctx)])


@routes.get(LIVE + "/stream")
@guarded()
async def stream(request: web.Request) -> web.StreamResponse:
    """``text/event-stream`` of the target's events, one JSON event per ``data:`` line."""
    dash = dashboard_of(request)
    target = _target(request.query)
    if target is None:
        return web.Response(status=400, text="pick a channel or a user")
    scope, key = target
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)
    lost = 0

    def tap(_scope: str, _key: str, payload: bytes) -> None:
        nonlocal lost
        try:
            queue.put_nowait(payload)
        except asyncio.QueueFull:
            lost += 1

    response = web.StreamResponse(headers={
        **SECURITY_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    hub = dash.ctx.hub
    hub.add_tap(scope, key, tap)
    dash.streams.add(queue)
    try:
        await response.write(b": tapping " + f"{scope} {key}".encode() + b"\n\n")
        while True:
            try:
                payload = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if payload is None:  # shutting down
                break
            if lost:
                await response.write(b"event: lost\ndata: " + str(lost).encode() + b"\n\n")
                lost = 0
            await response.write(b"data: " + payload + b"\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.remove_tap(scope, key, tap)
        dash.streams.discard(queue)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


@routes.post(LIVE + "/send")
@guarded()
async def send(request: web.Request) -> web.Response:
    """Send a test event server-side; answers a small fragment (the live view stays open)."""
    ctx = dashboard_of(request).ctx
    form = request["form"]
    target = _target(form)
    event_type = str(form.get("type") or "").strip()
    sender = str(form.get("sender") or "").strip()
    raw = str(form.get("payload") or "").strip()
    try:
        if target is None:
            raise errors.InputError("pick a channel or a user first")
        try:
            extra = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as exc:
            raise errors.InputError(f"the payload is not valid JSON: {exc}") from exc
        if not isinstance(extra, dict):
            raise errors.InputError("the payload must be a JSON object")
        sent = await ops.send_test_event(ctx, target[0], target[1], event_type, sender,
                                         extra)
    except errors.HubbubError as exc:
        return render(request, "_send_result.html", status=exc.status, error=describe(exc))
    return render(request, "_send_result.html", event=sent.get("event"))


async def close_streams(app: web.Application) -> None:
    """At shutdown: end every live stream, so the server stops without waiting for browsers."""
    for queue in list(app[DASHBOARD_KEY].streams):
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)
