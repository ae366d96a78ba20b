"""Stream's v2 permission model as data: permissions, default grants, checks and capabilities.

The model (Stream "Permissions v2"): a *subject* (a user, plus their channel membership when they
have one) performs an *action* (``SendCustomEvent``, ``ReadChannel``...) on a *resource* (a
channel, message, user...). A *permission* (``send-custom-event``) grants one action; its
``-owner`` variant (``send-custom-event-owner``) grants it only when the subject owns the resource
(a channel is owned by its creator, a message by its sender, a user by itself). *Grants* map a role
to the permission ids it holds, per *scope*: ``.app`` (app-level actions, e.g. searching users),
one scope per channel type, and per-channel *grant modifiers* (``config_overrides.grants``) that
add (``"perm"``) or revoke (``"!perm"``) ids for one role in one channel.

Rules every function here keeps:

* A subject is allowed an action when **either** of its roles (the user-level ``role`` and, for a
  member, the ``channel_role``) holds a permission for that action; ``-owner`` permissions count
  only when the subject owns the resource. There is no implicit super-user: ``admin`` can do only
  what its grants say, exactly as on Stream.
* Checks apply to client-side requests only. Server-side requests (API secret) and apps with
  ``disable_permissions_checks`` skip them; deciding that is the caller's job, not this module's.
* Feature flags (``custom_events``, ``typing_events``...) are independent of permissions: a flag
  switched off is refused even for admins. Only :func:`own_capabilities` combines the two.

Sources: Stream's "Permissions reference" (actions table and default grants of every built-in
scope) and "User Permissions" pages, as committed in ``GetStream/stream-chat-python/docs``;
"Channel Capabilities" page; ``stream-api.md`` section 6. Where Stream's docs are silent the
choice is marked "inferred" in a comment.

Nothing here does I/O or keeps mutable module state: tables are read-only, and every function that
hands a table to a caller hands a fresh copy.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from hubbub.core.default_grants import granted_ids
from hubbub.errors import InputError, NotAllowed

# --------------------------------------------------------------------------------------------
# Actions (Stream's names, from the actions table of the permissions reference)
# --------------------------------------------------------------------------------------------

# Channel resource
ADD_LINKS: Final = "AddLinks"
ADD_OWN_CHANNEL_MEMBERSHIP: Final = "AddOwnChannelMembership"
BAN_CHANNEL_MEMBER: Final = "BanChannelMember"
CREATE_CALL: Final = "CreateCall"
CREATE_CHANNEL: Final = "CreateChannel"
CREATE_DISTINCT_CHANNEL_FOR_OTHERS: Final = "CreateDistinctChannelForOthers"
CREATE_MESSAGE: Final = "CreateMessage"
CREATE_ATTACHMENT: Final = "CreateAttachment"
CREATE_MENTION: Final = "CreateMention"
CREATE_REACTION: Final = "CreateReaction"
CREATE_SYSTEM_MESSAGE: Final = "CreateSystemMessage"
DELETE_CHANNEL: Final = "DeleteChannel"
DELETE_REACTION: Final = "DeleteReaction"
FLAG_MESSAGE: Final = "FlagMessage"
JOIN_CALL: Final = "JoinCall"
MUTE_CHANNEL: Final = "MuteChannel"
PIN_MESSAGE: Final = "PinMessage"
READ_CHANNEL: Final = "ReadChannel"
READ_CHANNEL_MEMBERS: Final = "ReadChannelMembers"
READ_MESSAGE_FLAGS: Final = "ReadMessageFlags"
RECREATE_CHANNEL: Final = "RecreateChannel"
REMOVE_OWN_CHANNEL_MEMBERSHIP: Final = "RemoveOwnChannelMembership"
SEND_CUSTOM_EVENT: Final = "SendCustomEvent"
SKIP_CHANNEL_COOLDOWN: Final = "SkipChannelCooldown"
SKIP_MESSAGE_MODERATION: Final = "SkipMessageModeration"
TRUNCATE_CHANNEL: Final = "TruncateChannel"
UPDATE_CHANNEL: Final = "UpdateChannel"
UPDATE_CHANNEL_COOLDOWN: Final = "UpdateChannelCooldown"
UPDATE_CHANNEL_FROZEN: Final = "UpdateChannelFrozen"
UPDATE_CHANNEL_MEMBERS: Final = "UpdateChannelMembers"
UPLOAD_ATTACHMENT: Final = "UploadAttachment"
USE_FROZEN_CHANNEL: Final = "UseFrozenChannel"
# Message / attachment resources
DELETE_MESSAGE: Final = "DeleteMessage"
RUN_MESSAGE_ACTION: Final = "RunMessageAction"
UNBLOCK_MESSAGE: Final = "UnblockMessage"
UPDATE_MESSAGE: Final = "UpdateMessage"
DELETE_ATTACHMENT: Final = "DeleteAttachment"
# User resource (BanUser is granted per channel type; the others in the ``.app`` scope)
BAN_USER: Final = "BanUser"
FLAG_USER: Final = "FlagUser"
MUTE_USER: Final = "MuteUser"
SEARCH_USER: Final = "SearchUser"
UPDATE_USER: Final = "UpdateUser"
UPDATE_USER_ROLE: Final = "UpdateUserRole"
UPDATE_USER_TEAMS: Final = "UpdateUserTeams"
READ_DISABLED_CHANNEL: Final = "ReadDisabledChannel"
# Flag reports (``.app`` scope)
READ_FLAG_REPORTS: Final = "ReadFlagReports"
UPDATE_FLAG_REPORT: Final = "UpdateFlagReport"

#: Typing events have no action of their own: Stream's actions table lists none, and the
#: ``send-typing-events`` capability is documented as "typing events are enabled" only. So
#: typing is allowed to whoever may read the channel (inferred), gated by the ``typing_events``
#: flag. This alias keeps callers' intent readable; a refusal names ``ReadChannel``.
SEND_TYPING_EVENTS: Final = READ_CHANNEL

#: action -> (resource type, what it allows), as Stream's reference describes it ("Allows user
#: to ..."). Used to write each permission's name and description.
ACTIONS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        ADD_LINKS: ("Channel", "add URLs into messages"),
        ADD_OWN_CHANNEL_MEMBERSHIP: ("Channel", "add own channel membership (join channel)"),
        BAN_CHANNEL_MEMBER: ("Channel", "ban channel members"),
        CREATE_CALL: ("Call", "create a call"),
        CREATE_CHANNEL: ("Channel", "create a new channel"),
        CREATE_DISTINCT_CHANNEL_FOR_OTHERS: (
            "Channel",
            "create new distinct channel for other users",
        ),
        CREATE_MESSAGE: ("Channel", "send a new message"),
        CREATE_ATTACHMENT: ("Channel", "send a new message with attachments"),
        CREATE_MENTION: ("Channel", "send a new message with mentions"),
        CREATE_REACTION: ("Channel", "add a reaction to a message"),
        CREATE_SYSTEM_MESSAGE: ("Channel", "send a new system message"),
        DELETE_CHANNEL: ("Channel", "delete a channel"),
        DELETE_REACTION: ("Channel", "delete a reaction"),
        FLAG_MESSAGE: ("Channel", "flag messages"),
        JOIN_CALL: ("Call", "join a call"),
        MUTE_CHANNEL: ("Channel", "mute and unmute channel"),
        PIN_MESSAGE: ("Channel", "pin a message"),
        READ_CHANNEL: ("Channel", "read messages from the channel"),
        READ_CHANNEL_MEMBERS: ("Channel", "read channel members"),
        READ_MESSAGE_FLAGS: ("Channel", "access messages that have been flagged"),
        RECREATE_CHANNEL: ("Channel", "recreate a channel when it got deleted"),
        REMOVE_OWN_CHANNEL_MEMBERSHIP: (
            "Channel",
            "leave the channel (remove own channel membership)",
        ),
        SEND_CUSTOM_EVENT: ("Channel", "send custom events to a channel"),
        SKIP_CHANNEL_COOLDOWN: ("Channel", "bypass existing cooldown in a channel"),
        SKIP_MESSAGE_MODERATION: ("Channel", "bypass automatic message moderation"),
        TRUNCATE_CHANNEL: ("Channel", "truncate a channel"),
        UPDATE_CHANNEL: ("Channel", "update channel data"),
        UPDATE_CHANNEL_COOLDOWN: (
            "Channel",
            "set and unset cooldown time for a channel (slow mode)",
        ),
        UPDATE_CHANNEL_FROZEN: ("Channel", "freeze and unfreeze a channel"),
        UPDATE_CHANNEL_MEMBERS: ("Channel", "add, modify and remove channel members"),
        UPLOAD_ATTACHMENT: ("Channel", "upload files and images"),
        USE_FROZEN_CHANNEL: ("Channel", "send messages and reactions to a frozen channels"),
        DELETE_MESSAGE: ("Message", "delete a message"),
        RUN_MESSAGE_ACTION: ("Message", "run an action against a message"),
        UNBLOCK_MESSAGE: ("Message", "unblock message blocked by automatic moderation"),
        UPDATE_MESSAGE: ("Message", "update a message"),
        DELETE_ATTACHMENT: ("Attachment", "delete uploaded files and images"),
        BAN_USER: ("User", "ban users"),
        FLAG_USER: ("User", "flag users"),
        MUTE_USER: ("User", "mute and unmute users"),
        SEARCH_USER: ("User", "search for other users"),
        UPDATE_USER: ("User", "update users"),
        UPDATE_USER_ROLE: ("User", "update user roles"),
        UPDATE_USER_TEAMS: ("User", "update user teams"),
        READ_DISABLED_CHANNEL: (
            "User",
            "read disabled channels (regardless of channel membership)",
        ),
        READ_FLAG_REPORTS: ("FlagReport", "read flag reports"),
        UPDATE_FLAG_REPORT: ("FlagReport", "update flag report"),
    }
)

# --------------------------------------------------------------------------------------------
# Roles and scopes
# --------------------------------------------------------------------------------------------

BUILTIN_USER_ROLES: Final = ("admin", "moderator", "user", "guest", "anonymous")
BUILTIN_CHANNEL_ROLES: Final = ("channel_member", "channel_moderator")
BUILTIN_CHANNEL_TYPES: Final = ("messaging", "livestream", "team", "gaming", "commerce")
APP_SCOPE: Final = ".app"

# --------------------------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Permission:
    """One grantable permission: the right to perform ``action``, only as owner if ``owner``.

    ``level`` says which scope it belongs to: ``"app"`` permissions are granted in ``.app``,
    ``"channel"`` ones per channel type (and per channel through grant modifiers).
    """

    id: str
    name: str
    description: str
    action: str
    owner: bool = False
    level: str = "channel"
    same_team: bool = False
    custom: bool = False
    tags: tuple[str, ...] = ()
    #: Which resource "owner" refers to, for custom permissions that say so; built-ins leave it
    #: unset and it is then left out of the wire shape.
    owner_resource: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The shape ``GET /permissions`` and ``GET /permissions/{id}`` return."""
        wire: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "action": self.action,
            "owner": self.owner,
            "same_team": self.same_team,
            "custom": self.custom,
            "level": self.level,
            "tags": list(self.tags),
            "condition": {},
        }
        if self.owner_resource is not None:
            wire["owner_resource"] = self.owner_resource
        return wire


