"""The machine under the benchmark: logging, percentiles, CPU accounting (the server's, the
generator's, each core's and other processes'), calibration of the server's core, and waiting
for a quiet machine. Nothing here knows about Hubbub or any protocol."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536


class Measured(Protocol):
    """What :class:`Window` needs of a server process."""

    def cpu_split(self) -> tuple[float, float]: ...

    def threads(self) -> int: ...



def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chunks(seq: list[Any], n: int) -> Iterable[list[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def gen_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def clones_since_boot() -> int:
    """Processes and threads created on the machine since boot (``processes`` in /proc/stat)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("processes "):
            return int(line.split()[1])
    return 0


def core_times() -> dict[str, list[int]]:
    """Per-core jiffies from /proc/stat: user nice system idle iowait irq softirq steal."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *vals = line.split()
            out[name] = [int(v) for v in vals[:8]]
    return out


def core_usage(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict[str, Any]:
    """Each core's time split, in percent: busy (not idle) and the kernel's share of it."""
    usage = {}
    for name, b in before.items():
        a = after.get(name, b)
        d = [y - x for x, y in zip(b, a, strict=True)]
        total = sum(d) or 1
        usage[name] = {"busy": round(100 * (total - d[3] - d[4]) / total, 1),
                       "user": round(100 * (d[0] + d[1]) / total, 1),
                       "system": round(100 * d[2] / total, 1),
                       "softirq": round(100 * (d[5] + d[6]) / total, 1),
                       "steal": round(100 * d[7] / total, 1)}
    return usage


class Window:
    """CPU of the server (whole process and its event-loop thread) and of the generator, and
    threads created on the machine, over a measured window."""

    def __init__(self, server: Measured) -> None:
        self.server = server
        self.t0 = time.monotonic()
        self.s0, self.m0 = server.cpu_split()
        self.g0 = gen_cpu_seconds()
        self.c0 = clones_since_boot()
        self.cores0 = core_times()

    def close(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        s1, m1 = self.server.cpu_split()
        g1 = gen_cpu_seconds()
        c1 = clones_since_boot()
        cores1 = core_times()
        all_user_sys = sum((a[0] + a[1] + a[2]) - (b[0] + b[1] + b[2])
                           for b, a in zip(self.cores0.values(), cores1.values(), strict=True))
        others = all_user_sys / CLK_TCK - (s1 - self.s0) - (g1 - self.g0)
        return {
            "window_s": round(elapsed, 2),
            "server_cpu_pct": round(100 * (s1 - self.s0) / elapsed, 1),
            "server_loop_thread_cpu_pct": round(100 * (m1 - self.m0) / elapsed, 1),
            "server_other_threads_cpu_pct": round(100 * (s1 - self.s0 - m1 + self.m0)
                                                  / elapsed, 1),
            "generator_cpu_pct": round(100 * (g1 - self.g0) / elapsed, 1),
            "threads_created_per_s": round((c1 - self.c0) / elapsed, 1),
            "server_threads_at_end": self.server.threads(),
            "other_processes_cpu_pct": round(max(0.0, 100 * others / elapsed), 1),
            "cores": core_usage(self.cores0, cores1),
        }


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(NOFILE, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, PermissionError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def quiet_enough(args: argparse.Namespace, windows: list[dict[str, Any]]) -> bool:
    """Enough windows measured: ``--windows`` of them in which other processes stayed under
    ``--quiet-below`` percent of a core. Noisy windows are measured again, up to 3x."""
    quiet = [w for w in windows if w["other_processes_cpu_pct"] < args.quiet_below]
    return len(quiet) >= args.windows


def pick_median(args: argparse.Namespace, windows: list[dict[str, Any]],
                key: str) -> tuple[dict[str, Any], bool]:
    """The median of the quiet windows (of all, flagged noisy, if none was quiet)."""
    quiet = [w for w in windows if w["other_processes_cpu_pct"] < args.quiet_below]
    pool = quiet or windows
    return sorted(pool, key=lambda w: w[key])[len(pool) // 2], not quiet


CALIBRATE = r"""
import socket, time
t0 = time.perf_counter(); x = 0
for i in range(1_000_000):
    x += i & 7
loop_ns = (time.perf_counter() - t0) * 1e3
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
c = socket.create_connection(ls.getsockname()); s, _ = ls.accept()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
frame = b"x" * 440; n = 20000
t0 = time.perf_counter()
for i in range(n):
    s.send(frame)
    c.recv(4096)
send_us = (time.perf_counter() - t0) / n * 1e6
print(f"{loop_ns:.1f} {send_us:.2f}")
"""


def calibrate(cpu: int) -> dict[str, float]:
    """How fast the server's core is right now: ns per iteration of a plain Python loop, and
    us per loopback TCP send+recv of an event-sized frame (both in one process). The VM's
    speed drifts (its host is shared), and these explain much of the drift between runs."""
    try:
        out = subprocess.run(["taskset", "-c", str(cpu), sys.executable, "-c", CALIBRATE],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        loop_ns, send_us = (float(x) for x in out.split())
        return {"python_loop_ns_per_iter": loop_ns, "tcp_send_recv_us": send_us}
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}


async def machine_busy(seconds: float = 1.0) -> float:
    """Percent of both cores busy (ours included: call it while idle)."""
    before = core_times()
    await asyncio.sleep(seconds)
    usage = core_usage(before, core_times())
    return round(sum(u["busy"] for u in usage.values()) / max(len(usage), 1), 1)


async def wait_quiet(args: argparse.Namespace) -> float:
    """Wait (bounded) until other processes leave the machine alone; the last reading."""
    deadline = time.monotonic() + args.quiet_wait
    busy = await machine_busy(1.0 if args.quiet_wait else 0.3)
    while busy >= args.quiet_below and time.monotonic() < deadline:
        log(f"  machine {busy}% busy with other processes; waiting for it to calm down")
        await asyncio.sleep(2)
        busy = await machine_busy()
    if busy >= args.quiet_below:
        log(f"  warning: machine still {busy}% busy; measuring anyway")
    return busy

