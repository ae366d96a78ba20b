"""Everything the dashboard asks of the server, in one place: the same use cases (and so the
same validation, checks and events) as the REST API, called as a server-side client.

The dashboard never writes to storage or the broker itself; it reads this process's hub for the
figures that only it knows (connections, watchers, events heard).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hubbub import errors
from hubbub.auth import SERVER
from hubbub.core import defaults, permissions
from hubbub.core.models import WebhookDelivery, utcnow
from hubbub.schemas import (
    EventInput,
    PartialUpdateUsersRequest,
    QueryChannelsRequest,
    QueryMembersRequest,
    QueryUsersRequest,
    parse,
)
from hubbub.service import Context
from hubbub.service.admin import channel_types as types_uc
from hubbub.service.admin import users as users_uc
from hubbub.service.admin import webhooks as webhooks_uc
from hubbub.service.chat import channels as channels_uc
from hubbub.service.realtime import events as events_uc
from hubbub.service.shared import users as shared_users

#: Boolean features of a channel type shown as one-click switches, most used first.
FEATURES = ("custom_events", "typing_events", "read_events", "connect_events") + tuple(
    k for k, v in defaults.BASE_CONFIG.items() if isinstance(v, bool) and k not in (
        "custom_events", "typing_events", "read_events", "connect_events"))
WEBHOOK_STATES = webhooks_uc.STATES


def credentials(ctx: Context) -> tuple[str, str]:
    assert ctx.app is not None
    return ctx.app.api_key, ctx.app.api_secret


# overview ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Figures:
    connections: int
    users_online: int
    watched_channels: int
    webhooks: dict[str, int]


async def figures(ctx: Context) -> Figures:
    hub = ctx.hub
    counts = await webhooks_uc.counts(ctx)
    return Figures(connections=len(hub.connections), users_online=len(hub.by_user),
                   watched_channels=len(hub.watchers), webhooks=counts)


def deliveries_total(ctx: Context) -> int:
    return ctx.hub.deliveries


# channel types -------------------------------------------------------------------------------

def channel_types(ctx: Context) -> list[dict[str, Any]]:
    return [types_uc.response(ctx, ct, command_names=True) | {"builtin": ct.builtin}
            for _, ct in sorted(ctx.channel_types.items())]


def channel_type(ctx: Context, name: str) -> dict[str, Any]:
    ct = ctx.channel_type(name)
    return types_uc.response(ctx, ct, command_names=True) | {"builtin": ct.builtin}


async def create_channel_type(ctx: Context, name: str) -> None:
    await types_uc.create_type(ctx, {"name": name})


async def delete_channel_type(ctx: Context, name: str) -> None:
    await types_uc.delete_type(ctx, name)


async def update_channel_type(ctx: Context, name: str, body: dict[str, Any]) -> None:
    await types_uc.update_type(ctx, name, body)


def grant_roles(ctx: Context, grants: dict[str, list[str]]) -> list[str]:
    """Columns of the grants matrix: built-in roles, custom roles, and any role with grants."""
    roles = list(permissions.BUILTIN_USER_ROLES) + list(permissions.BUILTIN_CHANNEL_ROLES)
    roles += sorted(ctx.custom_roles)
    return roles + sorted(r for r in grants if r not in roles)


def channel_permissions() -> list[permissions.Permission]:
    """Rows of the grants matrix: the permissions a channel type can grant."""
    return sorted((p for p in permissions.PERMISSIONS.values() if p.level == "channel"),
                  key=lambda p: p.id)


# users ---------------------------------------------------------------------------------------

async def search_users(ctx: Context, text: str, limit: int = 30) -> list[dict[str, Any]]:
    conditions: dict[str, Any] = {}
    if text:
        conditions = {"$or": [{"id": {"$autocomplete": text}},
                              {"name": {"$autocomplete": text}}]}
    request = parse(QueryUsersRequest, {"filter_conditions": conditions, "limit": limit,
                                        "sort": [{"field": "id", "direction": 1}],
                                        "include_deactivated_users": True})
    found = (await users_uc.query_users(ctx, SERVER, request))["users"]
    return [u | {"connections": ctx.hub.user_connection_count(u["id"])} for u in found]


async def user(ctx: Context, user_id: str) -> dict[str, Any]:
    found = await shared_users.get_user(ctx, user_id)
    return ctx.user_wire(found) | {
        "connections": ctx.hub.user_connection_count(user_id),
        "revoke_tokens_issued_before": found.revoke_tokens_issued_before}


async def set_deactivated(ctx: Context, user_id: str, deactivated: bool) -> None:
    await users_uc.set_deactivated(ctx, user_id, deactivated)


async def revoke_tokens(ctx: Context, user_id: str) -> None:
    """Tokens issued before now stop working (as ``revokeUserToken``); the use case also
    closes the user's connections opened with such tokens."""
    request = parse(PartialUpdateUsersRequest, {"users": [
        {"id": user_id, "set": {"revoke_tokens_issued_before": utcnow()}}]})
    await users_uc.partial_update_users(ctx, SERVER, request)


