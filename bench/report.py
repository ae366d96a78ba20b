"""The report of a single-system run: the environment it ran in, and the table of figures
against DESIGN.md's absolute targets (PASS/MISS)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.servers import ROOT

#: DESIGN.md, "Performance targets".
TARGETS = {
    "fanout_1000": 150_000,    # deliveries/s, at least
    "fanout_5000": 110_000,    # deliveries/s, at least
    "latency_p99_ms": 15.0,    # at most
    "memory_kib": 20.0,        # per idle connection, at most
    "rest_rps": 3_000,         # requests/s, at least
    "connections": 20_000,     # idle connections with health checks on time, at least
}

def environment(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp
    import uvloop

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10,
                                check=False).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                                    capture_output=True, text=True, timeout=10,
                                    check=False).stdout.strip())
    except OSError:
        commit, dirty = "?", False
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "python": platform.python_version(), "aiohttp": aiohttp.__version__,
        "uvloop": uvloop.__version__, "commit": commit + ("+dirty src" if dirty else ""),
        "server_cpu": None if args.no_pin else args.server_cpu,
        "generator_cpu": None if args.no_pin else args.generator_cpu,
        "command": "bench/run.py " + " ".join(sys.argv[1:]),
    }


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    for key, r in results.get("fanout", {}).items():
        if "error" in r:
            rows.append((f"fan-out, {key} watchers", "", f"error: {r['error']}", "FAIL"))
            continue
        target = TARGETS.get(f"fanout_{key}")
        rows.append((f"fan-out, {key} watchers (deliveries/s)",
                     f">= {target:,}" if target else "",
                     f"{r['deliveries_per_s']:,} (median of "
                     f"{len(r['deliveries_per_s_windows'])}; {r['median_window']['events_per_s']} "
                     f"ev/s, server CPU {r['median_window']['server_cpu_pct']}%)"
                     + (" NOISY" if r.get("noisy") else ""),
                     verdict(r["deliveries_per_s"] >= target if target else None)))
    r = results.get("latency")
    if r:
        if "error" in r:
            rows.append(("latency", "", f"error: {r['error']}", "FAIL"))
        else:
            lat = r["send_to_last_ms"]
            rows.append((f"latency, {r['rate']}/s into {r['watchers']} (send -> last, ms)",
                         f"p99 <= {TARGETS['latency_p99_ms']}",
                         f"p50 {lat['p50']}  p99 {lat['p99']}  max {lat['max']}",
                         verdict(None if r["watchers"] < 1000 or r["rate"] < 50 else (
                             lat["p99"] <= TARGETS["latency_p99_ms"]
                             and r["complete_events"] == r["events"]))))
    r = results.get("memory")
    if r:
        if "error" in r:
            rows.append(("memory", "", f"error: {r['error']}", "FAIL"))
        else:
            rows.append((f"memory per idle connection ({r['connections']:,})",
                         f"<= {TARGETS['memory_kib']} KiB", f"{r['kib_per_connection']} KiB",
                         verdict(r["kib_per_connection"] <= TARGETS["memory_kib"])))
    r = results.get("rest")
    if r:
        if "error" in r:
            rows.append(("sendEvent REST", "", f"error: {r['error']}", "FAIL"))
        else:
            rows.append((f"sendEvent REST, {r['watchers_per_channel']} watchers each (req/s)",
                         f">= {TARGETS['rest_rps']:,}",
                         (f"{r['requests_per_s']:,} (p99 {r['request_ms']['p99']} ms, "
                          f"{r['senders']} senders)"),
                         verdict(r["requests_per_s"] >= TARGETS["rest_rps"]
                                 and set(r["statuses"]) <= {201})))
    r = results.get("connections")
    if r:
        if "error" in r:
            rows.append(("connections", "", f"error: {r['error']}", "FAIL"))
        else:
            capped = (f" (capped: RLIMIT_NOFILE {r['rlimit_nofile']})"
                      if r["connections"] < r["requested"] else "")
            rows.append((f"idle connections, health every {r['health_interval_s']} s",
                         f">= {TARGETS['connections']:,} on time",
                         (f"{r['alive_end']:,} alive{capped}, max gap "
                          f"{r['health_gap_s']['max']} s, ping p99 {r['ping_rtt_ms']['p99']} ms"),
                         verdict(None if r["requested"] < TARGETS["connections"] else (
                             r["health_checks_on_time"]
                             and r["connections"] >= TARGETS["connections"]))))
    widths = [max(len(row[i]) for row in rows + [("figure", "target", "measured", "")])
              for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format("figure", "target", "measured", "")]
    out.append(line.format(*("-" * w for w in widths)))
    out.extend(line.format(*row) for row in rows)
    return "\n".join(out)


