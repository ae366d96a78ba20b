"""Issue #3 (real-time custom events) with the OFFICIAL JS SDK (npm ``stream-chat`` 9.53.0).

Each test prepares users and channels with the official Python SDK, then runs one scenario of
``tests/sdk/js/scenarios.mjs`` in Node (``node run.mjs <scenario>``) against a real
``hubbub serve``. The scenario asserts in Node (it throws, the process exits non-zero, the test
fails with its message) and hands back a JSON result that the test checks again.

Some scenarios need the test to act in the middle (send with the Python SDK, restart the
server): the script prints ``{"ready": ...}`` and waits for a line on its stdin.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stream_chat import StreamChat

from tests.burst import check_burst, send_burst
from tests.conftest import Server, sdk_client, start_server, uid

JS_DIR = Path(__file__).parent / "js"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (make test installs it)"),
    pytest.mark.skipif(
        not (JS_DIR / "node_modules" / "stream-chat").is_dir(),
        reason="tests/sdk/js/node_modules is missing: run `npm ci` in tests/sdk/js "
               "(make test does)"),
]


class ScenarioFailed(AssertionError):
    pass


def run_scenario(server: Server, name: str, args: dict[str, Any], *,
                 on_ready: Callable[[Any], None] | None = None,
                 timeout: float = 30.0) -> Any:
    """Run ``name`` in Node; return its result, or fail the test with the scenario's error.

    ``on_ready(value)`` is called each time the scenario reports ``{"ready": value}``; the
    scenario resumes when it returns. The script bounds itself to ``timeout`` seconds; this
    side waits a little longer, then kills it.
    """
    env = {
        **os.environ,
        "HUBBUB_URL": server.url,
        "HUBBUB_API_KEY": str(server.api_key),
        "HUBBUB_API_SECRET": str(server.api_secret),
        "HUBBUB_ARGS": json.dumps(args),
        "HUBBUB_TIMEOUT_MS": str(int(timeout * 1000)),
    }
    # The SDK would send everything to localhost:3030 if these were set.
    env.pop("STREAM_LOCAL_TEST_RUN", None)
    env.pop("STREAM_LOCAL_TEST_HOST", None)
    proc = subprocess.Popen([str(NODE), "run.mjs", name], cwd=JS_DIR, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    stderr: list[str] = []

    def pump_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_stderr() -> None:
        assert proc.stderr is not None
        stderr.extend(proc.stderr)

    threads = [threading.Thread(target=f, daemon=True) for f in (pump_stdout, pump_stderr)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 10
    outcome: dict[str, Any] | None = None
    seen: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise ScenarioFailed(f"scenario {name} hung; output so far: {seen}") from None
            if line is None:
                break
            seen.append(line)
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue  # an SDK console message, not ours
            if not isinstance(message, dict):
                continue
            if "ready" in message:
                if on_ready is not None:
                    on_ready(message["ready"])
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            elif "result" in message or "error" in message:
                outcome = message
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for t in threads:
            t.join(timeout=5)
    err = "".join(stderr)
    if outcome is None or "error" in outcome or proc.returncode != 0:
        detail = (outcome or {}).get("error", {})
        raise ScenarioFailed(
            f"JS scenario {name} failed (exit {proc.returncode}): "
            f"{detail.get('message', '')}\n--- stderr ---\n{err[-4000:]}")
    return outcome["result"]


def make_channel(client: StreamChat, channel_type: str, members: list[str],
                 creator: str | None = None) -> str:
    client.upsert_users([{"id": m, "name": m.title()} for m in {*members, creator or members[0]}])
    channel_id = uid("ch")
    client.channel(channel_type, channel_id, {"members": members}).create(creator or members[0])
    return channel_id


def test_channel_custom_events_typing_stop_watching_and_disconnect(
        server: Server, client: StreamChat) -> None:
    sender, w1, w2, idle = uid("alice"), uid("bob"), uid("carol"), uid("dave")
    channel_id = make_channel(client, "messaging", [sender, w1, w2, idle])

    result = run_scenario(server, "channelEvents", {
        "channelType": "messaging", "channelId": channel_id,
        "sender": sender, "watchers": [w1, w2], "idle": idle,
    })

    assert len(set(result["connectionIds"])) == 4
    assert set(result["received"]) == {sender, w1, w2}
    for event in result["received"].values():
        assert event["type"] == "friendship_request"
        assert event["cid"] == f"messaging:{channel_id}"
        assert event["user"]["id"] == sender
        assert event["text"] == "Hey there, long time no see!"
        assert event["created_at"]
    assert result["response"]["user"]["id"] == sender


def test_user_custom_event_from_server_side_js_reaches_every_connection(
        server: Server, client: StreamChat) -> None:
    target, other = uid("tom"), uid("ann")
    client.upsert_users([{"id": target}, {"id": other}])

    result = run_scenario(server, "userEvents", {"target": target, "other": other})

    assert len(result["received"]) == 2
    assert all(e["user"]["id"] == target and "cid" not in e for e in result["received"])
    assert result["unknown"]["status"] == 404
    assert result["dotted"]["status"] == 400
    assert result["clientSide"]["code"] == 17


def test_python_server_side_channel_event_reaches_js_watchers(
        server: Server, client: StreamChat) -> None:
    sender, w1, w2 = uid("srv"), uid("bob"), uid("carol")
    channel_id = make_channel(client, "messaging", [sender, w1, w2])
    text = "sent by the Python SDK"
    sent: list[dict[str, Any]] = []

    def send(_: Any) -> None:
        channel = client.channel("messaging", channel_id)
        sent.append(channel.send_event({"type": "friendship_request", "text": text}, sender))

    result = run_scenario(server, "watchForServerEvent", {
        "channelType": "messaging", "channelId": channel_id, "watchers": [w1, w2],
        "text": text, "sender": sender,
    }, on_ready=send)

    assert sent and sent[0]["event"]["user"]["id"] == sender
    assert set(result) == {w1, w2}
    assert all(e["user"]["id"] == sender and e["text"] == text for e in result.values())


def test_connect_with_bad_token_rejects_fast_with_code_43(server: Server) -> None:
    result = run_scenario(server, "badToken", {"user": uid("eve")}, timeout=20)
    assert result["code"] == 43
    assert result["elapsedMs"] < 5000


def test_non_member_cannot_watch_messaging_but_can_watch_livestream(
        server: Server, client: StreamChat) -> None:
    owner, outsider = uid("owner"), uid("out")
    messaging_id = make_channel(client, "messaging", [owner])
    livestream_id = make_channel(client, "livestream", [owner])
    client.upsert_user({"id": outsider})

    result = run_scenario(server, "watchPermissions", {
        "user": outsider, "messagingId": messaging_id, "livestreamId": livestream_id,
    })

    assert result["denied"]["status"] == 403
    assert result["denied"]["code"] == 17


def test_js_client_recovers_after_server_restart(fresh_server: Server) -> None:
    sdk = sdk_client(fresh_server)
    a, b = uid("alice"), uid("bob")
    channel_id = make_channel(sdk, "messaging", [a, b])

    result = run_scenario(fresh_server, "reconnect", {
        "channelType": "messaging", "channelId": channel_id, "users": [a, b],
    }, on_ready=lambda _: fresh_server.restart(), timeout=45)

    for side in result.values():
        assert side["before"] != side["after"]
        assert side["closeCode"] not in (1000, 1006)


def test_presence_changes_reach_a_js_client_that_asked_for_them(
        server: Server, client: StreamChat) -> None:
    watcher, subject, member = uid("wanda"), uid("sam"), uid("mia")
    client.upsert_users([{"id": subject, "name": "Sam"}])
    channel_id = make_channel(client, "messaging", [watcher, member])

    result = run_scenario(server, "presence", {
        "watcher": watcher, "subject": subject, "member": member,
        "channelType": "messaging", "channelId": channel_id})

    assert result["online"]["user"]["id"] == subject and result["online"]["user"]["online"]
    assert result["online"]["user"]["name"] == "Sam"
    assert result["offline"]["user"]["online"] is False
    assert result["onlineInState"] is True  # the SDK applied the event to its user state
    assert result["memberOnline"]["user"]["id"] == member


def test_a_burst_of_coalesced_events_reaches_js_watchers_whole_and_in_order(
        server: Server, client: StreamChat) -> None:
    sender, w1, w2 = uid("srv"), uid("bob"), uid("carol")
    channel_id = make_channel(client, "messaging", [sender, w1, w2])
    senders, per_sender = 8, 25

    def send(_: Any) -> None:
        asyncio.run(send_burst(server, client, "messaging", channel_id, user_id=sender,
                               senders=senders, per_sender=per_sender))

    result = run_scenario(server, "burst", {
        "channelType": "messaging", "channelId": channel_id, "watchers": [w1, w2],
        "total": senders * per_sender,
    }, on_ready=send, timeout=60)

    assert set(result) == {w1, w2}
    for received in result.values():
        assert all(e["cid"] == f"messaging:{channel_id}" for e in received)
        check_burst(received, senders=senders, per_sender=per_sender)
    # One hub order: both sockets got the events in the same sequence.
    assert result[w1] == result[w2]


def test_js_removed_member_drops_the_channel_and_gets_nothing_more(
        server: Server, client: StreamChat) -> None:
    """Issue 11: after removeMembers the SDK gets notification.removed_from_channel, drops
    the channel, and its socket receives none of the channel's later events."""
    owner, member = uid("owner"), uid("bob")
    channel_id = make_channel(client, "messaging", [owner, member], creator=owner)

    def remove(_: Any) -> None:
        channel = client.channel("messaging", channel_id)
        channel.remove_members([member])
        channel.send_event({"type": "secret", "text": "members only"}, owner)
        client.send_user_custom_event(member, {"type": "hubbub_marker", "n": 1})

    result = run_scenario(server, "removedMember", {
        "channelType": "messaging", "channelId": channel_id, "member": member},
        on_ready=remove)
    assert "secret" not in result["types"]
    assert result["note"]["member"]["user_id"] == member


