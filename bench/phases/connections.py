"""The idle-connections phase: many connections, health checks on time, ping replies."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

from bench.machine import Window, log, pct, raise_nofile
from bench.population import bounded, user_ids
from bench.servers import Server, System
from bench.wsclient import WsClient, open_ws


def _connections_child(pipe: Any, port: int, owners: list[tuple[str, str]],
                       concurrency: int, setup_timeout: float) -> None:
    """One generator process of the connections phase (a process holds at most
    RLIMIT_NOFILE sockets). Talks to the parent over ``pipe``: opened -> hold -> results."""
    raise_nofile()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_connections_child_main(pipe, port, owners, concurrency, setup_timeout))


async def _connections_child_main(pipe: Any, port: int, owners: list[tuple[str, str]],
                                  concurrency: int, setup_timeout: float) -> None:
    conns: list[WsClient] = []
    try:
        deadline = time.monotonic() + setup_timeout
        t0 = time.monotonic()
        conns = await bounded([(lambda u=u, t=t: open_ws(port, u, t)) for u, t in owners],
                              concurrency, deadline, "connect")
        pipe.send({"opened": len(conns), "seconds": time.monotonic() - t0})
        order = await asyncio.to_thread(pipe.recv)
        hold, pings_per_tick = order["hold"], order["pings_per_tick"]
        rtts: list[float] = []
        for c in conns:
            c.track_health = True
            c.health_times.clear()
            c.health = 0
            c.ping_rtts = rtts
        rng = random.Random(os.getpid())
        t0 = time.monotonic()
        while time.monotonic() - t0 < hold:
            for c in rng.sample(conns, min(pings_per_tick, len(conns))):
                c.ping()
            await asyncio.sleep(0.25)
        await asyncio.sleep(0.5)
        gaps = [(b - a) / 1e9 for c in conns
                for a, b in zip(c.health_times, c.health_times[1:])]
        pipe.send({"counts": [len(c.health_times) for c in conns], "gaps": gaps,
                   "arrivals": [t for c in conns for t in c.health_times], "rtts": rtts,
                   "alive": sum(1 for c in conns if not c.closed)})
        await asyncio.to_thread(pipe.recv)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the phase
        pipe.send({"error": repr(exc)[:300]})
    finally:
        for c in conns:
            c.abort()


async def phase_connections(args: argparse.Namespace, workdir: Path, system: System,
                            tag: str = "") -> dict[str, Any]:
    """``--connections`` idle connections on one server process, health checks every
    ``--health-interval`` s: each connection's periodic health checks must keep coming
    (largest gap <= interval + ``--health-slack``), and sampled client pings get answers.

    The generator's sockets are spread over child processes (all on the generator's core): a
    process may hold only RLIMIT_NOFILE descriptors. The server has the same limit, so the
    count is capped just under it (and the result says so)."""
    import multiprocessing

    requested, interval = args.connections, args.health_interval
    nofile = raise_nofile()
    n = min(requested, nofile - 100)
    if n < requested:
        log(f"  {requested} connections cannot fit in one process here (RLIMIT_NOFILE "
            f"{nofile}, and it cannot be raised): measuring {n}")
    server = Server(args, workdir, "connections", system,
                    env={"HUBBUB_HEALTH_CHECK_INTERVAL": str(interval)}, tag=tag)
    server.start()
    children: list[tuple[Any, Any]] = []
    try:
        users = user_ids("c", n, args.conns_per_user)
        tokens = await server.setup(users, [])
        owners = [(users[k % len(users)], tokens[users[k % len(users)]]) for k in range(n)]
        per_child = max(1, min(nofile - 500, args.conns_per_process or nofile))
        parts = [owners[i:i + per_child] for i in range(0, n, per_child)]
        ctx = multiprocessing.get_context("spawn")
        t0 = time.monotonic()
        for part in parts:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_connections_child, daemon=True, args=(
                theirs, server.port, part, max(1, args.connect_concurrency // len(parts)),
                args.setup_timeout))
            proc.start()
            children.append((proc, mine))

        async def recv(pipe: Any, timeout: float) -> dict[str, Any]:
            if not await asyncio.to_thread(pipe.poll, timeout):
                raise TimeoutError("a generator child did not answer in time")
            msg: dict[str, Any] = pipe.recv()
            if "error" in msg:
                raise RuntimeError(f"generator child: {msg['error']}")
            return msg

        opened = [await recv(pipe, args.setup_timeout + 30) for _, pipe in children]
        open_s = time.monotonic() - t0
        log(f"  {n} connections open in {open_s:.1f}s ({n / open_s:.0f}/s) from "
            f"{len(children)} generator process(es)")
        hold = args.health_rounds * interval + interval / 2
        server.start_profile("connections-idle")
        window = Window(server)
        for _, pipe in children:
            pipe.send({"hold": hold, "pings_per_tick": max(1, args.pings_per_tick
                                                          // len(children))})
        results = [await recv(pipe, hold + 60) for _, pipe in children]
        cpu = window.close()
        server.stop_profile()
        rss = server.rss_kib()
        for _, pipe in children:
            pipe.send({"close": True})
        counts = [x for r in results for x in r["counts"]]
        gaps = [x for r in results for x in r["gaps"]]
        rtts = [x for r in results for x in r["rtts"]]
        alive = sum(r["alive"] for r in results)
        # Rounds: arrivals cluster once per interval; a round's spread is how long the server's
        # health loop took to reach every connection (as seen by the generator).
        rounds: list[list[int]] = []
        for t in sorted(x for r in results for x in r["arrivals"]):
            if rounds and t - rounds[-1][1] < interval * 1e9 / 2:
                rounds[-1][1] = t
                rounds[-1][2] += 1
            else:
                rounds.append([t, t, 1])
        full_rounds = [r for r in rounds if r[2] >= 0.9 * n]
        max_gap = max(gaps, default=float("nan"))
        expected_min = args.health_rounds - 1
        on_time = (alive == n and min(counts, default=0) >= expected_min
                   and max_gap <= interval + args.health_slack
                   and pct(rtts, 99) <= args.health_slack * 1000)
        return {
            "connections": n, "requested": requested, "rlimit_nofile": nofile,
            "generator_processes": len(children),
            "opened": sum(o["opened"] for o in opened), "alive_end": alive,
            "connects_per_s": round(n / open_s),
            "health_interval_s": interval, "hold_s": round(hold, 1),
            "health_checks_per_conn_min": min(counts, default=0),
            "health_checks_per_conn_max": max(counts, default=0),
            "health_gap_s": {"p50": round(pct(gaps, 50), 3), "p99": round(pct(gaps, 99), 3),
                             "max": round(max_gap, 3)},
            "health_round_spread_ms": [round((b - a) / 1e6, 1) for a, b, _ in full_rounds],
            "ping_rtt_ms": {"samples": len(rtts), "p50": round(pct(rtts, 50), 2),
                            "p99": round(pct(rtts, 99), 2),
                            "max": round(max(rtts, default=float("nan")), 2)},
            "server_rss_kib": rss,
            "server_kib_per_connection": round(rss / n, 2),
            "idle_window": cpu,
            "health_checks_on_time": on_time,
        }
    finally:
        for proc, pipe in children:
            try:
                pipe.send({"close": True})
            except OSError:
                pass
        for proc, _ in children:
            proc.join(timeout=20)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        server.stop()


