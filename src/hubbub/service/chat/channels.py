"""Channels: get-or-create (and watch), update with its members, partial update, delete, query,
and query members."""

from __future__ import annotations

import hashlib
from typing import Any

from hubbub import errors
from hubbub.auth import Principal
from hubbub.broker import Control
from hubbub.core import events, permissions
from hubbub.core.models import CHANNEL_RESERVED, Channel, ChannelType, Member, User, utcnow
from hubbub.core.validation import check_custom_size, check_id
from hubbub.schemas import (
    ChannelData,
    ChannelQueryRequest,
    MemberInput,
    PartialUpdateChannelRequest,
    QueryChannelsRequest,
    QueryMembersRequest,
    UpdateChannelRequest,
)
from hubbub.service.shared import access, presence, tasks, watching
from hubbub.service.shared.authentication import acting_user
from hubbub.service.shared.channel_state import channel_state, channel_wire, member_list
from hubbub.service.shared.context import Context
from hubbub.service.shared.emit import emit, publish_channel_event

#: Settings a channel may override on its type (server-side only).
OVERRIDABLE = frozenset({
    "typing_events", "reactions", "replies", "quotes", "uploads", "url_enrichment",
    "max_message_length", "blocklist", "blocklist_behavior", "commands", "grants", "push_level",
    "shared_locations", "user_message_reminders", "count_messages"})


async def _acting(ctx: Context, principal: Principal) -> User | None:
    """The acting user of a client-side request; None server-side."""
    return None if principal.server else await acting_user(ctx, principal)


def _resolve_creator(principal: Principal, acting: User | None, data: ChannelData | None) -> str:
    if principal.client_side:
        assert acting is not None
        return acting.id
    creator = None
    if data is not None:
        if data.created_by is not None:
            creator = data.created_by.get("id")
        creator = creator or data.created_by_id
    if not creator:
        raise errors.InputError(
            "either data.created_by or data.created_by_id must be provided when using "
            "server side auth.")
    return check_id(creator, "data.created_by.id")


async def _ensure_users_exist(ctx: Context, ids: list[str]) -> dict[str, User]:
    found = await ctx.users.get(ids)
    missing = sorted(set(ids) - set(found))
    if missing:
        raise errors.InputError(
            f"The following users are involved in channel update operation, but don't "
            f"exist: [{', '.join(missing)}]")
    return found


def _member_inputs(ctx: Context, inputs: list[MemberInput], now: str, cid: str) -> list[Member]:
    out = []
    for m in inputs:
        check_id(m.user_id, "members[].user_id")
        role = m.channel_role or "channel_member"
        if not ctx.known_role(role):
            raise errors.InputError(f"channel_role {role!r} does not exist")
        if role in permissions.BUILTIN_USER_ROLES:
            # A member's channel role is looked up in the grants as a role: "admin" here
            # would hand a channel creator the admin's grants in that channel.
            raise errors.InputError(
                f"channel_role {role!r} is a user role, not a channel role "
                "(channel_member, channel_moderator or a custom role)")
        out.append(Member(cid=cid, user_id=m.user_id, channel_role=role, created_at=now,
                          updated_at=now))
    return out


def _check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if key not in OVERRIDABLE:
            raise errors.InputError(f"config_overrides.{key} cannot be overridden")
        if key == "grants":
            if not isinstance(value, dict):
                raise errors.InputError("config_overrides.grants must be an object")
            for role, perms in value.items():
                if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
                    raise errors.InputError(
                        f"config_overrides.grants.{role} must be an array of permissions")
                for p in perms:
                    if p.lstrip("!") not in permissions.PERMISSIONS:
                        raise errors.InputError(f"permission {p.lstrip('!')!r} is unknown")
    return overrides


def _distinct_id(data: ChannelData | None, acting: User | None) -> str:
    """A distinct channel's id, derived from its member set."""
    if data is None or not data.members:
        raise errors.InputError("When channel id is not provided, members must be provided")
    ids = sorted({m.user_id for m in data.members} | ({acting.id} if acting else set()))
    digest = hashlib.sha256("\0".join(ids).encode()).hexdigest()[:40]
    return f"!members-{digest}"


