"""Channel types (server-side only): features, settings, grants and commands of each type."""

from __future__ import annotations

from typing import Any

from hubbub import errors
from hubbub.core import default_grants, defaults, events, permissions
from hubbub.core.models import ChannelType, utcnow
from hubbub.core.validation import check_id
from hubbub.service.shared.context import Context

MAX_CHANNEL_TYPES = 50


def response(ctx: Context, ct: ChannelType, *, command_names: bool) -> dict[str, Any]:
    """A channel type as Stream answers it: create/update name its commands, get/list show
    the command objects (custom commands included)."""
    return {
        **ct.config, "name": ct.name,
        "commands": (list(ct.commands) if command_names
                     else defaults.command_objects(ct.commands, ctx.commands)),
        "grants": ct.grants, "permissions": [],
        "created_at": ct.created_at, "updated_at": ct.updated_at,
    }


def list_types(ctx: Context) -> dict[str, Any]:
    return {"channel_types": {name: response(ctx, ct, command_names=False)
                              for name, ct in sorted(ctx.channel_types.items())}}


def get_type(ctx: Context, name: str) -> dict[str, Any]:
    return response(ctx, ctx.channel_type(name), command_names=False)


def _apply_settings(ctx: Context, ct: ChannelType, body: dict[str, Any]) -> None:
    for key, value in body.items():
        if key in ("name", "created_at", "updated_at", "permissions"):
            continue
        if key == "commands":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise errors.InputError("commands must be an array of command names")
            names = defaults.expand_commands(value)
            unknown = [n for n in names if n not in defaults.COMMANDS and n not in ctx.commands]
            if unknown:
                raise errors.InputError(f"commands {unknown} do not exist")
            ct.commands = names
        elif key == "grants":
            if value is not None and not isinstance(value, dict):
                raise errors.InputError("grants must be an object of role to permissions")
            for role in (value or {}):
                if not ctx.known_role(role):
                    raise errors.InputError(f"role {role!r} does not exist")
            ct.grants = permissions.merge_grants(
                ct.grants, value, default_grants.default_channel_type_grants(ct.name))
        elif key == "allowed_custom_event_types":
            if not isinstance(value, list) or not all(
                    isinstance(t, str) and t and events.is_custom(t) for t in value):
                raise errors.InputError(
                    "allowed_custom_event_types must be an array of event types without '.'")
            ct.config[key] = sorted(set(value))
        elif key in defaults.CONFIG_TYPES:
            expected = defaults.CONFIG_TYPES[key]
            if value is None or (isinstance(value, bool) and expected is int) or \
                    not isinstance(value, expected):
                raise errors.InputError(f"{key} has the wrong type")
            if key == "max_message_length" and not (
                    isinstance(value, int) and 1 <= value <= 20000):
                raise errors.InputError("max_message_length must be between 1 and 20000")
            ct.config[key] = value
        else:
            raise errors.InputError(f"unknown channel type setting {key!r}")


async def create_type(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = check_id(body.get("name"), "name")
    if name in ctx.channel_types:
        raise errors.InputError(f"channel type {name!r} already exists")
    if len(ctx.channel_types) >= MAX_CHANNEL_TYPES:
        raise errors.InputError(f"an app can have at most {MAX_CHANNEL_TYPES} channel types")
    now = utcnow()
    ct = ChannelType(name=name, config=defaults.builtin_config(name),
                     grants=default_grants.default_channel_type_grants(name),
                     commands=list(defaults.ALL_COMMANDS), created_at=now, updated_at=now)
    _apply_settings(ctx, ct, body)
    await ctx.storage.save_channel_type(ct)
    ctx.channel_types[name] = ct
    return response(ctx, ct, command_names=True)


async def update_type(ctx: Context, name: str, body: dict[str, Any]) -> dict[str, Any]:
    current = ctx.channel_type(name)
    # A copy: the cached type changes only once the new one is stored.
    ct = ChannelType(name=current.name, config=dict(current.config),
                     grants={k: list(v) for k, v in current.grants.items()},
                     commands=list(current.commands), created_at=current.created_at,
                     updated_at=utcnow(), builtin=current.builtin)
    _apply_settings(ctx, ct, body)
    await ctx.storage.save_channel_type(ct)
    ctx.channel_types[name] = ct
    return response(ctx, ct, command_names=True)


async def delete_type(ctx: Context, name: str) -> dict[str, Any]:
    ctx.channel_type(name)
    if await ctx.storage.count_channels(name):
        raise errors.InputError(f"channel type {name!r} still has channels")
    await ctx.storage.delete_channel_type(name)
    del ctx.channel_types[name]
    return {}
