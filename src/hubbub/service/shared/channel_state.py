"""A channel as the SDKs read it: ``ChannelStateResponse`` and the channel object with the
caller's ``own_capabilities``."""

from __future__ import annotations

from typing import Any

from hubbub.core import permissions
from hubbub.core.models import Channel, ChannelType, Member, User
from hubbub.core.permissions import Subject
from hubbub.service.shared import access
from hubbub.service.shared.context import Context


async def channel_state(ctx: Context, channel: Channel, ct: ChannelType, acting: User | None,
                        *, member_limit: int = 100, member_offset: int = 0) -> dict[str, Any]:
    """``ChannelStateResponse``: the channel, its members, and empty message lists (Hubbub
    stores no messages) that the JS SDK reads unguarded."""
    members = await ctx.storage.get_members(channel.cid)
    user_ids = [m.user_id for m in members]
    if channel.created_by_id:
        user_ids.append(channel.created_by_id)
    watcher_count, watcher_ids = await ctx.presence.watchers(channel.cid)
    users = await ctx.users.get(user_ids + watcher_ids)
    membership = next((m for m in members if acting and m.user_id == acting.id), None)
    wire = channel_wire(ctx, channel, ct, users, len(members), acting, membership)
    page = members[member_offset:member_offset + member_limit]
    return {
        "channel": wire,
        "members": member_list(ctx, page, users),
        "messages": [], "pinned_messages": [], "pending_messages": [], "read": [],
        "threads": [], "hidden": False,
        "watcher_count": watcher_count,
        "watchers": [ctx.user_wire(users[u]) for u in watcher_ids if u in users],
        "membership": (membership.to_wire(users.get(membership.user_id), online=True)
                       if membership else None),
    }


def member_list(ctx: Context, members: list[Member], users: dict[str, User]) -> list[Any]:
    return [m.to_wire(users.get(m.user_id), online=ctx.presence.is_online(m.user_id))
            for m in members]


def channel_wire(ctx: Context, channel: Channel, ct: ChannelType, users: dict[str, User],
                 member_count: int, acting: User | None,
                 membership: Member | None) -> dict[str, Any]:
    """The channel object; with ``acting``, its ``own_capabilities`` for that user."""
    creator = users.get(channel.created_by_id or "")
    wire: dict[str, Any] = dict(channel.data)
    config = access.config_for(ct, channel, ctx.commands)
    wire.update(
        id=channel.id, type=channel.type, cid=channel.cid, created_at=channel.created_at,
        updated_at=channel.updated_at, frozen=channel.frozen, disabled=channel.disabled,
        member_count=member_count, config=config, hidden=False, cooldown=0,
        team=channel.team,
    )
    if creator is not None:
        wire["created_by"] = ctx.user_wire(creator)
    if channel.last_message_at:
        wire["last_message_at"] = channel.last_message_at
    if channel.config_overrides:
        wire["config_overrides"] = channel.config_overrides
    if acting is not None:
        if access.checks_disabled(ctx):
            subject_grants: dict[str, list[str]] = {
                r: sorted(permissions.PERMISSIONS) for r in (acting.role,)}
            subject = Subject(user_id=acting.id, role=acting.role)
            wire["own_capabilities"] = permissions.own_capabilities(
                subject, is_owner=True, grants=subject_grants, overrides=None, config=config)
        else:
            subject = Subject(user_id=acting.id, role=access.role_in(ctx, acting, channel),
                              channel_role=membership.channel_role if membership else None)
            wire["own_capabilities"] = permissions.own_capabilities(
                subject, is_owner=channel.created_by_id == acting.id, grants=ct.grants,
                overrides=channel.config_overrides.get("grants") or None, config=config)
    return wire
