"""``hubbub serve --workers N``: N processes share one port and act as one server."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stream_chat import StreamChat

from hubbub.client import HubbubClient
from tests.conftest import API_KEY, API_SECRET, Server, free_port, uid
from tests.contract.conftest import MakeDatabase
from tests.contract.test_cluster import EVENT_TIMEOUT, custom, new_channel


def test_workers_are_refused_on_the_embedded_defaults(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hubbub", "serve", "--workers", "2", "--port", str(free_port()),
         "--database", f"sqlite:///{tmp_path}/one.db"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "--workers needs a shared database" in result.stderr


@pytest.fixture
def workers(make_pg_database: MakeDatabase) -> Iterator[Server]:
    broker = f"redis://127.0.0.1:6379/0?prefix=workers-{uuid.uuid4().hex[:8]}"
    server = Server(database_url=make_pg_database(),
                    env={"HUBBUB_BROKER_URL": broker, "HUBBUB_WORKERS": "2"})
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if server.log_path is not None:
            server.log_path.unlink(missing_ok=True)


async def test_two_workers_serve_one_app_and_events_cross_between_them(
        workers: Server) -> None:
    # Each request on a new connection: the kernel spreads them over both workers.
    seen: set[str] = set()
    for _ in range(200):
        async with httpx.AsyncClient(timeout=10) as http:
            seen.add((await http.get(workers.url + "/healthz")).json()["node"])
        if len(seen) == 2:
            break
    assert len(seen) == 2, "both workers answer on the one port"

    sdk = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=workers.url)
    people = [uid("w") for _ in range(4)]
    channel_id = new_channel(sdk, people)
    listeners = [HubbubClient(workers.url, API_KEY, sdk.create_token(p)) for p in people]
    try:
        for listener in listeners:
            await listener.connect()
            await listener.watch("messaging", channel_id)
        sent = []
        for i in range(6):
            # A new SDK client (new connection) per call: the sends land on either worker.
            sender = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=workers.url)
            sent.append(sender.channel("messaging", channel_id).send_event(
                {"type": "across", "i": i}, people[i % len(people)])["event"])
        for listener in listeners:
            got = [await listener.next_event(custom, timeout=EVENT_TIMEOUT) for _ in sent]
            assert got == sent
    finally:
        for listener in listeners:
            await listener.close()
