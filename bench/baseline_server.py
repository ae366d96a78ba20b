#!/usr/bin/env python3
"""A bare aiohttp + uvloop server that speaks just enough of Hubbub's wire for ``bench/run.py``:
the ceiling of one asyncio process on this machine, measured by the same generator.

    bench/run.py --baseline ...     # runs the fan-out, latency, memory, REST and connections
                                     # phases against this server instead of ``hubbub serve``

What it does per request is what any fan-out server must do, and nothing more: ``/connect``
upgrades (no authentication, no storage) and sends a ``health.check`` with a connection id;
``POST /channels/{type}/{id}/query`` subscribes that connection; ``POST .../event`` parses the
JSON body, adds an envelope of the same size as Hubbub's (type, cid, user object, created_at),
encodes it once and writes one prebuilt frame per watcher with ``transport.write``. Health
checks every ``HUBBUB_HEALTH_CHECK_INTERVAL`` seconds, as Hubbub.

``BASELINE_COALESCE=iter`` (or a delay in ms) tries the write-coalescing suggested for the hub:
the frames for one socket are queued and written together once per loop iteration (or after
the delay). Pass it with ``bench/run.py --baseline --server-env BASELINE_COALESCE=iter``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import struct
import uuid
from typing import Any

import orjson
from aiohttp import WSMsgType, web

USER = {"id": "w-sender", "name": "w-sender", "role": "user", "teams": [], "language": "",
        "banned": False, "online": False, "invisible": False,
        "created_at": "2026-01-01T00:00:00.000000Z", "updated_at": "2026-01-01T00:00:00.000000Z",
        "last_active": "2026-01-01T00:00:00.000000Z", "blocked_user_ids": []}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def text_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class State:
    def __init__(self) -> None:
        self.conns: dict[str, tuple[web.WebSocketResponse, asyncio.Transport]] = {}
        self.watchers: dict[str, dict[str, asyncio.Transport]] = {}
        #: ``BASELINE_COALESCE``: empty = one ``transport.write`` per frame (as Hubbub's hub);
        #: ``iter`` = frames for one socket queued and written together once per loop
        #: iteration; a number = the same after that many milliseconds.
        mode = os.environ.get("BASELINE_COALESCE", "")
        self.coalesce = bool(mode)
        self.delay = float(mode) / 1000 if mode not in ("", "iter") else 0.0
        self.pending: dict[asyncio.Transport, list[bytes]] = {}
        self.flush_scheduled = False

    def send(self, transport: asyncio.Transport, frame: bytes) -> None:
        if not self.coalesce:
            transport.write(frame)
            return
        queued = self.pending.get(transport)
        if queued is None:
            self.pending[transport] = [frame]
        else:
            queued.append(frame)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            loop = asyncio.get_running_loop()
            if self.delay:
                loop.call_later(self.delay, self.flush)
            else:
                loop.call_soon(self.flush)

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        self.flush_scheduled = False
        for transport, frames in pending.items():
            if not transport.is_closing():
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))


STATE = web.AppKey("state", State)


async def connect(request: web.Request) -> web.WebSocketResponse:
    state = request.app[STATE]
    ws = web.WebSocketResponse(compress=False, autoping=True)
    await ws.prepare(request)
    cid = str(uuid.uuid4())
    await ws.send_frame(orjson.dumps({"type": "health.check", "connection_id": cid, "cid": "*",
                                      "created_at": now(), "me": USER}), WSMsgType.TEXT)
    transport = request.transport
    assert transport is not None
    state.conns[cid] = (ws, transport)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data.startswith("["):
                await ws.send_frame(orjson.dumps({"type": "health.check", "connection_id": cid,
                                                  "cid": "*", "created_at": now()}),
                                    WSMsgType.TEXT)
    finally:
        state.conns.pop(cid, None)
        for watchers in state.watchers.values():
            watchers.pop(cid, None)
    return ws


async def query(request: web.Request) -> web.Response:
    state = request.app[STATE]
    channel = f"{request.match_info['type']}:{request.match_info['id']}"
    cid = request.query.get("connection_id", "")
    entry = state.conns.get(cid)
    if entry is not None:
        state.watchers.setdefault(channel, {})[cid] = entry[1]
    return web.Response(body=orjson.dumps({"channel": {"cid": channel}, "members": [],
                                           "duration": "0ms"}),
                        status=201, content_type="application/json")


async def event(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ctype, cid_ = request.match_info["type"], request.match_info["id"]
    body: dict[str, Any] = orjson.loads(await request.read())
    out = dict(body["event"])
    out.update(cid=f"{ctype}:{cid_}", channel_id=cid_, channel_type=ctype, created_at=now(),
               user=USER)
    payload = orjson.dumps(out)
    frame = text_frame(payload)
    send = state.send
    for transport in list(state.watchers.get(f"{ctype}:{cid_}", {}).values()):
        if not transport.is_closing() and transport.get_write_buffer_size() <= 1 << 20:
            send(transport, frame)
    return web.Response(body=orjson.dumps({"event": out, "duration": "0ms"}), status=201,
                        content_type="application/json")


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def health_loop(app: web.Application) -> Any:
    interval = float(os.environ.get("HUBBUB_HEALTH_CHECK_INTERVAL") or 25)

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            for cid, (_ws, transport) in list(app[STATE].conns.items()):
                if not transport.is_closing():
                    transport.write(text_frame(orjson.dumps({
                        "type": "health.check", "connection_id": cid, "cid": "*",
                        "created_at": now()})))

    task = asyncio.create_task(loop())
    yield
    task.cancel()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args, _ = p.parse_known_args()
    import uvloop

    uvloop.install()
    app = web.Application()
    app[STATE] = State()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/connect", connect)
    app.router.add_post("/channels/{type}/{id}/query", query)
    app.router.add_post("/channels/{type}/{id}/event", event)
    app.cleanup_ctx.append(health_loop)
    # A short grace period: the benchmark stops it right after its clients went away.
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None,
                shutdown_timeout=2.0)


if __name__ == "__main__":
    main()
