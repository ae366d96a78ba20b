"""Hostile input over the wire: every bad request gets Stream's error body, never a 500."""

from __future__ import annotations

import httpx
import pytest
from stream_chat import StreamChat

from tests.conftest import Server, uid


def _post(server: Server, client: StreamChat, path: str, content: bytes,
          method: str = "POST") -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", params={"api_key": str(server.api_key)},
                         headers={"Authorization": client.auth_token, "stream-auth-type": "jwt",
                                  "Content-Type": "application/json"}, content=content)


def _assert_error(response: httpx.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["StatusCode"] == status
    assert {"message", "duration", "more_info", "details"} <= set(body)


@pytest.mark.parametrize("content", [
    b"\xff\xfe{\"users\": {}}",            # invalid UTF-8
    b'{"users": {"a": {"id": "a"}}',        # truncated
    b"[1, 2, 3]",                           # not an object
    b'"just a string"',
    b"null",
    b'{"users": {"a": {"id": "a", "n": NaN}}}',
])
def test_malformed_bodies_are_400_code_4(client: StreamChat, server: Server,
                                         content: bytes) -> None:
    _assert_error(_post(server, client, "/users", content), 400, 4)


def test_deep_nesting_is_refused(client: StreamChat, server: Server) -> None:
    nested = b'{"users": {"a": {"id": "a", "x": ' + b"[" * 100 + b"]" * 100 + b"}}}"
    _assert_error(_post(server, client, "/users", nested), 400, 4)


@pytest.mark.parametrize("user_id", ["x" * 65, "has space", "semi;colon", "slash/id", "ünï"])
def test_bad_user_ids_are_refused(client: StreamChat, server: Server, user_id: str) -> None:
    body = httpx.Request("POST", "/", json={"users": {user_id: {"id": user_id}}}).content
    _assert_error(_post(server, client, "/users", body), 400, 4)


@pytest.mark.parametrize("channel_id", ["x" * 65, "a:b", "white space"])
def test_bad_channel_ids_are_refused(client: StreamChat, server: Server,
                                     channel_id: str) -> None:
    owner = uid("owner")
    client.upsert_user({"id": owner})
    body = httpx.Request("POST", "/", json={"data": {"created_by_id": owner}}).content
    response = _post(server, client, f"/channels/messaging/{httpx.URL(channel_id)}/query", body)
    assert response.status_code in (400, 404)
    assert response.json()["code"] in (4, 16)


def test_more_than_100_members_per_call_is_refused(client: StreamChat, server: Server) -> None:
    owner = uid("owner")
    client.upsert_user({"id": owner})
    members = [f"m{i}" for i in range(101)]
    body = httpx.Request("POST", "/", json={"data": {"created_by_id": owner,
                                                     "members": members}}).content
    _assert_error(_post(server, client, f"/channels/messaging/{uid('big')}/query", body), 400, 4)


def test_custom_data_over_5_kib_is_refused(client: StreamChat, server: Server) -> None:
    user_id = uid("fat")
    body = httpx.Request("POST", "/", json={"users": {user_id: {
        "id": user_id, "bio": "x" * 6000}}}).content
    _assert_error(_post(server, client, "/users", body), 413, 22)
    owner = uid("owner")
    client.upsert_user({"id": owner})
    body = httpx.Request("POST", "/", json={"data": {"created_by_id": owner,
                                                     "blob": "y" * 6000}}).content
    _assert_error(_post(server, client, f"/channels/messaging/{uid('c')}/query", body), 413, 22)


@pytest.mark.parametrize("body", [
    {"event": "not an object"},
    {"event": {"type": 42}},
    {"event": {"type": ["a"]}},
    {"event": {}},
    {},
])
def test_malformed_events_are_400(client: StreamChat, server: Server, body: dict) -> None:
    alice = uid("alice")
    client.upsert_user({"id": alice})
    client.channel("messaging", alice, {"members": [alice]}).create(alice)
    content = httpx.Request("POST", "/", json=body).content
    _assert_error(_post(server, client, f"/channels/messaging/{alice}/event", content), 400, 4)
    _assert_error(_post(server, client, f"/users/{alice}/event", content), 400, 4)


def test_client_cannot_escalate_role_or_touch_other_users(client: StreamChat,
                                                          server: Server) -> None:
    alice, bob = uid("alice"), uid("bob")
    client.upsert_users([{"id": alice}, {"id": bob}])
    headers = {"Authorization": client.create_token(alice), "stream-auth-type": "jwt"}
    params = {"api_key": str(server.api_key)}
    own_role = httpx.patch(f"{server.url}/users", params=params, headers=headers,
                           json={"users": [{"id": alice, "set": {"role": "admin"}}]})
    _assert_error(own_role, 403, 17)
    other = httpx.post(f"{server.url}/users", params=params, headers=headers,
                       json={"users": {bob: {"id": bob, "name": "pwned"}}})
    _assert_error(other, 403, 17)
    own_name = httpx.patch(f"{server.url}/users", params=params, headers=headers,
                           json={"users": [{"id": alice, "set": {"name": "Alice"}}]})
    assert own_name.status_code == 200
    stored = client.query_users({"id": {"$in": [alice, bob]}})["users"]
    assert {u["id"]: (u["role"], u.get("name")) for u in stored} == {
        alice: ("user", "Alice"), bob: ("user", None)}
