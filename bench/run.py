#!/usr/bin/env python3
"""Hubbub's benchmark: the performance targets of DESIGN.md, measured through the real server.

Run by hand, never by the test suite::

    .venv/bin/python bench/run.py              # full sizes (about 4 minutes)
    .venv/bin/python bench/run.py --quick      # small sizes, under a minute

Each phase starts its own ``hubbub serve`` process (a temp SQLite database, rate limits off)
pinned with ``taskset -c 0``; this script re-executes itself under ``taskset -c 1`` and is the
load generator. The generator is deliberately thin: hand-rolled WebSocket and HTTP/1.1 clients on
asyncio protocols (uvloop) that count frames and parse only what a figure needs, so that one core
of client can outrun one core of server. Users, channels and members are set up with the
official Python SDK (``stream_chat.StreamChat``); everything measured goes over the wire on
127.0.0.1. Every loop is bounded in count and in time, and the script stops by itself.

Phases (``--phases``): ``fanout`` (deliveries/s at each ``--fanout-watchers``), ``latency``
(send -> last recipient), ``memory`` (RSS per idle connection), ``rest`` (client-side sendEvent
requests/s), ``connections`` (many idle connections, health checks on time).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import gc
import json
import math
import os
import platform
import random
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
API_KEY = "bench-key"
API_SECRET = "bench-secret-long-enough-for-hs256-signatures-0123456789"
PINNED_ENV = "HUBBUB_BENCH_PINNED"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536

#: DESIGN.md, "Performance targets".
TARGETS = {
    "fanout_1000": 150_000,    # deliveries/s, at least
    "fanout_5000": 110_000,    # deliveries/s, at least
    "latency_p99_ms": 15.0,    # at most
    "memory_kib": 20.0,        # per idle connection, at most
    "rest_rps": 3_000,         # requests/s, at least
    "connections": 20_000,     # idle connections with health checks on time, at least
}


# --------------------------------------------------------------------------------------------
# small helpers


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

    def __init__(self, server: Server) -> None:
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


# --------------------------------------------------------------------------------------------
# the server under test


class Server:
    """One ``hubbub serve`` process pinned to its core, with a fresh SQLite database."""

    def __init__(self, args: argparse.Namespace, workdir: Path, name: str,
                 env: dict[str, str] | None = None) -> None:
        self.args = args
        self.name = name
        self.port = free_port()
        self.db = workdir / f"{name}.db"
        self.log_path = workdir / f"{name}.log"
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.profiler: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def setup(self, users: list[str],
                    channels: list[tuple[str, list[str]]]) -> dict[str, str]:
        """Users and channels through the official SDK; a token per user."""
        if self.args.baseline:
            return {u: "baseline" for u in users}
        return await asyncio.to_thread(sdk_setup, self.url, users, channels)

    def start(self) -> None:
        cmd = [str(VENV_BIN / "hubbub"), "serve", "--host", "127.0.0.1", "--port",
               str(self.port), "--api-key", API_KEY, "--api-secret", API_SECRET,
               "--database", f"sqlite:///{self.db}"]
        if self.args.baseline:
            cmd = [sys.executable, str(Path(__file__).with_name("baseline_server.py")),
                   "--port", str(self.port)]
        if not self.args.no_pin:
            cmd = ["taskset", "-c", str(self.args.server_cpu), *cmd]
        env = {**os.environ, "HUBBUB_RATE_LIMITS": "false",
               # Headroom over what the generator opens per user: a connect that timed out
               # on our side and is retried may still have been registered by the server.
               "HUBBUB_WS_MAX_CONNECTIONS_PER_USER": str(self.args.conns_per_user + 10),
               **self.env}
        for item in self.args.server_env:
            key, _, value = item.partition("=")
            env[key] = value
        env.pop(PINNED_ENV, None)

        # The open-file limit was raised in main(); the server inherits it.
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see "
                                   f"{self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not become healthy within 60 s")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self, tid: int | None = None) -> float:
        """CPU time of the process (all its threads, the exited ones included), or of one
        thread (``tid``; the event loop's thread is ``pid``)."""
        path = f"/proc/{self.pid}/task/{tid}/stat" if tid else f"/proc/{self.pid}/stat"
        stat = Path(path).read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def cpu_split(self) -> tuple[float, float]:
        """(whole process, event-loop thread) CPU seconds."""
        return self.cpu_seconds(), self.cpu_seconds(self.pid)

    def threads(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        return 0

    def start_profile(self, label: str, seconds: float | None = None) -> None:
        """py-spy on the server (on the generator's core: it steals from it) until
        :meth:`stop_profile` or for ``seconds``. Raw collapsed stacks in ``--profile``."""
        if not self.args.profile:
            return
        self.stop_profile()
        pyspy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
        out_dir = Path(self.args.profile)
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [pyspy, "record", "--pid", str(self.pid), "--rate", str(self.args.profile_rate),
               "--format", "raw", "--threads", "-o", str(out_dir / f"{label}.txt")]
        if seconds:
            cmd += ["--duration", str(max(1, int(seconds)))]
        if self.args.profile_native:
            cmd.insert(2, "--native")
        self.profiler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def stop_profile(self) -> None:
        if self.profiler is None:
            return
        if self.profiler.poll() is None:
            self.profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.profiler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.profiler.kill()
            self.profiler.wait()
        self.profiler = None

    def stop(self) -> None:
        self.stop_profile()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# setup through the official Python SDK


def sdk_setup(url: str, users: list[str], channels: list[tuple[str, list[str]]]) -> dict[str, str]:
    """Upsert ``users``, create each ``(channel_id, members)`` of type messaging (the first
    member creates it), and return a client token per user."""
    from stream_chat import StreamChat

    client = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=url, timeout=120)
    for batch in chunks(users, 100):
        client.upsert_users([{"id": u, "name": u} for u in batch])
    for channel_id, members in channels:
        channel = client.channel("messaging", channel_id)
        channel.create(members[0])
        for batch in chunks(members, 100):
            channel.add_members(batch)
    return {u: client.create_token(u) for u in users}


# --------------------------------------------------------------------------------------------
# a thin WebSocket client: counts frames, parses only what it must

EVENT_PREFIX_BYTE = ord("s")   # our events start {"seq": (custom fields come first)
TYPE_PREFIX_BYTE = ord("t")    # {"type": ... (health.check, channel.created)
HEALTH_PREFIX = b'{"type":"health.check"'


class LatencySink:
    """Per event: recipients counted, first and last arrival (monotonic ns)."""

    def __init__(self, capacity: int) -> None:
        self.count = [0] * capacity
        self.first = [0] * capacity
        self.last = [0] * capacity
        self.sent = [0] * capacity

    def record(self, data: bytes, start: int, now: int) -> None:
        comma = data.index(b",", start + 7)
        seq = int(data[start + 7:comma])
        if seq < len(self.count):
            if not self.count[seq]:
                self.first[seq] = now
            self.count[seq] += 1
            self.last[seq] = now


class SampleSink:
    """Full parse of a few connections' events: send timestamp ``t`` -> arrival."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.payload_bytes = 0

    def record(self, data: bytes, start: int, end: int, now: int) -> None:
        self.payload_bytes = end - start
        event = json.loads(data[start:end])
        if len(self.latencies_ms) < 1_000_000:
            self.latencies_ms.append((now - event["t"]) / 1e6)


class WsClient(asyncio.Protocol):
    """One WebSocket, speaking just enough RFC 6455: server frames are unmasked and whole."""

    def __init__(self, request: bytes, user_id: str = "") -> None:
        self.request = request
        self.user_id = user_id
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.head = b""
        self.rest = b""
        self.ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.connection_id: str | None = None
        self.events = 0
        self.health = 0
        self.other = 0
        self.closed = False
        self.close_code: int | None = None
        self.sink: LatencySink | None = None
        self.sample: SampleSink | None = None
        # health checks: arrival times of the periodic ones, and client pings awaiting a reply
        self.track_health = False
        self.health_times: list[int] = []
        self.ping_sent = 0
        self.ping_rtts: list[float] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if not self.upgraded:
            self.head += data
            k = self.head.find(b"\r\n\r\n")
            if k < 0:
                return
            if b" 101 " not in self.head[:16]:
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(self.head[:200].decode("latin1")))
                return
            data = self.head[k + 4:]
            self.head = b""
            self.upgraded = True
        if self.rest:
            data = self.rest + data
            self.rest = b""
        i, n = 0, len(data)
        while n - i >= 2:
            ln = data[i + 1] & 0x7F
            if ln < 126:
                p = i + 2
            elif ln == 126:
                if n - i < 4:
                    break
                ln = (data[i + 2] << 8) | data[i + 3]
                p = i + 4
            else:
                if n - i < 10:
                    break
                ln = int.from_bytes(data[i + 2:i + 10], "big")
                p = i + 10
            end = p + ln
            if end > n:
                break
            op = data[i] & 0x0F
            if op == 1:
                lead = data[p + 2] if ln > 2 else 0
                if lead == EVENT_PREFIX_BYTE:
                    self.events += 1
                    if self.sink is not None:
                        self.sink.record(data, p, now)
                    if self.sample is not None:
                        self.sample.record(data, p, end, now)
                elif lead == TYPE_PREFIX_BYTE and data.startswith(HEALTH_PREFIX, p):
                    self._on_health(data, p, end, now)
                else:
                    self.other += 1
                    if self.connection_id is None and not self.ready.done():
                        self.ready.set_exception(ConnectionError(
                            "refused: " + data[p:end][:300].decode("utf-8", "replace")))
            elif op == 8:
                self.closed = True
                if ln >= 2:
                    self.close_code = (data[p] << 8) | data[p + 1]
            elif op == 9 and self.transport is not None:
                self.transport.write(_client_frame(0xA, data[p:end]))
            i = end
        if i < n:
            self.rest = data[i:]

    def _on_health(self, data: bytes, p: int, end: int, now: int) -> None:
        if self.connection_id is None:
            hello = json.loads(data[p:end])
            self.connection_id = hello.get("connection_id")
            if not self.ready.done():
                self.ready.set_result(hello)
            return
        self.health += 1
        if self.ping_sent:
            if self.ping_rtts is not None:
                self.ping_rtts.append((now - self.ping_sent) / 1e6)
            self.ping_sent = 0
        elif self.track_health:
            self.health_times.append(now)

    def ping(self) -> None:
        """The JS SDK's keep-alive: a JSON array; the server answers with a health.check."""
        if self.transport is None or self.closed or self.ping_sent:
            return
        payload = b'[{"type":"health.check","client_id":"' + (
            self.connection_id or "").encode() + b'"}]'
        self.ping_sent = time.monotonic_ns()
        self.transport.write(_client_frame(0x1, payload))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class SpinReader:
    """Reads the watchers' sockets itself, busy-polling one epoll set (timeout 0) and yielding
    to the event loop between polls (the REST senders run there).

    Why: a reader that sleeps in ``epoll_wait`` makes every server write pay for waking it up
    (on this VM ~7.7 us per ``send`` instead of ~4.7 us with a busy reader: see README), and
    the asyncio read path costs the generator ~13 us a frame. Spinning on its own core, the
    generator reads faster than one server core can write. ``--reader asyncio`` turns it off.
    """

    def __init__(self, conns: list[WsClient]) -> None:
        self.conns = [c for c in conns if c.transport is not None and not c.closed]
        self.ep = select.epoll()
        self.by_fd: dict[int, WsClient] = {}
        self.stopped = False
        self.task: asyncio.Task[None] | None = None
        for c in self.conns:
            assert c.transport is not None
            c.transport.pause_reading()
            fd = c.transport.get_extra_info("socket").fileno()
            self.by_fd[fd] = c
            self.ep.register(fd, select.EPOLLIN)

    def start(self) -> SpinReader:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        poll, read, by_fd = self.ep.poll, os.read, self.by_fd
        sleep = asyncio.sleep
        while not self.stopped:
            for fd, _ in poll(0, 1024):
                try:
                    data = read(fd, 65536)  # < 128 KiB: malloc, not mmap, per read
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    by_fd[fd].data_received(data)
                else:
                    self.ep.unregister(fd)
                    by_fd[fd].closed = True
            await sleep(0)

    async def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            await self.task
        self.ep.close()
        for c in self.conns:
            if c.transport is not None and not c.transport.is_closing():
                c.transport.resume_reading()


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


def make_reader(args: argparse.Namespace, conns: list[WsClient]) -> SpinReader | None:
    return SpinReader(conns).start() if args.reader == "spin" else None


async def stop_reader(reader: SpinReader | None) -> None:
    if reader is not None:
        await reader.stop()


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (zero mask key: valid, and the payload stays as is)."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    else:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


def connect_request(port: int, user_id: str, token: str) -> bytes:
    params = urllib.parse.urlencode({
        "json": json.dumps({"user_id": user_id, "user_details": {"id": user_id},
                            "client_request_id": os.urandom(8).hex()}),
        "api_key": API_KEY, "authorization": token, "stream-auth-type": "jwt"})
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /connect?{params} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nUser-Agent: hubbub-bench\r\n\r\n").encode()


async def open_ws(port: int, user_id: str, token: str, timeout: float = 30) -> WsClient:
    loop = asyncio.get_running_loop()
    req = connect_request(port, user_id, token)
    _, proto = await asyncio.wait_for(
        loop.create_connection(lambda: WsClient(req, user_id), "127.0.0.1", port), timeout)
    try:
        await asyncio.wait_for(proto.ready, timeout)
    except BaseException:
        proto.abort()
        raise
    return proto


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


# --------------------------------------------------------------------------------------------
# a thin HTTP/1.1 keep-alive client


class HttpConn(asyncio.Protocol):
    """One keep-alive connection, one request at a time (as SDKs do: no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        buf = self.buf
        k = buf.find(b"\r\n\r\n")
        if k < 0:
            return
        head = bytes(buf[:k]).lower()
        c = head.find(b"\r\ncontent-length:")
        if c < 0:
            waiter.set_exception(RuntimeError("response without content-length"))
            return
        length = int(head[c + 17:head.find(b"\r\n", c + 17) if head.find(
            b"\r\n", c + 17) > 0 else None])
        if len(buf) < k + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(buf[k + 4:k + 4 + length])
        del buf[:k + 4 + length]
        waiter.set_result((status, body))

    async def request(self, raw: bytes, timeout: float = 30) -> tuple[int, bytes]:
        assert self.transport is not None
        if self.lost:
            raise ConnectionError("connection lost")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await asyncio.wait_for(self.waiter, timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_http(port: int) -> HttpConn:
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(
        loop.create_connection(HttpConn, "127.0.0.1", port), 30)
    return proto


def post_request(port: int, path: str, token: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {token}\r\n"
            "stream-auth-type: jwt\r\nX-Stream-Client: hubbub-bench\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def event_path(channel_id: str) -> str:
    return f"/channels/messaging/{channel_id}/event?api_key={API_KEY}"


def event_body(seq: int, pad: int = 0) -> bytes:
    # seq first: the watchers tell our events from others by their first key.
    body = {"event": {"seq": seq, "t": time.monotonic_ns(), "type": "bench"}}
    if pad:
        body["event"]["text"] = "x" * pad
    return json.dumps(body, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------
# building a population: users, a channel, N connections watching it


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
        return lambda: open_ws(port, uid, tokens[uid])

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


# --------------------------------------------------------------------------------------------
# phases


async def phase_fanout(args: argparse.Namespace, workdir: Path, watchers: int) -> dict[str, Any]:
    """Closed loop: ``--fanout-senders`` keep-alive connections post client-side sendEvent
    (a member's token: permission check, broker, hub) back to back, optionally paced to
    ``--fanout-rate`` events/s; deliveries are counted at the watchers."""
    server = Server(args, workdir, f"fanout-{watchers}")
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


async def phase_latency(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Open loop: ``--latency-rate`` events/s into ``--latency-watchers`` watchers; per event,
    send (timestamp taken just before the request is written) -> the last watcher's arrival."""
    n = args.latency_watchers
    server = Server(args, workdir, "latency")
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


async def phase_memory(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """RSS of the server before and after ``--memory-conns`` idle connections (handshake done,
    nothing watched), after ``--memory-warmup`` connections warmed the server up."""
    n, warm = args.memory_conns, args.memory_warmup
    server = Server(args, workdir, "memory")
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
        jobs = [(lambda u=u: open_ws(port, u, tokens[u])) for u in owners]
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


async def phase_rest(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Closed loop: ``--rest-senders`` users, each on its own keep-alive connection and its own
    channel with ``--rest-watchers`` watchers, post client-side sendEvent back to back."""
    s, w = args.rest_senders, args.rest_watchers
    server = Server(args, workdir, "rest")
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
        conns = await bounded([(lambda u=u: open_ws(port, u, tokens[u])) for _, u in owners],
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


async def phase_connections(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
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
    server = Server(args, workdir, "connections",
                    env={"HUBBUB_HEALTH_CHECK_INTERVAL": str(interval)})
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


# --------------------------------------------------------------------------------------------
# report


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


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small sizes and short windows: the whole run in under a minute")
    p.add_argument("--phases", default="fanout,latency,memory,rest,connections",
                   help="comma-separated subset of fanout,latency,memory,rest,connections")
    p.add_argument("--fanout-watchers", default=None,
                   help="comma-separated watcher counts (default 1000,5000; quick 200,500)")
    p.add_argument("--fanout-senders", type=int, default=16,
                   help="concurrent sendEvent connections in the fan-out phase")
    p.add_argument("--fanout-rate", type=float, default=0,
                   help="cap on events/s in the fan-out phase (0: as fast as answered)")
    p.add_argument("--duration", type=float, default=None,
                   help="measured window of the fan-out and REST phases, s (default 10; quick 3)")
    p.add_argument("--warmup", type=float, default=None,
                   help="load before the window opens, s (default 2; quick 0.5)")
    p.add_argument("--windows", type=int, default=None,
                   help="measured windows per fan-out/REST run, the median is reported "
                        "(default 3; quick 1)")
    p.add_argument("--quiet-below", type=float, default=10.0,
                   help="before each phase, wait (up to --quiet-wait s) until the machine is "
                        "less busy than this percent: other processes skew every figure")
    p.add_argument("--quiet-wait", type=float, default=None, help="default 120; quick 0")
    p.add_argument("--max-events", type=int, default=1_000_000,
                   help="hard cap on events per sender loop")
    p.add_argument("--event-pad", type=int, default=0,
                   help="extra characters of custom text in each event")
    p.add_argument("--sample-conns", type=int, default=10,
                   help="connections whose events are fully parsed for latency in fan-out")
    p.add_argument("--latency-watchers", type=int, default=None)
    p.add_argument("--latency-rate", type=float, default=50.0, help="events/s")
    p.add_argument("--latency-duration", type=float, default=None, help="s (default 20)")
    p.add_argument("--memory-conns", type=int, default=None, help="default 5000; quick 1000")
    p.add_argument("--memory-warmup", type=int, default=None, help="default 100; quick 20")
    p.add_argument("--rest-senders", type=int, default=16)
    p.add_argument("--rest-watchers", type=int, default=10)
    p.add_argument("--connections", type=int, default=None, help="default 20000; quick 2000")
    p.add_argument("--health-interval", type=float, default=None,
                   help="HUBBUB_HEALTH_CHECK_INTERVAL for the connections phase (default 5)")
    p.add_argument("--health-rounds", type=int, default=None, help="default 3; quick 2")
    p.add_argument("--health-slack", type=float, default=1.0,
                   help="s a health check may be late (and the bound on ping p99)")
    p.add_argument("--pings-per-tick", type=int, default=20,
                   help="client pings sent every 0.25 s in the connections phase")
    p.add_argument("--conns-per-process", type=int, default=0,
                   help="connections per generator process in the connections phase "
                        "(default: as many as RLIMIT_NOFILE allows)")
    p.add_argument("--conns-per-user", type=int, default=50,
                   help="connections per user (HUBBUB_WS_MAX_CONNECTIONS_PER_USER)")
    p.add_argument("--connect-concurrency", type=int, default=64)
    p.add_argument("--setup-timeout", type=float, default=600.0,
                   help="bound on each phase's setup (users, connections, watches), s")
    p.add_argument("--phase-timeout", type=float, default=900.0, help="bound on each phase, s")
    p.add_argument("--reader", choices=("spin", "asyncio"), default="spin",
                   help="how the generator reads the watchers during measured windows: a "
                        "busy-polling epoll loop (default) or asyncio protocols")
    p.add_argument("--rest-reader", choices=("spin", "asyncio"), default="asyncio",
                   help="reader for the REST phase's watchers (few frames: asyncio suffices "
                        "and leaves the generator's core to the senders)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--generator-cpu", type=int, default=1)
    p.add_argument("--no-pin", action="store_true", help="do not pin (not comparable)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the server (e.g. HUBBUB_LOG_LEVEL=WARNING)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON here too")
    p.add_argument("--profile", metavar="DIR",
                   help="py-spy the server during each measured window (raw stacks in DIR; "
                        "summarise with bench/hotspots.py). Figures of a profiled run are "
                        "not the ones to record")
    p.add_argument("--profile-rate", type=int, default=100, help="samples/s")
    p.add_argument("--profile-native", action="store_true",
                   help="include native (C) frames in the profile")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (databases, logs)")
    p.add_argument("--baseline", action="store_true",
                   help="measure bench/baseline_server.py (bare aiohttp + uvloop fan-out, no "
                        "auth, storage or permissions) instead of hubbub: this machine's ceiling")
    args = p.parse_args(argv)
    quick = args.quick
    args.fanout_watchers = [int(x) for x in (
        args.fanout_watchers or ("200" if quick else "1000,5000")).split(",")]
    args.duration = args.duration or (2.0 if quick else 10.0)
    args.windows = args.windows or (1 if quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if quick else 2.0)
    args.latency_watchers = args.latency_watchers or (100 if quick else 1000)
    args.latency_duration = args.latency_duration or (3.0 if quick else 20.0)
    args.memory_conns = args.memory_conns or (300 if quick else 5000)
    args.connections = args.connections or (500 if quick else 20000)
    args.health_interval = args.health_interval or (1.0 if quick else 5.0)
    if args.health_rounds is None:
        args.health_rounds = 2 if quick else 3
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if quick else 120.0
    if args.memory_warmup is None:
        args.memory_warmup = 20 if quick else 100
    if quick and args.rest_senders == 16:
        args.rest_senders = 4
    args.phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    return args


def pin_generator(args: argparse.Namespace) -> None:
    """Re-execute under ``taskset -c GENERATOR_CPU`` (once)."""
    if args.no_pin or os.environ.get(PINNED_ENV) == "1":
        return
    if os.sched_getaffinity(0) == {args.generator_cpu}:
        return
    os.environ[PINNED_ENV] = "1"
    os.execvp("taskset", ["taskset", "-c", str(args.generator_cpu), sys.executable,
                          str(Path(__file__).resolve()), *sys.argv[1:]])


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


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}

    async def guarded(name: str, coro: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        log(f"phase {name}")
        t0 = time.monotonic()
        busy = await wait_quiet(args)
        speed = await asyncio.to_thread(calibrate, args.server_cpu)
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

    if "fanout" in args.phases:
        results["fanout"] = {}
        for n in args.fanout_watchers:
            results["fanout"][str(n)] = await guarded(f"fanout {n}",
                                                      phase_fanout(args, workdir, n))
    if "latency" in args.phases:
        results["latency"] = await guarded("latency", phase_latency(args, workdir))
    if "memory" in args.phases:
        results["memory"] = await guarded("memory", phase_memory(args, workdir))
    if "rest" in args.phases:
        results["rest"] = await guarded("rest", phase_rest(args, workdir))
    if "connections" in args.phases:
        results["connections"] = await guarded("connections", phase_connections(args, workdir))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin_generator(args)
    nofile = raise_nofile()
    need = max([args.memory_conns + args.memory_warmup, *args.fanout_watchers]) + 100
    if nofile < need:
        log(f"warning: open-file limit {nofile} < {need} needed")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    workdir = Path(tempfile.mkdtemp(prefix="hubbub-bench-"))
    # Hard stop: whatever happens, the script ends (the servers are stopped in finally blocks).
    budget = (args.phase_timeout + args.quiet_wait + 10) * (
        len(args.phases) + len(args.fanout_watchers)) + 120
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("budget")))
    signal.alarm(int(budget))
    env = environment(args)
    log(f"generator on CPU {sorted(os.sched_getaffinity(0))}, work dir {workdir}")
    try:
        results = asyncio.run(run(args, workdir))
    finally:
        signal.alarm(0)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {"environment": env, "targets": TARGETS, "results": results,
              "options": {k: v for k, v in vars(args).items() if k not in ("json",)}}
    print()
    what = "Bare aiohttp baseline (bench/baseline_server.py)" if args.baseline else "Hubbub"
    print(f"{what} benchmark - {env['date']} - {env['nproc']} CPU {env['cpu']} - Python "
          f"{env['python']}, aiohttp {env['aiohttp']}, uvloop {env['uvloop']} - "
          f"commit {env['commit']}")
    print(table(results))
    print()
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
