"""Fixtures: a real Hubbub server on a free port, and clients that talk to it over the wire."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from stream_chat import StreamChat

API_KEY = "hubbub-test-key"
API_SECRET = "hubbub-test-secret-that-is-long-enough-for-hs256"
#: Tests act faster than people: the per-user limit (60 calls per minute and endpoint) would
#: refuse tests that act as one user many times. It is the only setting test servers relax;
#: rate-limit tests start theirs with ``relaxed=False``, on the defaults.
RELAXED_LIMITS = {"HUBBUB_RATE_LIMIT_PER_USER": "100000"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``hubbub serve`` process. ``restart()`` keeps its database and port."""

    database_url: str
    port: int = field(default_factory=free_port)
    api_key: str | None = API_KEY
    api_secret: str | None = API_SECRET
    env: dict[str, str] = field(default_factory=dict)
    #: False: no ``RELAXED_LIMITS`` (the server's own defaults, plus ``env``).
    relaxed: bool = True
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **(RELAXED_LIMITS if self.relaxed else {}),
               "HUBBUB_DATABASE_URL": self.database_url, **self.env}
        args = [sys.executable, "-m", "hubbub", "serve", "--port", str(self.port)]
        if self.api_key:
            args += ["--api-key", self.api_key, "--api-secret", str(self.api_secret)]
        self.log_path = Path(self.database_url.split(":///")[-1] + f".{self.port}.log") \
            if self.database_url.startswith("sqlite") else Path(f"/tmp/hubbub-{self.port}.log")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        # Generous: on a loaded machine the imports alone can take ten seconds or more.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int | None = None) -> None:
        if self.process is None:
            return
        if sig is None:
            self.process.terminate()
        else:
            self.process.send_signal(sig)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


def start_server(tmp_path: Path, **kwargs: object) -> Server:
    server = Server(database_url=f"sqlite:///{tmp_path}/hubbub.db", **kwargs)  # type: ignore[arg-type]
    server.start()
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session. Tests use fresh ids (``uid()``) so they never collide."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own, for tests that restart it or change app-wide settings."""
    srv = start_server(tmp_path)
    yield srv
    srv.stop()


def sdk_client(server: Server) -> StreamChat:
    return StreamChat(api_key=server.api_key, api_secret=server.api_secret, base_url=server.url)


@pytest.fixture
def client(server: Server) -> StreamChat:
    """The official Python SDK, server-side, pointed at the session's server."""
    return sdk_client(server)


def uid(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