def _action_of(permission_id: str) -> str:
    """``send-custom-event-owner`` -> ``SendCustomEvent``: Stream's ids are the kebab-case action,
    plus ``-owner`` for the owner variant. Every built-in id below follows that rule (checked by
    the unit tests against :data:`ACTIONS`)."""
    base = permission_id.removesuffix("-owner")
    return "".join(part.capitalize() for part in base.split("-"))


def _words(action: str) -> str:
    """``SendCustomEvent`` -> ``Send Custom Event``."""
    out: list[str] = []
    for char in action:
        if char.isupper() and out:
            out.append(" ")
        out.append(char)
    return "".join(out)


# Owner variants of actions whose object *is* the owned thing read "Own X" on Stream's dashboard
# ("Read Own Channel", "Update Own User"); the rest act inside a channel the subject owns
# ("Create Message in Owned Channel", the example in Stream's docs).
_OWN_NAMES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        READ_CHANNEL: ("Read Own Channel", "a channel"),
        UPDATE_CHANNEL: ("Update Own Channel", "a channel"),
        DELETE_CHANNEL: ("Delete Own Channel", "a channel"),
        TRUNCATE_CHANNEL: ("Truncate Own Channel", "a channel"),
        RECREATE_CHANNEL: ("Recreate Own Channel", "a channel"),
        UPDATE_MESSAGE: ("Update Own Message", "a message"),
        DELETE_MESSAGE: ("Delete Own Message", "a message"),
        RUN_MESSAGE_ACTION: ("Run Action on Own Message", "a message"),
        DELETE_REACTION: ("Delete Own Reaction", "a reaction"),
        DELETE_ATTACHMENT: ("Delete Own Attachment", "an attachment"),
        UPDATE_USER: ("Update Own User", "the user (itself)"),
    }
)

