"""Rate limits on the server's defaults: per user and endpoint for client-side calls (60 per
window, no burst cap, one budget whatever platform the client claims); server-side calls not
limited; Stream's per-app table (with its burst rule) only when asked for; headers and 429."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, sdk_client, start_server, uid


@pytest.fixture
def defaults(tmp_path: Path) -> Iterator[Server]:
    """A server on the default limits (none of the tests' relaxation)."""
    server = start_server(tmp_path, relaxed=False)
    yield server
    server.stop()


def _send(server: Server, token: str, cid: str, client: str | None = None) -> httpx.Response:
    headers = {"Authorization": token, "stream-auth-type": "jwt"}
    if client is not None:
        headers["X-Stream-Client"] = client
    return httpx.post(f"{server.url}/channels/messaging/{cid}/event",
                      params={"api_key": str(server.api_key)}, headers=headers,
                      json={"event": {"type": "spam"}})


def _until_refused(call: Callable[[int], httpx.Response],
                   most: int = 400) -> list[httpx.Response]:
    """Calls ``call(n)`` until one answers 429 (at most ``most`` times); all the responses."""
    responses: list[httpx.Response] = []
    for n in range(most):
        responses.append(call(n))
        if responses[-1].status_code == 429:
            break
    return responses


def _check_61st_of_its_window(responses: list[httpx.Response]) -> httpx.Response:
    """The first refusal is the 61st call of its window (the calls counted in one window share
    its ``x-ratelimit-reset``); every call before it in the window passed. Returns it."""
    refused = responses[-1]
    assert refused.status_code == 429, [r.status_code for r in responses]
    window = [r for r in responses if r.headers["x-ratelimit-reset"]
              == refused.headers["x-ratelimit-reset"]]
    assert len(window) == 61
    assert all(r.status_code == 201 for r in window[:60])
    assert [int(r.headers["x-ratelimit-remaining"]) for r in window[:60]] == \
        list(range(59, -1, -1))
    return refused


def _member_channel(server: Server, *users: str) -> tuple[str, dict[str, str]]:
    sdk = sdk_client(server)
    sdk.upsert_users([{"id": u} for u in users])
    cid = uid("room")
    sdk.channel("messaging", cid, {"members": list(users)}).create(users[0])
    return cid, {u: sdk.create_token(u) for u in users}


def test_user_limit_has_no_burst_cap_and_refuses_the_61st_call(defaults: Server) -> None:
    cid, tokens = _member_channel(defaults, "typist", "calm")
    # Five at once: Stream's per-second rule is for app limits, not for a user's.
    burst = [_send(defaults, tokens["typist"], cid) for _ in range(5)]
    assert [r.status_code for r in burst] == [201] * 5

    refused = _check_61st_of_its_window(
        burst + _until_refused(lambda _: _send(defaults, tokens["typist"], cid)))
    body = refused.json()
    assert body["code"] == 9 and body["StatusCode"] == 429
    assert "SendEvent" in body["message"]
    assert refused.headers["x-ratelimit-limit"] == "60"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert int(refused.headers["x-ratelimit-reset"]) > time.time() - 1
    # Another user on the same endpoint is not affected.
    assert _send(defaults, tokens["calm"], cid).status_code == 201


def test_claimed_platform_does_not_multiply_a_users_budget(defaults: Server) -> None:
    cid, tokens = _member_channel(defaults, "rotator")
    platforms = ["stream-chat-javascript-client-browser-9.53.0",
                 "stream-chat-android-6.0.0", "stream-chat-swift-4.0.0",
                 "stream-chat-react-native-ios-6.0.0"]
    _check_61st_of_its_window(_until_refused(
        lambda n: _send(defaults, tokens["rotator"], cid, platforms[n % len(platforms)])))


def test_server_side_calls_are_not_limited_by_default(defaults: Server) -> None:
    sdk = sdk_client(defaults)
    # A backend upserting users in a loop, one call at a time (Stream's app table would allow
    # UpdateUsers 10 per second): nothing is refused.
    for n in range(200):
        assert sdk.upsert_user({"id": f"bulk-{n}"}).status_code() == 201
    # Past the per-user limit as one user, server-side: not a user's call, not limited.
    sdk.channel("messaging", "feed", {"members": ["bulk-0"]}).create("bulk-0")
    for n in range(70):
        sdk.channel("messaging", "feed").send_event({"type": "tick", "n": n}, "bulk-0")
    limits = sdk.get_rate_limits(server_side=True, endpoints=["UpdateUsers", "SendEvent"])
    # Still counted and reported in Stream's shape (fewer if a new minute began meanwhile).
    send = limits["server_side"]["SendEvent"]
    assert send["limit"] == 10_000 and 10_000 - 70 <= send["remaining"] < 10_000
    assert limits["server_side"]["UpdateUsers"]["limit"] == 300


@pytest.mark.parametrize("setting", [
    {"HUBBUB_APP_RATE_LIMITS": "0.05"},
    # The variable it replaced still works, with a warning.
    {"HUBBUB_RATE_LIMIT_SCALE": "0.05"},
], ids=["app_rate_limits", "legacy_scale"])
def test_app_limits_scaled_apply_per_endpoint(tmp_path: Path, setting: dict[str, str]) -> None:
    # Stream's table scaled down so that it is reachable in a test: UpdateApp is 60 per minute
    # at scale 1, so 3 per minute here, with a burst of 1 per second.
    server = start_server(tmp_path, relaxed=False, env=setting)
    try:
        sdk = sdk_client(server)
        responses = _until_refused(lambda _: httpx.patch(
            f"{server.url}/app", params={"api_key": str(server.api_key)},
            headers={"Authorization": sdk.auth_token, "stream-auth-type": "jwt"}, json={}),
            most=20)
        assert responses[0].status_code == 200 and responses[-1].status_code == 429
        assert responses[-1].json()["code"] == 9
        assert responses[-1].headers["x-ratelimit-limit"] == "3"
        # Other endpoints keep their own budget.
        assert sdk.get_app_settings().status_code() == 200
        if "HUBBUB_RATE_LIMIT_SCALE" in setting:
            assert "set HUBBUB_APP_RATE_LIMITS instead" in server.log()
    finally:
        server.stop()


def test_app_limits_stream_applies_streams_table(tmp_path: Path) -> None:
    server = start_server(tmp_path, relaxed=False, env={"HUBBUB_APP_RATE_LIMITS": "stream"})
    try:
        sdk = sdk_client(server)
        # UpdateApp: 60 per minute, 2 per second. Whichever is reached first refuses.
        responses = _until_refused(lambda _: httpx.patch(
            f"{server.url}/app", params={"api_key": str(server.api_key)},
            headers={"Authorization": sdk.auth_token, "stream-auth-type": "jwt"}, json={}),
            most=200)
        assert responses[-1].status_code == 429
        assert responses[-1].headers["x-ratelimit-limit"] == "60"
        assert len(responses) <= 61
    finally:
        server.stop()


def test_invalid_app_rate_limits_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    server = Server(database_url=f"sqlite:///{tmp_path}/hubbub.db",
                    env={"HUBBUB_APP_RATE_LIMITS": "lots"})
    try:
        with pytest.raises(RuntimeError,
                           match="app_rate_limits must be off, stream or a positive"):
            server.start()
    finally:
        server.stop()  # if it started after all, it must not outlive the test


async def test_flood_on_one_channel_does_not_starve_another(defaults: Server) -> None:
    """One client floods its channel (and hits its rate limit); a watcher of another channel
    keeps receiving its own events meanwhile."""
    import asyncio

    from tests.e2e.conftest import connector, is_type, make_channel

    sdk = sdk_client(defaults)
    noisy_cid = make_channel(sdk, ["flooder", "listener"])
    quiet_cid = make_channel(sdk, ["speaker", "reader"])
    async with connector(defaults) as connect:
        flooder = await connect("flooder")
        reader = await connect("reader")
        await reader.watch("messaging", quiet_cid)

        async def flood() -> list[int]:
            statuses = []
            async with httpx.AsyncClient() as http:
                for n in range(200):
                    response = await http.post(
                        f"{defaults.url}/channels/messaging/{noisy_cid}/event",
                        params={"api_key": str(defaults.api_key)},
                        headers={"Authorization": flooder.token, "stream-auth-type": "jwt"},
                        json={"event": {"type": "noise", "n": n}})
                    statuses.append(response.status_code)
            return statuses

        flooding = asyncio.create_task(flood())
        for n in range(10):
            sdk.channel("messaging", quiet_cid).send_event({"type": "signal", "n": n}, "speaker")
            assert (await reader.next_event(is_type("signal")))["n"] == n
        statuses = await flooding
        # The flood itself was cut down to the user's limit: 60 per window, at most two
        # windows' worth if one began during the flood.
        assert statuses.count(201) <= 120 and 429 in statuses
