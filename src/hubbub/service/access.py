"""Authorization and the effective configuration of a channel: the checks every use case makes
before it acts (client-side requests only; server-side requests are trusted)."""

from __future__ import annotations

from typing import Any

from hubbub import errors
from hubbub.core import defaults, permissions
from hubbub.core.models import Channel, ChannelType, Member, User
from hubbub.core.permissions import Subject
from hubbub.service.context import Context


def checks_disabled(ctx: Context) -> bool:
    return bool(ctx.app_settings.get("disable_permissions_checks"))


def authorize_app(ctx: Context, user: User, action: str) -> None:
    """Refuse (403, code 17) an app-scope action the user's role is not granted."""
    if checks_disabled(ctx):
        return
    grants = ctx.app_settings.get("grants") or permissions.default_app_grants()
    subject = Subject(user_id=user.id, role=user.role)
    if not permissions.is_allowed_app(action, subject, is_owner=True, app_grants=grants):
        raise errors.NotAllowed(
            f"User '{user.id}' with role '{user.role}' is not allowed to perform action "
            f"{action} in scope '.app'")


def authorize(ctx: Context, user: User, action: str, ct: ChannelType, channel: Channel | None,
              member: Member | None) -> None:
    """Refuse (403, code 17) a channel action: the type's grants, then the channel's
    overrides, for the user's role and channel role."""
    if checks_disabled(ctx):
        return
    subject = Subject(user_id=user.id, role=user.role,
                      channel_role=member.channel_role if member else None)
    is_owner = channel is None or channel.created_by_id == user.id
    overrides = (channel.config_overrides.get("grants") if channel else None) or None
    permissions.authorize(action, subject, scope=ct.name, is_owner=is_owner,
                          grants=ct.grants, overrides=overrides)


def can(ctx: Context, user: User, action: str, ct: ChannelType, channel: Channel,
        member: Member | None) -> bool:
    try:
        authorize(ctx, user, action, ct, channel, member)
    except errors.NotAllowed:
        return False
    return True


def type_config(ct: ChannelType) -> dict[str, Any]:
    """A channel type's ``config`` as Stream shows it (name, command objects, times)."""
    return {**ct.config, "name": ct.name, "commands": defaults.command_objects(ct.commands),
            "created_at": ct.created_at, "updated_at": ct.updated_at}


def config_for(ct: ChannelType, channel: Channel) -> dict[str, Any]:
    """The type's config with the channel's overrides applied (grants aside)."""
    config = type_config(ct)
    for key, value in channel.config_overrides.items():
        if key != "grants":
            config[key] = value
    return config


async def load_channel(ctx: Context, channel_type: str, channel_id: str,
                       acting: User | None) -> tuple[ChannelType, Channel, Member | None]:
    """The channel type, the channel and (client-side) the acting user's membership; 404 for
    an unknown type or channel."""
    ct = ctx.channel_type(channel_type)
    cid = f"{channel_type}:{channel_id}"
    if acting is not None:
        channel, member = await ctx.storage.get_channel_and_member(cid, acting.id)
    else:
        channel, member = await ctx.storage.get_channel(cid), None
    if channel is None:
        raise errors.NotFound(f"channel {cid!r} does not exist")
    return ct, channel, member
