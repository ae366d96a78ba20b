"""The memory phase: RSS per idle connection, and the connection storm that opens them."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench.machine import Window
from bench.population import Population, bounded, populate, user_ids
from bench.servers import Server, System
from bench.wsclient import WsClient, open_ws


async def phase_memory(args: argparse.Namespace, workdir: Path, system: System,
                       tag: str = "") -> dict[str, Any]:
    """RSS of the server before and after ``--memory-conns`` idle connections (handshake done,
    nothing watched), after ``--memory-warmup`` connections warmed the server up."""
    n, warm = args.memory_conns, args.memory_warmup
    server = Server(args, workdir, "memory", system, tag=tag)
    server.start()
    pop: Population | None = None
    more: list[WsClient] = []
    try:
        pop = await populate(server, args, warm, None, prefix="m")
        await asyncio.sleep(2)
        rss_start = server.rss_kib()
        users = user_ids("m2", n, args.conns_per_user)
        tokens = await server.setup(users, [])
        await asyncio.sleep(1)
        rss0 = server.rss_kib()
        deadline = time.monotonic() + args.setup_timeout
        port = server.port
        owners = [users[k % len(users)] for k in range(n)]
        eio = system.eio
        jobs = [(lambda u=u: open_ws(port, u, tokens[u], eio=eio)) for u in owners]
        t0 = time.monotonic()
        server.start_profile("connect")
        window = Window(server)
        more = await bounded(jobs, args.connect_concurrency, deadline, "connect")
        opened = time.monotonic() - t0
        connect_cpu = window.close()
        server.stop_profile()
        await asyncio.sleep(3)
        rss1 = server.rss_kib()
        alive = sum(1 for c in more if not c.closed)
        return {
            "connections": n, "alive": alive, "warmup_connections": warm,
            "rss_kib_first_warm": rss_start, "rss_kib_before": rss0, "rss_kib_after": rss1,
            "kib_per_connection": round((rss1 - rss0) / n, 2),
            "connects_per_s": round(n / opened),
            "connect_window": connect_cpu,
        }
    finally:
        for c in more:
            c.abort()
        if pop is not None:
            pop.abort_all()
        server.stop()