async def _get_with_member(ctx: Context, cid: str,
                           acting: User | None) -> tuple[Channel | None, Member | None]:
    if acting is None:
        return await ctx.storage.get_channel(cid), None
    return await ctx.storage.get_channel_and_member(cid, acting.id)


async def get_or_create_channel(ctx: Context, principal: Principal, channel_type: str,
                                channel_id: str | None, request: ChannelQueryRequest,
                                connection_id: str | None) -> dict[str, Any]:
    ct = ctx.channel_type(channel_type)
    acting = await _acting(ctx, principal)
    data = request.data
    if channel_id is None:
        channel_id = _distinct_id(data, acting)
    check_id(channel_id, "channel id")
    cid = f"{channel_type}:{channel_id}"
    channel, member = await _get_with_member(ctx, cid, acting)
    if channel is None:
        creator_id = _resolve_creator(principal, acting, data)
        now = utcnow()
        custom = {k: v for k, v in ((data.model_extra or {}) if data else {}).items()
                  if k not in CHANNEL_RESERVED}
        check_custom_size(custom, "channel")
        new_channel = Channel(type=channel_type, id=channel_id, created_by_id=creator_id,
                              data=custom, team=(data.team or "") if data else "",
                              frozen=bool(data and data.frozen), created_at=now,
                              updated_at=now)
        if data and data.config_overrides:
            if principal.client_side:
                raise errors.NotAllowed("config_overrides can only be set server-side")
            new_channel.config_overrides = _check_overrides(data.config_overrides)
        new_members = _member_inputs(ctx, data.members or [] if data else [], now, cid)
        if acting is not None:
            # With the new channel: in a multi-tenant app its team must be one of the user's.
            access.authorize(ctx, acting, permissions.CREATE_CHANNEL, ct, new_channel, None)
        await _ensure_users_exist(
            ctx, list({m.user_id for m in new_members} | {creator_id}) if principal.server
            else [m.user_id for m in new_members])
        if await ctx.storage.create_channel(new_channel, new_members):
            await publish_channel_event(ctx, "channel.created", new_channel, None, {})
        channel, member = await _get_with_member(ctx, cid, acting)
        assert channel is not None
    elif acting is not None:
        access.authorize(ctx, acting, permissions.READ_CHANNEL, ct, channel, member)
    if request.watch and connection_id:
        if acting is None:
            raise errors.InputError("watching needs a client-side (user) token")
        await watching.watch(ctx, acting, channel, ct, connection_id,
                                 principal.address)
    limit = request.members.limit if request.members else 100
    offset = request.members.offset if request.members else 0
    state = await channel_state(ctx, channel, ct, acting, member_limit=limit,
                                member_offset=offset)
    if request.presence and acting is not None:
        await presence.subscribe(ctx, acting, connection_id, _people(state))
    return state


def _people(state: dict[str, Any]) -> list[str]:
    """The members and watchers of a channel state (whose presence a client follows)."""
    return list(dict.fromkeys([m["user_id"] for m in state["members"]]
                              + [w["id"] for w in state["watchers"]]))


