"""Slash commands over the official Python SDK (issue 16): Stream's built-ins listed and
protected; custom commands created, read, listed, updated, deleted; channel types list them by
name and show them as objects; a command a type uses cannot be deleted."""

from __future__ import annotations

import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.api.conftest import Raw, assert_error, sdk_client, sdk_error, uid, user_token
from tests.conftest import Server

BUILTINS = ["giphy", "ban", "unban", "mute", "unmute"]


def _by_name(commands: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in commands}


def test_builtins_are_listed_and_protected(client: StreamChat) -> None:
    listed = _by_name(client.list_commands()["commands"])
    assert set(BUILTINS) <= set(listed)
    assert listed["giphy"] == {"name": "giphy", "description": "Post a random gif to the channel",
                               "args": "[text]", "set": "fun_set"}
    assert listed["ban"]["set"] == "moderation_set"
    got = client.get_command("mute")
    assert got["name"] == "mute" and got["set"] == "moderation_set"

    for call in (lambda: client.update_command("giphy", description="mine now"),
                 lambda: client.delete_command("ban"),
                 lambda: client.create_command({"name": "unmute", "description": "again"}),
                 lambda: client.create_command({"name": "all", "description": "a group"})):
        with pytest.raises(StreamAPIException) as excinfo:
            call()
        assert "built-in" in sdk_error(excinfo, 400, 4)
    assert client.get_command("giphy")["description"] == "Post a random gif to the channel"


def test_custom_command_lifecycle(client: StreamChat) -> None:
    name = uid("ticket")
    created = client.create_command({"name": name, "description": "Open a ticket",
                                     "args": "[description]", "set": "support_set"})
    command = created["command"]
    assert {k: command[k] for k in ("name", "description", "args", "set")} == {
        "name": name, "description": "Open a ticket", "args": "[description]",
        "set": "support_set"}
    assert command["created_at"] and command["updated_at"]

    with pytest.raises(StreamAPIException) as excinfo:
        client.create_command({"name": name, "description": "twice"})
    assert "already exists" in sdk_error(excinfo, 400, 4)

    got = client.get_command(name)  # Stream answers the fields at the top level
    assert got["name"] == name and got["description"] == "Open a ticket"
    assert got["created_at"] == command["created_at"]
    assert name in _by_name(client.list_commands()["commands"])

    updated = client.update_command(name, description="Open a support ticket")["command"]
    assert updated["description"] == "Open a support ticket"
    assert updated["args"] == "[description]"  # fields not given keep their value
    assert updated["created_at"] == command["created_at"]
    assert client.get_command(name)["description"] == "Open a support ticket"

    deleted = client.delete_command(name)
    assert deleted["name"] == name
    assert name not in _by_name(client.list_commands()["commands"])
    for call in (lambda: client.get_command(name), lambda: client.delete_command(name),
                 lambda: client.update_command(name, description="gone")):
        with pytest.raises(StreamAPIException) as excinfo:
            call()
        sdk_error(excinfo, 404, 16)


@pytest.mark.parametrize("body", [
    {"description": "no name"}, {"name": "no-description"}, {"name": "", "description": "x"},
    {"name": "has space", "description": "x"}, {"name": "x", "description": 5},
])
def test_create_command_checks_its_input(client: StreamChat, body: dict) -> None:
    with pytest.raises(StreamAPIException) as excinfo:
        client.create_command(body)
    sdk_error(excinfo, 400, 4)


def test_commands_are_server_side_only(client: StreamChat, raw: Raw) -> None:
    user = uid("u")
    client.upsert_user({"id": user})
    token = user_token(user)
    assert_error(raw.get("/commands", token=token), 403, 17)
    assert_error(raw.post("/commands", token=token,
                          json={"name": uid("c"), "description": "x"}), 403, 17)


def test_channel_type_assigns_custom_commands_and_shows_their_objects(
        client: StreamChat) -> None:
    name = uid("poll")
    client.create_command({"name": name, "description": "Start a poll", "args": "[question]",
                           "set": "fun_set"})
    type_name = uid("type")
    created = client.create_channel_type({"name": type_name, "commands": ["giphy", name]})
    assert created["commands"] == ["giphy", name]  # create/update name them

    shown = _by_name(client.get_channel_type(type_name)["commands"])  # get shows objects
    assert shown[name]["description"] == "Start a poll"
    assert shown[name]["args"] == "[question]"
    assert shown["giphy"]["description"] == "Post a random gif to the channel"
    listed = client.list_channel_types()["channel_types"][type_name]["commands"]
    assert _by_name(listed)[name]["description"] == "Start a poll"

    # A channel of the type carries the same objects in its config.
    client.upsert_user({"id": "cmd-owner"})
    channel = client.channel(type_name, uid("ch"))
    state = channel.create("cmd-owner")
    assert _by_name(state["channel"]["config"]["commands"])[name]["set"] == "fun_set"
    app_config = client.get_app_settings()["app"]["channel_configs"][type_name]
    assert _by_name(app_config["commands"])[name]["args"] == "[question]"

    # An update of the command shows in the type.
    client.update_command(name, description="Start a quick poll")
    shown = _by_name(client.get_channel_type(type_name)["commands"])
    assert shown[name]["description"] == "Start a quick poll"

    # Groups expand to built-ins; unknown names are refused.
    moderation = client.update_channel_type(type_name, commands=["moderation_set", name])
    assert moderation["commands"] == ["ban", "unban", "mute", "unmute", name]
    with pytest.raises(StreamAPIException) as excinfo:
        client.update_channel_type(type_name, commands=["giphy", uid("nope")])
    assert "do not exist" in sdk_error(excinfo, 400, 4)

    # In use: refused, naming the type; once the type drops it, it can go.
    with pytest.raises(StreamAPIException) as excinfo:
        client.delete_command(name)
    assert type_name in sdk_error(excinfo, 400, 4)
    client.update_channel_type(type_name, commands=["giphy"])
    assert client.delete_command(name)["name"] == name


def test_custom_commands_survive_restart(fresh_server: Server) -> None:
    client = sdk_client(fresh_server)
    name = uid("kept")
    client.create_command({"name": name, "description": "Kept across restarts"})
    type_name = uid("type")
    client.create_channel_type({"name": type_name, "commands": [name]})
    fresh_server.restart()
    assert client.get_command(name)["description"] == "Kept across restarts"
    shown = client.get_channel_type(type_name)["commands"]
    assert shown[0]["name"] == name and shown[0]["description"] == "Kept across restarts"