_MESSAGE_TAGGED: Final = frozenset(
    {
        ADD_LINKS,
        CREATE_MESSAGE,
        CREATE_ATTACHMENT,
        CREATE_MENTION,
        CREATE_REACTION,
        CREATE_SYSTEM_MESSAGE,
        DELETE_REACTION,
        FLAG_MESSAGE,
        PIN_MESSAGE,
        READ_MESSAGE_FLAGS,
        SKIP_MESSAGE_MODERATION,
        UPLOAD_ATTACHMENT,
        DELETE_MESSAGE,
        RUN_MESSAGE_ACTION,
        UNBLOCK_MESSAGE,
        UPDATE_MESSAGE,
        DELETE_ATTACHMENT,
    }
)

#: Permissions granted in the ``.app`` scope rather than per channel type.
_APP_LEVEL_IDS: Final = frozenset(
    {
        "flag-user",
        "mute-user",
        "search-user",
        "update-user",
        "update-user-owner",
        "read-flag-reports",
        "update-flag-report",
    }
)


def _tags(action: str) -> tuple[str, ...]:
    # Tags are dashboard grouping only (no SDK reads them); follow Stream's visible grouping.
    resource = ACTIONS[action][0]
    if action in (ADD_OWN_CHANNEL_MEMBERSHIP, REMOVE_OWN_CHANNEL_MEMBERSHIP):
        return ("users", "channels")
    if action in _MESSAGE_TAGGED:
        return ("messages",)
    if resource == "User":
        return ("users",)
    if resource == "FlagReport":
        return ("moderation",)
    if resource == "Call":
        return ("calls",)
    return ("channels",)


