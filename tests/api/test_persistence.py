"""Data survives restarts; ``hubbub serve`` makes credentials once; ``hubbub token`` works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from stream_chat import StreamChat

from tests.api.conftest import assert_error, assert_success, sdk_client, uid
from tests.conftest import Server

CREDENTIALS = re.compile(r"API key: (\S+)\s+API secret: (\S+)")


def test_data_survives_restart(fresh_server: Server) -> None:
    client = sdk_client(fresh_server)
    alice, bob = uid("alice"), uid("bob")
    client.upsert_users([{"id": alice, "name": "Alice", "color": "red"},
                         {"id": bob, "role": "moderator"}])
    client.update_user_partial({"id": bob, "set": {"hobby": "chess"}})
    role = uid("role")
    client.create_role(role)
    type_name = uid("type")
    client.create_channel_type({"name": type_name, "typing_events": False,
                                "commands": ["giphy"]})
    client.update_channel_type(type_name, max_message_length=321)
    channel = client.channel(type_name, uid("ch"), {"members": [alice, bob], "topic": "t"})
    channel.create(alice)
    channel.add_moderators([bob])
    distinct = client.channel("messaging", None, {"members": [alice, bob]})
    distinct.create(alice)
    client.update_app_settings(event_hooks=[{"hook_type": "webhook", "enabled": False,
                                             "webhook_url": "http://127.0.0.1:9/x"}],
                               webhook_events=["custom"])
    task_id = client.delete_users([uid("nobody")], "soft")["task_id"]
    soft_deleted = uid("gone")
    client.upsert_user({"id": soft_deleted})
    client.delete_user(soft_deleted)

    fresh_server.restart()
    client = sdk_client(fresh_server)

    users = {u["id"]: u for u in client.query_users({"id": {"$in": [alice, bob]}})["users"]}
    assert users[alice]["name"] == "Alice" and users[alice]["color"] == "red"
    assert users[bob]["role"] == "moderator" and users[bob]["hobby"] == "chess"
    assert client.query_users({"id": soft_deleted})["users"] == []
    client.restore_users([soft_deleted])
    assert [u["id"] for u in client.query_users({"id": soft_deleted})["users"]] == [soft_deleted]

    assert any(r["name"] == role and r["custom"] for r in client.list_roles()["roles"])
    ct = client.get_channel_type(type_name)
    assert ct["typing_events"] is False and ct["max_message_length"] == 321
    assert [c["name"] for c in ct["commands"]] == ["giphy"]
    assert type_name in client.list_channel_types()["channel_types"]

    [state] = client.query_channels({"cid": channel.cid})["channels"]
    assert state["channel"]["topic"] == "t"
    assert state["channel"]["created_by"]["id"] == alice
    roles = {m["user_id"]: m["channel_role"] for m in state["members"]}
    assert roles == {alice: "channel_member", bob: "channel_moderator"}
    again = client.channel("messaging", None, {"members": [bob, alice]})
    again.create(bob)
    assert again.id == distinct.id

    app = client.get_app_settings()["app"]
    assert [h["webhook_url"] for h in app["event_hooks"]] == ["http://127.0.0.1:9/x"]
    assert app["webhook_events"] == ["custom"]
    assert client.get_task(task_id)["status"] == "completed"


@pytest.fixture(scope="module")
def keyless_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server started without --api-key/--api-secret (tests here restart it in place)."""
    path = tmp_path_factory.mktemp("keyless")
    srv = Server(database_url=f"sqlite:///{path}/keyless.db", api_key=None, api_secret=None)
    srv.start()
    yield srv
    srv.stop()


def _credentials(server: Server) -> tuple[str, str]:
    found = CREDENTIALS.findall(server.log())
    assert len(found) == 1, server.log()
    return found[0]


def test_serve_without_credentials_creates_them_once(keyless_server: Server) -> None:
    key, secret = _credentials(keyless_server)
    assert len(key) >= 8 and len(secret) >= 32
    client = StreamChat(api_key=key, api_secret=secret, base_url=keyless_server.url)
    user = uid()
    client.upsert_user({"id": user, "name": "Kept"})

    keyless_server.restart()
    # Shown once: the restart finds the app in the database and prints nothing new.
    assert len(CREDENTIALS.findall(keyless_server.log())) == 1, keyless_server.log()
    assert secret not in keyless_server.log().split("Running on")[-1]
    client = StreamChat(api_key=key, api_secret=secret, base_url=keyless_server.url)
    assert client.query_users({"id": user})["users"][0]["name"] == "Kept"
    # The stored credentials also work when given explicitly.
    keyless_server.stop()
    keyless_server.api_key, keyless_server.api_secret = key, secret
    keyless_server.start()
    assert client.get_app_settings().status_code() == 200


def test_restart_with_other_credentials_is_refused(keyless_server: Server) -> None:
    key, secret = _credentials(keyless_server)
    keyless_server.stop()
    other = Server(database_url=keyless_server.database_url, port=keyless_server.port,
                   api_key="other-key", api_secret="other-secret-" * 4)
    with pytest.raises(RuntimeError, match="already holds an app"):
        other.start()
    keyless_server.start()
    client = StreamChat(api_key=key, api_secret=secret, base_url=keyless_server.url)
    assert client.get_app_settings().status_code() == 200


def _hubbub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hubbub", *args], check=False, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_token_command_prints_a_valid_token(keyless_server: Server) -> None:
    key, secret = _credentials(keyless_server)
    user = uid()
    StreamChat(api_key=key, api_secret=secret, base_url=keyless_server.url).upsert_user(
        {"id": user})
    before = int(time.time())
    # No secret given: the command reads the app's secret from the database.
    result = _hubbub("token", user, "--exp", "60", "--database", keyless_server.database_url)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["user_id"] == user
    assert before + 60 <= claims["exp"] <= int(time.time()) + 60
    resp = httpx.get(keyless_server.url + "/users", params={"api_key": key, "payload": "{}"},
                     headers={"Authorization": token, "stream-auth-type": "jwt"})
    assert_success(resp, 200)
    expired = jwt.encode({**claims, "exp": before - 60}, secret, algorithm="HS256")
    resp = httpx.get(keyless_server.url + "/users", params={"api_key": key, "payload": "{}"},
                     headers={"Authorization": expired, "stream-auth-type": "jwt"})
    assert_error(resp, 401, 40)

    no_exp = _hubbub("token", user, "--database", keyless_server.database_url)
    assert no_exp.returncode == 0, no_exp.stderr
    assert "exp" not in jwt.decode(no_exp.stdout.strip(), secret, algorithms=["HS256"])


def test_token_command_without_an_app_fails_cleanly(tmp_path: Path) -> None:
    result = _hubbub("token", "alice", "--database", f"sqlite:///{tmp_path}/empty.db")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "no app" in result.stderr


def test_serve_with_unreachable_redis_fails_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "hubbub", "serve", "--port", "0",
         "--database", f"sqlite:///{tmp_path}/x.db",
         "--broker", f"redis://127.0.0.1:{dead_port}/0"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "hubbub: cannot start:" in result.stderr
    assert "Traceback" not in result.stderr
