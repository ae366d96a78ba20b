"""Channel types over the official Python SDK: built-ins and their defaults, create, get, list,
partial update, commands as names or objects, delete."""

from __future__ import annotations

import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.api.conftest import make_users, sdk_error, uid

BUILTINS = ("messaging", "livestream", "team", "gaming", "commerce")
COMMAND_KEYS = {"name", "description", "args", "set"}


def _names(commands: list[dict]) -> list[str]:
    assert all(isinstance(c, dict) and COMMAND_KEYS <= set(c) for c in commands), commands
    return [c["name"] for c in commands]


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_type_has_custom_events_and_documented_shape(client: StreamChat,
                                                             name: str) -> None:
    resp = client.get_channel_type(name)
    assert resp.status_code() == 200
    assert resp["name"] == name
    assert resp["custom_events"] is True
    assert "permissions" in resp
    assert isinstance(resp["grants"], dict) and resp["grants"]
    assert resp["max_message_length"] == 5000
    assert resp["message_retention"] == "infinite"
    assert resp["created_at"] and resp["updated_at"]
    # GET shows commands as objects.
    assert "giphy" in _names(resp["commands"])


def test_builtin_defaults_differ_where_documented(client: StreamChat) -> None:
    messaging = client.get_channel_type("messaging")
    livestream = client.get_channel_type("livestream")
    assert messaging["typing_events"] is True and messaging["read_events"] is True
    assert messaging["connect_events"] is True and messaging["reactions"] is True
    # Livestream: no typing or read events.
    assert livestream["typing_events"] is False and livestream["read_events"] is False
    # Everyone may read a livestream; a plain user needs ownership to read a messaging channel.
    assert "read-channel" in livestream["grants"]["user"]
    assert "read-channel" not in messaging["grants"]["user"]


def test_list_channel_types(client: StreamChat) -> None:
    resp = client.list_channel_types()
    types = resp["channel_types"]
    assert isinstance(types, dict)
    assert set(BUILTINS) <= set(types)
    for name in BUILTINS:
        assert types[name]["name"] == name
        assert types[name]["custom_events"] is True
        assert "grants" in types[name]


def test_create_custom_type_with_defaults(client: StreamChat) -> None:
    name = uid("type")
    resp = client.create_channel_type({"name": name})
    assert resp.status_code() == 201
    assert resp["name"] == name
    assert resp["custom_events"] is True
    assert resp["typing_events"] is True
    # The SDK sent commands ["all"]: the create response lists names, "all" expanded.
    assert all(isinstance(c, str) for c in resp["commands"])
    assert {"giphy", "ban", "unban", "mute", "unmute"} <= set(resp["commands"])
    assert "all" not in resp["commands"]
    assert "permissions" in resp
    # A custom type gets the messaging grants by default.
    assert resp["grants"] == client.get_channel_type("messaging")["grants"]
    assert name in client.list_channel_types()["channel_types"]
    fetched = client.get_channel_type(name)
    assert set(_names(fetched["commands"])) == set(resp["commands"])


def test_create_type_with_settings(client: StreamChat) -> None:
    name = uid("type")
    resp = client.create_channel_type({"name": name, "typing_events": False,
                                       "custom_events": False, "max_message_length": 1234,
                                       "commands": ["giphy"]})
    assert resp["typing_events"] is False
    assert resp["custom_events"] is False
    assert resp["max_message_length"] == 1234
    assert resp["commands"] == ["giphy"]
    fetched = client.get_channel_type(name)
    assert (fetched["typing_events"], fetched["custom_events"]) == (False, False)
    assert _names(fetched["commands"]) == ["giphy"]


def test_create_duplicate_or_invalid_type_is_refused(client: StreamChat) -> None:
    with pytest.raises(StreamAPIException) as excinfo:
        client.create_channel_type({"name": "messaging"})
    sdk_error(excinfo, 400, 4)
    with pytest.raises(StreamAPIException) as excinfo:
        client.create_channel_type({"name": "has space"})
    sdk_error(excinfo, 400, 4)
    with pytest.raises(StreamAPIException) as excinfo:
        client.create_channel_type({"name": uid("type"), "no_such_setting": True})
    sdk_error(excinfo, 400, 4)
    with pytest.raises(StreamAPIException) as excinfo:
        client.create_channel_type({"name": uid("type"), "max_message_length": 50000})
    sdk_error(excinfo, 400, 4)