def _builtin_permission(permission_id: str) -> Permission:
    action = _action_of(permission_id)
    owner = permission_id.endswith("-owner")
    what = ACTIONS[action][1]
    if owner:
        name, owned = _OWN_NAMES.get(action, (f"{_words(action)} in Owned Channel", "a channel"))
        description = f"Grants action {action} which allows to {what}, user should own {owned}"
    else:
        name = _words(action)
        description = f"Grants action {action} which allows to {what}"
    return Permission(
        id=permission_id,
        name=name,
        description=description,
        action=action,
        owner=owner,
        level="app" if permission_id in _APP_LEVEL_IDS else "channel",
        tags=_tags(action),
    )


#: Every built-in permission by id. Custom permissions (``POST /permissions``) live in storage;
#: callers that support them pass ``catalogue={**PERMISSIONS, **custom}``.
PERMISSIONS: Final[Mapping[str, Permission]] = MappingProxyType(
    {permission_id: _builtin_permission(permission_id) for permission_id in granted_ids()}
)


def _index_by_action(catalogue: Mapping[str, Permission]) -> Mapping[str, tuple[Permission, ...]]:
    index: dict[str, list[Permission]] = {}
    for permission in catalogue.values():
        index.setdefault(permission.action, []).append(permission)
    return MappingProxyType({action: tuple(perms) for action, perms in index.items()})


# The hot path (one check per sendEvent) looks candidates up here instead of scanning.
_BUILTIN_BY_ACTION: Final = _index_by_action(PERMISSIONS)


def _candidates(action: str, catalogue: Mapping[str, Permission]) -> tuple[Permission, ...]:
    if catalogue is PERMISSIONS:
        return _BUILTIN_BY_ACTION.get(action, ())
    return tuple(p for p in catalogue.values() if p.action == action)


# --------------------------------------------------------------------------------------------
# Validating and updating grants
# --------------------------------------------------------------------------------------------