async def update_channel(ctx: Context, principal: Principal, channel_type: str,
                         channel_id: str, request: UpdateChannelRequest) -> dict[str, Any]:
    acting = await _acting(ctx, principal)
    ct, channel, member = await access.load_channel(ctx, channel_type, channel_id, acting)
    now = utcnow()
    add = _member_inputs(ctx, request.add_members or [], now, channel.cid)
    remove = [check_id(u, "remove_members[]") for u in request.remove_members or []]
    role_changes = _member_inputs(ctx, request.assign_roles or [], now, channel.cid)
    moderators = [Member(cid=channel.cid, user_id=check_id(u, "add_moderators[]"),
                         channel_role="channel_moderator", created_at=now, updated_at=now)
                  for u in dict.fromkeys(request.add_moderators or [])]
    role_changes += moderators
    role_changes += [Member(cid=channel.cid, user_id=u, channel_role="channel_member")
                     for u in request.demote_moderators or []]
    if acting is not None:
        # Even a call that changes nothing answers the channel and its members.
        access.check_team(ctx, acting, channel)
        if request.data is not None:
            access.authorize(ctx, acting, permissions.UPDATE_CHANNEL, ct, channel, member)
        if add or role_changes:
            access.authorize(ctx, acting, permissions.UPDATE_CHANNEL_MEMBERS, ct, channel,
                             member)
        if remove:
            action = (permissions.REMOVE_OWN_CHANNEL_MEMBERSHIP if remove == [acting.id]
                      else permissions.UPDATE_CHANNEL_MEMBERS)
            access.authorize(ctx, acting, action, ct, channel, member)
    if request.data is not None:
        custom = {k: v for k, v in (request.data.model_extra or {}).items()
                  if k not in CHANNEL_RESERVED}
        check_custom_size(custom, "channel")
        if request.data.config_overrides is not None:
            if acting is not None:
                raise errors.NotAllowed("config_overrides can only be set server-side")
            channel.config_overrides = _check_overrides(request.data.config_overrides)
        channel.data = custom
        if request.data.frozen is not None:
            channel.frozen = request.data.frozen
        if request.data.team is not None:
            if acting is not None and request.data.team != channel.team:
                raise errors.NotAllowed("a channel's team can only be changed server-side")
            channel.team = request.data.team
        channel.updated_at = now
    existing = {m.user_id: m for m in await ctx.storage.get_members(
        channel.cid, [m.user_id for m in add + role_changes])}
    # As in Stream, add_moderators makes a non-member a member, as a moderator.
    joining = [m for m in moderators if m.user_id not in existing
               and m.user_id not in {a.user_id for a in add}]
    add += joining
    role_changes = [m for m in role_changes if all(m is not j for j in joining)]
    if add:
        await _ensure_users_exist(ctx, [m.user_id for m in add])
    missing_roles = [m.user_id for m in role_changes if m.user_id not in existing
                     and m.user_id not in {a.user_id for a in add}]
    if missing_roles:
        raise errors.InputError(f"users {missing_roles} are not members of the channel")
    if request.data is not None:
        await ctx.storage.save_channel(channel)
    new_members = [m for m in add if m.user_id not in existing]
    # Re-adding an existing member keeps its role and join time. One row per user: a role
    # change of a user added by this same call replaces the added row.
    to_save = {m.user_id: m for m in new_members}
    for change in role_changes:
        base = existing.get(change.user_id) or next(
            m for m in add if m.user_id == change.user_id)
        to_save[change.user_id] = Member(cid=channel.cid, user_id=change.user_id,
                                         channel_role=change.channel_role,
                                         created_at=base.created_at or now, updated_at=now)
    if to_save:
        await ctx.storage.save_members(list(to_save.values()))
    removed: list[Member] = []
    if remove:
        removed = await ctx.storage.get_members(channel.cid, remove)
        await ctx.storage.remove_members(channel.cid, remove)
        # Stricter than Stream: a removed member's sockets stop watching at once, on every
        # node, before any other event of the channel is published by this call.
        for m in removed:
            await ctx.broker.publish(Control("unwatch_user", {
                "cid": channel.cid, "user_id": m.user_id}))
    members, users = await _members_and_users(ctx, channel)
    for m in new_members:
        await publish_channel_event(ctx, "member.added", channel, acting, {
            "member": to_save[m.user_id].to_wire(users.get(m.user_id)),
            "user": ctx.user_wire(users[m.user_id])})
    if removed:
        await _announce_removals(ctx, channel, ct, removed, users, len(members))
    if request.data is not None:
        await publish_channel_event(ctx, "channel.updated", channel, acting, {
            "channel": channel_wire(ctx, channel, ct, users, len(members), None, None)})
    membership = next((m for m in members if acting and m.user_id == acting.id), None)
    return {
        "channel": channel_wire(ctx, channel, ct, users, len(members), acting, membership),
        "members": member_list(ctx, members, users),
    }


