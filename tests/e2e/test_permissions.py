"""Permissions over the wire: grants per channel type, per channel, custom roles, app switches."""

from __future__ import annotations

import pytest
from stream_chat import StreamChat

from hubbub.client import HubbubClient, HubbubClientError
from tests.conftest import Server, sdk_client, uid
from tests.e2e.conftest import Connect, connector, is_type, make_channel


def new_type(client: StreamChat, **settings: object) -> str:
    """A channel type of the test's own (messaging's defaults), so grant changes stay local."""
    name = uid("t").replace("-", "_")
    client.create_channel_type({"name": name, **settings})
    return name


async def refused(coro: object) -> HubbubClientError:
    with pytest.raises(HubbubClientError) as info:
        await coro  # type: ignore[misc]
    return info.value


async def test_member_may_send_and_non_member_may_not(client: StreamChat,
                                                      connect: Connect) -> None:
    alice, eve = uid("alice"), uid("eve")
    cid = make_channel(client, [alice])
    client.upsert_user({"id": eve})
    member, outsider = await connect(alice), await connect(eve)

    assert (await member.send_event("messaging", cid, {"type": "hello"}))["event"]["type"]
    denial = await refused(outsider.send_event("messaging", cid, {"type": "hello"}))
    assert denial.status == 403 and denial.code == 17
    assert denial.body["message"] == (
        f"SendEvent failed with error: \"User '{eve}' with role 'user' is not allowed to "
        f"perform action SendCustomEvent in scope 'messaging'\"")


async def test_livestream_watcher_may_send_without_membership(client: StreamChat,
                                                              connect: Connect) -> None:
    host, viewer = uid("host"), uid("viewer")
    cid = make_channel(client, [host], channel_type="livestream")
    client.upsert_user({"id": viewer})
    conn = await connect(viewer)
    await conn.watch("livestream", cid)
    await conn.send_event("livestream", cid, {"type": "cheer"})
    assert (await conn.next_event(is_type("cheer")))["user"]["id"] == viewer


async def test_revoking_and_restoring_send_custom_event_for_members(client: StreamChat,
                                                                    connect: Connect) -> None:
    type_name = new_type(client)
    alice = uid("alice")
    cid = make_channel(client, [alice], channel_type=type_name, creator=uid("owner"))
    conn = await connect(alice)
    await conn.watch(type_name, cid)
    member_grants = client.get_channel_type(type_name)["grants"]["channel_member"]
    assert "send-custom-event" in member_grants

    client.update_channel_type(type_name, grants={"channel_member": [
        g for g in member_grants if g != "send-custom-event"]})
    denial = await refused(conn.send_event(type_name, cid, {"type": "blocked"}))
    assert denial.status == 403 and denial.code == 17
    state = await conn.watch(type_name, cid)
    assert "send-custom-events" not in state["channel"]["own_capabilities"]

    client.update_channel_type(type_name, grants={"channel_member": member_grants})
    await conn.send_event(type_name, cid, {"type": "allowed"})
    state = await conn.watch(type_name, cid)
    assert "send-custom-events" in state["channel"]["own_capabilities"]


async def test_grants_null_resets_type_to_defaults(client: StreamChat) -> None:
    type_name = new_type(client)
    defaults = client.get_channel_type(type_name)["grants"]
    client.update_channel_type(type_name, grants={"channel_member": []})
    assert not client.get_channel_type(type_name)["grants"].get("channel_member")
    client.update_channel_type(type_name, grants=None)
    assert client.get_channel_type(type_name)["grants"] == defaults


async def test_channel_override_revokes_only_that_channel(client: StreamChat,
                                                          connect: Connect) -> None:
    alice = uid("alice")
    locked = make_channel(client, [alice], creator=uid("owner"))
    open_ = make_channel(client, [alice], creator=uid("owner"))
    client.channel("messaging", locked).update_partial(
        {"config_overrides": {"grants": {"channel_member": ["!send-custom-event"]}}})
    conn = await connect(alice)

    denial = await refused(conn.send_event("messaging", locked, {"type": "nope"}))
    assert denial.status == 403 and denial.code == 17
    await conn.send_event("messaging", open_, {"type": "fine"})


async def test_client_cannot_set_config_overrides(client: StreamChat, connect: Connect) -> None:
    alice = uid("alice")
    cid = make_channel(client, [alice])
    conn = await connect(alice)
    denial = await refused(conn.request("PATCH", f"/channels/messaging/{cid}", {
        "set": {"config_overrides": {"grants": {"user": ["send-custom-event"]}}}}))
    assert denial.status == 403


async def test_custom_role_granted_the_permission_can_send(client: StreamChat,
                                                           connect: Connect) -> None:
    role = uid("bot").replace("-", "_")
    client.create_role(role)
    type_name = new_type(client)
    client.update_channel_type(type_name, grants={role: ["read-channel", "send-custom-event"]})
    bot, plain = uid("bot"), uid("plain")
    client.upsert_users([{"id": bot, "role": role}, {"id": plain}])
    cid = make_channel(client, [uid("member")], channel_type=type_name)
    bot_conn, plain_conn = await connect(bot), await connect(plain)

    await bot_conn.watch(type_name, cid)
    await bot_conn.send_event(type_name, cid, {"type": "beep"})
    assert (await bot_conn.next_event(is_type("beep")))["user"]["role"] == role
    denial = await refused(plain_conn.send_event(type_name, cid, {"type": "beep"}))
    assert denial.status == 403