def _permission_ids(
    role: str,
    value: object,
    *,
    catalogue: Mapping[str, Permission],
    level: str | None,
) -> list[str]:
    # A bare string is a sequence too; refuse it rather than grant its characters.
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InputError(
            f'grants["{role}"] must be a list of permission ids',
            fields={"grants": "must map role names to lists of permission ids"},
        )
    out: list[str] = []
    for permission_id in value:
        permission = catalogue.get(permission_id)
        if permission is None:
            raise InputError(
                f'grants["{role}"]: permission "{permission_id}" does not exist',
                fields={"grants": f'unknown permission "{permission_id}"'},
            )
        if level is not None and permission.level != level:
            raise InputError(
                f'grants["{role}"]: permission "{permission_id}" is {permission.level}-level '
                f"and cannot be granted in a {level}-level scope",
                fields={"grants": f'wrong scope for permission "{permission_id}"'},
            )
        if permission_id not in out:  # duplicates are harmless; keep the first
            out.append(permission_id)
    return out


def validate_grants(
    grants: object,
    *,
    catalogue: Mapping[str, Permission] = PERMISSIONS,
    known_roles: Collection[str] | None = None,
    level: str | None = None,
) -> dict[str, list[str]]:
    """Check a ``grants`` object from a request and return it normalised (deduplicated).

    Refuses with :class:`InputError`, naming the culprit: a non-object, a role whose value is not
    a list of strings, an unknown permission id, a role outside ``known_roles`` (when given) and,
    when ``level`` is given, a permission of the other level (``"app"`` vs ``"channel"``).
    """
    if not isinstance(grants, Mapping):
        raise InputError(
            "grants must be an object mapping role names to lists of permission ids",
            fields={"grants": "must be an object"},
        )
    out: dict[str, list[str]] = {}
    for role, value in grants.items():
        if not isinstance(role, str) or not role:
            raise InputError("grants keys must be role names", fields={"grants": "bad role"})
        if known_roles is not None and role not in known_roles:
            raise InputError(
                f'grants: role "{role}" does not exist', fields={"grants": f'unknown role "{role}"'}
            )
        out[role] = _permission_ids(role, value, catalogue=catalogue, level=level)
    return out


def merge_grants(
    current: Mapping[str, Sequence[str]],
    update: Mapping[str, Any] | None,
    defaults: Mapping[str, Sequence[str]],
    *,
    catalogue: Mapping[str, Permission] = PERMISSIONS,
    known_roles: Collection[str] | None = None,
    level: str | None = None,
) -> dict[str, list[str]]:
    """Apply a grants update with Stream's semantics and return the new grants (a fresh dict).

    * ``update is None`` (``"grants": null`` on the wire) resets the scope to ``defaults``.
    * Otherwise only the roles named in ``update`` change, each to exactly the list given; a role
      given ``[]`` loses all its grants and its key is removed. Roles not named keep theirs.
    * The update is validated first (:func:`validate_grants`); nothing changes if it is refused.

    Neither ``current`` nor ``defaults`` is modified.
    """
    if update is None:
        return {role: list(ids) for role, ids in defaults.items()}
    validated = validate_grants(update, catalogue=catalogue, known_roles=known_roles, level=level)
    merged = {role: list(ids) for role, ids in current.items()}
    for role, ids in validated.items():
        if ids:
            merged[role] = ids
        else:
            merged.pop(role, None)
    return merged


def validate_grant_modifiers(
    modifiers: object,
    *,
    catalogue: Mapping[str, Permission] = PERMISSIONS,
    known_roles: Collection[str] | None = None,
) -> dict[str, list[str]]:
    """Check per-channel grant modifiers (``config_overrides.grants``) and return them normalised.

    Same shape as grants, except each entry is a permission id to add or ``"!id"`` to revoke;
    the id after ``!`` must exist too. Only channel-level permissions can be modified per channel.
    """
    if not isinstance(modifiers, Mapping):
        raise InputError(
            "config_overrides.grants must be an object mapping role names to lists",
            fields={"grants": "must be an object"},
        )
    out: dict[str, list[str]] = {}
    for role, value in modifiers.items():
        if not isinstance(role, str) or not role:
            raise InputError("grants keys must be role names", fields={"grants": "bad role"})
        if known_roles is not None and role not in known_roles:
            raise InputError(
                f'grants: role "{role}" does not exist', fields={"grants": f'unknown role "{role}"'}
            )
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InputError(
                f'grants["{role}"] must be a list of permission ids',
                fields={"grants": "must map role names to lists"},
            )
        # Validate the ids without their "!"; the entries themselves are kept as given.
        _permission_ids(
            role, [entry.removeprefix("!") for entry in value], catalogue=catalogue, level="channel"
        )
        entries: list[str] = []
        for entry in value:
            if entry not in entries:
                entries.append(entry)
        out[role] = entries
    return out