def test_js_deleted_user_is_refused_and_the_sdk_stops_reconnecting(
        server: Server, client: StreamChat) -> None:
    """Issue 11: deleting a connected user closes its socket; the SDK's reconnect is refused
    with code 16 and it stops; REST and a new connectUser are refused; nothing restores it."""
    user = uid("doomed")
    client.upsert_user({"id": user, "name": "Doomed"})

    result = run_scenario(server, "deletedUser", {"user": user},
                          on_ready=lambda _: client.delete_user(user), timeout=45)

    assert result["closeCode"] != 1000
    assert result["failures"].count("16") == 1
    assert result["rest"]["code"] == 16 and result["connect"]["code"] == 16
    assert client.query_users({"id": user})["users"] == []


def test_js_member_has_no_burst_cap_and_only_the_61st_call_of_a_window_is_refused(
        tmp_path: Path) -> None:
    # The default limits, with a 10-second window instead of a minute so that the scenario
    # also sees the budget come back without waiting long.
    server = start_server(tmp_path, relaxed=False, env={"HUBBUB_RATE_LIMIT_WINDOW": "10"})
    try:
        sdk = sdk_client(server)
        member = uid("typist")
        channel_id = make_channel(sdk, "messaging", [member])

        result = run_scenario(server, "userRateLimit", {
            "channelType": "messaging", "channelId": channel_id, "user": member,
        }, timeout=60)

        assert result["refusal"]["status"] == 429 and result["refusal"]["code"] == 9
        assert result["refused"]["limit"] == 60
        assert result["windowCalls"] == 61
    finally:
        server.stop()


