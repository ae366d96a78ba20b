"""Stream's default grants: which role holds which permission in each built-in scope.

Transcribed row by row from Stream's permissions reference (see :mod:`hubbub.core.permissions`
for the model and its sources), kept apart from the checks because it is data a reviewer holds
against the docs, table by table. Read-only; the functions hand out fresh copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

# --------------------------------------------------------------------------------------------
# Default grants, transcribed row by row from Stream's permissions reference so a reviewer can
# hold them against the docs. Role codes: a=admin m=moderator u=user g=guest an=anonymous
# cm=channel_member cmod=channel_moderator.
# --------------------------------------------------------------------------------------------

_ROLE_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "a": "admin",
        "m": "moderator",
        "u": "user",
        "g": "guest",
        "an": "anonymous",
        "cm": "channel_member",
        "cmod": "channel_moderator",
    }
)

_MESSAGING_ROWS: Final[tuple[tuple[str, str], ...]] = (
    ("add-links", "a m cm cmod"),
    ("add-links-owner", "u"),
    ("ban-channel-member", "a m cmod"),
    ("ban-user", "a m"),
    ("create-call", "a m cm cmod"),
    ("create-channel", "a m u"),
    ("create-message", "a m cm cmod"),
    ("create-message-owner", "u"),
    ("create-attachment", "a m cm cmod"),
    ("create-attachment-owner", "u"),
    ("create-mention", "a m cm cmod"),
    ("create-mention-owner", "u"),
    ("create-reaction", "a m cm cmod"),
    ("create-reaction-owner", "u"),
    ("create-system-message", "a m cmod"),
    ("delete-attachment", "a m cmod"),
    ("delete-attachment-owner", "u"),
    ("delete-channel", "a"),
    ("delete-channel-owner", "m u"),
    ("delete-message", "a m cmod"),
    ("delete-message-owner", "u"),
    ("delete-reaction", "a m cmod"),
    ("delete-reaction-owner", "u"),
    ("flag-message", "a m cm cmod"),
    ("flag-message-owner", "u"),
    ("join-call", "a m cm cmod"),
    ("mute-channel", "a m cm cmod"),
    ("mute-channel-owner", "u"),
    ("pin-message", "a m cm cmod"),
    ("pin-message-owner", "u"),
    ("read-channel", "a m cm cmod"),
    ("read-channel-members", "a m cm cmod"),
    ("read-channel-members-owner", "u"),
    ("read-channel-owner", "u"),
    ("read-message-flags", "a m cmod"),
    ("recreate-channel", "a"),
    ("recreate-channel-owner", "m u"),
    ("remove-own-channel-membership", "a m cm cmod"),
    ("remove-own-channel-membership-owner", "u"),
    ("run-message-action", "a m cm cmod"),
    ("run-message-action-owner", "u"),
    ("send-custom-event", "a m cm cmod"),
    ("send-custom-event-owner", "u"),
    ("skip-channel-cooldown", "a m cmod"),
    ("skip-message-moderation", "a m cmod"),
    ("truncate-channel", "a"),
    ("truncate-channel-owner", "m u"),
    ("unblock-message", "a m cmod"),
    ("update-channel", "a m cmod"),
    ("update-channel-cooldown", "a m cmod"),
    ("update-channel-frozen", "a m cmod"),
    ("update-channel-members", "a m cmod"),
    ("update-channel-members-owner", "u"),
    ("update-channel-owner", "u"),
    ("update-message", "a m cmod"),
    ("update-message-owner", "u"),
    ("upload-attachment", "a m cm cmod"),
    ("upload-attachment-owner", "u"),
)

# The reference's ``team`` table is row-for-row the ``messaging`` table.
_TEAM_ROWS: Final = _MESSAGING_ROWS

# Livestream has no channel_member column at all: members get nothing from their channel role,
# everything comes from the user role (channels are open to watch without membership).
_LIVESTREAM_ROWS: Final[tuple[tuple[str, str], ...]] = (
    ("add-links", "a m u"),
    ("ban-channel-member", "a m cmod"),
    ("ban-user", "a m"),
    ("create-call", "a m cmod"),
    ("create-channel", "a m u"),
    ("create-message", "a m u"),
    ("create-attachment", "a m u"),
    ("create-mention", "a m u"),
    ("create-reaction", "a m u"),
    ("create-system-message", "a m cmod"),
    ("delete-attachment", "a m cmod"),
    ("delete-attachment-owner", "u"),
    ("delete-channel", "a"),
    ("delete-message", "a m cmod"),
    ("delete-message-owner", "u"),
    ("delete-reaction", "a m cmod"),
    ("delete-reaction-owner", "u"),
    ("flag-message", "a m u g"),
    ("join-call", "a m u g an"),
    ("mute-channel", "a m u g"),
    ("pin-message", "a m cmod"),
    ("pin-message-owner", "u"),
    ("read-channel", "a m u g an"),
    ("read-channel-members", "a m u g an"),
    ("read-message-flags", "a m cmod"),
    ("recreate-channel", "a"),
    ("remove-own-channel-membership", "a"),
    ("run-message-action", "a m u"),
    ("send-custom-event", "a m u"),
    ("skip-channel-cooldown", "a m cmod"),
    ("skip-message-moderation", "a m cmod"),
    ("truncate-channel", "a"),
    ("unblock-message", "a m cmod"),
    ("update-channel", "a"),
    ("update-channel-cooldown", "a m cmod"),
    ("update-channel-frozen", "a m cmod"),
    ("update-channel-members", "a"),
    ("update-message", "a m cmod"),
    ("update-message-owner", "u"),
    ("upload-attachment", "a m u"),
)

# Commerce: the only built-in type with a guest column. Guests may create channels and act on
# what they own; plain users may not create channels (as documented, surprising as it is).
_COMMERCE_ROWS: Final[tuple[tuple[str, str], ...]] = (
    ("add-links", "a m cm cmod g"),
    ("add-links-owner", "u"),
    ("ban-channel-member", "a m cmod"),
    ("ban-user", "a m"),
    ("create-call", "a m cmod"),
    ("create-channel", "a m g"),
    ("create-message", "a m cm cmod"),
    ("create-message-owner", "u"),
    ("create-attachment", "a m cm cmod"),
    ("create-attachment-owner", "u"),
    ("create-mention", "a m cm cmod"),
    ("create-mention-owner", "u"),
    ("create-reaction", "a m cm cmod"),
    ("create-reaction-owner", "u"),
    ("create-system-message", "a m cmod"),
    ("delete-attachment", "a m cmod"),
    ("delete-attachment-owner", "u g"),
    ("delete-channel", "a"),
    ("delete-message", "a m cmod"),
    ("delete-message-owner", "u g"),
    ("delete-reaction", "a m cmod"),
    ("delete-reaction-owner", "u g"),
    ("flag-message", "a m cm cmod"),
    ("flag-message-owner", "u g"),
    ("join-call", "a m cm cmod"),
    ("mute-channel", "a m cm cmod"),
    ("mute-channel-owner", "u g"),
    ("pin-message", "a m cmod"),
    ("pin-message-owner", "u g"),
    ("read-channel", "a m cm cmod"),
    ("read-channel-members", "a m cm cmod"),
    ("read-channel-members-owner", "u g"),
    ("read-channel-owner", "u g"),
    ("read-message-flags", "a m cmod"),
    ("recreate-channel", "a"),
    ("remove-own-channel-membership", "a m cm cmod"),
    ("remove-own-channel-membership-owner", "u"),
    ("run-message-action", "a m cm cmod"),
    ("run-message-action-owner", "u"),
    ("send-custom-event", "a m cm cmod"),
    ("send-custom-event-owner", "u"),
    ("skip-channel-cooldown", "a m cmod"),
    ("skip-message-moderation", "a m cmod"),
    ("truncate-channel", "a"),
    ("unblock-message", "a m cmod"),
    ("update-channel", "a m cmod"),
    ("update-channel-cooldown", "a m cmod"),
    ("update-channel-frozen", "a m cmod"),
    ("update-channel-members", "a m cmod"),
    ("update-channel-members-owner", "u g"),
    ("update-message", "a m cmod"),
    ("update-message-owner", "u g"),
    ("upload-attachment", "a m cm cmod g"),
    ("upload-attachment-owner", "u"),
)

# Gaming: only admins create, update, delete channels or manage members; no "-owner" variants
# for channel management.
_GAMING_ROWS: Final[tuple[tuple[str, str], ...]] = (
    ("add-links", "a m cm cmod"),
    ("add-links-owner", "u"),
    ("ban-channel-member", "a m cmod"),
    ("ban-user", "a m"),
    ("create-call", "a m cm cmod"),
    ("create-channel", "a"),
    ("create-message", "a m cm cmod"),
    ("create-message-owner", "u"),
    ("create-attachment", "a m cm cmod"),
    ("create-attachment-owner", "u"),
    ("create-mention", "a m cm cmod"),
    ("create-mention-owner", "u"),
    ("create-reaction", "a m cm cmod"),
    ("create-reaction-owner", "u"),
    ("create-system-message", "a m cmod"),
    ("delete-attachment", "a m cmod"),
    ("delete-attachment-owner", "u"),
    ("delete-channel", "a"),
    ("delete-message", "a m cmod"),
    ("delete-message-owner", "u"),
    ("delete-reaction", "a m cmod"),
    ("delete-reaction-owner", "u"),
    ("flag-message", "a m cm cmod"),
    ("flag-message-owner", "u"),
    ("join-call", "a m cm cmod"),
    ("mute-channel", "a m cm cmod"),
    ("mute-channel-owner", "u"),
    ("pin-message", "a m cmod"),
    ("read-channel", "a m cm cmod"),
    ("read-channel-members", "a m cm cmod"),
    ("read-channel-members-owner", "u"),
    ("read-channel-owner", "u"),
    ("read-message-flags", "a m cmod"),
    ("recreate-channel", "a"),
    ("remove-own-channel-membership", "a m cm cmod"),
    ("remove-own-channel-membership-owner", "u"),
    ("run-message-action", "a m cm cmod"),
    ("run-message-action-owner", "u"),
    ("send-custom-event", "a m cm cmod"),
    ("send-custom-event-owner", "u"),
    ("skip-channel-cooldown", "a m cmod"),
    ("skip-message-moderation", "a m cmod"),
    ("truncate-channel", "a"),
    ("unblock-message", "a m cmod"),
    ("update-channel", "a"),
    ("update-channel-cooldown", "a m cmod"),
    ("update-channel-frozen", "a m cmod"),
    ("update-channel-members", "a"),
    ("update-message", "a m cmod"),
    ("update-message-owner", "u"),
    ("upload-attachment", "a m cm cmod"),
    ("upload-attachment-owner", "u"),
)

_APP_ROWS: Final[tuple[tuple[str, str], ...]] = (
    ("flag-user", "a m u g"),
    ("mute-user", "a m u g"),
    ("read-flag-reports", "a m"),
    ("search-user", "a m u g"),
    ("update-flag-report", "a m"),
    ("update-user-owner", "a m u g"),
)

# Grantable but in no default table: joining a channel (the ``join-channel`` capability) and
# updating other users.
_EXTRA_IDS: Final = ("add-own-channel-membership", "update-user")


def _by_role(rows: Iterable[tuple[str, str]]) -> Mapping[str, tuple[str, ...]]:
    """Turn permission-major rows into Stream's role-major grants (ids in table order)."""
    grants: dict[str, list[str]] = {}
    for permission_id, codes in rows:
        for code in codes.split():
            grants.setdefault(_ROLE_CODES[code], []).append(permission_id)
    return MappingProxyType({role: tuple(ids) for role, ids in grants.items()})


