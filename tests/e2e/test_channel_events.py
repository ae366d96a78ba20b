"""Custom events to a channel: who receives them, their shape, and every refusal."""

from __future__ import annotations

import httpx
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from hubbub.client import HubbubClientError
from tests.conftest import Server, uid
from tests.e2e.conftest import Connect, is_type, make_channel


async def test_member_event_reaches_every_watcher_including_sender(client: StreamChat,
                                                                   connect: Connect) -> None:
    alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
    cid = make_channel(client, [alice, bob, carol])
    clients = [await connect(u) for u in (alice, bob, carol)]
    for c in clients:
        await c.watch("messaging", cid)

    response = await clients[0].send_event(
        "messaging", cid, {"type": "friendship_request", "text": "Hey there, long time no see!"})

    sent = response["event"]
    assert sent["type"] == "friendship_request"
    assert sent["text"] == "Hey there, long time no see!"
    assert sent["cid"] == f"messaging:{cid}"
    assert (sent["channel_id"], sent["channel_type"]) == (cid, "messaging")
    assert sent["user"]["id"] == alice
    assert sent["created_at"].endswith("Z")
    for c in clients:
        received = await c.next_event(is_type("friendship_request"))
        assert received == sent


async def test_connected_member_that_does_not_watch_receives_nothing(client: StreamChat,
                                                                     connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    room, other = make_channel(client, [alice, bob]), make_channel(client, [alice, bob])
    sender, idle = await connect(alice), await connect(bob)
    await sender.watch("messaging", room)
    await idle.watch("messaging", other)  # watches only the other channel

    await sender.send_event("messaging", room, {"type": "secret"})
    await sender.send_event("messaging", other, {"type": "barrier"})

    # Events reach a connection in the order they were sent: had "secret" been delivered,
    # it would come before the barrier.
    first = await idle.next_event(lambda e: e["type"] in ("secret", "barrier"))
    assert first["type"] == "barrier"


async def test_sender_cannot_spoof_user_channel_or_time(client: StreamChat,
                                                        connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    cid = make_channel(client, [alice, bob])
    mallory = await connect(alice)
    watcher = await connect(bob)
    await watcher.watch("messaging", cid)

    await mallory.send_event("messaging", cid, {
        "type": "password_reset", "user": {"id": bob, "role": "admin"}, "user_id": bob,
        "cid": "messaging:elsewhere", "channel_id": "elsewhere", "created_at": "2000-01-01T00:00:00Z",
    })

    got = await watcher.next_event(is_type("password_reset"))
    assert got["user"]["id"] == alice
    assert got["user"]["role"] == "user"
    assert got["cid"] == f"messaging:{cid}" and got["channel_id"] == cid
    assert not got["created_at"].startswith("2000")
    assert "user_id" not in got


async def test_server_side_event_names_its_user(client: StreamChat, connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    cid = make_channel(client, [alice, bob])
    watcher = await connect(bob)
    await watcher.watch("messaging", cid)

    response = client.channel("messaging", cid).send_event(
        {"type": "friendship_request", "text": "from the server"}, alice)

    assert response["event"]["user"]["id"] == alice
    got = await watcher.next_event(is_type("friendship_request"))
    assert got["user"]["id"] == alice and got["text"] == "from the server"


def test_server_side_event_without_or_with_both_users_is_refused(client: StreamChat,
                                                                  server: Server) -> None:
    alice = uid("alice")
    cid = make_channel(client, [alice])
    url = f"{server.url}/channels/messaging/{cid}/event"
    headers = {"Authorization": _server_token(client), "stream-auth-type": "jwt"}
    params = {"api_key": server.api_key}

    missing = httpx.post(url, params=params, headers=headers, json={"event": {"type": "x"}})
    both = httpx.post(url, params=params, headers=headers,
                      json={"event": {"type": "x", "user": {"id": alice}, "user_id": alice}})

    assert missing.status_code == 400 and missing.json()["code"] == 4
    assert missing.json()["message"] == (
        'SendEvent failed with error: "either event.user or event.user_id must be provided '
        'when using server side auth."')
    assert both.status_code == 400 and both.json()["code"] == 4
    assert both.json()["message"] == (
        'SendEvent failed with error: "cannot set both event.user and event.user_id."')


def _server_token(client: StreamChat) -> str:
    """The SDK's own server token (``{"server": true}``)."""
    return client.auth_token  # type: ignore[no-any-return]


async def test_custom_events_switched_off_per_type_refuse_everyone(client: StreamChat,
                                                                   connect: Connect) -> None:
    type_name = uid("quiet").replace("-", "_")
    client.create_channel_type({"name": type_name})
    alice = uid("alice")
    client.upsert_user({"id": alice, "role": "admin"})
    cid = make_channel(client, [alice], channel_type=type_name)
    admin = await connect(alice)
    await admin.watch(type_name, cid)
    client.update_channel_type(type_name, custom_events=False)

    with pytest.raises(HubbubClientError) as refused:
        await admin.send_event(type_name, cid, {"type": "ping"})
    with pytest.raises(StreamAPIException) as refused_server:
        client.channel(type_name, cid).send_event({"type": "ping"}, alice)

    assert refused.value.status == 400 and refused.value.code == 18
    assert f"Channel type {type_name} does not support custom events" in refused.value.body[
        "message"]
    assert refused_server.value.status_code == 400
    client.update_channel_type(type_name, custom_events=True)
    await admin.send_event(type_name, cid, {"type": "ping"})
    assert (await admin.next_event(is_type("ping")))["user"]["id"] == alice


async def test_typing_events_travel_and_are_gated_by_typing_events(client: StreamChat,
                                                                   connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    cid = make_channel(client, [alice, bob])
    typist, watcher = await connect(alice), await connect(bob)
    await typist.watch("messaging", cid)
    await watcher.watch("messaging", cid)

    await typist.send_event("messaging", cid, {"type": "typing.start", "parent_id": "m1"})
    got = await watcher.next_event(is_type("typing.start"))
    assert got["user"]["id"] == alice and got["parent_id"] == "m1"

    live = make_channel(client, [alice], channel_type="livestream")
    await typist.watch("livestream", live)
    with pytest.raises(HubbubClientError) as refused:
        await typist.send_event("livestream", live, {"type": "typing.start"})
    assert refused.value.status == 400


@pytest.mark.parametrize("event_type", ["message.new", "user.updated", "health.check"])
async def test_other_dotted_types_are_refused(client: StreamChat, connect: Connect,
                                              event_type: str) -> None:
    alice = uid("alice")
    cid = make_channel(client, [alice])
    sender = await connect(alice)
    await sender.watch("messaging", cid)
    with pytest.raises(HubbubClientError) as refused:
        await sender.send_event("messaging", cid, {"type": event_type})
    assert refused.value.status == 400 and refused.value.code == 18


async def test_event_over_size_limit_is_refused(client: StreamChat, connect: Connect) -> None:
    alice = uid("alice")
    cid = make_channel(client, [alice])
    sender = await connect(alice)
    await sender.watch("messaging", cid)
    with pytest.raises(HubbubClientError) as refused:
        await sender.send_event("messaging", cid, {"type": "big", "blob": "x" * 6000})
    assert refused.value.status == 413 and refused.value.code == 22
    ok = await sender.send_event("messaging", cid, {"type": "small", "blob": "x" * 4000})
    assert ok["event"]["type"] == "small"


async def test_event_to_missing_channel_is_404(client: StreamChat, connect: Connect) -> None:
    alice = uid("alice")
    client.upsert_user({"id": alice})
    sender = await connect(alice)
    with pytest.raises(HubbubClientError) as refused:
        await sender.send_event("messaging", uid("nowhere"), {"type": "x"})
    assert refused.value.status == 404 and refused.value.code == 16


async def test_channel_type_can_restrict_custom_event_types(client: StreamChat,
                                                            connect: Connect) -> None:
    type_name = uid("strict").replace("-", "_")
    client.create_channel_type({"name": type_name,
                                "allowed_custom_event_types": ["friendship_request"]})
    assert client.get_channel_type(type_name)["allowed_custom_event_types"] == [
        "friendship_request"]
    alice, bob = uid("alice"), uid("bob")
    cid = make_channel(client, [alice, bob], channel_type=type_name)
    sender, watcher = await connect(alice), await connect(bob)
    await watcher.watch(type_name, cid)

    with pytest.raises(HubbubClientError) as refused:
        await sender.send_event(type_name, cid, {"type": "password_reset", "url": "evil"})
    assert refused.value.status == 400 and refused.value.code == 18
    await sender.send_event(type_name, cid, {"type": "friendship_request"})
    first = await watcher.next_event(lambda e: e["type"] in ("password_reset",
                                                             "friendship_request"))
    assert first["type"] == "friendship_request"

    with pytest.raises(StreamAPIException) as bad:
        client.update_channel_type(type_name, allowed_custom_event_types=["message.new"])
    assert bad.value.status_code == 400
    client.update_channel_type(type_name, allowed_custom_event_types=[])
    await sender.send_event(type_name, cid, {"type": "password_reset"})


async def test_mark_read_answers_and_tells_watchers(client: StreamChat,
                                                    connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    cid = make_channel(client, [alice, bob])
    watcher = await connect(bob)
    await watcher.watch("messaging", cid)

    response = client.channel("messaging", cid).mark_read(alice)
    assert response["event"]["type"] == "message.read"
    assert response["event"]["user"]["id"] == alice
    got = await watcher.next_event(is_type("message.read"))
    assert got["user"]["id"] == alice and got["cid"] == f"messaging:{cid}"

    reader = await connect(alice)
    own = await reader.request("POST", f"/channels/messaging/{cid}/read", {})
    assert own["event"]["user"]["id"] == alice
    assert "duration" in client.mark_all_read(alice)
    outsider = await connect(uid("eve"))
    with pytest.raises(HubbubClientError) as refused:
        await outsider.request("POST", f"/channels/messaging/{cid}/read", {})
    assert refused.value.status == 403