def test_update_is_partial(client: StreamChat) -> None:
    name = uid("type")
    client.create_channel_type({"name": name, "max_message_length": 777, "replies": False})
    resp = client.update_channel_type(name, typing_events=False)
    assert resp["typing_events"] is False
    # Everything not named keeps its value.
    assert resp["max_message_length"] == 777
    assert resp["replies"] is False
    assert resp["custom_events"] is True
    assert resp["read_events"] is True
    fetched = client.get_channel_type(name)
    assert (fetched["typing_events"], fetched["max_message_length"], fetched["replies"]) == \
        (False, 777, False)
    # An empty update changes nothing.
    again = client.update_channel_type(name)
    assert again["max_message_length"] == 777 and again["typing_events"] is False


def test_update_commands_names_in_put_objects_in_get(client: StreamChat) -> None:
    name = uid("type")
    client.create_channel_type({"name": name})
    resp = client.update_channel_type(name, commands=["ban", "unban"])
    assert resp["commands"] == ["ban", "unban"]
    fetched = client.get_channel_type(name)
    assert _names(fetched["commands"]) == ["ban", "unban"]
    ban = fetched["commands"][0]
    assert ban["description"] and ban["set"] == "moderation_set"
    listed = client.list_channel_types()["channel_types"][name]
    assert _names(listed["commands"]) == ["ban", "unban"]
    resp = client.update_channel_type(name, commands=["all"])
    assert set(resp["commands"]) == {"giphy", "ban", "unban", "mute", "unmute"}


def test_update_grants_merges_per_role(client: StreamChat) -> None:
    name = uid("type")
    created = client.create_channel_type({"name": name})
    resp = client.update_channel_type(name, grants={"user": ["read-channel"]})
    assert resp["grants"]["user"] == ["read-channel"]
    # Roles not named keep their grants.
    assert resp["grants"]["admin"] == created["grants"]["admin"]
    assert client.get_channel_type(name)["grants"]["user"] == ["read-channel"]


def test_custom_events_can_be_switched_off_and_on(client: StreamChat) -> None:
    name = uid("type")
    client.create_channel_type({"name": name})
    assert client.update_channel_type(name, custom_events=False)["custom_events"] is False
    assert client.get_channel_type(name)["custom_events"] is False
    assert client.update_channel_type(name, custom_events=True)["custom_events"] is True


def test_update_wrong_types_are_refused(client: StreamChat) -> None:
    for settings in ({"typing_events": "no"}, {"max_message_length": True},
                     {"commands": "giphy"}, {"grants": {"no-such-role": ["read-channel"]}}):
        with pytest.raises(StreamAPIException) as excinfo:
            client.update_channel_type("messaging", **settings)
        sdk_error(excinfo, 400, 4)
    assert client.get_channel_type("messaging")["typing_events"] is True


def test_delete_refused_while_channels_exist(client: StreamChat) -> None:
    name = uid("type")
    client.create_channel_type({"name": name})
    [user] = make_users(client, 1)
    channel = client.channel(name, uid("ch"))
    channel.create(user)
    with pytest.raises(StreamAPIException) as excinfo:
        client.delete_channel_type(name)
    sdk_error(excinfo, 400, 4)
    assert client.get_channel_type(name)["name"] == name
    channel.delete(hard=True)
    resp = client.delete_channel_type(name)
    assert resp["duration"].endswith("ms")
    with pytest.raises(StreamAPIException) as excinfo:
        client.get_channel_type(name)
    sdk_error(excinfo, 404, 16)
    assert name not in client.list_channel_types()["channel_types"]
    # Channels of a deleted type cannot be created.
    with pytest.raises(StreamAPIException) as excinfo:
        client.channel(name, uid("ch")).create(user)
    sdk_error(excinfo, 404, 16)
