"""Webhooks: signed copies of events, retried, durable across a crash, visible to operators."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from stream_chat import StreamChat

from tests.conftest import Server, free_port, sdk_client, start_server
from tests.e2e.conftest import connector, is_type, make_channel


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["X-Webhook-Id"]


@dataclass
class Receiver:
    """A real HTTP receiver on loopback. ``replies`` are answered in order (then 200);
    a reply of ``"hang"`` sleeps past any timeout."""

    port: int = field(default_factory=free_port)
    replies: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self.released.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        reply = self.replies.pop(0) if self.replies else 200
        self.received.append(Received(dict(request.headers), await request.read()))
        self.arrived.set()
        if reply == "hang":
            await self.released.wait()  # past any timeout: until the receiver stops
            reply = 200
        return web.Response(status=int(reply), text="ok")

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.received


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


def hook(url: str, **extra: object) -> dict:
    return {"hook_type": "webhook", "enabled": True, "webhook_url": url, "event_types": [],
            **extra}


async def test_user_event_copy_is_signed_and_verifiable(fresh_server: Server,
                                                        receiver: Receiver) -> None:
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(event_hooks=[hook(receiver.url)])
    sdk.upsert_user({"id": "bob"})
    sdk.send_user_custom_event("bob", {"type": "friendship_request", "text": "hi"})

    [copy] = await receiver.wait_for(1)
    assert copy.headers["Content-Type"] == "application/json"
    assert copy.headers["X-Api-Key"] == fresh_server.api_key
    assert copy.headers["X-Webhook-Attempt"] == "1"
    assert copy.webhook_id
    assert sdk.verify_webhook(copy.body, copy.headers["X-Signature"])
    assert not sdk.verify_webhook(copy.body + b" ", copy.headers["X-Signature"])
    event = copy.event
    assert event["type"] == "friendship_request" and event["text"] == "hi"
    assert event["user"]["id"] == "bob" and "cid" not in event


async def test_legacy_webhook_url_and_event_filters(fresh_server: Server,
                                                    receiver: Receiver) -> None:
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(webhook_url=receiver.url, webhook_events=["wanted"])
    cid = make_channel(sdk, ["alice"])
    channel = sdk.channel("messaging", cid)
    channel.send_event({"type": "unwanted"}, "alice")
    channel.send_event({"type": "wanted"}, "alice")
    sdk.send_user_custom_event("alice", {"type": "always_for_users"})

    copies = await receiver.wait_for(2)
    by_type = {c.event["type"]: c.event for c in copies}
    assert set(by_type) == {"wanted", "always_for_users"}
    assert by_type["wanted"]["cid"] == f"messaging:{cid}"
    # The outbox is written before the API answers: "unwanted" was never queued at all.
    queued = _deliveries(fresh_server, sdk)["deliveries"]
    assert sorted(d["event_type"] for d in queued) == ["always_for_users", "wanted"]


async def test_all_events_hook_gets_channel_events_but_not_typing(
        fresh_server: Server, receiver: Receiver) -> None:
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(event_hooks=[hook(receiver.url)])
    cid = make_channel(sdk, ["alice"])
    channel = sdk.channel("messaging", cid)
    channel.send_event({"type": "typing.start"}, "alice")
    channel.send_event({"type": "custom_one", "n": 1}, "alice")
    copies = await receiver.wait_for(2)  # channel.created, then custom_one
    assert sorted(c.event["type"] for c in copies) == ["channel.created", "custom_one"]
    listed = _deliveries(fresh_server, sdk)
    assert {d["event_type"] for d in listed["deliveries"]} == {"channel.created", "custom_one"}


async def test_failures_are_retried_with_the_same_id(fresh_server: Server,
                                                     receiver: Receiver) -> None:
    receiver.replies = [500, 429, 503]
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(event_hooks=[hook(receiver.url)])
    sdk.upsert_user({"id": "bob"})
    sdk.send_user_custom_event("bob", {"type": "retry_me"})

    copies = await receiver.wait_for(4, timeout=30)
    assert len({c.webhook_id for c in copies}) == 1
    assert [c.headers["X-Webhook-Attempt"] for c in copies] == ["1", "2", "3", "4"]
    assert _deliveries(fresh_server, sdk, "delivered")["counts"]["delivered"] == 1


async def test_timeouts_are_retried(fresh_server: Server, receiver: Receiver) -> None:
    receiver.replies = ["hang"]
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(event_hooks=[hook(receiver.url, timeout_ms=300)])
    sdk.upsert_user({"id": "bob"})
    sdk.send_user_custom_event("bob", {"type": "slow_receiver"})
    copies = await receiver.wait_for(2, timeout=30)
    assert copies[0].webhook_id == copies[1].webhook_id
    assert copies[1].headers["X-Webhook-Attempt"] == "2"


async def test_client_errors_are_given_up_then_requeued(fresh_server: Server,
                                                        receiver: Receiver) -> None:
    receiver.replies = [400]
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(event_hooks=[hook(receiver.url)])
    sdk.upsert_user({"id": "bob"})
    sdk.send_user_custom_event("bob", {"type": "refused"})
    await receiver.wait_for(1)

    dead = await _eventually(lambda: _deliveries(fresh_server, sdk, "dead")["deliveries"])
    assert dead[0]["last_error"] == "HTTP 400" and dead[0]["attempts"] == 1
    assert _deliveries(fresh_server, sdk, "pending")["deliveries"] == []

    response = httpx.post(f"{fresh_server.url}/webhooks/deliveries/requeue",
                          params={"api_key": fresh_server.api_key},
                          headers=_server_headers(sdk), json={})
    assert response.status_code == 201 and response.json()["requeued"] == 1
    copies = await receiver.wait_for(2)
    assert copies[1].webhook_id == copies[0].webhook_id


async def test_gives_up_after_the_horizon(tmp_path: Path, receiver: Receiver) -> None:
    receiver.replies = [500] * 100
    server = start_server(tmp_path, env={"HUBBUB_WEBHOOK_HORIZON": "2"})
    try:
        sdk = sdk_client(server)
        sdk.update_app_settings(event_hooks=[hook(receiver.url)])
        sdk.upsert_user({"id": "bob"})
        sdk.send_user_custom_event("bob", {"type": "never_accepted"})
        dead = await _eventually(lambda: _deliveries(server, sdk, "dead")["deliveries"],
                                 timeout=20)
        assert dead[0]["last_error"] == "HTTP 500" and dead[0]["attempts"] >= 2
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'hubbub_webhook_deliveries{state="dead"} 1.0' in metrics
    finally:
        server.stop()


async def test_nothing_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    receiver = Receiver()  # not started: the receiver is down while events are accepted
    server = start_server(tmp_path)
    try:
        sdk = sdk_client(server)
        # A short timeout keeps the lease of an attempt cut short by the kill short.
        sdk.update_app_settings(event_hooks=[hook(receiver.url, timeout_ms=1000)])
        sdk.upsert_user({"id": "bob"})
        for n in range(20):
            sdk.send_user_custom_event("bob", {"type": "must_arrive", "n": n})
        server.stop(signal.SIGKILL)

        await receiver.start()
        server.start()
        copies = await receiver.wait_for(20, timeout=60)
        by_id: dict[str, set[int]] = {}
        for c in copies:
            by_id.setdefault(c.webhook_id, set()).add(c.event["n"])
        # Every event arrived; a repeat (if any) carries the same id and the same event.
        assert sorted(n for ns in by_id.values() for n in ns) == list(range(20))
        assert all(len(ns) == 1 for ns in by_id.values())
    finally:
        await receiver.stop()
        server.stop()


async def test_slow_receiver_does_not_slow_fan_out(fresh_server: Server,
                                                   receiver: Receiver) -> None:
    receiver.replies = ["hang"] * 50
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(event_hooks=[hook(receiver.url, timeout_ms=20000)])
    cid = make_channel(sdk, ["alice", "bob"])
    async with connector(fresh_server) as connect:
        watcher = await connect("bob")
        await watcher.watch("messaging", cid)
        for n in range(30):
            sdk.channel("messaging", cid).send_event({"type": "fast", "n": n}, "alice")
        for n in range(30):
            assert (await watcher.next_event(is_type("fast")))["n"] == n
        # The receiver has not answered a single copy yet.
        assert all(c.event["type"] in ("fast", "channel.created") for c in receiver.received)


def _server_headers(sdk: StreamChat) -> dict[str, str]:
    return {"Authorization": sdk.auth_token, "stream-auth-type": "jwt"}


def _deliveries(server: Server, sdk: StreamChat, state: str | None = None) -> dict:
    params = {"api_key": str(server.api_key)}
    if state:
        params["state"] = state
    response = httpx.get(f"{server.url}/webhooks/deliveries", params=params,
                         headers=_server_headers(sdk))
    assert response.status_code == 200, response.text
    return response.json()


async def _eventually(probe, timeout: float = 10.0):  # noqa: ANN001, ANN202
    """Poll ``probe`` (a state query, not a timing assertion) until it returns something."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


async def test_operator_endpoints_require_server_auth(fresh_server: Server) -> None:
    sdk = sdk_client(fresh_server)
    sdk.upsert_user({"id": "bob"})
    response = httpx.get(f"{fresh_server.url}/webhooks/deliveries",
                         params={"api_key": fresh_server.api_key},
                         headers={"Authorization": sdk.create_token("bob"),
                                  "stream-auth-type": "jwt"})
    assert response.status_code == 403 and response.json()["code"] == 17
    bad = httpx.get(f"{fresh_server.url}/webhooks/deliveries",
                    params={"api_key": fresh_server.api_key, "state": "lost"},
                    headers=_server_headers(sdk))
    assert bad.status_code == 400 and bad.json()["code"] == 4