async def _announce_removals(ctx: Context, channel: Channel, ct: ChannelType,
                             removed: list[Member], users: dict[str, User],
                             member_count: int) -> None:
    """Stream's removal events: ``member.removed`` to the channel's watchers and
    ``notification.removed_from_channel`` to each removed user's connections (on which the JS
    SDK drops the channel from its active channels)."""
    removed_users = await ctx.users.get([m.user_id for m in removed])
    wire = channel_wire(ctx, channel, ct, users, member_count, None, None)
    for m in removed:
        user = removed_users.get(m.user_id)
        user_wire = ctx.user_wire(user) if user else {"id": m.user_id}
        member_wire = m.to_wire(user)
        await publish_channel_event(ctx, "member.removed", channel, None, {
            "user": user_wire, "member": member_wire})
        await emit(ctx, "user", m.user_id, events.channel_event(
            "notification.removed_from_channel",
            {"channel": wire, "member": member_wire},
            channel_type=channel.type, channel_id=channel.id, user=user_wire,
            created_at=utcnow()))


async def _members_and_users(ctx: Context,
                             channel: Channel) -> tuple[list[Member], dict[str, User]]:
    """Every member of the channel, and the users of the members and of the creator."""
    members = await ctx.storage.get_members(channel.cid)
    users = await ctx.users.get([m.user_id for m in members] + [
        u for u in [channel.created_by_id] if u])
    return members, users


async def partial_update_channel(ctx: Context, principal: Principal, channel_type: str,
                                 channel_id: str,
                                 request: PartialUpdateChannelRequest) -> dict[str, Any]:
    acting = await _acting(ctx, principal)
    ct, channel, member = await access.load_channel(ctx, channel_type, channel_id, acting)
    if acting is not None:
        access.authorize(ctx, acting, permissions.UPDATE_CHANNEL, ct, channel, member)
    to_set = dict(request.set or {})
    if "config_overrides" in to_set:
        if acting is not None:
            raise errors.NotAllowed("config_overrides can only be set server-side")
        value = to_set.pop("config_overrides")
        if not isinstance(value, dict):
            raise errors.InputError("config_overrides must be an object")
        channel.config_overrides = _check_overrides({**channel.config_overrides, **value})
    for flag in ("frozen", "disabled"):
        if flag in to_set:
            value = to_set.pop(flag)
            if not isinstance(value, bool):
                raise errors.InputError(f"{flag} must be a boolean")
            setattr(channel, flag, value)
    if "team" in to_set:
        team = str(to_set.pop("team") or "")
        if acting is not None and team != channel.team:
            raise errors.NotAllowed("a channel's team can only be changed server-side")
        channel.team = team
    for key in list(to_set):
        if key in CHANNEL_RESERVED:
            raise errors.InputError(f"field {key!r} cannot be set")
    channel.data.update(to_set)
    for key in request.unset or []:
        if key == "config_overrides":
            channel.config_overrides = {}
        channel.data.pop(key, None)
    check_custom_size(channel.data, "channel")
    channel.updated_at = utcnow()
    await ctx.storage.save_channel(channel)
    members, users = await _members_and_users(ctx, channel)
    await publish_channel_event(ctx, "channel.updated", channel, acting, {
        "channel": channel_wire(ctx, channel, ct, users, len(members), None, None)})
    return {
        "channel": channel_wire(ctx, channel, ct, users, len(members), acting, member),
        "members": member_list(ctx, members, users),
    }


async def delete_channel(ctx: Context, principal: Principal, channel_type: str,
                         channel_id: str) -> dict[str, Any]:
    acting = await _acting(ctx, principal)
    ct, channel, member = await access.load_channel(ctx, channel_type, channel_id, acting)
    if acting is not None:
        access.authorize(ctx, acting, permissions.DELETE_CHANNEL, ct, channel, member)
    users = await ctx.users.get([u for u in [channel.created_by_id] if u])
    wire = channel_wire(ctx, channel, ct, users, 0, None, None)
    wire["deleted_at"] = utcnow()
    await publish_channel_event(ctx, "channel.deleted", channel, acting, {"channel": wire})
    await ctx.storage.delete_channels([channel.cid])
    watching.unwatch_everyone(ctx, channel.cid)
    return {"channel": wire}


