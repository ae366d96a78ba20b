"""Rate limits with Stream's defaults: per user and endpoint, per app, burst, headers, 429."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, sdk_client, start_server

STREAM_DEFAULTS = {"HUBBUB_RATE_LIMIT_PER_USER": "60", "HUBBUB_RATE_LIMIT_SCALE": "1"}


@pytest.fixture
def stream_limits(tmp_path: Path) -> Iterator[Server]:
    server = start_server(tmp_path, env=STREAM_DEFAULTS)
    yield server
    server.stop()


def _send(server: Server, token: str, cid: str) -> httpx.Response:
    return httpx.post(f"{server.url}/channels/messaging/{cid}/event",
                      params={"api_key": str(server.api_key)},
                      headers={"Authorization": token, "stream-auth-type": "jwt"},
                      json={"event": {"type": "spam"}})


def test_user_burst_is_refused_with_429_and_headers(stream_limits: Server) -> None:
    sdk = sdk_client(stream_limits)
    sdk.upsert_users([{"id": "flooder"}, {"id": "calm"}])
    sdk.channel("messaging", "room", {"members": ["flooder", "calm"]}).create("flooder")
    flooder, calm = sdk.create_token("flooder"), sdk.create_token("calm")

    responses = [_send(stream_limits, flooder, "room") for _ in range(6)]
    statuses = [r.status_code for r in responses]
    assert statuses[0] == 201
    assert 429 in statuses  # 60/min per user means a burst of 2 per second
    refused = next(r for r in responses if r.status_code == 429)
    body = refused.json()
    assert body["code"] == 9 and body["StatusCode"] == 429
    assert refused.headers["x-ratelimit-limit"] == "60"
    assert int(refused.headers["x-ratelimit-reset"]) > 0
    # Another user on the same endpoint is not affected.
    assert _send(stream_limits, calm, "room").status_code == 201


def test_server_side_calls_have_no_user_limit(stream_limits: Server) -> None:
    sdk = sdk_client(stream_limits)
    sdk.upsert_user({"id": "bot"})
    sdk.channel("messaging", "feed", {"members": ["bot"]}).create("bot")
    for n in range(10):
        sdk.channel("messaging", "feed").send_event({"type": "tick", "n": n}, "bot")
    limits = sdk.get_rate_limits(server_side=True, endpoints=["SendEvent"])
    send = limits["server_side"]["SendEvent"]
    # Ten calls in a row as one user passed (a client would be cut at 2 per second); they
    # were counted against the app (fewer if a new minute began during the test).
    assert send["limit"] == 10_000 and 10_000 - 10 <= send["remaining"] < 10_000


def test_app_limit_applies_per_endpoint(tmp_path: Path) -> None:
    # Scale Stream's limits down so the app-wide limit is reachable in a test:
    # UpdateApp is 60/min at scale 1, so 3/min here, with a burst of 1 per second.
    server = start_server(tmp_path, env={**STREAM_DEFAULTS, "HUBBUB_RATE_LIMIT_SCALE": "0.05"})
    try:
        sdk = sdk_client(server)
        statuses = []
        for _ in range(4):
            response = httpx.patch(f"{server.url}/app", params={"api_key": str(server.api_key)},
                                   headers={"Authorization": sdk.auth_token,
                                            "stream-auth-type": "jwt"}, json={})
            statuses.append(response.status_code)
        assert statuses[0] == 200 and 429 in statuses
        # Other endpoints keep their own budget.
        assert sdk.get_app_settings().status_code() == 200
    finally:
        server.stop()


async def test_flood_on_one_channel_does_not_starve_another(stream_limits: Server) -> None:
    """One client floods its channel (and hits its rate limit); a watcher of another channel
    keeps receiving its own events meanwhile."""
    import asyncio

    from tests.e2e.conftest import connector, is_type, make_channel

    sdk = sdk_client(stream_limits)
    noisy_cid = make_channel(sdk, ["flooder", "listener"])
    quiet_cid = make_channel(sdk, ["speaker", "reader"])
    async with connector(stream_limits) as connect:
        flooder = await connect("flooder")
        reader = await connect("reader")
        await reader.watch("messaging", quiet_cid)

        async def flood() -> list[int]:
            statuses = []
            async with httpx.AsyncClient() as http:
                for n in range(200):
                    response = await http.post(
                        f"{stream_limits.url}/channels/messaging/{noisy_cid}/event",
                        params={"api_key": str(stream_limits.api_key)},
                        headers={"Authorization": flooder.token, "stream-auth-type": "jwt"},
                        json={"event": {"type": "noise", "n": n}})
                    statuses.append(response.status_code)
            return statuses

        flooding = asyncio.create_task(flood())
        for n in range(10):
            sdk.channel("messaging", quiet_cid).send_event({"type": "signal", "n": n}, "speaker")
            assert (await reader.next_event(is_type("signal")))["n"] == n
        statuses = await flooding
        assert statuses.count(429) > 150  # the flood itself was cut down to the user's limit
