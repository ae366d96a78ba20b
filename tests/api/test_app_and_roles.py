"""App settings, permissions, roles and rate limits over the official Python SDK."""

from __future__ import annotations

import time

import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.api.conftest import make_users, sdk_client, sdk_error, uid
from tests.conftest import Server

BUILTINS = ("messaging", "livestream", "team", "gaming", "commerce")

EVENT_HOOKS = [
    {"enabled": True, "hook_type": "webhook", "webhook_url": "http://127.0.0.1:9/webhook",
     "event_types": ["message.new", "message.updated"]},
    {"enabled": True, "hook_type": "sqs", "sqs_queue_url": "https://sqs.example/queue",
     "sqs_region": "us-east-1", "sqs_auth_type": "keys", "sqs_key": "key",
     "sqs_secret": "secret", "event_types": ["message.new"]},
    {"enabled": True, "hook_type": "pending_message", "webhook_url": "http://127.0.0.1:9/pm",
     "timeout_ms": 10000, "callback": {"mode": "CALLBACK_MODE_REST"}},
]


def test_get_app_settings(client: StreamChat) -> None:
    resp = client.get_app_settings()
    assert resp.status_code() == 200
    assert set(resp) == {"app", "duration"}
    app = resp["app"]
    assert app["permission_version"] == "v2"
    assert app["disable_auth_checks"] is False
    assert isinstance(app["event_hooks"], list)
    assert set(BUILTINS) <= set(app["channel_configs"])
    for name in BUILTINS:
        assert app["channel_configs"][name]["custom_events"] is True
    assert ".app" in app["grants"]
    assert set(BUILTINS) <= set(app["grants"])
    assert "api_secret" not in app and "api_key" not in app


def test_update_app_settings_round_trips(settings_server: Server) -> None:
    client = sdk_client(settings_server)
    resp = client.update_app_settings(event_hooks=EVENT_HOOKS)
    assert set(resp) == {"duration"}
    hooks = client.get_app_settings()["app"]["event_hooks"]
    assert len(hooks) == 3
    assert [h["hook_type"] for h in hooks] == ["webhook", "sqs", "pending_message"]
    assert hooks[0]["webhook_url"] == "http://127.0.0.1:9/webhook"
    assert hooks[0]["event_types"] == ["message.new", "message.updated"]
    assert hooks[2]["timeout_ms"] == 10000
    assert all(h.get("id") for h in hooks)
    client.update_app_settings(event_hooks=[])
    assert client.get_app_settings()["app"]["event_hooks"] == []

    client.update_app_settings(webhook_url="http://127.0.0.1:9/hook",
                               webhook_events=["my_event"], guest_user_creation_disabled=True,
                               enforce_unique_usernames="app")
    app = client.get_app_settings()["app"]
    assert app["webhook_url"] == "http://127.0.0.1:9/hook"
    assert app["webhook_events"] == ["my_event"]
    assert app["guest_user_creation_disabled"] is True
    assert app["enforce_unique_usernames"] == "app"
    # An empty update changes nothing.
    client.update_app_settings()
    assert client.get_app_settings()["app"]["webhook_url"] == "http://127.0.0.1:9/hook"
    # With guests disabled, set_guest_user is refused.
    with pytest.raises(StreamAPIException) as excinfo:
        client.set_guest_user({"id": uid("guest")})
    sdk_error(excinfo, 403, 17)


def test_update_app_settings_wrong_types(client: StreamChat) -> None:
    for settings in ({"disable_auth_checks": "true"}, {"event_hooks": {"a": 1}},
                     {"webhook_events": "message.new"}, {"enforce_unique_usernames": "yes"},
                     {"grants": ["read-channel"]}):
        with pytest.raises(StreamAPIException) as excinfo:
            client.update_app_settings(**settings)
        sdk_error(excinfo, 400, 4)
    assert client.get_app_settings()["app"]["disable_auth_checks"] is False


def test_list_and_get_permissions(client: StreamChat) -> None:
    resp = client.list_permissions()
    permissions = resp["permissions"]
    by_id = {p["id"]: p for p in permissions}
    for wanted in ("send-custom-event", "read-channel", "create-channel",
                   "update-channel-members"):
        assert wanted in by_id, wanted
    for p in permissions:
        assert {"id", "name", "description", "action", "owner", "same_team", "custom",
                "level", "tags", "condition"} <= set(p), p
    assert by_id["send-custom-event"]["action"] == "SendCustomEvent"
    one = client.get_permission("send-custom-event")
    assert one["permission"] == by_id["send-custom-event"]
    with pytest.raises(StreamAPIException) as excinfo:
        client.get_permission("no-such-permission")
    sdk_error(excinfo, 404, 16)


