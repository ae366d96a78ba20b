"""Teams and multi-tenancy (issue 16) over the official Python SDK and raw client-side calls.

Round trip: ``teams``, ``teams_role`` and the channel's ``team`` are stored and returned. With
the app's ``multi_tenant_enabled`` on (a server of its own: it is app-wide), Stream's rules:
a user reaches only channels of its teams (without teams: only channels without a team), sees
only users who share a team, and its role in a team (``teams_role``) decides its permissions in
that team's channels.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.api.conftest import (
    Raw,
    assert_error,
    assert_success,
    sdk_client,
    sdk_error,
    uid,
    user_token,
)
from tests.conftest import Server


def test_teams_and_teams_role_round_trip(client: StreamChat, raw: Raw) -> None:
    user = uid("tm")
    resp = client.upsert_user({"id": user, "teams": ["red", "blue"],
                               "teams_role": {"red": "admin", "blue": "user"}, "name": "T"})
    wire = resp["users"][user]
    assert wire["teams"] == ["red", "blue"]
    assert wire["teams_role"] == {"red": "admin", "blue": "user"}

    found = client.query_users({"id": user})["users"][0]
    assert found["teams"] == ["red", "blue"] and found["teams_role"]["red"] == "admin"
    assert [u["id"] for u in client.query_users(
        {"id": user, "teams": {"$in": ["blue", "green"]}})["users"]] == [user]
    assert client.query_users({"id": user, "teams": {"$in": ["green"]}})["users"] == []

    partial = client.update_user_partial({"id": user, "set": {
        "teams": ["red"], "teams_role": {"red": "moderator"}}})["users"][user]
    assert partial["teams"] == ["red"] and partial["teams_role"] == {"red": "moderator"}
    # An upsert without the fields keeps them (they are protected, like the role).
    kept = client.upsert_user({"id": user, "name": "T2"})["users"][user]
    assert kept["teams_role"] == {"red": "moderator"} and kept["name"] == "T2"
    cleared = client.update_user_partial({"id": user, "unset": ["teams_role"]})["users"][user]
    assert "teams_role" not in cleared and cleared["teams"] == ["red"]

    for bad in ({"teams_role": {"red": "no-such-role"}}, {"teams_role": ["red"]},
                {"teams": "red"}, {"teams": [f"t{i}" for i in range(26)]}):
        with pytest.raises(StreamAPIException) as excinfo:
            client.update_user_partial({"id": user, "set": bad})
        sdk_error(excinfo, 400, 4)

    # A user cannot give itself a team role.
    refused = raw.request("PATCH", "/users", token=user_token(user), json={
        "users": [{"id": user, "set": {"teams_role": {"red": "admin"}}}]})
    assert_error(refused, 403, 17)

    # The channel's team.
    channel_id = uid("ch")
    state = client.channel("messaging", channel_id, {"team": "red"}).create(user)
    assert state["channel"]["team"] == "red"
    queried = client.query_channels({"team": "red", "id": channel_id})["channels"]
    assert [c["channel"]["team"] for c in queried] == ["red"]


class Tenant:
    """Client-side calls of one user, as the SDKs make them."""

    def __init__(self, server: Server, user_id: str) -> None:
        self.raw = Raw(server)
        self.token = user_token(user_id, secret=str(server.api_secret))

    def read(self, channel_id: str) -> httpx.Response:
        return self.raw.post(f"/channels/messaging/{channel_id}/query", token=self.token,
                             json={"state": True})

    def create(self, channel_id: str, **data: Any) -> httpx.Response:
        return self.raw.post(f"/channels/messaging/{channel_id}/query", token=self.token,
                             json={"data": data})

    def send(self, channel_id: str) -> httpx.Response:
        return self.raw.post(f"/channels/messaging/{channel_id}/event", token=self.token,
                             json={"event": {"type": "hello"}})

    def channels(self, cids: list[str]) -> list[str]:
        body = assert_success(self.raw.post("/channels", token=self.token, json={
            "filter_conditions": {"cid": {"$in": cids}}, "sort": [{"field": "cid"}]}))
        return sorted(c["channel"]["cid"] for c in body["channels"])

    def users(self, ids: list[str]) -> list[str]:
        payload = json.dumps({"filter_conditions": {"id": {"$in": ids}}})
        body = assert_success(self.raw.get("/users", token=self.token,
                                           params={"payload": payload}))
        return sorted(u["id"] for u in body["users"])

    def close(self) -> None:
        self.raw.close()


def test_multi_tenant_rules(settings_server: Server) -> None:
    sdk = sdk_client(settings_server)
    red, red2, blue, loner = uid("red"), uid("red2"), uid("blue"), uid("loner")
    team_admin, demoted = uid("tadmin"), uid("demoted")
    sdk.upsert_users([
        {"id": red, "teams": ["red"]}, {"id": red2, "teams": ["red"]},
        {"id": blue, "teams": ["blue"]}, {"id": loner},
        # a plain user who is admin in team red; an app admin who is a plain user in red
        {"id": team_admin, "teams": ["red"], "teams_role": {"red": "admin"}},
        {"id": demoted, "role": "admin", "teams": ["red"], "teams_role": {"red": "user"}},
    ])
    red_ch, blue_ch, open_ch = uid("red"), uid("blue"), uid("open")
    sdk.channel("messaging", red_ch, {"team": "red", "members": [red]}).create(red)
    sdk.channel("messaging", blue_ch, {"team": "blue", "members": [blue]}).create(blue)
    sdk.channel("messaging", open_ch, {"members": [loner, red]}).create(loner)
    cids = [f"messaging:{c}" for c in (red_ch, blue_ch, open_ch)]
    everyone = [red, red2, blue, loner, team_admin, demoted]
    tenants = {u: Tenant(settings_server, u) for u in everyone}
    try:
        # Multi-tenancy off: teams separate nothing and team roles are not used.
        assert_success(tenants[red].read(open_ch))
        assert_success(tenants[demoted].read(blue_ch))  # app admin
        assert_error(tenants[team_admin].read(red_ch), 403, 17)  # plain user, not a member
        assert tenants[red].users(everyone) == sorted(everyone)

        sdk.update_app_settings(multi_tenant_enabled=True)
        assert sdk.get_app_settings()["app"]["multi_tenant_enabled"] is True

        # Channels of the user's team only; without a team, channels without a team only.
        assert_success(tenants[red].read(red_ch))
        assert_success(tenants[red].send(red_ch))
        for call in (lambda: tenants[red].read(blue_ch), lambda: tenants[red].send(blue_ch),
                     lambda: tenants[red].read(open_ch),  # a member, but not of a team
                     lambda: tenants[loner].read(red_ch),
                     lambda: tenants[demoted].read(blue_ch)):  # app admin, other team
            assert_error(call(), 403, 17)
        assert_success(tenants[loner].read(open_ch))
        message = assert_error(tenants[red].read(blue_ch), 403, 17)["message"]
        assert "team" in message
        assert tenants[red].channels(cids) == [f"messaging:{red_ch}"]
        assert tenants[loner].channels(cids) == [f"messaging:{open_ch}"]
        assert tenants[blue].channels(cids) == [f"messaging:{blue_ch}"]

        # Users who share a team only; without teams, users without teams only.
        assert tenants[red].users(everyone) == sorted([red, red2, team_admin, demoted])
        assert tenants[blue].users(everyone) == [blue]
        assert tenants[loner].users(everyone) == [loner]
        # Server-side is not limited.
        assert len(sdk.query_users({"id": {"$in": everyone}})["users"]) == len(everyone)

        # The team role decides inside the team's channels.
        assert_success(tenants[team_admin].read(red_ch))  # admin in red, not a member
        assert_error(tenants[red2].read(red_ch), 403, 17)  # plain user in red
        assert_error(tenants[demoted].read(red_ch), 403, 17)  # user in red, admin elsewhere

        # New channels: in one of the user's teams only; the team cannot move client-side.
        assert_success(tenants[red].create(uid("new"), team="red"))
        assert_error(tenants[red].create(uid("new"), team="blue"), 403, 17)
        assert_error(tenants[red].create(uid("new")), 403, 17)
        moved = tenants[red].raw.post(f"/channels/messaging/{red_ch}", token=tenants[red].token,
                                      json={"data": {"team": "blue"}})
        assert_error(moved, 403, 17)
        peek = tenants[red].raw.post(f"/channels/messaging/{blue_ch}", token=tenants[red].token,
                                     json={})
        assert_error(peek, 403, 17)  # an update that changes nothing still answers members
        patched = tenants[red].raw.request(
            "PATCH", f"/channels/messaging/{red_ch}", token=tenants[red].token,
            json={"set": {"team": "blue"}})
        assert_error(patched, 403, 17)
        assert sdk.query_channels({"id": red_ch})["channels"][0]["channel"]["team"] == "red"
    finally:
        for tenant in tenants.values():
            tenant.close()