# issue 14: no missed events --------------------------------------------------------------------


def _sync_channels(sdk: StreamChat) -> tuple[str, str, str, str]:
    watcher, sender = uid("walt"), uid("sam")
    channel_id = make_channel(sdk, "messaging", [watcher, sender], creator=sender)
    removed_id = make_channel(sdk, "messaging", [watcher, sender], creator=sender)
    return watcher, sender, channel_id, removed_id


def test_js_sync_returns_exactly_the_events_missed_while_cut(server: Server,
                                                             client: StreamChat) -> None:
    watcher, sender, channel_id, removed_id = _sync_channels(client)
    result = run_scenario(server, "syncAfterCut", {
        "channelType": "messaging", "channelId": channel_id, "removedChannelId": removed_id,
        "watcher": watcher, "sender": sender, "count": 20,
    }, timeout=60)
    assert result["missed"] == list(range(20))
    assert result["removed"] == [f"messaging:{removed_id}"]
    assert result["notes"] == 1
    assert result["before"] != result["after"]


def test_js_user_event_to_a_connected_user_is_not_kept(server: Server,
                                                       client: StreamChat) -> None:
    user = uid("uma")
    channel_id = make_channel(client, "messaging", [user])
    result = run_scenario(server, "userEventWhileConnected", {
        "userId": user, "channelType": "messaging", "channelId": channel_id})
    assert result["live"] == 1
