"""The REST phase: client-side sendEvent requests/s, many senders each on its own channel."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.httpclient import event_body, event_path, open_http, post_request
from bench.machine import Window, log, pct, pick_median, quiet_enough
from bench.population import Population, bounded, settle
from bench.servers import API_KEY, Server, System
from bench.wsclient import WsClient, make_reader, open_ws, stop_reader


async def phase_rest(args: argparse.Namespace, workdir: Path, system: System,
                     tag: str = "") -> dict[str, Any]:
    """Closed loop: ``--rest-senders`` users, each on its own keep-alive connection and its own
    channel with ``--rest-watchers`` watchers, post client-side sendEvent back to back."""
    s, w = args.rest_senders, args.rest_watchers
    server = Server(args, workdir, "rest", system, tag=tag)
    server.start()
    conns: list[WsClient] = []
    try:
        deadline = time.monotonic() + args.setup_timeout
        senders = [f"s-{k:03d}" for k in range(s)]
        watchers = {k: [f"r-{k:03d}-{j:02d}" for j in range(w)] for k in range(s)}
        all_users = senders + [u for ws in watchers.values() for u in ws]
        channels = [(f"rest-{k:03d}", [senders[k], *watchers[k]]) for k in range(s)]
        tokens = await server.setup(all_users, channels)
        port = server.port
        owners = [(k, u) for k in range(s) for u in watchers[k]]
        eio = system.eio
        conns = await bounded([(lambda u=u: open_ws(port, u, tokens[u], eio=eio))
                               for _, u in owners],
                              args.connect_concurrency, deadline, "connect")
        body = json.dumps({"state": True, "watch": True, "presence": False,
                           "members": {"limit": 0}}).encode()
        http = await open_http(port)
        for (k, u), c in zip(owners, conns):
            st, data = await http.request(post_request(
                port, f"/channels/messaging/rest-{k:03d}/query?api_key={API_KEY}"
                f"&connection_id={c.connection_id}", tokens[u], body))
            if st not in (200, 201):
                raise RuntimeError(f"watch answered {st}: {data[:300]!r}")
        http.close()
        pop = Population(server, tokens, "", conns)
        await settle(pop)
        for c in conns:
            c.events = 0
        https = [await open_http(port) for _ in range(s)]
        statuses: dict[int, int] = {}
        ok = 0
        stop_at = time.monotonic() + args.warmup + args.duration * args.windows + 60
        counting = False

        answered = 0
        lat_ms: list[float] = []
        stop_now = False

        async def sender(k: int) -> None:
            nonlocal ok, answered
            http = https[k]
            path = event_path(f"rest-{k:03d}")
            token = tokens[senders[k]]
            seq = 0
            while not stop_now and time.monotonic() < stop_at and seq < args.max_events:
                seq += 1
                t = time.monotonic_ns()
                status, _ = await http.request(post_request(
                    port, path, token, event_body(seq, args.event_pad)))
                answered += 1
                if counting:
                    lat_ms.append((time.monotonic_ns() - t) / 1e6)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    ok += 1

        reader = make_reader(args, conns) if args.rest_reader == "spin" else None
        tasks = [asyncio.create_task(sender(k)) for k in range(s)]
        await asyncio.sleep(args.warmup)
        server.start_profile("rest")
        counting = True
        windows: list[dict[str, Any]] = []
        for _ in range(args.windows * 3):
            if quiet_enough(args, windows):
                break
            t0, d0, a0, ok0 = time.monotonic(), pop.delivered(), answered, ok
            window = Window(server)
            await asyncio.sleep(args.duration)
            t1, d1, a1, ok1 = time.monotonic(), pop.delivered(), answered, ok
            elapsed = t1 - t0
            windows.append({"requests_per_s": round((a1 - a0) / elapsed),
                            "ok_per_s": round((ok1 - ok0) / elapsed),
                            "deliveries_per_s": round((d1 - d0) / elapsed),
                            **window.close()})
            log(f"  window: {windows[-1]['requests_per_s']:,} requests/s, server CPU "
                f"{windows[-1]['server_cpu_pct']}%, other processes "
                f"{windows[-1]['other_processes_cpu_pct']}%")
        stop_now = True
        server.stop_profile()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        await stop_reader(reader)
        for h in https:
            h.close()
        median, noisy = pick_median(args, windows, "requests_per_s")
        return {
            "senders": s, "watchers_per_channel": w,
            "requests_per_s": median["requests_per_s"],
            "requests_per_s_windows": [x["requests_per_s"] for x in windows],
            "noisy": noisy,
            "statuses": statuses,
            "request_ms": {"p50": round(pct(lat_ms, 50), 2), "p99": round(pct(lat_ms, 99), 2),
                           "max": round(max(lat_ms, default=float("nan")), 2)},
            "median_window": median,
            "windows": windows,
        }
    finally:
        for c in conns:
            c.abort()
        server.stop()


