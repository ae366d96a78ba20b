"""Channels over the official Python SDK: get-or-create (with ids, distinct, creator rules),
update and member operations, partial update, delete, query channels, query members."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.api.conftest import (
    Raw,
    assert_error,
    assert_success,
    make_users,
    sdk_error,
    uid,
    user_token,
)

CREATOR_MESSAGE = ('GetOrCreateChannel failed with error: "either data.created_by or '
                   'data.created_by_id must be provided when using server side auth."')


def _member_ids(resp: dict[str, Any]) -> list[str]:
    return sorted(m["user_id"] for m in resp["members"])


def _roles(channel: Any) -> dict[str, str]:
    return {m["user_id"]: m["channel_role"] for m in channel.query_members({})}


def test_create_with_member_ids(client: StreamChat) -> None:
    owner, a, b = make_users(client, 3)
    channel_id = uid("ch")
    channel = client.channel("messaging", channel_id, {"members": [a, b], "topic": "demo",
                                                       "meta": {"level": 2}})
    resp = channel.create(owner)
    assert resp.status_code() == 201
    ch = resp["channel"]
    assert (ch["id"], ch["type"], ch["cid"]) == (channel_id, "messaging",
                                                 f"messaging:{channel_id}")
    assert ch["created_by"]["id"] == owner
    assert ch["topic"] == "demo" and ch["meta"] == {"level": 2}
    assert "custom" not in ch and "data" not in ch
    assert ch["member_count"] == 2
    assert ch["config"]["custom_events"] is True
    assert ch["frozen"] is False and ch["disabled"] is False
    assert _member_ids(resp) == sorted([a, b])
    assert all(m["channel_role"] == "channel_member" and m["user"]["id"] == m["user_id"]
               for m in resp["members"])
    for key in ("messages", "pinned_messages", "read", "watchers"):
        assert resp[key] == [], key
    # Get-or-create again: the same channel, nothing changed.
    again = client.channel("messaging", channel_id).query()
    assert again["channel"]["created_at"] == ch["created_at"]
    assert again["channel"]["topic"] == "demo"
    assert _member_ids(again) == sorted([a, b])


def test_create_with_member_objects(client: StreamChat) -> None:
    owner, a, b = make_users(client, 3)
    channel = client.channel("messaging", uid("ch"), {"members": [
        {"user_id": a, "channel_role": "channel_moderator"}, {"user_id": b}, owner]})
    resp = channel.create(owner)
    roles = {m["user_id"]: m["channel_role"] for m in resp["members"]}
    assert roles == {a: "channel_moderator", b: "channel_member", owner: "channel_member"}
    assert next(m for m in resp["members"] if m["user_id"] == a)["is_moderator"] is True


def test_creator_is_required_server_side(client: StreamChat) -> None:
    channel = client.channel("messaging", uid("ch"), {"topic": "orphan"})
    with pytest.raises(StreamAPIException) as excinfo:
        channel.query()
    assert sdk_error(excinfo, 400, 4) == CREATOR_MESSAGE
    # Nothing was created.
    assert client.query_channels({"cid": channel.cid})["channels"] == []


def test_creator_by_id_or_object(client: StreamChat) -> None:
    [owner] = make_users(client, 1)
    by_id = client.channel("messaging", uid("ch"), {"created_by_id": owner}).query()
    assert by_id["channel"]["created_by"]["id"] == owner
    by_object = client.channel("messaging", uid("ch"), {"created_by": {"id": owner}}).query()
    assert by_object["channel"]["created_by"]["id"] == owner


def test_unknown_members_or_creator_are_refused(client: StreamChat) -> None:
    [owner] = make_users(client, 1)
    ghost = uid("ghost")
    channel = client.channel("messaging", uid("ch"), {"members": [owner, ghost]})
    with pytest.raises(StreamAPIException) as excinfo:
        channel.create(owner)
    assert ghost in sdk_error(excinfo, 400, 4)
    with pytest.raises(StreamAPIException) as excinfo:
        client.channel("messaging", uid("ch")).create(ghost)
    sdk_error(excinfo, 400, 4)


def test_invalid_channel_ids_are_refused(client: StreamChat) -> None:
    [owner] = make_users(client, 1)
    for bad in ("a" * 65, "with space", "colon:inside"):
        with pytest.raises(StreamAPIException) as excinfo:
            client.channel("messaging", bad).create(owner)
        sdk_error(excinfo, 400, 4)


def test_distinct_channel_without_id(client: StreamChat) -> None:
    a, b, c = make_users(client, 3)
    first = client.channel("messaging", None, {"members": [a, b]})
    resp = first.create(a)
    assert first.id is not None and first.id == resp["channel"]["id"]
    assert resp["channel"]["cid"] == f"messaging:{first.id}"
    assert _member_ids(resp) == sorted([a, b])
    # Same members in another order: the same channel.
    second = client.channel("messaging", None, {"members": [b, a]})
    second.create(b)
    assert second.id == first.id
    # Other members: another channel.
    third = client.channel("messaging", None, {"members": [a, c]})
    third.create(a)
    assert third.id != first.id
    # The distinct channel is an ordinary channel afterwards.
    found = client.query_channels({"cid": first.cid})["channels"]
    assert [ch["channel"]["id"] for ch in found] == [first.id]


def test_distinct_channel_needs_members(client: StreamChat) -> None:
    [a] = make_users(client, 1)
    with pytest.raises(StreamAPIException) as excinfo:
        client.channel("messaging", None, {"topic": "x"}).create(a)
    sdk_error(excinfo, 400, 4)


@pytest.fixture
def room(client: StreamChat) -> tuple[Any, list[str]]:
    users = make_users(client, 5)
    channel = client.channel("messaging", uid("room"), {"members": users[:2], "topic": "t1",
                                                        "color": "red"})
    channel.create(users[0])
    return channel, users


def test_update_replaces_custom_data(client: StreamChat, room: tuple[Any, list[str]]) -> None:
    channel, users = room
    resp = channel.update({"topic": "t2", "mood": "calm"})
    ch = resp["channel"]
    assert ch["topic"] == "t2" and ch["mood"] == "calm"
    assert "color" not in ch
    assert ch["created_by"]["id"] == users[0]
    assert _member_ids(resp) == sorted(users[:2])
    stored = channel.query()["channel"]
    assert (stored["topic"], stored["mood"]) == ("t2", "calm") and "color" not in stored
    resp = channel.update({"frozen": True, "topic": "t3"}, {"text": "frozen now",
                                                            "user_id": users[0]})
    assert resp["channel"]["frozen"] is True and resp["channel"]["topic"] == "t3"


def test_add_and_remove_members(client: StreamChat, room: tuple[Any, list[str]]) -> None:
    channel, users = room
    resp = channel.add_members([users[2], {"user_id": users[3],
                                           "channel_role": "channel_moderator"}])
    assert _member_ids(resp) == sorted(users[:4])
    assert resp["channel"]["member_count"] == 4
    assert _roles(channel)[users[3]] == "channel_moderator"
    # Adding an existing member again changes nothing.
    channel.add_members([users[3]])
    assert _roles(channel)[users[3]] == "channel_moderator"
    resp = channel.remove_members([users[1], users[2]])
    assert _member_ids(resp) == sorted([users[0], users[3]])
    assert resp["channel"]["member_count"] == 2
    assert sorted(_roles(channel)) == sorted([users[0], users[3]])
    # hide_history and a null message are accepted.
    resp = channel.add_members([users[4]], None, hide_history=True)
    assert users[4] in _member_ids(resp)
    with pytest.raises(StreamAPIException) as excinfo:
        channel.add_members([uid("ghost")])
    sdk_error(excinfo, 400, 4)


def test_moderators_and_roles(client: StreamChat, room: tuple[Any, list[str]]) -> None:
    channel, users = room
    channel.add_moderators([users[1]])
    roles = _roles(channel)
    assert roles[users[1]] == "channel_moderator"
    assert roles[users[0]] == "channel_member"
    mods = channel.query_members({"id": users[1]})
    assert mods[0]["is_moderator"] is True
    channel.demote_moderators([users[1]])
    assert _roles(channel)[users[1]] == "channel_member"
    channel.assign_roles([{"user_id": users[0], "channel_role": "channel_moderator"}])
    assert _roles(channel)[users[0]] == "channel_moderator"
    # A custom role can be assigned once it exists.
    role = uid("r")
    client.create_role(role)
    channel.assign_roles([{"user_id": users[1], "channel_role": role}])
    assert _roles(channel)[users[1]] == role
    with pytest.raises(StreamAPIException) as excinfo:
        channel.assign_roles([{"user_id": users[1], "channel_role": uid("missing-role")}])
    sdk_error(excinfo, 400, 4)
    # assign_roles is for members only (add_moderators makes a member: see below).
    with pytest.raises(StreamAPIException) as excinfo:
        channel.assign_roles([{"user_id": users[4], "channel_role": "channel_moderator"}])
    sdk_error(excinfo, 400, 4)
    channel.assign_roles([{"user_id": users[1], "channel_role": "channel_member"}])
    client.delete_role(role)


def test_add_moderators_makes_a_non_member_a_moderator_member(
        client: StreamChat, room: tuple[Any, list[str]]) -> None:
    channel, users = room
    newcomer = users[4]
    assert newcomer not in _roles(channel)
    resp = channel.add_moderators([newcomer])
    [added] = [m for m in resp["members"] if m["user_id"] == newcomer]
    assert added["channel_role"] == "channel_moderator" and added["is_moderator"] is True
    [stored] = channel.query_members({"id": newcomer})
    assert stored["channel_role"] == "channel_moderator" and stored["is_moderator"] is True
    assert stored["user"]["id"] == newcomer
    # Demoting keeps the member, as a plain member.
    channel.demote_moderators([newcomer])
    [stored] = channel.query_members({"id": newcomer})
    assert stored["channel_role"] == "channel_member" and stored["is_moderator"] is False
    # A user that does not exist cannot be made one.
    with pytest.raises(StreamAPIException) as excinfo:
        channel.add_moderators([uid("ghost")])
    sdk_error(excinfo, 400, 4)


def test_add_members_and_moderators_in_one_call(
        client: StreamChat, room: tuple[Any, list[str]]) -> None:
    channel, users = room
    newcomer = users[4]
    resp = channel.add_members([newcomer], None, add_moderators=[newcomer])
    [added] = [m for m in resp["members"] if m["user_id"] == newcomer]
    assert added["channel_role"] == "channel_moderator"


def test_update_partial_set_and_unset(client: StreamChat, room: tuple[Any, list[str]]) -> None:
    channel, users = room
    resp = channel.update_partial({"color": "blue", "size": 3}, ["topic"])
    ch = resp["channel"]
    assert ch["color"] == "blue" and ch["size"] == 3
    assert "topic" not in ch
    assert _member_ids(resp) == sorted(users[:2])
    stored = channel.query()["channel"]
    assert (stored["color"], stored["size"]) == ("blue", 3) and "topic" not in stored
    resp = channel.update_partial({"frozen": True})
    assert resp["channel"]["frozen"] is True and resp["channel"]["color"] == "blue"
    with pytest.raises(StreamAPIException) as excinfo:
        channel.update_partial({"frozen": "yes"})
    sdk_error(excinfo, 400, 4)
    with pytest.raises(StreamAPIException) as excinfo:
        channel.update_partial({"cid": "messaging:other"})
    sdk_error(excinfo, 400, 4)


def test_delete_channel(client: StreamChat, room: tuple[Any, list[str]]) -> None:
    channel, _ = room
    resp = channel.delete()
    assert resp["channel"]["cid"] == channel.cid
    assert resp["channel"]["deleted_at"]
    assert client.query_channels({"cid": channel.cid})["channels"] == []
    for call in (lambda: channel.update({"a": 1}), lambda: channel.update_partial({"a": 1}),
                 lambda: channel.delete(), lambda: channel.query_members({})):
        with pytest.raises(StreamAPIException) as excinfo:
            call()
        sdk_error(excinfo, 404, 16)


def test_delete_channels_runs_a_task(client: StreamChat) -> None:
    [owner] = make_users(client, 1)
    channels = [client.channel("messaging", uid("ch")) for _ in range(3)]
    for channel in channels:
        channel.create(owner)
    cids = [c.cid for c in channels]
    ghost = f"messaging:{uid('ghost')}"
    resp = client.delete_channels([*cids[:2], ghost], hard_delete=True)
    # Polled as a caller written for Stream does: until result[cid] == {"status": "ok"}.
    for _ in range(10):
        task = client.get_task(resp["task_id"])
        if task["status"] == "completed" and task["result"].get(cids[0]) == {"status": "ok"}:
            break
        time.sleep(0.2)
    assert task["status"] == "completed", task
    assert task["result"][cids[0]] == task["result"][cids[1]] == {"status": "ok"}
    assert task["result"][ghost]["status"] == "error" and task["result"][ghost]["error"]
    left = client.query_channels({"cid": {"$in": cids}})["channels"]
    assert [c["channel"]["cid"] for c in left] == [cids[2]]


@pytest.fixture
def estate(client: StreamChat) -> dict[str, Any]:
    """Four channels of a unique ``estate`` tag, of two types, with known members."""
    tag = uid("estate")
    a, b, c = make_users(client, 3)
    specs = [("messaging", [a, b], 3), ("messaging", [a], 1), ("team", [b, c], 2),
             ("messaging", [a, b, c], 4)]
    cids = []
    for n, (channel_type, members, rank) in enumerate(specs):
        channel = client.channel(channel_type, f"{tag}-{n}", {"members": members,
                                                             "estate": tag, "rank": rank})
        channel.create(a)
        cids.append(channel.cid)
    return {"tag": tag, "users": [a, b, c], "cids": cids}


def _cids(resp: dict[str, Any]) -> list[str]:
    return [c["channel"]["cid"] for c in resp["channels"]]


def test_query_channels_filters(client: StreamChat, estate: dict[str, Any]) -> None:
    cids, (a, b, c), tag = estate["cids"], estate["users"], estate["tag"]
    assert _cids(client.query_channels({"cid": cids[1]})) == [cids[1]]
    assert sorted(_cids(client.query_channels({"cid": {"$in": cids[:2]}}))) == sorted(cids[:2])
    assert _cids(client.query_channels({"id": {"$eq": f"{tag}-2"}})) == [cids[2]]
    assert sorted(_cids(client.query_channels({"id": {"$in": [f"{tag}-0", f"{tag}-3"]}}))) == \
        sorted([cids[0], cids[3]])
    assert _cids(client.query_channels({"type": "team", "estate": tag})) == [cids[2]]
    assert sorted(_cids(client.query_channels({"members": {"$in": [c]}, "estate": tag}))) == \
        sorted([cids[2], cids[3]])
    assert _cids(client.query_channels({"members": {"$eq": [a]}, "estate": tag})) == [cids[1]]
    assert sorted(_cids(client.query_channels({"members": {"$eq": [b, a]},
                                               "estate": tag}))) == [cids[0]]
    assert _cids(client.query_channels({"estate": tag, "rank": {"$gt": 3}})) == [cids[3]]
    assert _cids(client.query_channels({"estate": "no-such-estate"})) == []


def test_query_channels_sort_limit_offset(client: StreamChat, estate: dict[str, Any]) -> None:
    cids, tag = estate["cids"], estate["tag"]
    by_rank = [cids[1], cids[2], cids[0], cids[3]]  # ranks 1, 2, 3, 4
    assert _cids(client.query_channels({"estate": tag}, {"rank": 1})) == by_rank
    assert _cids(client.query_channels({"estate": tag}, [{"field": "rank", "direction": -1}])) \
        == list(reversed(by_rank))
    assert _cids(client.query_channels({"estate": tag}, {"rank": 1}, limit=2, offset=1)) == \
        by_rank[1:3]
    by_created = _cids(client.query_channels({"estate": tag}, {"created_at": 1}))
    assert by_created == cids


def test_query_channels_returns_channel_state(client: StreamChat,
                                              estate: dict[str, Any]) -> None:
    resp = client.query_channels({"cid": estate["cids"][0]})
    [state] = resp["channels"]
    assert state["channel"]["estate"] == estate["tag"]
    assert state["channel"]["config"]["custom_events"] is True
    assert sorted(m["user_id"] for m in state["members"]) == sorted(estate["users"][:2])
    assert state["messages"] == [] and state["pinned_messages"] == []


def test_query_members(client: StreamChat) -> None:
    users = make_users(client, 4)
    client.update_users_partial([{"id": u, "set": {"name": f"n{i}"}}
                                 for i, u in enumerate(users)])
    channel = client.channel("messaging", uid("ch"), {"members": users})
    channel.create(users[0])
    channel.add_moderators([users[2]])
    everyone = channel.query_members({})
    assert sorted(m["user_id"] for m in everyone) == sorted(users)
    assert all(m["user"]["id"] == m["user_id"] for m in everyone)
    assert [m["user_id"] for m in channel.query_members({"id": users[1]})] == [users[1]]
    found = channel.query_members({"id": {"$in": [users[0], users[3]]}})
    assert sorted(m["user_id"] for m in found) == sorted([users[0], users[3]])
    mods = channel.query_members({"channel_role": "channel_moderator"})
    assert [m["user_id"] for m in mods] == [users[2]]
    ordered = channel.query_members({}, [{"field": "user_id", "direction": -1}])
    assert [m["user_id"] for m in ordered] == sorted(users, reverse=True)
    page = channel.query_members({}, [{"field": "user_id", "direction": 1}], limit=2, offset=1)
    assert [m["user_id"] for m in page] == sorted(users)[1:3]


def test_query_members_by_user_fields(client: StreamChat) -> None:
    users = make_users(client, 3)
    client.update_users_partial([{"id": u, "set": {"name": name}}
                                 for u, name in zip(users, ["carol", "alice", "bob"])])
    channel = client.channel("messaging", uid("ch"), {"members": users})
    channel.create(users[0])
    by_name = channel.query_members({"name": "alice"})
    assert [m["user_id"] for m in by_name] == [users[1]]
    sorted_by_name = channel.query_members({}, [{"field": "name", "direction": 1}])
    assert [m["user"]["name"] for m in sorted_by_name] == ["alice", "bob", "carol"]


def test_channel_endpoints_raw_statuses(raw: Raw, client: StreamChat) -> None:
    [owner] = make_users(client, 1)
    channel_id = uid("ch")
    body = assert_success(raw.post(f"/channels/messaging/{channel_id}/query",
                                   json={"data": {"created_by_id": owner}}), 201)
    assert body["channel"]["id"] == channel_id
    assert_success(raw.post("/channels", json={"filter_conditions": {}}), 201)
    payload = json.dumps({"type": "messaging", "id": channel_id, "filter_conditions": {}})
    assert_success(raw.get("/members", params={"payload": payload}), 200)
    no_id = json.dumps({"type": "messaging", "filter_conditions": {}})
    assert_error(raw.get("/members", params={"payload": no_id}), 400, 4)


def test_client_side_query_channels_returns_the_users_readable_channels(
        raw: Raw, client: StreamChat) -> None:
    """A page of channels read client-side: each channel is checked against the user's own
    membership (read for the whole page at once), with the user's role in each."""
    me, other = make_users(client, 2)
    tag = uid("page")
    cids = []
    for n, members in enumerate([[me, other], [other], [me], [other, me]]):
        channel = client.channel("messaging", f"{tag}-{n}", {"tag": tag, "members": members})
        channel.create(other)
        cids.append(channel.cid)
    client.channel("messaging", f"{tag}-3").add_moderators([me])

    body = assert_success(raw.post("/channels", token=user_token(me), json={
        "filter_conditions": {"tag": tag}, "sort": [{"field": "cid", "direction": 1}]}), 201)
    found = {c["channel"]["cid"]: c for c in body["channels"]}
    # Not a member of the second: messaging needs membership to read.
    assert sorted(found) == [cids[0], cids[2], cids[3]]
    roles = {cid: next(m["channel_role"] for m in c["members"] if m["user_id"] == me)
             for cid, c in found.items()}
    assert roles == {cids[0]: "channel_member", cids[2]: "channel_member",
                     cids[3]: "channel_moderator"}