async def delete_channels(ctx: Context, cids: list[str]) -> dict[str, Any]:
    for cid in cids:
        if not isinstance(cid, str) or cid.count(":") != 1:
            raise errors.InputError(f"invalid cid {cid!r}")
    found = {c.cid for c in await ctx.storage.query_channels(
        {"cid": {"$in": cids}}, None, len(cids), 0)} if cids else set()
    await ctx.storage.delete_channels(cids)
    for cid in cids:
        watching.unwatch_everyone(ctx, cid)
    task_id = await tasks.record_completed(ctx, "delete-channels", {
        c: tasks.entry(None if c in found else f"channel {c!r} does not exist") for c in cids})
    return {"task_id": task_id}


async def query_channels(ctx: Context, principal: Principal, request: QueryChannelsRequest,
                         connection_id: str | None) -> dict[str, Any]:
    acting = await _acting(ctx, principal)
    conditions = request.filter_conditions
    reachable = access.visible_channels(ctx, acting) if acting is not None else None
    if reachable is not None:
        # In the query itself, so that limit and offset count only reachable channels.
        conditions = {"$and": [conditions, reachable]} if conditions else reachable
    found = await ctx.storage.query_channels(conditions, request.sort,
                                             request.limit, request.offset)
    memberships: dict[str, Member] = {}
    if acting is not None:
        memberships = await ctx.storage.get_memberships([c.cid for c in found], acting.id)
    out = []
    for channel in found:
        ct = ctx.channel_types.get(channel.type)
        if ct is None:
            continue
        if acting is not None and not access.can(ctx, acting, permissions.READ_CHANNEL, ct,
                                                 channel, memberships.get(channel.cid)):
            continue
        if request.watch and connection_id and acting is not None:
            await watching.watch(ctx, acting, channel, ct, connection_id,
                                 principal.address)
        out.append(await channel_state(ctx, channel, ct, acting,
                                       member_limit=request.member_limit or 100))
    if request.presence and acting is not None:
        await presence.subscribe(ctx, acting, connection_id,
                                 [u for state in out for u in _people(state)])
    return {"channels": out}


async def query_members(ctx: Context, principal: Principal,
                        request: QueryMembersRequest) -> dict[str, Any]:
    acting = await _acting(ctx, principal)
    if not request.id:
        raise errors.InputError("id is a required field (distinct channels by members are "
                                "not supported in query members)")
    ct, channel, member = await access.load_channel(ctx, request.type, request.id, acting)
    if acting is not None:
        access.authorize(ctx, acting, permissions.READ_CHANNEL_MEMBERS, ct, channel, member)
    found = await ctx.storage.query_members(channel.cid, request.filter_conditions,
                                            request.sort, request.limit, request.offset)
    users = await ctx.users.get([m.user_id for m in found])
    return {"members": member_list(ctx, found, users)}


async def stop_watching(ctx: Context, principal: Principal, channel_type: str, channel_id: str,
                        connection_id: str | None) -> dict[str, Any]:
    acting = await acting_user(ctx, principal)
    ctx.channel_type(channel_type)
    cid = f"{channel_type}:{channel_id}"
    if not connection_id:
        raise errors.InputError("connection_id is required to stop watching")
    conn = ctx.hub.get(connection_id)
    if conn is None:
        if ctx.broker.distributed:
            await ctx.broker.publish(Control("unwatch", watching.watch_args(
                acting, connection_id, cid, principal.address)))
        return {}
    if not watching.owns(acting.id, acting.role == "anonymous", conn, principal.address):
        raise errors.InputError("connection_id does not belong to the requesting user")
    if ctx.hub.unwatch(conn, cid):
        await watching.after_unwatch(ctx, conn, cid)
    return {}