# --------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is acting: the user's id and user-level role, and their channel role if a member."""

    user_id: str
    role: str
    channel_role: str | None = None

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles whose grants count, user-level first."""
        if self.channel_role is None:
            return (self.role,)
        return (self.role, self.channel_role)


def _apply_modifiers(base: Iterable[str], modifiers: Iterable[str]) -> set[str]:
    held = set(base)
    revoked: list[str] = []
    for entry in modifiers:
        if entry.startswith("!"):
            revoked.append(entry[1:])
        else:
            held.add(entry)
    # Revocations are applied last so that a modifier list can never widen access by its order
    # (["!x", "x"] revokes x). Stream does not document conflicting entries; this is inferred.
    held.difference_update(revoked)
    return held


def _role_grants(
    role: str,
    grants: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]] | None,
) -> Collection[str]:
    base = grants.get(role, ())
    if not overrides:
        return base  # the common case: no copy, ``in`` over a short list
    modifiers = overrides.get(role)
    if not modifiers:
        return base
    return _apply_modifiers(base, modifiers)


def effective_permissions(
    roles: Iterable[str],
    grants: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]] | None = None,
) -> set[str]:
    """The permission ids held through any of ``roles`` in one scope.

    Each role's grants are first adjusted by that role's own modifiers in ``overrides`` (add
    ``"id"``, revoke ``"!id"``), so a revocation for ``user`` never takes away what a member
    holds through ``channel_member``. Revoking ``x`` leaves ``x-owner`` alone: ids are distinct.
    """
    held: set[str] = set()
    for role in roles:
        held.update(_role_grants(role, grants, overrides))
    return held


def _holds(
    action: str,
    roles: Iterable[str],
    *,
    is_owner: bool,
    grants: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]] | None,
    catalogue: Mapping[str, Permission],
) -> bool:
    candidates = _candidates(action, catalogue)
    if not candidates:
        return False
    for role in roles:
        held = _role_grants(role, grants, overrides)
        for permission in candidates:
            if (is_owner or not permission.owner) and permission.id in held:
                return True
    return False


def is_allowed(
    action: str,
    subject: Subject,
    *,
    is_owner: bool,
    grants: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]] | None = None,
    catalogue: Mapping[str, Permission] = PERMISSIONS,
) -> bool:
    """Whether ``subject`` may perform a channel-scope ``action``.

    ``grants`` are the channel type's, ``overrides`` the channel's ``config_overrides.grants``.
    True when the user role or the channel role (for members) holds a permission for ``action``;
    an ``-owner`` permission counts only when ``is_owner`` (the subject owns the resource: the
    channel's creator, a message's sender...). Ids in grants that no longer exist are ignored.
    """
    return _holds(
        action,
        subject.roles,
        is_owner=is_owner,
        grants=grants,
        overrides=overrides,
        catalogue=catalogue,
    )


def is_allowed_app(
    action: str,
    subject: Subject,
    *,
    is_owner: bool,
    app_grants: Mapping[str, Sequence[str]],
    catalogue: Mapping[str, Permission] = PERMISSIONS,
) -> bool:
    """Whether ``subject`` may perform an app-scope ``action`` (``.app`` grants).

    Only the user-level role counts: there is no channel, hence no channel role. ``is_owner`` is
    true when the resource is the subject itself (``update-user-owner``: a user updating itself).
    """
    return _holds(
        action,
        (subject.role,),
        is_owner=is_owner,
        grants=app_grants,
        overrides=None,
        catalogue=catalogue,
    )


def not_allowed(subject: Subject, action: str, scope: str) -> NotAllowed:
    """Stream's v2 refusal, worded exactly as Stream words it (code 17, HTTP 403)."""
    return NotAllowed(
        f"User '{subject.user_id}' with role '{subject.role}' is not allowed to perform "
        f"action {action} in scope '{scope}'"
    )


