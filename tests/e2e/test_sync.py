"""``POST /sync`` (issue 14) over the wire with the official Python SDK: history bounds, the
"too old" answer, validation, history switched off, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.conftest import Server, sdk_client, start_server, uid
from tests.e2e.conftest import make_channel


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sync(sdk: StreamChat, user_id: str, cids: list[str], last_sync_at: str,
         **options: Any) -> dict[str, Any]:
    return sdk.post("sync", data={"channel_cids": cids, "last_sync_at": last_sync_at,
                                  "user_id": user_id, **options})


def refused(sdk: StreamChat, user_id: str, cids: list[str], last_sync_at: str) -> Any:
    with pytest.raises(StreamAPIException) as caught:
        sync(sdk, user_id, cids, last_sync_at)
    assert caught.value.status_code == 400
    return caught.value


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that keeps 5 events per channel for 60 seconds."""
    server = start_server(tmp_path_factory.mktemp("small-history"),
                          env={"HUBBUB_HISTORY_SIZE": "5", "HUBBUB_HISTORY_TTL": "60"})
    yield server
    server.stop()


def test_history_keeps_the_newest_events_and_reports_a_cursor_it_no_longer_covers(
        small_history: Server) -> None:
    sdk = sdk_client(small_history)
    user = uid("ann")
    channel_id = make_channel(sdk, [user])
    cid = f"messaging:{channel_id}"
    channel = sdk.channel("messaging", channel_id)
    before = ago(1)
    sent = [channel.send_event({"type": "tick", "n": n}, user)["event"] for n in range(8)]
    # Momentary events are not kept (they would push real ones out).
    channel.send_event({"type": "typing.start"}, user)
    stamps = [event["created_at"] for event in sent]
    assert stamps == sorted(stamps) and len(set(stamps)) == 8

    # Events 0..2 were dropped: a cursor before event 2 cannot be served...
    for cursor in (before, stamps[0], stamps[1]):
        error = refused(sdk, user, [cid], cursor)
        assert error.error_code == 4
        assert "Too old last_sync_at time" in error.error_message
    # ...a cursor at the newest dropped event or later can, exactly.
    answer = sync(sdk, user, [cid], stamps[2])
    assert [e["n"] for e in answer["events"]] == [3, 4, 5, 6, 7]
    assert [e["created_at"] for e in answer["events"]] == stamps[3:]
    assert all(e["cid"] == cid and e["type"] == "tick" for e in answer["events"])
    assert [e["n"] for e in sync(sdk, user, [cid], stamps[6])["events"]] == [7]
    assert sync(sdk, user, [cid], stamps[7])["events"] == []
    # Older than the age bound: refused, whatever the channel holds.
    error = refused(sdk, user, [cid], ago(120))
    assert "no later than 60 seconds ago" in error.error_message


def test_sync_validates_its_request(small_history: Server) -> None:
    sdk = sdk_client(small_history)
    user = uid("ann")
    channel_id = make_channel(sdk, [user])
    cid = f"messaging:{channel_id}"
    assert "at least 1 item" in refused(sdk, user, [], ago(1)).error_message
    assert "RFC 3339" in refused(sdk, user, [cid], "yesterday").error_message
    with pytest.raises(StreamAPIException) as caught:
        sdk.post("sync", data={"channel_cids": [cid], "last_sync_at": ago(1)})
    assert caught.value.status_code == 400 and "user_id" in caught.value.error_message
    # A channel that does not exist is reported as one the user cannot read.
    missing = "messaging:" + uid("nope")
    answer = sync(sdk, user, [cid, missing], ago(30), with_inaccessible_cids=True)
    assert answer["inaccessible_cids"] == [missing]
    assert [e["type"] for e in answer["events"]] == ["channel.created"]
    assert answer["events"][0]["cid"] == cid


def test_client_side_sync_reads_only_what_the_user_may_read(small_history: Server) -> None:
    sdk = sdk_client(small_history)
    member, outsider = uid("ann"), uid("otto")
    channel_id = make_channel(sdk, [member])
    sdk.upsert_user({"id": outsider})
    cid = f"messaging:{channel_id}"
    since = ago(30)
    sdk.channel("messaging", channel_id).send_event({"type": "tick", "n": 1}, member)
    for user, expected in ((member, ["channel.created", "tick"]),
                           (outsider, ["notification.removed_from_channel"])):
        response = httpx.post(
            f"{small_history.url}/sync", params={"api_key": small_history.api_key},
            headers={"Authorization": sdk.create_token(user), "stream-auth-type": "jwt"},
            json={"channel_cids": [cid], "last_sync_at": since})
        assert response.status_code == 201, response.text
        events = response.json()["events"]
        assert [e["type"] for e in events] == expected
        assert all(e["cid"] == cid for e in events)


def test_metrics_show_history_and_recoveries(small_history: Server) -> None:
    sdk = sdk_client(small_history)
    user = uid("ann")
    channel_id = make_channel(sdk, [user])
    sdk.channel("messaging", channel_id).send_event({"type": "tick"}, user)
    sync(sdk, user, [f"messaging:{channel_id}"], ago(1))
    text = httpx.get(f"{small_history.url}/metrics").text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith(("hubbub_history", "hubbub_sync"))}
    assert values["hubbub_history_events"] >= 1
    assert values["hubbub_history_streams"] >= 1
    assert values["hubbub_sync_recoveries_total"] >= 1
    assert values["hubbub_sync_events_total"] >= 1
    assert values["hubbub_history_recorded_total"] >= 1


def test_history_size_zero_switches_history_off(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={"HUBBUB_HISTORY_SIZE": "0"})
    try:
        sdk = sdk_client(server)
        user = uid("ann")
        channel_id = make_channel(sdk, [user])
        event = sdk.channel("messaging", channel_id).send_event({"type": "tick"}, user)["event"]
        assert event["created_at"].endswith("Z")
        error = refused(sdk, user, [f"messaging:{channel_id}"], ago(1))
        assert "switched off" in error.error_message
        assert "hubbub_history_events" not in httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()


async def test_sync_with_watch_subscribes_the_connection(small_history: Server) -> None:
    from hubbub.client import HubbubClient

    sdk = sdk_client(small_history)
    user = uid("ann")
    channel_id = make_channel(sdk, [user])
    cid = f"messaging:{channel_id}"
    async with HubbubClient(small_history.url, str(small_history.api_key),
                            sdk.create_token(user)) as conn:
        answer = await conn.request("POST", "/sync", {
            "channel_cids": [cid], "last_sync_at": ago(30), "watch": True})
        assert [e["type"] for e in answer["events"]] == ["channel.created"]
        sdk.channel("messaging", channel_id).send_event({"type": "tick", "n": 1}, user)
        event = await conn.next_event(lambda e: e["type"] == "tick")
        assert event["cid"] == cid
