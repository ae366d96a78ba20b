"""Multi-tenancy (issue 16) with the OFFICIAL JS SDK, client-side: a user of team A cannot watch
a team B channel or send events to it (403, code 17), queryChannels and queryUsers leave team B
out. Multi-tenancy is app-wide, so the test has a server of its own."""

from __future__ import annotations

from tests.conftest import Server, sdk_client, uid
from tests.sdk.test_js_sdk import pytestmark, run_scenario

__all__ = ["pytestmark"]


def test_team_a_user_cannot_reach_team_b(fresh_server: Server) -> None:
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(multi_tenant_enabled=True)
    alice, anna, bob, bea = uid("alice"), uid("anna"), uid("bob"), uid("bea")
    sdk.upsert_users([{"id": alice, "teams": ["a"]}, {"id": anna, "teams": ["a", "c"]},
                      {"id": bob, "teams": ["b"]}, {"id": bea, "teams": ["b"]}])
    own, other = uid("cha"), uid("chb")
    sdk.channel("messaging", own, {"team": "a", "members": [alice, anna]}).create(alice)
    sdk.channel("messaging", other, {"team": "b", "members": [bob, bea]}).create(bob)

    result = run_scenario(fresh_server, "multiTenant", {
        "user": alice, "ownChannel": own, "otherChannel": other,
        "sameTeam": [alice, anna], "otherTeam": [bob, bea],
    })

    assert result["watch"]["status"] == 403 and result["watch"]["code"] == 17
    assert result["send"]["status"] == 403 and result["send"]["code"] == 17
    assert result["cids"] == [f"messaging:{own}"]
    assert result["seen"] == sorted([alice, anna])
