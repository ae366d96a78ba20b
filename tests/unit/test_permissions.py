"""The permission core against Stream's documented v2 defaults and update semantics."""

from __future__ import annotations

import pytest

from hubbub.core import permissions as perms
from hubbub.core.default_grants import default_app_grants, default_channel_type_grants
from hubbub.core.permissions import (
    BUILTIN_CHANNEL_TYPES,
    PERMISSIONS,
    Permission,
    Subject,
    authorize,
    authorize_app,
    effective_permissions,
    is_allowed,
    is_allowed_app,
    merge_grants,
    own_capabilities,
    validate_grant_modifiers,
    validate_grants,
)
from hubbub.errors import InputError, NotAllowed

# Who acts. "owner" means is_owner=True (the subject created the channel).
USER = Subject("u1", "user")
MEMBER = Subject("u1", "user", "channel_member")
CHANNEL_MOD = Subject("u1", "user", "channel_moderator")
ADMIN = Subject("a1", "admin")
MODERATOR = Subject("m1", "moderator")
GUEST = Subject("g1", "guest")
GUEST_MEMBER = Subject("g1", "guest", "channel_member")
ANON = Subject("!anon", "anonymous")

SUBJECTS = {
    "user": (USER, False),
    "user-owner": (USER, True),
    "member": (MEMBER, False),
    "channel_moderator": (CHANNEL_MOD, False),
    "admin": (ADMIN, False),
    "moderator": (MODERATOR, False),
    "moderator-owner": (MODERATOR, True),
    "guest": (GUEST, False),
    "guest-owner": (GUEST, True),
    "guest-member": (GUEST_MEMBER, False),
    "anonymous": (ANON, False),
}

