"""The access log (``HUBBUB_ACCESS_LOG``): off by default (it costs about a tenth of a
``sendEvent`` call), and when on, one line per request with the path only, never the query
string that carries the WebSocket's token and the API key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hubbub.client import HubbubClient
from tests.conftest import API_KEY, Server, sdk_client, start_server, uid


async def _traffic(server: Server) -> str:
    """One REST call and one WebSocket session; the user's token, which the log must not
    show."""
    sdk = sdk_client(server)
    user = uid("logged")
    sdk.upsert_user({"id": user})
    token = sdk.create_token(user)
    client = HubbubClient(server.url, API_KEY, token)
    await client.connect()
    await client.close()
    return token


def _wait_for(server: Server, text: str) -> str:
    deadline = time.monotonic() + 10
    while text not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.log()


@pytest.mark.parametrize("setting", ["on", None])
async def test_access_log_is_opt_in_and_never_shows_the_query(
        tmp_path: Path, setting: str | None) -> None:
    server = start_server(tmp_path, env={"HUBBUB_ACCESS_LOG": setting} if setting else {})
    try:
        token = await _traffic(server)
        if setting == "on":
            # Written when the WebSocket's handler returns, just after the client closed.
            log = _wait_for(server, "GET /connect")
            assert "POST /users" in log and "GET /connect 101" in log
        else:
            sdk_client(server).get_app_settings()  # one more request, answered after the rest
            log = server.log()
            assert "POST /users" not in log and "GET /connect" not in log
        assert token not in log and "api_key=" not in log
    finally:
        server.stop()
