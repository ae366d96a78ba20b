"""Users over the official Python SDK: upsert, partial update, query, delete, deactivate,
restore, guests, tasks."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.api.conftest import (
    API_SECRET,
    Raw,
    assert_success,
    make_users,
    sdk_error,
    uid,
    user_token,
)


def _get(client: StreamChat, user_id: str) -> dict:
    users = client.query_users({"id": {"$eq": user_id}})["users"]
    assert len(users) == 1, users
    return users[0]


def test_upsert_user_returns_full_user_with_flat_custom_fields(client: StreamChat) -> None:
    user_id = uid()
    resp = client.upsert_user({"id": user_id, "name": "Alice", "color": "red",
                               "profile": {"age": 30}})
    assert resp.status_code() == 201
    assert resp["duration"].endswith("ms")
    user = resp["users"][user_id]
    assert user["id"] == user_id
    assert user["role"] == "user"
    assert user["name"] == "Alice"
    assert user["color"] == "red"
    assert user["profile"] == {"age": 30}
    assert "custom" not in user
    for field in ("created_at", "updated_at", "banned", "online", "teams", "language",
                  "invisible", "shadow_banned", "blocked_user_ids"):
        assert field in user, field
    assert user["banned"] is False and user["online"] is False
    assert user["created_at"].endswith("Z")


def test_upsert_replaces_the_whole_user(client: StreamChat) -> None:
    user_id = uid()
    first = client.upsert_user({"id": user_id, "name": "Alice", "color": "red"})
    created_at = first["users"][user_id]["created_at"]
    second = client.upsert_user({"id": user_id, "name": "Alicia"})["users"][user_id]
    assert second["name"] == "Alicia"
    assert "color" not in second
    assert second["created_at"] == created_at
    assert second["updated_at"] >= created_at
    stored = _get(client, user_id)
    assert stored["name"] == "Alicia" and "color" not in stored


def test_upsert_users_many_with_roles(client: StreamChat) -> None:
    ids = [uid() for _ in range(3)]
    resp = client.upsert_users([{"id": ids[0], "role": "admin"}, {"id": ids[1]},
                                {"id": ids[2], "role": "moderator", "team_name": "blue"}])
    assert set(resp["users"]) == set(ids)
    assert [resp["users"][i]["role"] for i in ids] == ["admin", "user", "moderator"]
    assert resp["users"][ids[2]]["team_name"] == "blue"


def test_upsert_unknown_role_is_refused(client: StreamChat) -> None:
    with pytest.raises(StreamAPIException) as excinfo:
        client.upsert_user({"id": uid(), "role": "no-such-role"})
    sdk_error(excinfo, 400, 4)


def test_upsert_invalid_id_is_refused(client: StreamChat) -> None:
    for bad in ("has space", "", "x" * 300):
        with pytest.raises(StreamAPIException) as excinfo:
            client.upsert_user({"id": bad})
        sdk_error(excinfo, 400, 4)


def test_update_user_partial_set_and_unset(client: StreamChat) -> None:
    user_id = uid()
    client.upsert_user({"id": user_id, "name": "Bob", "color": "red", "age": 20})
    resp = client.update_user_partial({"id": user_id, "set": {"color": "blue", "city": "Oslo",
                                                              "role": "moderator"},
                                       "unset": ["age"]})
    user = resp["users"][user_id]
    assert user["color"] == "blue"
    assert user["city"] == "Oslo"
    assert user["name"] == "Bob"
    assert user["role"] == "moderator"
    assert "age" not in user
    stored = _get(client, user_id)
    assert (stored["color"], stored["city"], stored["role"]) == ("blue", "Oslo", "moderator")
    assert "age" not in stored


def test_update_users_partial_many(client: StreamChat) -> None:
    a, b = make_users(client, 2, flavour="plain")
    resp = client.update_users_partial([
        {"id": a, "set": {"flavour": "mint"}},
        {"id": b, "unset": ["flavour"], "set": {"teams": ["red"]}},
    ])
    assert resp["users"][a]["flavour"] == "mint"
    assert "flavour" not in resp["users"][b]
    assert resp["users"][b]["teams"] == ["red"]


def test_update_user_partial_wrong_types_are_refused(client: StreamChat) -> None:
    [user] = make_users(client, 1)
    for update in ({"role": 5}, {"teams": "red"}, {"invisible": "yes"},
                   {"revoke_tokens_issued_before": "not a date"}):
        with pytest.raises(StreamAPIException) as excinfo:
            client.update_user_partial({"id": user, "set": update})
        sdk_error(excinfo, 400, 4)


def test_update_user_partial_unknown_user_is_404(client: StreamChat) -> None:
    with pytest.raises(StreamAPIException) as excinfo:
        client.update_user_partial({"id": uid("ghost"), "set": {"a": 1}})
    sdk_error(excinfo, 404, 16)


RANKS = [2, 9, 10, 100, 1000]


@pytest.fixture
def population(client: StreamChat) -> tuple[str, list[str]]:
    """Five users sharing a unique ``tribe`` custom field, ranked by numbers that sort
    differently as text (so a text sort would be caught)."""
    tribe = uid("tribe")
    ids = [f"{tribe}-{n}" for n in range(5)]
    client.upsert_users([{"id": i, "tribe": tribe, "rank": RANKS[n], "parity": "odd" if n % 2 else
                          "even", "role": "moderator" if n == 4 else "user"}
                         for n, i in enumerate(ids)])
    return tribe, ids


def _ids(resp: dict) -> list[str]:
    return [u["id"] for u in resp["users"]]


def test_query_users_by_id_eq_and_in(client: StreamChat,
                                     population: tuple[str, list[str]]) -> None:
    _, ids = population
    assert _ids(client.query_users({"id": {"$eq": ids[1]}})) == [ids[1]]
    assert _ids(client.query_users({"id": ids[2]})) == [ids[2]]
    found = _ids(client.query_users({"id": {"$in": [ids[0], ids[3], "no-such-user"]}}))
    assert sorted(found) == sorted([ids[0], ids[3]])


def test_query_users_by_role_and_custom_field(client: StreamChat,
                                              population: tuple[str, list[str]]) -> None:
    tribe, ids = population
    assert _ids(client.query_users({"tribe": tribe, "role": "moderator"})) == [ids[4]]
    assert sorted(_ids(client.query_users({"tribe": {"$eq": tribe}, "parity": "odd"}))) == \
        sorted([ids[1], ids[3]])
    assert sorted(_ids(client.query_users({"tribe": tribe, "rank": {"$gte": 10}}))) == \
        sorted(ids[2:])
    assert _ids(client.query_users({"tribe": "no-such-tribe"})) == []


def test_query_users_sort_limit_offset(client: StreamChat,
                                       population: tuple[str, list[str]]) -> None:
    tribe, ids = population
    desc = _ids(client.query_users({"tribe": tribe}, {"rank": -1}))
    assert desc == list(reversed(ids))
    asc = _ids(client.query_users({"tribe": tribe}, [{"field": "rank", "direction": 1}]))
    assert asc == ids
    page = _ids(client.query_users({"tribe": tribe}, {"rank": 1}, limit=2, offset=1))
    assert page == ids[1:3]
    by_id = _ids(client.query_users({"tribe": tribe}, {"id": -1}, limit=3))
    assert by_id == sorted(ids, reverse=True)[:3]


def test_query_users_default_order_is_newest_first(client: StreamChat) -> None:
    tag = uid("gen")
    # One call each, so that each has its own created_at; ids sort the other way round.
    ids = [f"{tag}-{n}" for n in range(1, 5)]
    for user_id in ids:
        client.upsert_user({"id": user_id, "gen": tag})
    assert _ids(client.query_users({"gen": tag})) == list(reversed(ids))
    assert _ids(client.query_users({"gen": tag}, limit=2)) == [ids[3], ids[2]]


def test_query_users_bad_filter_is_400(client: StreamChat) -> None:
    with pytest.raises(StreamAPIException) as excinfo:
        client.query_users({"id": {"$in": "not-a-list"}})
    sdk_error(excinfo, 400, 4)
    with pytest.raises(StreamAPIException) as excinfo:
        client.query_users({"id": {"$bogus": 1}})
    sdk_error(excinfo, 400, 4)


def test_delete_user_soft_and_hard(client: StreamChat) -> None:
    soft, hard = make_users(client, 2)
    resp = client.delete_user(soft)
    assert resp["user"]["id"] == soft
    assert resp["user"].get("deleted_at")
    assert _ids(client.query_users({"id": soft})) == []
    resp = client.delete_user(hard, hard_delete=True)
    assert resp["user"]["id"] == hard
    assert _ids(client.query_users({"id": hard})) == []
    # Deleting again: the user is gone.
    with pytest.raises(StreamAPIException) as excinfo:
        client.delete_user(hard)
    sdk_error(excinfo, 404, 16)
    # A soft-deleted user can be restored, a hard-deleted one cannot.
    client.restore_users([soft])
    assert _ids(client.query_users({"id": soft})) == [soft]
    with pytest.raises(StreamAPIException) as excinfo:
        client.restore_users([hard])
    sdk_error(excinfo, 404, 16)


def poll_task(client: StreamChat, task_id: str, key: str) -> dict[str, Any]:
    """Poll as Stream's own SDK tests do: until the task is completed and ``result[key]`` is
    ``{"status": "ok"}`` (a few tries; ours complete before they are reported)."""
    for _ in range(10):
        task = client.get_task(task_id)
        if task["status"] == "completed" and task["result"].get(key) == {"status": "ok"}:
            return task
        time.sleep(0.2)
    raise AssertionError(f"task did not succeed: {task}")


def test_delete_users_runs_a_task(client: StreamChat) -> None:
    ids = make_users(client, 3)
    ghost = uid("ghost")
    resp = client.delete_users([*ids[:2], ghost], "hard", messages="hard",
                               conversations="hard")
    task_id = resp["task_id"]
    assert isinstance(task_id, str) and task_id
    task = poll_task(client, task_id, ids[0])
    assert task["task_id"] == task_id
    assert task["duration"].endswith("ms")
    # One entry per user id: ok for each deleted, an error entry for the one that failed.
    assert task["result"][ids[1]] == {"status": "ok"}
    assert task["result"][ghost]["status"] == "error" and task["result"][ghost]["error"]
    assert set(task["result"]) == {ids[0], ids[1], ghost}
    assert sorted(_ids(client.query_users({"id": {"$in": ids}}))) == [ids[2]]


def test_delete_users_soft_then_restore(client: StreamChat) -> None:
    ids = make_users(client, 2, keep="me")
    task = poll_task(client, client.delete_users(ids, "soft")["task_id"], ids[0])
    assert task["result"] == {i: {"status": "ok"} for i in ids}
    assert _ids(client.query_users({"id": {"$in": ids}})) == []
    client.restore_users(ids)
    restored = client.query_users({"id": {"$in": ids}})["users"]
    assert sorted(u["id"] for u in restored) == sorted(ids)
    assert all(u["keep"] == "me" and "deleted_at" not in u for u in restored)


def test_deactivate_and_reactivate_user(client: StreamChat, raw: Raw) -> None:
    [user] = make_users(client, 1, name="Dee")
    token = user_token(user)
    assert_success(raw.get("/users", token=token, params={"payload": "{}"}), 200)
    resp = client.deactivate_user(user)
    assert resp["user"]["id"] == user
    assert resp["user"].get("deactivated_at")
    assert client.query_users({"id": user})["users"] == []
    hidden = client.query_users({"id": user}, include_deactivated_users=True)["users"]
    assert [u["id"] for u in hidden] == [user] and hidden[0].get("deactivated_at")
    # A deactivated user can no longer act.
    refused = raw.get("/users", token=token, params={"payload": "{}"})
    assert refused.status_code == 403 and refused.json()["code"] == 17, refused.text
    resp = client.reactivate_user(user)
    assert "deactivated_at" not in resp["user"]
    assert "deactivated_at" not in _get(client, user)
    assert _get(client, user)["name"] == "Dee"
    assert_success(raw.get("/users", token=token, params={"payload": "{}"}), 200)


def test_set_guest_user(client: StreamChat, raw: Raw) -> None:
    guest_id = uid("guest")
    resp = client.set_guest_user({"id": guest_id, "name": "Visitor"})
    assert resp.status_code() == 201
    user = resp["user"]
    assert user["role"] == "guest"
    assert user["name"] == "Visitor"
    claims = jwt.decode(resp["access_token"], API_SECRET, algorithms=["HS256"])
    assert claims["user_id"] == user["id"]
    assert _get(client, user["id"])["role"] == "guest"
    # The token works for the guest.
    assert_success(raw.get("/users", token=resp["access_token"], params={"payload": "{}"}), 200)


def test_guest_never_takes_over_an_existing_user(client: StreamChat) -> None:
    [existing] = make_users(client, 1, role="admin")
    resp = client.set_guest_user({"id": existing})
    assert resp["user"]["id"] != existing
    assert resp["user"]["role"] == "guest"
    assert jwt.decode(resp["access_token"], API_SECRET,
                      algorithms=["HS256"])["user_id"] == resp["user"]["id"]
    assert _get(client, existing)["role"] == "admin"


def test_client_side_user_cannot_change_own_role(client: StreamChat, raw: Raw) -> None:
    [user] = make_users(client, 1)
    resp = raw.request("PATCH", "/users", token=user_token(user, iat=int(time.time())),
                       json={"users": [{"id": user, "set": {"role": "admin"}}]})
    assert resp.status_code == 403 and resp.json()["code"] == 17
    assert _get(client, user)["role"] == "user"


def test_query_users_pages_skip_deleted_and_deactivated(client: StreamChat) -> None:
    tribe = uid("tribe")
    ids = [f"{tribe}-{n}" for n in range(5)]
    client.upsert_users([{"id": i, "tribe": tribe, "rank": n} for n, i in enumerate(ids)])
    client.delete_user(ids[0])
    client.deactivate_user(ids[1])
    # Deleted and (by default) deactivated users are not part of the result, so a page is
    # full as long as there are enough other users.
    page = _ids(client.query_users({"tribe": tribe}, {"rank": 1}, limit=2))
    assert page == ids[2:4]
    assert _ids(client.query_users({"tribe": tribe}, {"rank": 1})) == ids[2:]
    with_deactivated = client.query_users({"tribe": tribe}, {"rank": 1},
                                          include_deactivated_users=True)
    assert _ids(with_deactivated) == ids[1:]
    client.reactivate_user(ids[1])
    assert _ids(client.query_users({"tribe": tribe}, {"rank": 1}, limit=2)) == ids[1:3]