async def test_custom_channel_role_granted_the_permission(client: StreamChat,
                                                          connect: Connect) -> None:
    role = uid("speaker").replace("-", "_")
    client.create_role(role)
    type_name = new_type(client)
    client.update_channel_type(type_name, grants={
        "channel_member": ["read-channel"], role: ["read-channel", "send-custom-event"]})
    speaker, listener = uid("speaker"), uid("listener")
    cid = make_channel(client, [speaker, listener], channel_type=type_name, creator=uid("o"))
    client.channel(type_name, cid).assign_roles([{"user_id": speaker, "channel_role": role}])
    speaker_conn, listener_conn = await connect(speaker), await connect(listener)

    await speaker_conn.send_event(type_name, cid, {"type": "talk"})
    denial = await refused(listener_conn.send_event(type_name, cid, {"type": "talk"}))
    assert denial.status == 403


async def test_plain_member_cannot_manage_members_but_moderator_can(client: StreamChat,
                                                                    connect: Connect) -> None:
    alice, mod, newcomer = uid("alice"), uid("mod"), uid("new")
    cid = make_channel(client, [alice, mod], creator=uid("owner"))
    client.upsert_user({"id": newcomer})
    client.channel("messaging", cid).add_moderators([mod])
    member_conn, mod_conn = await connect(alice), await connect(mod)

    denial = await refused(member_conn.request("POST", f"/channels/messaging/{cid}",
                                               {"add_members": [newcomer]}))
    assert denial.status == 403 and "UpdateChannelMembers" in denial.body["message"]
    await mod_conn.request("POST", f"/channels/messaging/{cid}", {"add_members": [newcomer]})
    members = {m["user_id"] for m in client.channel("messaging", cid).query_members({})}
    assert newcomer in members
    # Leaving is allowed to members (RemoveOwnChannelMembership).
    await member_conn.request("POST", f"/channels/messaging/{cid}", {"remove_members": [alice]})


async def test_client_channel_creation_follows_create_channel_grant(client: StreamChat,
                                                                    connect: Connect) -> None:
    alice = uid("alice")
    client.upsert_user({"id": alice})
    conn = await connect(alice)
    created = await conn.request("POST", f"/channels/messaging/{uid('mine')}/query",
                                 {"data": {"members": [alice]}, "state": True})
    assert created["channel"]["created_by"]["id"] == alice
    assert "send-custom-events" in created["channel"]["own_capabilities"]
    # Gaming channels are created by admins only.
    denial = await refused(conn.request("POST", f"/channels/gaming/{uid('g')}/query",
                                        {"data": {"members": [alice]}, "state": True}))
    assert denial.status == 403 and "CreateChannel" in denial.body["message"]


async def test_own_capabilities_follow_feature_flags(client: StreamChat,
                                                     connect: Connect) -> None:
    type_name = new_type(client)
    alice = uid("alice")
    cid = make_channel(client, [alice], channel_type=type_name)
    conn = await connect(alice)
    caps = (await conn.watch(type_name, cid))["channel"]["own_capabilities"]
    assert {"send-custom-events", "send-typing-events"} <= set(caps)
    client.update_channel_type(type_name, custom_events=False, typing_events=False)
    caps = (await conn.watch(type_name, cid))["channel"]["own_capabilities"]
    assert "send-custom-events" not in caps and "send-typing-events" not in caps


async def test_disable_permissions_checks_skips_grants(fresh_server: Server) -> None:
    sdk = sdk_client(fresh_server)
    alice, eve = uid("alice"), uid("eve")
    cid = make_channel(sdk, [alice])
    sdk.upsert_user({"id": eve})
    async with connector(fresh_server) as connect:
        outsider = await connect(eve)
        denial = await refused(outsider.send_event("messaging", cid, {"type": "x"}))
        assert denial.status == 403
        sdk.update_app_settings(disable_permissions_checks=True)
        await outsider.send_event("messaging", cid, {"type": "x"})
        # Feature flags still hold when grants are skipped.
        sdk.update_channel_type("messaging", custom_events=False)
        denial = await refused(outsider.send_event("messaging", cid, {"type": "x"}))
        assert denial.status == 400


async def test_app_grants_govern_user_search(fresh_server: Server) -> None:
    sdk = sdk_client(fresh_server)
    sdk.upsert_user({"id": "searcher"})
    async with HubbubClient(fresh_server.url, str(fresh_server.api_key),
                            sdk.create_token("searcher")) as conn:
        found = await conn.request("GET", "/users", params={
            "payload": '{"filter_conditions": {"id": "searcher"}}'})
        assert [u["id"] for u in found["users"]] == ["searcher"]
        sdk.update_app_settings(grants={"user": ["update-user-owner"]})
        denial = await refused(conn.request("GET", "/users", params={
            "payload": '{"filter_conditions": {"id": "searcher"}}'}))
        assert denial.status == 403 and denial.code == 17


async def test_role_change_and_revocation_take_effect_at_once(client: StreamChat,
                                                              connect: Connect) -> None:
    """Users are cached in memory: a server-side change must still apply to the very next
    request of that user."""
    import time as _time

    eve = uid("eve")
    cid = make_channel(client, [uid("alice")])
    client.upsert_user({"id": eve})
    conn = await connect(eve, token=client.create_token(eve, iat=int(_time.time()) - 60))
    denial = await refused(conn.send_event("messaging", cid, {"type": "x"}))
    assert denial.status == 403

    client.update_user_partial({"id": eve, "set": {"role": "admin"}})
    assert (await conn.send_event("messaging", cid, {"type": "x"}))["event"]["user"][
        "role"] == "admin"

    client.update_user_partial({"id": eve, "set": {
        "revoke_tokens_issued_before": "2099-01-01T00:00:00Z"}})
    revoked = await refused(conn.send_event("messaging", cid, {"type": "x"}))
    assert revoked.status == 401 and revoked.code == 42
