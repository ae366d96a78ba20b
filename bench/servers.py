"""The servers under test: which systems a run can measure, and one process of each, pinned to
the server's core, with its CPU, threads and RSS read from /proc.

Systems (``--systems``): ``hubbub`` (``hubbub serve``, a fresh SQLite database per process,
users and channels set up with the official Python SDK), ``bare`` (``bench/baseline_server.py``:
the bare aiohttp + uvloop loop) and ``socketio`` (``bench/socketio/server.mjs``: a Node
Socket.IO 4 server doing the same room broadcast, spoken to over Engine.IO v4). A variant is
one of these kinds under another name with its own environment (``NAME=KIND`` in
``--systems``, ``--system-env NAME:KEY=VALUE``), e.g. Hubbub with history off, or an older
checkout of Hubbub through ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.machine import CLK_TCK, chunks, free_port, log

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
SOCKETIO_DIR = BENCH / "socketio"
VENV_BIN = Path(sys.executable).parent
API_KEY = "bench-key"
API_SECRET = "bench-secret-long-enough-for-hs256-signatures-0123456789"
PINNED_ENV = "HUBBUB_BENCH_PINNED"

#: Which phases each kind can run. Socket.IO has no client-initiated ping to time (Engine.IO
#: v4's heartbeat is the server's), so it sits out the idle-connections phase.
SUPPORTS = {
    "hubbub": {"fanout", "latency", "memory", "rest", "connections"},
    "bare": {"fanout", "latency", "memory", "rest", "connections"},
    "socketio": {"fanout", "latency", "memory", "rest"},
}


@dataclass(frozen=True)
class System:
    """One system of a run: a kind of server under a name, with extra environment."""

    name: str
    kind: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def eio(self) -> bool:
        """Whether the generator speaks Engine.IO v4 (Socket.IO) rather than Stream's wire."""
        return self.kind == "socketio"

    def supports(self, phase: str) -> bool:
        return phase in SUPPORTS[self.kind]


def parse_systems(spec: str, envs: list[str]) -> list[System]:
    """``hubbub,bare,hubbub-nohistory=hubbub`` and ``NAME:KEY=VALUE`` items -> systems."""
    per_name: dict[str, dict[str, str]] = {}
    for item in envs:
        name, _, assignment = item.partition(":")
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise SystemExit(f"--system-env wants NAME:KEY=VALUE, got {item!r}")
        per_name.setdefault(name, {})[key] = value
    systems = []
    for item in (x.strip() for x in spec.split(",")):
        if not item:
            continue
        name, _, kind = item.partition("=")
        kind = kind or name
        if kind not in SUPPORTS:
            raise SystemExit(f"unknown system kind {kind!r} (one of {', '.join(SUPPORTS)})")
        systems.append(System(name, kind, per_name.pop(name, {})))
    if per_name:
        raise SystemExit(f"--system-env for unknown system(s): {', '.join(per_name)}")
    if len({s.name for s in systems}) != len(systems):
        raise SystemExit("each system needs its own name (NAME=KIND for a variant)")
    return systems


def ensure_socketio() -> None:
    """Install the Socket.IO server's pinned packages (``npm ci``) if they are missing."""
    if (SOCKETIO_DIR / "node_modules" / "socket.io").is_dir():
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("the socketio system needs node and npm")
    log(f"installing the Socket.IO server's packages: npm ci in {SOCKETIO_DIR}")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=SOCKETIO_DIR, check=True, timeout=600, stdin=subprocess.DEVNULL)



class Server:
    """One server process of ``system`` pinned to its core (for Hubbub, with a fresh SQLite
    database). ``tag`` prefixes its files and profiles (a system and round in comparisons)."""

    def __init__(self, args: argparse.Namespace, workdir: Path, name: str, system: System,
                 env: dict[str, str] | None = None, tag: str = "") -> None:
        self.args = args
        self.system = system
        self.name = tag + name
        self.tag = tag
        self.port = free_port()
        self.db = workdir / f"{self.name}.db"
        self.log_path = workdir / f"{self.name}.log"
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
        if self.system.kind != "hubbub":
            return {u: "baseline" for u in users}
        return await asyncio.to_thread(sdk_setup, self.url, users, channels)

    def start(self) -> None:
        cmd = [str(VENV_BIN / "hubbub"), "serve", "--host", "127.0.0.1", "--port",
               str(self.port), "--api-key", API_KEY, "--api-secret", API_SECRET,
               "--database", f"sqlite:///{self.db}"]
        if self.system.kind == "bare":
            cmd = [sys.executable, str(BENCH / "baseline_server.py"), "--port", str(self.port)]
        elif self.system.kind == "socketio":
            cmd = ["node", str(SOCKETIO_DIR / "server.mjs"), "--port", str(self.port)]
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
        env.update(self.system.env)
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
               "--format", "raw", "--threads", "-o", str(out_dir / f"{self.tag}{label}.txt")]
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

