"""Custom events to one user: every connection of that user, nobody else; server-side only."""

from __future__ import annotations

import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from hubbub.client import HubbubClientError
from tests.conftest import uid
from tests.e2e.conftest import Connect, is_type


async def test_user_event_reaches_all_connections_of_that_user_only(client: StreamChat,
                                                                     connect: Connect) -> None:
    bob, carol = uid("bob"), uid("carol")
    client.upsert_users([{"id": bob, "name": "Bob"}, {"id": carol}])
    phone, laptop, other = await connect(bob), await connect(bob), await connect(carol)

    response = client.send_user_custom_event(
        bob, {"type": "friendship_request", "text": "Tommaso wants to be your friend"})
    client.send_user_custom_event(carol, {"type": "barrier"})

    assert set(response) == {"duration"}
    for conn in (phone, laptop):
        got = await conn.next_event(is_type("friendship_request"))
        assert got["text"] == "Tommaso wants to be your friend"
        assert got["user"]["id"] == bob and got["user"]["name"] == "Bob"
        assert got["created_at"].endswith("Z")
        assert "cid" not in got and "channel_id" not in got
    first = await other.next_event(lambda e: e["type"] in ("friendship_request", "barrier"))
    assert first["type"] == "barrier"


def test_user_event_to_unknown_user_is_404(client: StreamChat) -> None:
    with pytest.raises(StreamAPIException) as refused:
        client.send_user_custom_event(uid("nobody"), {"type": "friendship_request"})
    assert refused.value.status_code == 404
    assert refused.value.error_code == 16


@pytest.mark.parametrize("event_type", ["friendship.request", "message.new", "."])
def test_user_event_with_dotted_type_is_400(client: StreamChat, event_type: str) -> None:
    bob = uid("bob")
    client.upsert_user({"id": bob})
    with pytest.raises(StreamAPIException) as refused:
        client.send_user_custom_event(bob, {"type": event_type})
    assert refused.value.status_code == 400
    assert refused.value.error_code == 4


def test_user_event_without_type_is_400(client: StreamChat) -> None:
    bob = uid("bob")
    client.upsert_user({"id": bob})
    with pytest.raises(StreamAPIException) as refused:
        client.send_user_custom_event(bob, {"text": "no type"})
    assert refused.value.status_code == 400 and refused.value.error_code == 4


async def test_user_event_with_user_token_is_403(client: StreamChat, connect: Connect) -> None:
    alice, bob = uid("alice"), uid("bob")
    client.upsert_users([{"id": alice}, {"id": bob}])
    conn = await connect(alice)
    with pytest.raises(HubbubClientError) as refused:
        await conn.request("POST", f"/users/{bob}/event", {"event": {"type": "spoof"}})
    assert refused.value.status == 403 and refused.value.code == 17


def test_user_event_to_offline_user_is_accepted(client: StreamChat) -> None:
    bob = uid("bob")
    client.upsert_user({"id": bob})
    assert "duration" in client.send_user_custom_event(bob, {"type": "while_you_were_away"})


def test_user_event_over_size_limit_is_413(client: StreamChat) -> None:
    bob = uid("bob")
    client.upsert_user({"id": bob})
    with pytest.raises(StreamAPIException) as refused:
        client.send_user_custom_event(bob, {"type": "big", "blob": "x" * 6000})
    assert refused.value.status_code == 413 and refused.value.error_code == 22
