"""Helpers of the multi-node tests: starting nodes together, REST calls as a user through the
node of our choice, bounded polling, a private ``redis-server``."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.conftest import API_KEY, Server, free_port

T = TypeVar("T")


def start_nodes(count: int, database_url: str, env: dict[str, str]) -> list[Server]:
    """``count`` nodes on one database and broker, started at the same time."""
    nodes = [Server(database_url=database_url, env=dict(env)) for _ in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            for started in [pool.submit(node.start) for node in nodes]:
                started.result()
    except BaseException:
        stop_nodes(nodes)  # none may outlive a failed start
        raise
    return nodes


def stop_nodes(nodes: list[Server]) -> None:
    for node in nodes:
        node.stop()
        if node.log_path is not None:
            node.log_path.unlink(missing_ok=True)


async def rest(node: Server, token: str | None, method: str, path: str,
               body: dict[str, Any] | None = None,
               params: dict[str, str] | None = None) -> httpx.Response:
    """One REST call through ``node``: client-side with a user ``token``, server-side with a
    server token."""
    async with httpx.AsyncClient(base_url=node.url, timeout=15) as http:
        return await http.request(
            method, path, params={"api_key": API_KEY, **(params or {})}, json=body,
            headers={"Authorization": token or "", "stream-auth-type": "jwt"})


async def eventually(check: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *,
                     within: float = 20.0, what: str = "condition") -> T:
    """Poll ``check`` until ``accept`` holds for its result (bounded; not a timing assertion,
    the bound is generous)."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s: last {value!r}")
        await asyncio.sleep(0.2)


class PrivateRedis:
    """A ``redis-server`` of the test's own (never the shared one): the test may stop and
    restart it. No persistence: a restart starts empty, as a crashed Redis would."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the outage tests"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None
