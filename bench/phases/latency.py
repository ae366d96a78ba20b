"""The latency phase: send -> last watcher, at a fixed event rate into N watchers."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench.httpclient import HttpConn, event_body, event_path, open_http, post_request
from bench.machine import Window, pct
from bench.population import Population, drain, populate, settle
from bench.servers import Server, System
from bench.wsclient import LatencySink, SampleSink, make_reader, stop_reader


async def phase_latency(args: argparse.Namespace, workdir: Path, system: System,
                        tag: str = "") -> dict[str, Any]:
    """Open loop: ``--latency-rate`` events/s into ``--latency-watchers`` watchers; per event,
    send (timestamp taken just before the request is written) -> the last watcher's arrival."""
    n = args.latency_watchers
    server = Server(args, workdir, "latency", system, tag=tag)
    server.start()
    pop: Population | None = None
    try:
        pop = await populate(server, args, n, "latency")
        await settle(pop)
        total = max(1, int(args.latency_rate * args.latency_duration))
        sink = LatencySink(total + 1)
        sample = SampleSink()
        for c in pop.conns:
            c.events = 0
            c.sink = sink
        pop.conns[0].sample = sample
        token = pop.tokens[pop.sender]
        path = event_path("latency")
        pool: asyncio.Queue[HttpConn] = asyncio.Queue()
        for _ in range(4):
            pool.put_nowait(await open_http(server.port))
        rest_ms: list[float] = []
        statuses: dict[int, int] = {}
        late = 0

        async def send(seq: int) -> None:
            http = await pool.get()
            try:
                raw = post_request(server.port, path, token, event_body(seq, args.event_pad))
                sink.sent[seq] = time.monotonic_ns()
                status, _ = await http.request(raw)
                rest_ms.append((time.monotonic_ns() - sink.sent[seq]) / 1e6)
                statuses[status] = statuses.get(status, 0) + 1
            finally:
                pool.put_nowait(http)

        reader = make_reader(args, pop.conns)
        server.start_profile("latency")
        window = Window(server)
        start = time.monotonic() + 0.1
        tasks = []
        for seq in range(1, total + 1):
            delay = start + (seq - 1) / args.latency_rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.005:
                late += 1
            tasks.append(asyncio.create_task(send(seq)))
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        cpu = window.close()
        server.stop_profile()
        open_now = pop.open_count()
        await drain(pop, total * open_now, 15)
        await stop_reader(reader)
        complete = [s for s in range(1, total + 1) if sink.count[s] >= open_now]
        last_ms = [(sink.last[s] - sink.sent[s]) / 1e6 for s in complete]
        first_ms = [(sink.first[s] - sink.sent[s]) / 1e6 for s in complete]
        while not pool.empty():
            pool.get_nowait().close()
        return {
            "watchers": n, "connected_at_end": open_now, "rate": args.latency_rate,
            "events": total, "complete_events": len(complete),
            "send_to_last_ms": {"p50": round(pct(last_ms, 50), 2),
                                "p99": round(pct(last_ms, 99), 2),
                                "max": round(max(last_ms, default=float("nan")), 2)},
            "send_to_first_ms": {"p50": round(pct(first_ms, 50), 2),
                                 "p99": round(pct(first_ms, 99), 2)},
            "rest_response_ms": {"p50": round(pct(rest_ms, 50), 2),
                                 "p99": round(pct(rest_ms, 99), 2)},
            "one_watcher_parsed_t_ms_p50": round(pct(sample.latencies_ms, 50), 2),
            **cpu,
            "statuses": statuses, "late_sends": late,
        }
    finally:
        if pop is not None:
            pop.abort_all()
        server.stop()


