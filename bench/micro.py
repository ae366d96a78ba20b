#!/usr/bin/env python3
"""What one ``sendEvent`` costs the server, piece by piece, in process (no HTTP, no sockets).

    .venv/bin/python bench/micro.py [--n 2000] [--cpu 0]

Runs Hubbub's own ``Service`` on uvloop with a temp SQLite database, pinned to one core, and
times the building blocks of the REST ``sendEvent`` path: token verification, the two storage
reads, the permission check, encoding, and the whole use case with no watcher (so no socket
write). Figures are microseconds per call (median of 5 runs of ``--n`` calls). Compare with the
end-to-end budget: 3,000 requests/s is 333 us a request, everything included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

API_KEY = "bench-key"
API_SECRET = "bench-secret-long-enough-for-hs256-signatures-0123456789"


async def timed(label: str, n: int, fn: Callable[[], Awaitable[Any] | Any],
                rows: list[tuple[str, float]]) -> None:
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            r = fn()
            if asyncio.iscoroutine(r):
                await r
        runs.append((time.perf_counter() - t0) / n * 1e6)
    rows.append((label, statistics.median(runs)))
    print(f"{statistics.median(runs):9.1f} us  {label}", flush=True)


async def main(n: int) -> None:
    import orjson

    from hubbub import auth, service
    from hubbub.auth import SERVER
    from hubbub.broker import create_broker
    from hubbub.config import Settings
    from hubbub.core import events, permissions
    from hubbub.core.models import utcnow
    from hubbub.schemas import ChannelQueryRequest, SendEventRequest, parse
    from hubbub.service.admin import users
    from hubbub.service.chat import channels
    from hubbub.service.realtime import events as event_cases
    from hubbub.service.shared import access
    from hubbub.service.shared.authentication import authenticate
    from hubbub.storage.sql import SqlStorage

    workdir = Path(tempfile.mkdtemp(prefix="hubbub-micro-"))
    url = f"sqlite:///{workdir / 'micro.db'}"
    settings = Settings.from_env(database_url=url, api_key=API_KEY, api_secret=API_SECRET,
                                 rate_limits=False)
    ctx = service.create_context(settings, SqlStorage(url), create_broker("memory"))
    await service.start(ctx)
    try:
        await users.upsert_users(ctx, SERVER, {"alice": {"id": "alice"}, "bob": {"id": "bob"}})
        await channels.get_or_create_channel(
            ctx, SERVER, "messaging", "micro",
            parse(ChannelQueryRequest, {"data": {"created_by_id": "alice",
                                                 "members": ["alice", "bob"]}}), None)
        token = auth.create_token(API_SECRET, "alice")
        principal = await authenticate(ctx, API_KEY, token, "jwt")
        body = {"event": {"type": "bench", "seq": 1, "t": 123}}
        request = parse(SendEventRequest, body)
        ct = ctx.channel_type("messaging")
        channel, member = await ctx.storage.get_channel_and_member("messaging:micro",
                                                                       "alice")
        assert channel is not None
        user = principal.user
        assert user is not None
        payload = events.channel_event("bench", {"seq": 1}, channel_type="messaging",
                                       channel_id="micro", user=ctx.user_wire(user),
                                       created_at=utcnow())
        rows: list[tuple[str, float]] = []
        print(f"n={n} calls per run, median of 5 runs, pid {os.getpid()} on CPU "
              f"{sorted(os.sched_getaffinity(0))}")
        await timed("auth.verify_token (PyJWT HS256)", n, lambda: auth.verify_token(
            token, API_SECRET, api_key=API_KEY, allow_dev_tokens=False), rows)
        await timed("storage.get_users([one id])", n,
                    lambda: ctx.storage.get_users(["alice"]), rows)
        await timed("storage.get_channel_and_member", n,
                    lambda: ctx.storage.get_channel_and_member("messaging:micro", "alice"),
                    rows)
        await timed("authenticate (token + get_users)", n,
                    lambda: authenticate(ctx, API_KEY, token, "jwt"), rows)
        await timed("parse(SendEventRequest) (pydantic)", n,
                    lambda: parse(SendEventRequest, body), rows)
        await timed("access.authorize (permissions)", n, lambda: access.authorize(
            ctx, user, permissions.SEND_CUSTOM_EVENT, ct, channel, member), rows)
        await timed("events.channel_event + user_wire + utcnow", n,
                    lambda: events.channel_event(
                        "bench", {"seq": 1}, channel_type="messaging", channel_id="micro",
                        user=ctx.user_wire(user), created_at=utcnow()), rows)
        await timed("encode (orjson) of the event", n, lambda: orjson.dumps(payload), rows)
        await timed("send_channel_event, no watcher (whatever storage reads it makes)", n,
                    lambda: event_cases.send_channel_event(ctx, principal, "messaging", "micro",
                                                       request.event, 40), rows)
        print()
        print("The whole REST call adds aiohttp's request/response handling, the JSON body, "
              "rate-limit bookkeeping and the access log line; see bench/run.py --phases rest.")
    finally:
        await service.stop(ctx)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--cpu", type=int, default=0)
    a = p.parse_args()
    os.sched_setaffinity(0, {a.cpu})
    import uvloop

    uvloop.install()
    asyncio.run(main(a.n))
