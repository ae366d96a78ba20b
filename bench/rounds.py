"""Running the phases: once against one system (the classic run), or in rounds against several
systems alternately (A B A B ...), so that every system meets the machine in the same state
and drift hits them alike. Each measurement starts its own server; a failed one is recorded
with its error and never hides the others."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from bench.machine import calibrate, log, wait_quiet
from bench.phases.connections import phase_connections
from bench.phases.fanout import phase_fanout
from bench.phases.latency import phase_latency
from bench.phases.memory import phase_memory
from bench.phases.rest import phase_rest
from bench.servers import System

PHASE_ORDER = ("fanout", "latency", "memory", "rest", "connections")


async def guarded(args: argparse.Namespace, name: str,
                  coro: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """One phase after waiting for a quiet machine and calibrating the server's core, bounded
    by ``--phase-timeout``; an exception becomes ``{"error": ...}``."""
    log(f"phase {name}")
    t0 = time.monotonic()
    busy = await wait_quiet(args)
    speed = {} if args.no_calibrate else await asyncio.to_thread(calibrate, args.server_cpu)
    log(f"  calibration of CPU {args.server_cpu}: {speed}")
    try:
        r = await asyncio.wait_for(coro, args.phase_timeout)
    except Exception as exc:  # noqa: BLE001 - a failed phase must not hide the others
        log(f"phase {name} failed: {exc!r}")
        r = {"error": repr(exc)[:300]}
    r["phase_seconds"] = round(time.monotonic() - t0, 1)
    r["machine_busy_before_pct"] = busy
    r["calibration"] = speed
    log(f"phase {name} done in {r['phase_seconds']}s: "
        f"{json.dumps({k: v for k, v in r.items() if not isinstance(v, list)})}")
    gc.collect()
    return r


def plan(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """The measurements of one round, in order: (phase, fan-out size or None)."""
    out: list[tuple[str, int | None]] = []
    for phase in PHASE_ORDER:
        if phase not in args.phases:
            continue
        if phase == "fanout":
            out.extend(("fanout", n) for n in args.fanout_watchers)
        else:
            out.append((phase, None))
    return out


def phase_coro(args: argparse.Namespace, workdir: Path, phase: str, size: int | None,
               system: System, tag: str = "") -> Awaitable[dict[str, Any]]:
    if phase == "fanout":
        assert size is not None
        return phase_fanout(args, workdir, size, system, tag)
    runner = {"latency": phase_latency, "memory": phase_memory, "rest": phase_rest,
              "connections": phase_connections}[phase]
    return runner(args, workdir, system, tag)


async def run_single(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Every phase once against the one system: the results keyed by phase (fan-out by size)."""
    system: System = args.systems[0]
    results: dict[str, Any] = {}
    for phase, size in plan(args):
        if phase == "fanout":
            results.setdefault("fanout", {})[str(size)] = await guarded(
                args, f"fanout {size}", phase_coro(args, workdir, phase, size, system))
        else:
            results[phase] = await guarded(args, phase,
                                           phase_coro(args, workdir, phase, None, system))
    return results


def headline(phase: str, r: dict[str, Any]) -> str:
    """The figure of one measurement, in a few words (the progress line)."""
    if "error" in r:
        return f"error: {r['error'][:120]}"
    if phase == "fanout":
        return (f"{r['deliveries_per_s']:,} deliveries/s (server CPU "
                f"{r['median_window']['server_cpu_pct']}%)" + (" NOISY" if r["noisy"] else ""))
    if phase == "latency":
        return (f"send->last p50 {r['send_to_last_ms']['p50']} ms, p99 "
                f"{r['send_to_last_ms']['p99']} ms ({r['complete_events']}/{r['events']} "
                "complete)")
    if phase == "memory":
        return (f"{r['kib_per_connection']} KiB/connection, {r['connects_per_s']:,} "
                f"connects/s ({r['alive']}/{r['connections']} alive)")
    if phase == "rest":
        return (f"{r['requests_per_s']:,} requests/s (p99 {r['request_ms']['p99']} ms)"
                + (" NOISY" if r["noisy"] else ""))
    return (f"{r['alive_end']:,} alive, ping p99 {r['ping_rtt_ms']['p99']} ms, health checks "
            f"{'on time' if r['health_checks_on_time'] else 'LATE'}")


async def run_rounds(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """``--rounds`` rounds of each measurement, the systems in turn within a round (A B A B
    ...); one progress line per measurement on stderr. Systems that cannot run a phase
    (Socket.IO: idle connections) sit it out."""
    systems: list[System] = args.systems
    jobs = [(phase, size, k, system) for phase, size in plan(args)
            for k in range(1, args.rounds + 1) for system in systems if system.supports(phase)]
    out: list[dict[str, Any]] = []
    started = time.monotonic()
    for n, (phase, size, k, system) in enumerate(jobs, 1):
        what = f"{phase}{'' if size is None else f' {size}'} · {system.name} · round {k}"
        r = await guarded(args, what, phase_coro(args, workdir, phase, size, system,
                                                 tag=f"{system.name}-r{k}-"))
        out.append({"phase": phase, "size": size, "round": k, "system": system.name,
                    "result": r})
        elapsed = time.monotonic() - started
        log(f"== [{n}/{len(jobs)}] {what}: {headline(phase, r)} "
            f"({r['phase_seconds']} s; {elapsed / 60:.1f} min so far, about "
            f"{elapsed / n * (len(jobs) - n) / 60:.1f} min to go)")
    return out