def authorize(
    action: str,
    subject: Subject,
    *,
    scope: str,
    is_owner: bool,
    grants: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]] | None = None,
    catalogue: Mapping[str, Permission] = PERMISSIONS,
) -> None:
    """Raise :class:`NotAllowed` unless :func:`is_allowed`; ``scope`` is the channel type name.

    The message names the user-level role even when the channel role was also consulted, as
    Stream's does.
    """
    if not is_allowed(
        action, subject, is_owner=is_owner, grants=grants, overrides=overrides, catalogue=catalogue
    ):
        raise not_allowed(subject, action, scope)


def authorize_app(
    action: str,
    subject: Subject,
    *,
    is_owner: bool,
    app_grants: Mapping[str, Sequence[str]],
    catalogue: Mapping[str, Permission] = PERMISSIONS,
) -> None:
    """Raise :class:`NotAllowed` (scope ``'.app'``) unless :func:`is_allowed_app`."""
    if not is_allowed_app(
        action, subject, is_owner=is_owner, app_grants=app_grants, catalogue=catalogue
    ):
        raise not_allowed(subject, action, APP_SCOPE)


# --------------------------------------------------------------------------------------------
# Capabilities
# --------------------------------------------------------------------------------------------

#: The ``own_capabilities`` strings this module computes. Message, reaction, upload and
#: moderation capabilities are left out on purpose: advertising them makes UI SDKs offer
#: features this server does not serve.
CAPABILITIES: Final = (
    "connect-events",
    "delete-channel",
    "join-channel",
    "leave-channel",
    "read-events",
    "send-custom-events",
    "send-typing-events",
    "typing-events",
    "update-channel",
    "update-channel-members",
)


def own_capabilities(
    subject: Subject,
    *,
    is_owner: bool,
    grants: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]] | None,
    config: Mapping[str, Any],
    is_distinct: bool = False,
    catalogue: Mapping[str, Permission] = PERMISSIONS,
) -> list[str]:
    """``channel.own_capabilities`` for ``subject`` in one channel, sorted.

    ``config`` is the channel's effective config (type config with ``config_overrides``
    applied); a missing flag counts as off. ``is_owner``: the subject created the channel. Rules,
    from Stream's capability docs (the SDKs' descriptions of each):

    * ``send-custom-events``: ``custom_events`` on and ``SendCustomEvent`` allowed.
    * ``typing-events`` and its older name ``send-typing-events``: ``typing_events`` on and the
      channel readable (typing has no action of its own, see :data:`SEND_TYPING_EVENTS`).
    * ``read-events`` / ``connect-events``: the ``read_events`` / ``connect_events`` flag.
    * ``update-channel`` / ``delete-channel``: ``UpdateChannel`` / ``DeleteChannel`` allowed.
    * ``update-channel-members``: ``UpdateChannelMembers`` allowed and the channel not distinct
      (a distinct channel's members are its identity).
    * ``leave-channel``: a member with ``RemoveOwnChannelMembership`` or ``UpdateChannelMembers``.
    * ``join-channel``: a non-member with ``AddOwnChannelMembership`` (no default grants it).

    There is no ``read-channel`` capability on Stream: a channel the subject cannot read is not
    returned at all.
    """

    def allowed(action: str) -> bool:
        return _holds(
            action,
            subject.roles,
            is_owner=is_owner,
            grants=grants,
            overrides=overrides,
            catalogue=catalogue,
        )

    def flag(name: str) -> bool:
        return bool(config.get(name, False))

    is_member = subject.channel_role is not None
    caps: set[str] = set()
    if flag("custom_events") and allowed(SEND_CUSTOM_EVENT):
        caps.add("send-custom-events")
    if flag("typing_events") and allowed(SEND_TYPING_EVENTS):
        caps.update(("typing-events", "send-typing-events"))
    if flag("read_events"):
        caps.add("read-events")
    if flag("connect_events"):
        caps.add("connect-events")
    if allowed(UPDATE_CHANNEL):
        caps.add("update-channel")
    if allowed(DELETE_CHANNEL):
        caps.add("delete-channel")
    can_manage_members = allowed(UPDATE_CHANNEL_MEMBERS)
    if can_manage_members and not is_distinct:
        caps.add("update-channel-members")
    if is_member and (can_manage_members or allowed(REMOVE_OWN_CHANNEL_MEMBERSHIP)):
        caps.add("leave-channel")
    if not is_member and allowed(ADD_OWN_CHANNEL_MEMBERSHIP):
        caps.add("join-channel")
    return sorted(caps)
