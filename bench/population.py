"""Building a population: users and a channel (through the official SDK for Hubbub), N
connections spread over users, all watching the channel; and the bounded job runner that opens
them. Every wait here is bounded in count and in time."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.httpclient import HttpConn, open_http, post_request
from bench.machine import log
from bench.servers import API_KEY, Server
from bench.wsclient import WsClient, open_ws


async def bounded(jobs: list[Callable[[], Awaitable[Any]]], concurrency: int,
                  deadline: float, what: str) -> list[Any]:
    """Run ``jobs`` at most ``concurrency`` at a time; each retried twice; all before
    ``deadline`` (monotonic) or TimeoutError."""
    results: list[Any] = [None] * len(jobs)
    it = iter(range(len(jobs)))
    done = 0
    last_report = time.monotonic()

    async def worker() -> None:
        nonlocal done, last_report
        for k in it:
            for attempt in range(3):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{what}: out of time after {done}/{len(jobs)}")
                try:
                    results[k] = await asyncio.wait_for(jobs[k](), min(left, 60))
                    break
                except (OSError, ConnectionError, TimeoutError) as exc:
                    if attempt == 2 or time.monotonic() >= deadline:
                        raise RuntimeError(f"{what}: job {k} failed: {exc!r}") from exc
                    await asyncio.sleep(0.2 * (attempt + 1))
            done += 1
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                log(f"  {what}: {done}/{len(jobs)}")

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)) or 1)))
    return results



@dataclass
class Population:
    server: Server
    tokens: dict[str, str]
    sender: str
    conns: list[WsClient] = field(default_factory=list)

    def delivered(self) -> int:
        return sum(c.events for c in self.conns)

    def open_count(self) -> int:
        return sum(1 for c in self.conns if not c.closed)

    def abort_all(self) -> None:
        for c in self.conns:
            c.abort()


def user_ids(prefix: str, n_conns: int, per_user: int) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(max(1, math.ceil(n_conns / per_user)))]


async def populate(server: Server, args: argparse.Namespace, n: int, channel_id: str | None,
                   *, prefix: str = "w") -> Population:
    """``n`` connections spread over ``n / conns_per_user`` users, all watching ``channel_id``
    (if given), plus one member ``sender`` that sends events. Bounded by ``--setup-timeout``."""
    deadline = time.monotonic() + args.setup_timeout
    users = user_ids(prefix, n, args.conns_per_user)
    sender = f"{prefix}-sender"
    channels = [(channel_id, [sender, *users])] if channel_id else []
    t0 = time.monotonic()
    tokens = await server.setup([sender, *users], channels)
    log(f"  {len(users) + 1} users{' and a channel' if channel_id else ''} "
        f"set up in {time.monotonic() - t0:.1f}s (SDK)")
    pop = Population(server, tokens, sender)
    owners = [users[k % len(users)] for k in range(n)]
    t0 = time.monotonic()
    port = server.port

    def opener(uid: str) -> Callable[[], Awaitable[WsClient]]:
        return lambda: open_ws(port, uid, tokens[uid], eio=server.system.eio)

    pop.conns = await bounded([opener(u) for u in owners], args.connect_concurrency, deadline,
                              "connect")
    log(f"  {n} connections open in {time.monotonic() - t0:.1f}s "
        f"({n / max(time.monotonic() - t0, 1e-9):.0f}/s)")
    if channel_id:
        t0 = time.monotonic()
        await watch_all(pop, args, channel_id, deadline)
        log(f"  {n} watching messaging:{channel_id} in {time.monotonic() - t0:.1f}s")
    return pop


async def watch_all(pop: Population, args: argparse.Namespace, channel_id: str,
                    deadline: float) -> None:
    port = pop.server.port
    pool: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(min(args.connect_concurrency, 16)):
        pool.put_nowait(await open_http(port))
    body = json.dumps({"state": True, "watch": True, "presence": False,
                       "members": {"limit": 0}}).encode()

    def watcher(conn: WsClient, uid: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            http = await pool.get()
            try:
                path = (f"/channels/messaging/{channel_id}/query?api_key={API_KEY}"
                        f"&connection_id={conn.connection_id}")
                status, data = await http.request(
                    post_request(port, path, pop.tokens[uid], body))
            finally:
                if http.lost:
                    http = await open_http(port)
                pool.put_nowait(http)
            if status != 201 and status != 200:
                raise RuntimeError(f"watch answered {status}: {data[:300]!r}")
        return job

    jobs = [watcher(conn, conn.user_id) for conn in pop.conns]
    await bounded(jobs, 16, deadline, "watch")
    while not pool.empty():
        pool.get_nowait().close()


async def settle(pop: Population, seconds: float = 0.5) -> None:
    """Wait until frames stop arriving (setup events: user.watching.start and the like)."""
    deadline = time.monotonic() + max(seconds * 10, 10)
    last = -1
    while time.monotonic() < deadline:
        total = sum(c.events + c.other for c in pop.conns)
        if total == last:
            return
        last = total
        await asyncio.sleep(seconds)


async def drain(pop: Population, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    got = pop.delivered()
    while got < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        got = pop.delivered()
    return got


