"""The fan-out phase: deliveries/s at N watchers of one channel, 16 senders in flight."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench.httpclient import HttpConn, event_body, event_path, open_http, post_request
from bench.machine import Window, log, pct, pick_median, quiet_enough
from bench.population import Population, drain, populate, settle
from bench.servers import Server, System
from bench.wsclient import SampleSink, make_reader, stop_reader


async def phase_fanout(args: argparse.Namespace, workdir: Path, watchers: int,
                       system: System, tag: str = "") -> dict[str, Any]:
    """Closed loop: ``--fanout-senders`` keep-alive connections post client-side sendEvent
    (a member's token: permission check, broker, hub) back to back, optionally paced to
    ``--fanout-rate`` events/s; deliveries are counted at the watchers."""
    server = Server(args, workdir, f"fanout-{watchers}", system, tag=tag)
    server.start()
    pop: Population | None = None
    try:
        pop = await populate(server, args, watchers, "fanout")
        await settle(pop)
        for c in pop.conns:
            c.events = 0
        sample = SampleSink()
        step = max(1, watchers // args.sample_conns)
        for c in pop.conns[::step]:
            c.sample = sample
        senders = [await open_http(server.port) for _ in range(args.fanout_senders)]
        token = pop.tokens[pop.sender]
        path = event_path("fanout")
        ok = errors = 0
        seq = 0
        statuses: dict[int, int] = {}
        warm, dur = args.warmup, args.duration
        stop_at = time.monotonic() + warm + dur * args.windows + 60
        stop_now = False
        max_events = args.max_events
        interval = 1.0 / args.fanout_rate if args.fanout_rate else 0.0
        next_at = time.monotonic()

        async def sender(http: HttpConn) -> None:
            nonlocal ok, errors, seq, next_at
            while not stop_now and time.monotonic() < stop_at and seq < max_events:
                if interval:
                    next_at += interval
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                seq += 1
                status, _ = await http.request(post_request(
                    server.port, path, token, event_body(seq, args.event_pad)))
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    ok += 1
                else:
                    errors += 1

        reader = make_reader(args, pop.conns)
        tasks = [asyncio.create_task(sender(h)) for h in senders]
        await asyncio.sleep(warm)
        server.start_profile(f"fanout-{watchers}")
        windows: list[dict[str, Any]] = []
        for _ in range(args.windows * 3):
            if all(t.done() for t in tasks) or quiet_enough(args, windows):
                break
            t0, d0, ok0 = time.monotonic(), pop.delivered(), ok
            window = Window(server)
            per_second: list[float] = []
            last_t, last_d = t0, d0
            end_at = t0 + dur
            while time.monotonic() < end_at and not all(t.done() for t in tasks):
                await asyncio.sleep(min(1.0, max(0.01, end_at - time.monotonic())))
                now, d = time.monotonic(), pop.delivered()
                per_second.append((d - last_d) / (now - last_t))
                last_t, last_d = now, d
            t1, d1, ok1 = time.monotonic(), pop.delivered(), ok
            cpu = window.close()
            elapsed = t1 - t0
            rate = (d1 - d0) / elapsed
            w = {
                "deliveries_per_s": round(rate),
                "events_per_s": round((ok1 - ok0) / elapsed, 1),
                "server_writes_per_s": round((ok1 - ok0) * watchers / elapsed),
                "backlog_frames_start": ok0 * watchers - d0,
                "backlog_frames_end": ok1 * watchers - d1,
                "per_second_min": round(min(per_second)) if per_second else None,
                "per_second_max": round(max(per_second)) if per_second else None,
                **cpu,
            }
            if w["backlog_frames_end"] - w["backlog_frames_start"] > max(
                    watchers * args.fanout_senders * 2, rate * 0.05):
                w["warning"] = ("the generator fell behind the server (backlog grew): "
                                "deliveries/s measures the generator")
            windows.append(w)
            log(f"  window: {w['deliveries_per_s']:,} deliveries/s, server CPU "
                f"{w['server_cpu_pct']}%, other processes {w['other_processes_cpu_pct']}%")
        stop_now = True
        server.stop_profile()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        open_now = pop.open_count()
        expected = ok * open_now
        got = await drain(pop, expected, 15)
        await stop_reader(reader)
        for h in senders:
            h.close()
        median, noisy = pick_median(args, windows, "deliveries_per_s")
        result = {
            "watchers": watchers, "connected_at_end": open_now,
            "deliveries_per_s": median["deliveries_per_s"],
            "deliveries_per_s_windows": [w["deliveries_per_s"] for w in windows],
            "noisy": noisy,
            "median_window": median,
            "events_sent_ok": ok, "errors": errors, "statuses": statuses,
            "delivered_fraction": round(got / expected, 6) if expected else None,
            "event_payload_bytes": sample.payload_bytes,
            "sampled_latency_ms": {
                "samples": len(sample.latencies_ms),
                "p50": round(pct(sample.latencies_ms, 50), 2),
                "p99": round(pct(sample.latencies_ms, 99), 2),
                "max": round(max(sample.latencies_ms, default=float("nan")), 2)},
            "server_rss_kib": server.rss_kib(),
            "windows": windows,
        }
        return result
    finally:
        if pop is not None:
            pop.abort_all()
        server.stop()