def _role_names(client: StreamChat) -> dict[str, bool]:
    return {r["name"]: r["custom"] for r in client.list_roles()["roles"]}


def test_builtin_roles_are_listed(client: StreamChat) -> None:
    roles = _role_names(client)
    for name in ("admin", "moderator", "user", "guest", "anonymous", "channel_member",
                 "channel_moderator"):
        assert roles.get(name) is False, name


def test_create_list_delete_role(client: StreamChat) -> None:
    name = uid("role")
    resp = client.create_role(name)
    assert resp.status_code() == 201
    assert resp["role"]["name"] == name and resp["role"]["custom"] is True
    assert _role_names(client)[name] is True
    with pytest.raises(StreamAPIException) as excinfo:
        client.create_role(name)
    sdk_error(excinfo, 400, 4)
    assert set(client.delete_role(name)) == {"duration"}
    assert name not in _role_names(client)
    with pytest.raises(StreamAPIException) as excinfo:
        client.delete_role(name)
    sdk_error(excinfo, 404, 16)


def test_builtin_roles_cannot_be_created_or_deleted(client: StreamChat) -> None:
    for name in ("admin", "channel_member"):
        with pytest.raises(StreamAPIException) as excinfo:
            client.delete_role(name)
        sdk_error(excinfo, 400, 4)
        with pytest.raises(StreamAPIException) as excinfo:
            client.create_role(name)
        sdk_error(excinfo, 400, 4)
    assert _role_names(client)["admin"] is False


def test_role_in_use_cannot_be_deleted(client: StreamChat) -> None:
    name = uid("role")
    client.create_role(name)
    [user] = make_users(client, 1, role=name)
    assert client.query_users({"id": user})["users"][0]["role"] == name
    with pytest.raises(StreamAPIException) as excinfo:
        client.delete_role(name)
    sdk_error(excinfo, 400, 4)
    client.update_user_partial({"id": user, "set": {"role": "user"}})

    # In use as a channel role.
    [owner] = make_users(client, 1)
    channel = client.channel("messaging", uid("ch"), {"members": [owner]})
    channel.create(owner)
    channel.assign_roles([{"user_id": owner, "channel_role": name}])
    with pytest.raises(StreamAPIException) as excinfo:
        client.delete_role(name)
    sdk_error(excinfo, 400, 4)
    channel.assign_roles([{"user_id": owner, "channel_role": "channel_member"}])

    # In use in a channel type's grants.
    type_name = uid("type")
    client.create_channel_type({"name": type_name})
    client.update_channel_type(type_name, grants={name: ["read-channel"]})
    with pytest.raises(StreamAPIException) as excinfo:
        client.delete_role(name)
    sdk_error(excinfo, 400, 4)
    client.delete_channel_type(type_name)

    client.delete_role(name)
    assert name not in _role_names(client)


def test_get_rate_limits(client: StreamChat) -> None:
    everything = client.get_rate_limits()
    assert {"server_side", "web", "android", "ios"} <= set(everything)
    server = client.get_rate_limits(server_side=True)
    assert set(server) == {"server_side", "duration"}
    assert "GetApp" in server["server_side"]
    chosen = client.get_rate_limits(server_side=True, web=True,
                                    endpoints=["GetApp", "QueryChannels"])
    assert set(chosen) == {"server_side", "web", "duration"}
    assert set(chosen["server_side"]) == {"GetApp", "QueryChannels"}
    for info in chosen["server_side"].values():
        assert isinstance(info["limit"], int) and info["limit"] > 0
        assert 0 <= info["remaining"] <= info["limit"]
        assert info["reset"] > time.time() - 1
    before = client.get_rate_limits(server_side=True, endpoints=["GetApp"])["server_side"]
    client.get_app_settings()
    after = client.get_rate_limits(server_side=True, endpoints=["GetApp"])["server_side"]
    if after["GetApp"]["reset"] == before["GetApp"]["reset"]:  # same one-minute window
        assert after["GetApp"]["remaining"] < before["GetApp"]["remaining"]


def test_rate_limit_on_sdk_responses(client: StreamChat) -> None:
    for resp in (client.get_app_settings(), client.list_roles(),
                 client.query_users({"id": "nobody"})):
        info = resp.rate_limit()
        assert info is not None
        assert info.limit > 0 and 0 <= info.remaining <= info.limit