_CHANNEL_TYPE_DEFAULTS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = MappingProxyType(
    {
        "messaging": _by_role(_MESSAGING_ROWS),
        "livestream": _by_role(_LIVESTREAM_ROWS),
        "team": _by_role(_TEAM_ROWS),
        "gaming": _by_role(_GAMING_ROWS),
        "commerce": _by_role(_COMMERCE_ROWS),
    }
)

#: Stream's default ``.app`` scope grants (read-only; :func:`default_app_grants` gives a copy).
DEFAULT_APP_GRANTS: Final[Mapping[str, tuple[str, ...]]] = _by_role(_APP_ROWS)


def granted_ids() -> list[str]:
    """Every permission id some default table grants, plus those grantable but granted by
    none: the built-in permissions."""
    ids: list[str] = []
    tables = (_MESSAGING_ROWS, _LIVESTREAM_ROWS, _COMMERCE_ROWS, _GAMING_ROWS, _APP_ROWS)
    for rows in tables:
        ids.extend(permission_id for permission_id, _ in rows)
    ids.extend(_EXTRA_IDS)
    return sorted(set(ids))


def default_channel_type_grants(type_name: str) -> dict[str, list[str]]:
    """Stream's default grants for a channel type, as a fresh ``role -> [permission id]`` dict.

    Built-in types get their own documented table; any other name gets ``messaging``'s, as a
    channel type created through the API does on Stream.
    """
    table = _CHANNEL_TYPE_DEFAULTS.get(type_name, _CHANNEL_TYPE_DEFAULTS["messaging"])
    return {role: list(ids) for role, ids in table.items()}


def default_app_grants() -> dict[str, list[str]]:
    """Stream's default ``.app`` scope grants, as a fresh dict the caller may mutate."""
    return {role: list(ids) for role, ids in DEFAULT_APP_GRANTS.items()}