async def disconnect(ctx: Context, user_id: str) -> None:
    """Close every connection of the user on every node (code 4000: the SDK does not retry
    with the same token before asking the app)."""
    await shared_users.disconnect(ctx, user_id, "disconnected from the dashboard")


# channels ------------------------------------------------------------------------------------

async def channels(ctx: Context, channel_type: str, text: str,
                   limit: int = 30) -> list[dict[str, Any]]:
    conditions: dict[str, Any] = {}
    if channel_type:
        conditions["type"] = channel_type
    if text:
        conditions["id"] = {"$autocomplete": text}
    request = parse(QueryChannelsRequest, {"filter_conditions": conditions, "limit": limit,
                                           "member_limit": 0})
    states = (await channels_uc.query_channels(ctx, SERVER, request, None))["channels"]
    return [s["channel"] | {"watchers": ctx.hub.watcher_count(s["channel"]["cid"])}
            for s in states]


async def members(ctx: Context, channel_type: str, channel_id: str) -> list[dict[str, Any]]:
    request = parse(QueryMembersRequest, {"type": channel_type, "id": channel_id, "limit": 300})
    found = (await channels_uc.query_members(ctx, SERVER, request))["members"]
    return [m | {"connections": ctx.hub.user_connection_count(m["user_id"])}
            for m in found]


def watcher_count(ctx: Context, cid: str) -> int:
    return ctx.hub.watcher_count(cid)


# events --------------------------------------------------------------------------------------

async def send_test_event(ctx: Context, target: str, key: str, event_type: str,
                          sender: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Send an event server-side, exactly as ``POST .../event`` does (same checks: the type's
    features, ``allowed_custom_event_types``, the size limit, the sender exists)."""
    event = {**extra, "type": event_type}
    if target == "channel":
        channel_type, sep, channel_id = key.partition(":")
        if not sep:
            raise errors.InputError("pick a channel as type:id")
        if sender:
            event["user_id"] = sender
        raw = orjson.dumps(event)
        return await events_uc.send_channel_event(ctx, SERVER, channel_type, channel_id,
                                                parse(EventInput, event), len(raw))
    raw = orjson.dumps(event)
    await events_uc.send_user_event(ctx, SERVER, key, event, len(raw))
    return {"event": event}


# webhooks ------------------------------------------------------------------------------------

def webhook_receivers(ctx: Context) -> list[dict[str, Any]]:
    settings = ctx.app_settings
    out: list[dict[str, Any]] = []
    if settings.get("webhook_url"):
        out.append({"url": settings["webhook_url"], "event_types": settings.get(
            "webhook_events") or [], "enabled": True, "kind": "webhook_url"})
    for hook in settings.get("event_hooks") or []:
        if isinstance(hook, dict) and hook.get("hook_type", "webhook") == "webhook":
            out.append({"url": hook.get("webhook_url") or "", "enabled": hook.get(
                "enabled") is not False, "event_types": hook.get("event_types") or [],
                "kind": "event_hooks"})
    return out


async def deliveries(ctx: Context, state: str | None,
                     limit: int = 50) -> list[WebhookDelivery]:
    return await webhooks_uc.list_deliveries(ctx, state, limit, 0)


async def requeue(ctx: Context, ids: list[str] | None) -> int:
    """Dead letters back to pending, as ``POST /webhooks/deliveries/requeue`` does."""
    return await webhooks_uc.requeue_dead(ctx, ids)