# Expected answers, from the default-grant tables of Stream's permissions reference. Columns
# follow SUBJECTS' order above; messaging and team share one table in the reference.
_S = list(SUBJECTS)
_T, _F = True, False
# fmt: off
EXPECTED: dict[tuple[str, str], tuple[bool, ...]] = {
    #                                 user  u-own member cmod admin mod  m-own guest g-own g-mem anon
    ("messaging", perms.READ_CHANNEL): (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("messaging", perms.SEND_CUSTOM_EVENT): (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("messaging", perms.CREATE_CHANNEL): (_T, _T, _T, _T, _T, _T, _T, _F, _F, _F, _F),
    ("messaging", perms.UPDATE_CHANNEL): (_F, _T, _F, _T, _T, _T, _T, _F, _F, _F, _F),
    ("messaging", perms.UPDATE_CHANNEL_MEMBERS): (_F, _T, _F, _T, _T, _T, _T, _F, _F, _F, _F),
    ("messaging", perms.READ_CHANNEL_MEMBERS): (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("messaging", perms.DELETE_CHANNEL): (_F, _T, _F, _F, _T, _F, _T, _F, _F, _F, _F),
    ("messaging", perms.REMOVE_OWN_CHANNEL_MEMBERSHIP):
        (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("team", perms.READ_CHANNEL): (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("team", perms.SEND_CUSTOM_EVENT): (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("team", perms.DELETE_CHANNEL): (_F, _T, _F, _F, _T, _F, _T, _F, _F, _F, _F),
    ("gaming", perms.READ_CHANNEL): (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("gaming", perms.SEND_CUSTOM_EVENT): (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("gaming", perms.CREATE_CHANNEL): (_F, _F, _F, _F, _T, _F, _F, _F, _F, _F, _F),
    ("gaming", perms.UPDATE_CHANNEL): (_F, _F, _F, _F, _T, _F, _F, _F, _F, _F, _F),
    ("gaming", perms.UPDATE_CHANNEL_MEMBERS): (_F, _F, _F, _F, _T, _F, _F, _F, _F, _F, _F),
    ("gaming", perms.DELETE_CHANNEL): (_F, _F, _F, _F, _T, _F, _F, _F, _F, _F, _F),
    # commerce: guests act on what they own, and create channels; plain users do not create
    ("commerce", perms.READ_CHANNEL): (_F, _T, _T, _T, _T, _T, _T, _F, _T, _T, _F),
    ("commerce", perms.SEND_CUSTOM_EVENT): (_F, _T, _T, _T, _T, _T, _T, _F, _F, _T, _F),
    ("commerce", perms.CREATE_CHANNEL): (_F, _F, _F, _F, _T, _T, _T, _T, _T, _T, _F),
    ("commerce", perms.UPDATE_CHANNEL): (_F, _F, _F, _T, _T, _T, _T, _F, _F, _F, _F),
    ("commerce", perms.UPDATE_CHANNEL_MEMBERS): (_F, _T, _F, _T, _T, _T, _T, _F, _T, _F, _F),
    # livestream: open to read for everyone, custom events for plain users, not guests/anonymous
    ("livestream", perms.READ_CHANNEL): (_T, _T, _T, _T, _T, _T, _T, _T, _T, _T, _T),
    ("livestream", perms.SEND_CUSTOM_EVENT): (_T, _T, _T, _T, _T, _T, _T, _F, _F, _F, _F),
    ("livestream", perms.READ_CHANNEL_MEMBERS): (_T, _T, _T, _T, _T, _T, _T, _T, _T, _T, _T),
    ("livestream", perms.CREATE_CHANNEL): (_T, _T, _T, _T, _T, _T, _T, _F, _F, _F, _F),
    ("livestream", perms.UPDATE_CHANNEL): (_F, _F, _F, _F, _T, _F, _F, _F, _F, _F, _F),
    ("livestream", perms.DELETE_CHANNEL): (_F, _F, _F, _F, _T, _F, _F, _F, _F, _F, _F),
    ("livestream", perms.REMOVE_OWN_CHANNEL_MEMBERSHIP):
        (_F, _F, _F, _F, _T, _F, _F, _F, _F, _F, _F),
}
# fmt: on

CASES = [
    pytest.param(type_name, action, who, expected, id=f"{type_name}-{action}-{who}")
    for (type_name, action), row in EXPECTED.items()
    for who, expected in zip(_S, row, strict=True)
]


@pytest.mark.parametrize(("type_name", "action", "who", "expected"), CASES)
def test_documented_defaults(type_name: str, action: str, who: str, expected: bool) -> None:
    subject, is_owner = SUBJECTS[who]
    grants = default_channel_type_grants(type_name)
    assert is_allowed(action, subject, is_owner=is_owner, grants=grants) is expected


# --- the default tables themselves ----------------------------------------------------------


def _roles_holding(grants: dict[str, list[str]], permission_id: str) -> set[str]:
    return {role for role, ids in grants.items() if permission_id in ids}


# Roles that may read but not send custom events, per the reference. Everywhere else "whoever
# can read the channel can send custom events" (Stream's custom-events page) holds exactly.
READ_NOT_SEND = {
    ("livestream", "read-channel"): {"guest", "anonymous"},
    ("commerce", "read-channel-owner"): {"guest"},
}


@pytest.mark.parametrize("type_name", BUILTIN_CHANNEL_TYPES)
@pytest.mark.parametrize("variant", ["", "-owner"])
def test_readers_are_custom_event_senders(type_name: str, variant: str) -> None:
    grants = default_channel_type_grants(type_name)
    readers = _roles_holding(grants, "read-channel" + variant)
    senders = _roles_holding(grants, "send-custom-event" + variant)
    assert senders <= readers
    assert readers - senders == READ_NOT_SEND.get((type_name, "read-channel" + variant), set())


def test_documented_custom_event_grants() -> None:
    for type_name in ("messaging", "team", "gaming", "commerce"):
        grants = default_channel_type_grants(type_name)
        assert _roles_holding(grants, "send-custom-event") == {
            "admin",
            "moderator",
            "channel_member",
            "channel_moderator",
        }
        assert _roles_holding(grants, "send-custom-event-owner") == {"user"}
    live = default_channel_type_grants("livestream")
    assert _roles_holding(live, "send-custom-event") == {"admin", "moderator", "user"}
    assert _roles_holding(live, "read-channel") == {
        "admin",
        "moderator",
        "user",
        "guest",
        "anonymous",
    }
    assert "send-custom-event-owner" not in {p for ids in live.values() for p in ids}


def test_team_is_messaging_and_unknown_types_inherit_messaging() -> None:
    messaging = default_channel_type_grants("messaging")
    assert default_channel_type_grants("team") == messaging
    assert default_channel_type_grants("my-custom-type") == messaging
    assert default_channel_type_grants("livestream") != messaging


def test_defaults_are_fresh_copies() -> None:
    first = default_channel_type_grants("messaging")
    first["user"].append("delete-channel")
    first.pop("admin")
    again = default_channel_type_grants("messaging")
    assert "delete-channel" not in again["user"] and "admin" in again
    app = default_app_grants()
    app["user"].clear()
    assert default_app_grants()["user"]


def test_default_app_grants() -> None:
    app = default_app_grants()
    for role in ("admin", "moderator", "user", "guest"):
        assert {"flag-user", "mute-user", "search-user", "update-user-owner"} <= set(app[role])
    assert _roles_holding(app, "read-flag-reports") == {"admin", "moderator"}
    assert _roles_holding(app, "update-flag-report") == {"admin", "moderator"}
    assert "anonymous" not in app


def test_every_granted_id_is_a_known_permission_with_a_stream_action() -> None:
    tables = [default_channel_type_grants(t) for t in BUILTIN_CHANNEL_TYPES]
    tables.append(default_app_grants())
    for grants in tables:
        for ids in grants.values():
            assert set(ids) <= set(PERMISSIONS)
    for permission_id, permission in PERMISSIONS.items():
        assert permission.id == permission_id
        assert permission.action in perms.ACTIONS
        assert permission.owner is permission_id.endswith("-owner")
    assert {p.id for p in PERMISSIONS.values() if p.level == "app"} >= {
        "flag-user",
        "mute-user",
        "search-user",
        "update-user-owner",
        "read-flag-reports",
        "update-flag-report",
    }


def test_catalogue_covers_the_brief() -> None:
    for permission_id in (
        "read-channel",
        "read-channel-owner",
        "send-custom-event",
        "send-custom-event-owner",
        "create-channel",
        "update-channel",
        "update-channel-owner",
        "update-channel-members",
        "update-channel-members-owner",
        "read-channel-members",
        "delete-channel",
        "delete-channel-owner",
        "remove-own-channel-membership",
        "create-message",
        "create-message-owner",
        "upload-attachment",
        "add-own-channel-membership",
    ):
        assert PERMISSIONS[permission_id].level == "channel"
    assert PERMISSIONS["send-custom-event"].action == "SendCustomEvent"


def test_permission_wire_shape() -> None:
    wire = PERMISSIONS["send-custom-event-owner"].to_wire()
    assert wire == {
        "id": "send-custom-event-owner",
        "name": wire["name"],
        "description": wire["description"],
        "action": "SendCustomEvent",
        "owner": True,
        "same_team": False,
        "custom": False,
        "level": "channel",
        "tags": wire["tags"],
        "condition": {},
    }
    assert "SendCustomEvent" in wire["description"] and isinstance(wire["tags"], list)
    custom = Permission(
        "x", "X", "d", "SendCustomEvent", owner=True, custom=True, owner_resource="channel"
    )
    assert custom.to_wire()["owner_resource"] == "channel"


# --- merge_grants ----------------------------------------------------------------------------


def test_merge_changes_only_named_roles() -> None:
    defaults = default_channel_type_grants("messaging")
    merged = merge_grants(defaults, {"channel_member": ["read-channel"]}, defaults)
    assert merged["channel_member"] == ["read-channel"]
    assert merged["user"] == defaults["user"] and merged["admin"] == defaults["admin"]
    assert defaults["channel_member"] != ["read-channel"]  # inputs untouched


def test_merge_empty_list_removes_all_grants_of_a_role() -> None:
    defaults = default_channel_type_grants("livestream")
    merged = merge_grants(defaults, {"guest": [], "anonymous": []}, defaults)
    assert not merged.get("guest") and not merged.get("anonymous")
    assert not is_allowed(perms.READ_CHANNEL, GUEST, is_owner=False, grants=merged)
    assert merged["user"] == defaults["user"]


def test_merge_none_resets_to_defaults() -> None:
    defaults = default_channel_type_grants("messaging")
    changed = merge_grants(defaults, {"user": [], "special": ["read-channel"]}, defaults)
    reset = merge_grants(changed, None, defaults)
    assert reset == defaults and reset is not defaults
    reset["user"].append("x")
    assert "x" not in defaults["user"]


def test_merge_adds_new_roles_and_deduplicates() -> None:
    merged = merge_grants({}, {"special_agent": ["send-custom-event", "send-custom-event"]}, {})
    assert merged == {"special_agent": ["send-custom-event"]}


@pytest.mark.parametrize(
    ("update", "needle"),
    [
        ({"user": ["read-channel", "no-such-permission"]}, "no-such-permission"),
        ({"user": "read-channel"}, "user"),
        ({"user": [1]}, "user"),
        ({"user": None}, "user"),
        (["read-channel"], "grants"),
    ],
)
def test_merge_rejects_bad_input(update: object, needle: str) -> None:
    defaults = default_channel_type_grants("messaging")
    with pytest.raises(InputError) as caught:
        merge_grants(defaults, update, defaults)  # type: ignore[arg-type]
    assert needle in caught.value.detail
    assert caught.value.code == 4 and caught.value.status == 400


def test_validate_grants_options() -> None:
    with pytest.raises(InputError, match="ghost"):
        validate_grants({"ghost": []}, known_roles={"user"})
    with pytest.raises(InputError, match="search-user"):
        validate_grants({"user": ["search-user"]}, level="channel")
    assert validate_grants({"user": ["search-user"]}, level="app") == {"user": ["search-user"]}
    custom = {
        **PERMISSIONS,
        "shout": Permission("shout", "Shout", "", "SendCustomEvent", custom=True),
    }
    assert validate_grants({"user": ["shout"]}, catalogue=custom) == {"user": ["shout"]}


# --- overrides (config_overrides.grants) -----------------------------------------------------


def test_override_revokes_only_for_that_role() -> None:
    grants = default_channel_type_grants("messaging")
    overrides = {"channel_member": ["!send-custom-event"]}
    assert not is_allowed(
        perms.SEND_CUSTOM_EVENT, MEMBER, is_owner=False, grants=grants, overrides=overrides
    )
    # the channel moderator still holds it through its own role
    assert is_allowed(
        perms.SEND_CUSTOM_EVENT, CHANNEL_MOD, is_owner=False, grants=grants, overrides=overrides
    )
    # and the member can still read
    assert is_allowed(
        perms.READ_CHANNEL, MEMBER, is_owner=False, grants=grants, overrides=overrides
    )


def test_override_revoking_user_role_keeps_channel_role_grants() -> None:
    grants = default_channel_type_grants("livestream")
    overrides = {"user": ["!send-custom-event"]}
    assert not is_allowed(
        perms.SEND_CUSTOM_EVENT, USER, is_owner=False, grants=grants, overrides=overrides
    )
    assert is_allowed(
        perms.SEND_CUSTOM_EVENT, ADMIN, is_owner=False, grants=grants, overrides=overrides
    )


def test_override_adds_for_that_role_only() -> None:
    grants = default_channel_type_grants("messaging")
    overrides = {"user": ["send-custom-event"]}
    assert is_allowed(
        perms.SEND_CUSTOM_EVENT, USER, is_owner=False, grants=grants, overrides=overrides
    )
    assert not is_allowed(
        perms.SEND_CUSTOM_EVENT, GUEST, is_owner=False, grants=grants, overrides=overrides
    )


def test_override_revoking_plain_id_leaves_owner_variant() -> None:
    grants = default_channel_type_grants("messaging")
    overrides = {"user": ["!send-custom-event"]}
    assert is_allowed(
        perms.SEND_CUSTOM_EVENT, USER, is_owner=True, grants=grants, overrides=overrides
    )
    overrides = {"user": ["!send-custom-event-owner"]}
    assert not is_allowed(
        perms.SEND_CUSTOM_EVENT, USER, is_owner=True, grants=grants, overrides=overrides
    )


def test_override_revocation_wins_over_a_grant_in_the_same_list() -> None:
    grants: dict[str, list[str]] = {"user": []}
    for modifiers in (
        ["!send-custom-event", "send-custom-event"],
        ["send-custom-event", "!send-custom-event"],
    ):
        assert not is_allowed(
            perms.SEND_CUSTOM_EVENT,
            USER,
            is_owner=False,
            grants=grants,
            overrides={"user": modifiers},
        )


def test_effective_permissions() -> None:
    grants = {"user": ["a", "b"], "channel_member": ["c"]}
    overrides = {"user": ["!a", "d"], "channel_member": ["!b"]}
    assert effective_permissions(["user"], grants) == {"a", "b"}
    assert effective_permissions(["user", "channel_member"], grants, overrides) == {"b", "c", "d"}
    assert effective_permissions(["nobody"], grants, overrides) == set()


def test_validate_grant_modifiers() -> None:
    assert validate_grant_modifiers({"user": ["!add-links", "create-reaction", "!add-links"]}) == {
        "user": ["!add-links", "create-reaction"]
    }
    with pytest.raises(InputError, match="nope"):
        validate_grant_modifiers({"user": ["!nope"]})
    with pytest.raises(InputError, match="search-user"):
        validate_grant_modifiers({"user": ["search-user"]})  # app-level: not per channel
    with pytest.raises(InputError):
        validate_grant_modifiers({"user": "!add-links"})


# --- custom roles, app scope, authorize -----------------------------------------------------


def test_custom_role_granted_send_custom_event_can_send() -> None:
    defaults = default_channel_type_grants("messaging")
    grants = merge_grants(defaults, {"special_agent": ["send-custom-event"]}, defaults)
    agent = Subject("bond", "special_agent")
    assert is_allowed(perms.SEND_CUSTOM_EVENT, agent, is_owner=False, grants=grants)
    assert not is_allowed(perms.READ_CHANNEL, agent, is_owner=False, grants=grants)
    # custom channel-level role works the same
    member = Subject("bond", "user", "vip_member")
    grants = merge_grants(grants, {"vip_member": ["send-custom-event"]}, defaults)
    assert is_allowed(perms.SEND_CUSTOM_EVENT, member, is_owner=False, grants=grants)


def test_custom_permission_through_catalogue() -> None:
    shout = Permission("shout", "Shout", "", perms.SEND_CUSTOM_EVENT, custom=True)
    catalogue = {**PERMISSIONS, "shout": shout}
    grants = {"user": ["shout"]}
    assert is_allowed(
        perms.SEND_CUSTOM_EVENT, USER, is_owner=False, grants=grants, catalogue=catalogue
    )
    # without the catalogue entry the id means nothing
    assert not is_allowed(perms.SEND_CUSTOM_EVENT, USER, is_owner=False, grants=grants)


def test_unknown_action_is_refused() -> None:
    grants = default_channel_type_grants("messaging")
    assert not is_allowed("Teleport", ADMIN, is_owner=True, grants=grants)


def test_app_scope() -> None:
    app = default_app_grants()
    assert is_allowed_app(perms.SEARCH_USER, USER, is_owner=False, app_grants=app)
    assert is_allowed_app(perms.UPDATE_USER, USER, is_owner=True, app_grants=app)
    assert not is_allowed_app(perms.UPDATE_USER, USER, is_owner=False, app_grants=app)
    assert not is_allowed_app(perms.SEARCH_USER, ANON, is_owner=False, app_grants=app)
    assert not is_allowed_app(perms.READ_FLAG_REPORTS, USER, is_owner=False, app_grants=app)
    assert is_allowed_app(perms.READ_FLAG_REPORTS, MODERATOR, is_owner=False, app_grants=app)
    # a channel role never counts at app level
    assert not is_allowed_app(
        perms.SEARCH_USER,
        Subject("x", "nobody", "channel_member"),
        is_owner=False,
        app_grants={"channel_member": ["search-user"]},
    )
    with pytest.raises(NotAllowed) as caught:
        authorize_app(perms.SEARCH_USER, ANON, is_owner=False, app_grants=app)
    assert caught.value.detail == (
        "User '!anon' with role 'anonymous' is not allowed to perform action SearchUser "
        "in scope '.app'"
    )


def test_authorize_exact_message() -> None:
    grants = default_channel_type_grants("messaging")
    with pytest.raises(NotAllowed) as caught:
        authorize(
            perms.SEND_CUSTOM_EVENT,
            Subject("alice", "user"),
            scope="messaging",
            is_owner=False,
            grants=grants,
        )
    assert caught.value.detail == (
        "User 'alice' with role 'user' is not allowed to perform action SendCustomEvent "
        "in scope 'messaging'"
    )
    assert caught.value.code == 17 and caught.value.status == 403
    # names the user-level role even for members
    revoked = {"channel_member": ["!send-custom-event"]}
    with pytest.raises(NotAllowed, match="with role 'user'"):
        authorize(
            perms.SEND_CUSTOM_EVENT,
            MEMBER,
            scope="messaging",
            is_owner=False,
            grants=grants,
            overrides=revoked,
        )
    authorize(perms.SEND_CUSTOM_EVENT, MEMBER, scope="messaging", is_owner=False, grants=grants)


def test_typing_follows_read() -> None:
    assert perms.SEND_TYPING_EVENTS == perms.READ_CHANNEL


# --- own_capabilities ------------------------------------------------------------------------

ALL_ON = {"custom_events": True, "typing_events": True, "read_events": True, "connect_events": True}


def test_capabilities_custom_events_off_excludes_even_admin() -> None:
    grants = default_channel_type_grants("messaging")
    config = {**ALL_ON, "custom_events": False}
    caps = own_capabilities(ADMIN, is_owner=False, grants=grants, overrides=None, config=config)
    assert "send-custom-events" not in caps
    assert "update-channel" in caps and "delete-channel" in caps


def test_capabilities_member_messaging() -> None:
    grants = default_channel_type_grants("messaging")
    caps = own_capabilities(MEMBER, is_owner=False, grants=grants, overrides=None, config=ALL_ON)
    assert caps == sorted(caps)
    assert caps == [
        "connect-events",
        "leave-channel",
        "read-events",
        "send-custom-events",
        "send-typing-events",
        "typing-events",
    ]


def test_capabilities_owner_and_moderators() -> None:
    grants = default_channel_type_grants("messaging")
    owner = own_capabilities(USER, is_owner=True, grants=grants, overrides=None, config=ALL_ON)
    assert {
        "send-custom-events",
        "update-channel",
        "update-channel-members",
        "delete-channel",
    } <= set(owner)
    assert "leave-channel" not in owner  # not a member
    cmod = own_capabilities(
        CHANNEL_MOD, is_owner=False, grants=grants, overrides=None, config=ALL_ON
    )
    assert {"update-channel", "update-channel-members", "leave-channel"} <= set(cmod)
    assert "delete-channel" not in cmod


def test_capabilities_flags_and_distinct() -> None:
    grants = default_channel_type_grants("messaging")
    caps = own_capabilities(
        ADMIN, is_owner=False, grants=grants, overrides=None, config={}, is_distinct=True
    )
    assert caps == ["delete-channel", "update-channel"]


def test_capabilities_livestream() -> None:
    grants = default_channel_type_grants("livestream")
    config = {
        "custom_events": True,
        "typing_events": False,
        "read_events": False,
        "connect_events": False,
    }
    assert own_capabilities(USER, is_owner=False, grants=grants, overrides=None, config=config) == [
        "send-custom-events"
    ]
    assert (
        own_capabilities(GUEST, is_owner=False, grants=grants, overrides=None, config=config) == []
    )
    # a member with user role cannot leave a livestream by default (admin only)
    assert "leave-channel" not in own_capabilities(
        MEMBER, is_owner=False, grants=grants, overrides=None, config=config
    )


def test_capabilities_override_and_join() -> None:
    grants = default_channel_type_grants("messaging")
    caps = own_capabilities(
        MEMBER,
        is_owner=False,
        grants=grants,
        overrides={"channel_member": ["!send-custom-event"]},
        config=ALL_ON,
    )
    assert "send-custom-events" not in caps
    open_grants = merge_grants(grants, {"user": ["add-own-channel-membership"]}, grants)
    assert "join-channel" in own_capabilities(
        USER, is_owner=False, grants=open_grants, overrides=None, config=ALL_ON
    )
    assert "join-channel" not in own_capabilities(
        MEMBER, is_owner=False, grants=open_grants, overrides=None, config=ALL_ON
    )
    assert set(perms.CAPABILITIES) >= set(
        own_capabilities(
            ADMIN, is_owner=True, grants={"admin": list(PERMISSIONS)}, overrides=None, config=ALL_ON
        )
    )
