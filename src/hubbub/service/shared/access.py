"""Authorization and the effective configuration of a channel: the checks every use case makes
before it acts (client-side requests only; server-side requests are trusted)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from hubbub import errors
from hubbub.core import default_grants, defaults, permissions
from hubbub.core.models import Channel, ChannelType, Command, Member, User
from hubbub.core.permissions import Subject
from hubbub.service.shared.context import Context


def checks_disabled(ctx: Context) -> bool:
    return bool(ctx.app_settings.get("disable_permissions_checks"))


def authorize_app(ctx: Context, user: User, action: str) -> None:
    """Refuse (403, code 17) an app-scope action the user's role is not granted."""
    if checks_disabled(ctx):
        return
    grants = ctx.app_settings.get("grants") or default_grants.default_app_grants()
    subject = Subject(user_id=user.id, role=user.role)
    if not permissions.is_allowed_app(action, subject, is_owner=True, app_grants=grants):
        raise errors.NotAllowed(
            f"User '{user.id}' with role '{user.role}' is not allowed to perform action "
            f"{action} in scope '.app'")


def multi_tenant(ctx: Context) -> bool:
    return bool(ctx.app_settings.get("multi_tenant_enabled"))


def check_team(ctx: Context, user: User, channel: Channel) -> None:
    """Multi-tenant apps (Stream's rules): a channel of a team is reachable only by users of
    that team, and a channel without a team only by users without teams. 403 (code 17)
    otherwise. Nothing is checked when the app is not multi-tenant. Independent of
    ``disable_permissions_checks``: tenants stay apart even in a permissive app."""
    if not multi_tenant(ctx):
        return
    if channel.team in user.teams if channel.team else not user.teams:
        return
    why = (f"belongs to team '{channel.team}'" if channel.team
           else "does not belong to any team")
    raise errors.NotAllowed(
        f"User '{user.id}' with role '{user.role}' from teams {user.teams} cannot access "
        f"resource in scope '{channel.type}' because requested resource {why}")


def role_in(ctx: Context, user: User, channel: Channel | None) -> str:
    """The user's role for an action on ``channel``: in a multi-tenant app, its role in the
    channel's team (``teams_role``) when it has one, else its app-wide role."""
    if channel is not None and channel.team and multi_tenant(ctx):
        return user.teams_role.get(channel.team, user.role)
    return user.role


def visible_channels(ctx: Context, user: User) -> dict[str, Any] | None:
    """A query filter that keeps the channels ``user`` may reach (None: no restriction)."""
    if not multi_tenant(ctx):
        return None
    return {"team": {"$in": user.teams}} if user.teams else {"team": ""}


def visible_users(ctx: Context, user: User) -> dict[str, Any] | None:
    """A query filter that keeps the users ``user`` may see: those sharing a team with it
    (without teams: those without teams). None: no restriction."""
    if not multi_tenant(ctx):
        return None
    return {"teams": {"$in": user.teams}} if user.teams else {"teams": {"$exists": False}}


def authorize(ctx: Context, user: User, action: str, ct: ChannelType, channel: Channel | None,
              member: Member | None) -> None:
    """Refuse (403, code 17) a channel action: the channel's team (multi-tenant apps), then
    the type's grants and the channel's overrides, for the user's role (its team role in a
    team's channel) and channel role."""
    if channel is not None:
        check_team(ctx, user, channel)
    if checks_disabled(ctx):
        return
    subject = Subject(user_id=user.id, role=role_in(ctx, user, channel),
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


def type_config(ct: ChannelType,
                commands: Mapping[str, Command] = MappingProxyType({})) -> dict[str, Any]:
    """A channel type's ``config`` as Stream shows it (name, command objects, times);
    ``commands`` are the app's custom commands (for their objects)."""
    return {**ct.config, "name": ct.name,
            "commands": defaults.command_objects(ct.commands, commands),
            "created_at": ct.created_at, "updated_at": ct.updated_at}


def config_for(ct: ChannelType, channel: Channel,
               commands: Mapping[str, Command] = MappingProxyType({})) -> dict[str, Any]:
    """The type's config with the channel's overrides applied (grants aside)."""
    config = type_config(ct, commands)
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
