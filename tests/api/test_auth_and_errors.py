"""Authentication and Stream's error body over raw HTTP: bad tokens, wrong keys, bad bodies,
unknown routes and methods, missing resources, oversized bodies, and the response envelope."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from stream_chat import StreamChat

from tests.api.conftest import (
    API_KEY,
    API_SECRET,
    Raw,
    assert_error,
    assert_rate_limit_headers,
    assert_success,
    make_users,
    sdk_client,
    server_token,
    uid,
    user_token,
)
from tests.conftest import Server, start_server


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _query_users(raw: Raw, token: Any, user_id: str = "nobody") -> httpx.Response:
    payload = json.dumps({"filter_conditions": {"id": {"$eq": user_id}}})
    return raw.get("/users", token=token, params={"payload": payload})


# tokens -----------------------------------------------------------------------------------


def test_valid_user_token_is_accepted(raw: Raw, client: StreamChat) -> None:
    [user] = make_users(client, 1)
    body = assert_success(_query_users(raw, user_token(user), user), 200)
    assert [u["id"] for u in body["users"]] == [user]


def test_server_token_from_sdk_is_accepted(raw: Raw) -> None:
    body = assert_success(raw.get("/app"), 200)
    assert set(body) == {"app", "duration"}


def test_expired_token_is_refused_with_code_40(raw: Raw) -> None:
    body = assert_error(_query_users(raw, user_token("alice", exp=int(time.time()) - 60)), 401, 40)
    assert "expired" in body["message"]


def test_token_not_valid_yet_is_refused_with_code_41(raw: Raw) -> None:
    token = user_token("alice", nbf=int(time.time()) + 3600)
    assert_error(_query_users(raw, token), 401, 41)


def test_wrong_secret_is_refused_with_code_43(raw: Raw) -> None:
    body = assert_error(_query_users(raw, user_token("alice", secret="not-the-secret" * 4)), 401, 43)
    assert API_KEY in body["message"]
    assert_error(raw.get("/app", token=server_token("not-the-secret" * 4)), 401, 43)


def test_tampered_payload_is_refused(raw: Raw) -> None:
    header, _, signature = user_token("alice").split(".")
    forged = ".".join([header, _b64({"server": True}), signature])
    assert_error(raw.get("/app", token=forged), 401, 43)


def test_alg_none_is_refused(raw: Raw) -> None:
    for claims in ({"server": True}, {"user_id": "alice"}):
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        resp = raw.get("/app", token=token)
        assert resp.status_code == 401, resp.text
        assert resp.json()["code"] in (5, 43), resp.text
        assert_error(resp, 401, resp.json()["code"])


def test_garbage_and_missing_tokens_are_refused(raw: Raw) -> None:
    assert_error(raw.get("/app", token="not-a-jwt"), 401, 5)
    assert_error(raw.get("/app", token=None), 401, 5)
    # A JWT with neither server nor user_id says nothing about who is calling.
    assert_error(raw.get("/app", token=jwt.encode({"foo": 1}, API_SECRET, "HS256")), 401, 5)


def test_unknown_or_missing_api_key_is_refused_with_code_2(raw: Raw) -> None:
    body = assert_error(raw.get("/app", api_key="no-such-key"), 401, 2)
    assert "no-such-key" in body["message"]
    assert_error(raw.get("/app", api_key=None), 401, 2)
    # The key is checked before anything else: even a bad token reports the key.
    assert_error(raw.get("/app", api_key="no-such-key", token="garbage"), 401, 2)
    assert_error(raw.post("/users", api_key="no-such-key", content=b"{bad json"), 401, 2)


def test_sdk_with_wrong_secret_gets_401(server: Server) -> None:
    from stream_chat.base.exceptions import StreamAPIException

    bad = StreamChat(api_key=API_KEY, api_secret="wrong-secret-" * 4, base_url=server.url)
    with pytest.raises(StreamAPIException) as excinfo:
        bad.get_app_settings()
    assert excinfo.value.status_code == 401
    assert excinfo.value.error_code == 43
    bad_key = StreamChat(api_key="nope", api_secret=API_SECRET, base_url=server.url)
    with pytest.raises(StreamAPIException) as excinfo:
        bad_key.get_app_settings()
    assert (excinfo.value.status_code, excinfo.value.error_code) == (401, 2)


def test_user_token_is_refused_on_server_only_endpoints(raw: Raw) -> None:
    body = assert_error(raw.get("/app", token=user_token("alice")), 403, 17)
    assert body["message"].startswith("GetApp failed with error:")
    assert_error(raw.request("PATCH", "/app", token=user_token("alice"), json={}), 403, 17)


def test_user_level_revocation_refuses_older_tokens_with_code_42(raw: Raw,
                                                                 client: StreamChat) -> None:
    alice, bob = make_users(client, 2)
    now = int(time.time())
    client.revoke_user_token(alice, datetime.now(UTC) - timedelta(seconds=60))
    stored = client.query_users({"id": alice})["users"][0]
    assert "revoke_tokens_issued_before" in stored
    assert_error(_query_users(raw, user_token(alice, iat=now - 3600)), 401, 42)
    # With a user-level cut-off, a token without iat cannot prove its age.
    assert_error(_query_users(raw, user_token(alice)), 401, 42)
    assert_success(_query_users(raw, user_token(alice, iat=now)), 200)
    # Other users are not affected.
    assert_success(_query_users(raw, user_token(bob, iat=now - 3600)), 200)
    assert_success(_query_users(raw, user_token(bob)), 200)
    # Unsetting the cut-off lets old tokens in again.
    client.update_user_partial({"id": alice, "unset": ["revoke_tokens_issued_before"]})
    assert_success(_query_users(raw, user_token(alice, iat=now - 3600)), 200)


def test_app_level_revocation_refuses_older_tokens_with_code_42(
        settings_server: Server) -> None:
    client = sdk_client(settings_server)
    raw = Raw(settings_server)
    [alice] = make_users(client, 1)
    now = int(time.time())
    assert_success(_query_users(raw, user_token(alice, iat=now - 3600)), 200)
    client.revoke_tokens(datetime.now(UTC) - timedelta(seconds=60))
    assert client.get_app_settings()["app"]["revoke_tokens_issued_before"]
    assert_error(_query_users(raw, user_token(alice, iat=now - 3600)), 401, 42)
    assert_success(_query_users(raw, user_token(alice, iat=now)), 200)
    # The SDK's own server token (no iat) keeps working.
    assert client.get_app_settings().status_code() == 200
    client.update_app_settings(revoke_tokens_issued_before=None)
    assert_success(_query_users(raw, user_token(alice, iat=now - 3600)), 200)
    raw.close()


def _dev_token(user_id: str) -> str:
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64({'user_id': user_id})}.devtoken"


def test_dev_token_needs_disable_auth_checks(settings_server: Server) -> None:
    client = sdk_client(settings_server)
    raw = Raw(settings_server)
    [alice] = make_users(client, 1)
    assert_error(_query_users(raw, _dev_token(alice), alice), 401, 43)
    client.update_app_settings(disable_auth_checks=True)
    body = assert_success(_query_users(raw, _dev_token(alice), alice), 200)
    assert [u["id"] for u in body["users"]] == [alice]
    # Dev tokens never make anyone a server-side caller.
    dev_server = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64({'server': True})}.devtoken"
    resp = raw.get("/app", token=dev_server)
    assert_error(resp, 401, 43)
    client.update_app_settings(disable_auth_checks=False)
    assert_error(_query_users(raw, _dev_token(alice), alice), 401, 43)
    raw.close()


# bodies and routes -------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b'{"users": ', b"\xff\xfe", b"nul"])
def test_malformed_json_is_400_code_4(raw: Raw, body: bytes) -> None:
    resp = raw.post("/users", content=body, headers={"Content-Type": "application/json"})
    error = assert_error(resp, 400, 4)
    assert error["message"].startswith("UpdateUsers failed with error:")


@pytest.mark.parametrize("body", [b"[]", b'"users"', b"42", b"null"])
def test_body_that_is_not_an_object_is_400_code_4(raw: Raw, body: bytes) -> None:
    assert_error(raw.post("/users", content=body), 400, 4)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/users", {"users": "alice"}),
    ("POST", "/users", {"users": {"x": {"id": 5}}}),
    ("POST", "/users", {"users": {"x": "not an object"}}),
    ("POST", "/users", {"users": {"key-a": {"id": "id-b"}}}),
    ("PATCH", "/users", {"users": [{"id": "x", "set": "not an object"}]}),
    ("PATCH", "/users", {"users": {"id": "x"}}),
    ("POST", "/channels", {"filter_conditions": ["not", "an", "object"]}),
    ("POST", "/channels", {"filter_conditions": {}, "limit": "ten"}),
    ("POST", "/channels", {"filter_conditions": {"cid": {"$in": "messaging:x"}}}),
    ("POST", "/channels", {"filter_conditions": {"cid": {"$regex": "x"}}}),
    ("POST", "/channels/messaging/x/query", {"data": {"members": "alice"}}),
    ("POST", "/channels/messaging/x/query", {"data": "not an object"}),
    ("POST", "/channels/messaging/x/query", {"watch": "yes please"}),
    ("POST", "/channels/delete", {"cids": "messaging:x"}),
    ("POST", "/channeltypes", {"name": uid("t"), "typing_events": "yes"}),
    ("POST", "/channeltypes", {"name": uid("t"), "max_message_length": "long"}),
    ("POST", "/channeltypes", {"name": 7}),
    ("PUT", "/channeltypes/messaging", {"commands": "giphy"}),
    ("PUT", "/channeltypes/messaging", {"grants": ["read-channel"]}),
    ("PATCH", "/app", {"disable_auth_checks": "yes"}),
    ("PATCH", "/app", {"event_hooks": "http://example.com"}),
    ("PATCH", "/app", {"revoke_tokens_issued_before": "yesterday"}),
    ("POST", "/roles", {"name": ["admin"]}),
    ("POST", "/roles", {}),
    ("POST", "/users/delete", {"user_ids": "alice", "user": "hard"}),
    ("POST", "/users/delete", {"user_ids": ["alice"], "user": "obliterate"}),
    ("POST", "/guest", {"user": "guest"}),
])
def test_wrong_field_types_are_400_code_4(raw: Raw, method: str, path: str,
                                          body: dict[str, Any]) -> None:
    assert_error(raw.request(method, path, json=body), 400, 4)


@pytest.mark.parametrize("payload", ["{bad json", "[1, 2]", '{"filter_conditions": 3}',
                                     '{"filter_conditions": {}, "limit": "x"}'])
def test_bad_query_payload_is_400_code_4(raw: Raw, payload: str) -> None:
    assert_error(raw.get("/users", params={"payload": payload}), 400, 4)
    assert_error(raw.get("/members", params={"payload": payload}), 400, 4)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/no/such/route"), ("POST", "/nothing-here"), ("GET", "/channels/messaging/x/y/z"),
    ("DELETE", "/"),
])
def test_unknown_route_is_404(raw: Raw, method: str, path: str) -> None:
    resp = raw.request(method, path)
    body = assert_error(resp, 404, resp.json().get("code"))
    assert body["code"] == 16


def test_unknown_route_is_404_even_without_credentials(raw: Raw) -> None:
    resp = raw.get("/no/such/route", token=None, api_key=None)
    assert_error(resp, 404, 16)


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/users"), ("DELETE", "/app"), ("POST", "/app"), ("PATCH", "/channeltypes"),
    ("GET", "/channels/messaging/x"), ("PUT", "/roles"), ("POST", "/permissions/read-channel"),
    ("GET", "/users/delete"),
])
def test_wrong_method_is_405(raw: Raw, method: str, path: str) -> None:
    resp = raw.request(method, path, json={})
    assert_error(resp, 405, 4)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/channeltypes/no-such-type", None),
    ("PUT", "/channeltypes/no-such-type", {"typing_events": False}),
    ("DELETE", "/channeltypes/no-such-type", None),
    ("POST", "/channels/no-such-type/x/query", {"data": {"created_by_id": "x"}}),
    ("POST", "/channels/messaging/no-such-channel", {"data": {"a": 1}}),
    ("PATCH", "/channels/messaging/no-such-channel", {"set": {"a": 1}}),
    ("DELETE", "/channels/messaging/no-such-channel", None),
    ("PATCH", "/users", {"users": [{"id": "no-such-user", "set": {"a": 1}}]}),
    ("DELETE", "/users/no-such-user", None),
    ("POST", "/users/no-such-user/deactivate", {}),
    ("POST", "/users/no-such-user/reactivate", {}),
    ("POST", "/users/restore", {"user_ids": ["no-such-user"]}),
    ("GET", "/tasks/no-such-task", None),
    ("GET", "/permissions/no-such-permission", None),
    ("DELETE", "/roles/no-such-role", None),
])
def test_missing_resources_are_404_code_16(raw: Raw, method: str, path: str,
                                           body: dict[str, Any] | None) -> None:
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    assert_error(raw.request(method, path, **kwargs), 404, 16)


def test_query_members_of_missing_channel_is_404(raw: Raw) -> None:
    payload = json.dumps({"type": "messaging", "id": "no-such-channel", "filter_conditions": {}})
    assert_error(raw.get("/members", params={"payload": payload}), 404, 16)


def test_body_over_default_limit_is_413_code_22(raw: Raw) -> None:
    big = {"users": {"x": {"id": "x", "blob": "a" * (1024 * 1024 + 10)}}}
    body = assert_error(raw.post("/users", json=big), 413, 22)
    assert "1048576" in body["message"]


@pytest.fixture(scope="module")
def small_body_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    srv = start_server(tmp_path_factory.mktemp("small"), env={"HUBBUB_MAX_BODY_BYTES": "2048"})
    yield srv
    srv.stop()


def test_body_limit_is_configurable(small_body_server: Server) -> None:
    raw = Raw(small_body_server)
    user = uid()
    fits = {"users": {user: {"id": user, "blob": "a" * 1500}}}
    assert_success(raw.post("/users", json=fits), 201)
    too_big = {"users": {user: {"id": user, "blob": "a" * 2100}}}
    assert_error(raw.post("/users", json=too_big), 413, 22)

    def chunks() -> Any:  # no Content-Length: the limit holds for chunked bodies too
        yield b'{"users": {"x": {"id": "x", "blob": "'
        for _ in range(10):
            yield b"a" * 500
        yield b'"}}}'

    assert_error(raw.post("/users", content=chunks()), 413, 22)
    # The server is still healthy afterwards.
    assert_success(raw.get("/app"), 200)
    raw.close()


GARBAGE = [b"", b"{}", b"[]", b"null", b'{"data": null}', b'{"users": null}',
           b'{"filter_conditions": null, "sort": "x"}', b'{"user": {"id": ""}}',
           b'{"set": [], "unset": {}}', b'{"add_members": [{"user_id": null}]}',
           b'{"name": "", "grants": {"x": 5}}', b'{"event_hooks": [1, 2]}']
ROUTES = [("POST", "/users"), ("PATCH", "/users"), ("POST", "/users/delete"),
          ("POST", "/users/restore"), ("POST", "/guest"), ("POST", "/channeltypes"),
          ("PUT", "/channeltypes/messaging"), ("POST", "/channels"),
          ("POST", "/channels/messaging/query"), ("POST", "/channels/messaging/zz/query"),
          ("POST", "/channels/messaging/zz"), ("PATCH", "/channels/messaging/zz"),
          ("POST", "/channels/delete"), ("PATCH", "/app"), ("POST", "/roles"),
          ("POST", "/users/zz/deactivate")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_client_mistakes_never_yield_500(raw: Raw, method: str, path: str) -> None:
    for body in GARBAGE:
        if path == "/channeltypes/messaging" and body == b"{}":
            continue  # an empty update is valid; nothing changes
        resp = raw.request(method, path, content=body)
        assert resp.status_code < 500, (method, path, body, resp.text)
        if resp.status_code >= 400:
            assert_error(resp, resp.status_code, resp.json()["code"])


def test_empty_app_update_succeeds(raw: Raw) -> None:
    body = assert_success(raw.request("PATCH", "/app", json={}), 200)
    assert set(body) == {"duration"}


# the response envelope --------------------------------------------------------------------


def test_get_app_is_exactly_app_and_duration(client: StreamChat) -> None:
    resp = client.get_app_settings()
    assert resp.status_code() == 200
    assert set(resp) == {"app", "duration"}
    assert len(resp) == 2
    assert resp["duration"].endswith("ms")
    rate = resp.rate_limit()
    assert rate is not None and rate.limit > 0 and 0 <= rate.remaining <= rate.limit
    assert rate.reset.timestamp() > time.time() - 1


def test_every_success_body_has_duration_and_stream_status(raw: Raw,
                                                            client: StreamChat) -> None:
    [user] = make_users(client, 1)
    ch = uid("ch")
    client.channel("messaging", ch).create(user)
    calls = [
        ("GET", "/app", None), ("PATCH", "/app", {}), ("GET", "/hi", None),
        ("GET", "/channeltypes", None), ("GET", "/channeltypes/messaging", None),
        ("PUT", "/channeltypes/messaging", {}),
        ("GET", "/users", None), ("POST", "/users", {"users": {user: {"id": user}}}),
        ("PATCH", "/users", {"users": [{"id": user, "set": {"x": 1}}]}),
        ("POST", "/channels", {"filter_conditions": {"cid": f"messaging:{ch}"}}),
        ("POST", f"/channels/messaging/{ch}/query", {}),
        ("POST", f"/channels/messaging/{ch}", {"add_members": [user]}),
        ("PATCH", f"/channels/messaging/{ch}", {"set": {"y": 2}}),
        ("GET", "/permissions", None), ("GET", "/permissions/read-channel", None),
        ("GET", "/roles", None), ("GET", "/rate_limits", None),
        ("POST", "/guest", {"user": {"id": uid("guest")}}), ("GET", "/members", None),
        ("POST", "/channels/delete", {"cids": [f"messaging:{uid('gone')}"]}),
    ]
    for method, path, body in calls:
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        params = {"payload": json.dumps({"type": "messaging", "id": ch})} \
            if path == "/members" else None
        resp = raw.request(method, path, params=params, **kwargs)
        # Stream's statuses: POST and PUT answer 201, GET, PATCH and DELETE 200.
        assert_success(resp, 201 if method in ("POST", "PUT") else 200)


def test_rate_limit_headers_on_every_response(raw: Raw) -> None:
    responses = [raw.get("/app"), raw.get("/hi"), raw.get("/no/such/route"),
                 raw.request("DELETE", "/app"), raw.get("/app", api_key="wrong"),
                 raw.get("/app", token="bad"), raw.post("/users", content=b"{x"),
                 raw.get("/channeltypes/nope"), raw.get("/healthz"), raw.get("/openapi.json")]
    for resp in responses:
        assert_rate_limit_headers(resp)
        # Browsers may read every answer, errors included.
        assert resp.headers["access-control-allow-origin"] == "*", resp.request.url
    first, second = (int(raw.get("/channeltypes").headers["x-ratelimit-remaining"])
                     for _ in range(2))
    assert second < first or second == 0


def test_hi_answers_200(raw: Raw) -> None:
    resp = raw.get("/hi", token=None, auth_type="anonymous")
    assert resp.status_code == 200
    assert isinstance(resp.json(), dict)


def test_cors_preflight(raw: Raw) -> None:
    resp = raw.request("OPTIONS", "/channels/messaging/x/query", token=None,
                       headers={"Origin": "http://example.com",
                                "Access-Control-Request-Method": "POST"})
    assert resp.status_code in (200, 204)
    assert resp.headers["access-control-allow-origin"] == "*"
    allowed = resp.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "stream-auth-type", "x-stream-client", "content-type"):
        assert header in allowed
