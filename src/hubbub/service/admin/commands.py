"""Slash commands (server-side only): Stream's built-ins, which are always there and cannot be
changed, and the app's custom commands, which channel types list by name in ``commands``.

Custom commands are kept in memory (``ctx.commands``) because every channel response shows
the command objects of its type. A change is written to storage first, then applied here,
then announced on the broker so other processes reload them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hubbub import errors
from hubbub.broker import Control
from hubbub.core import defaults
from hubbub.core.models import Command, utcnow
from hubbub.core.validation import check_id
from hubbub.schemas import CreateCommandRequest, UpdateCommandRequest
from hubbub.service.shared.context import Context

MAX_CUSTOM_COMMANDS = 50
MAX_TEXT = 255


async def reload(ctx: Context) -> None:
    """Load the custom commands from storage, when another process changed them.

    A load that a newer change overtook is not applied but done again: one started before a
    write of this process (or before another reload) could otherwise finish after it and put
    back what the write replaced (``Context.commands_version`` tells)."""
    while True:
        ctx.commands_version += 1
        version = ctx.commands_version
        loaded = {c.name: c for c in await ctx.storage.list_commands()}
        if version == ctx.commands_version:
            ctx.commands = loaded
            return


def on_changed(ctx: Context, args: dict[str, Any]) -> None:
    """The broker's ``commands_changed``: another process changed the commands (this
    process's own changes are in memory already)."""
    if args.get("origin") != ctx.caches.node:
        ctx.spawn(reload(ctx))


def _set(ctx: Context, name: str, command: Command | None) -> None:
    """This process's own change, in memory (after storage has it)."""
    if command is None:
        ctx.commands.pop(name, None)
    else:
        ctx.commands[name] = command
    ctx.commands_version += 1


def _text(value: str | None, what: str) -> str:
    if value is not None and len(value) > MAX_TEXT:
        raise errors.InputError(f"{what} must be at most {MAX_TEXT} characters")
    return value or ""


def _builtin(name: str, action: str) -> None:
    if name in defaults.COMMANDS or name in defaults.COMMAND_GROUPS:
        raise errors.InputError(f"command {name!r} is built-in and cannot be {action}")


def _custom(ctx: Context, name: str) -> Command:
    found = ctx.commands.get(name)
    if found is None:
        raise errors.NotFound(f"command {name!r} does not exist")
    return found


async def _changed(ctx: Context) -> None:
    await ctx.broker.publish(Control("commands_changed", {"origin": ctx.caches.node}))


def list_commands(ctx: Context) -> dict[str, Any]:
    """The built-ins first, then the custom commands by name."""
    found = list(defaults.COMMANDS.values()) + sorted(ctx.commands.values(),
                                                     key=lambda c: c.name)
    return {"commands": [c.to_wire() for c in found]}


def get_command(ctx: Context, name: str) -> dict[str, Any]:
    """Stream answers the command's fields at the top level (no ``command`` wrapper)."""
    found = defaults.COMMANDS.get(name) or _custom(ctx, name)
    return found.to_wire()


async def create_command(ctx: Context, request: CreateCommandRequest) -> dict[str, Any]:
    name = check_id(request.name, "name")
    _builtin(name, "created")
    if name in ctx.commands:
        raise errors.InputError(f"command {name!r} already exists")
    if len(ctx.commands) >= MAX_CUSTOM_COMMANDS:
        raise errors.InputError(f"an app can have at most {MAX_CUSTOM_COMMANDS} commands")
    now = utcnow()
    command = Command(name=name, description=_text(request.description, "description"),
                      args=_text(request.args, "args"), set=_text(request.set, "set"),
                      created_at=now, updated_at=now)
    await ctx.storage.save_command(command)
    _set(ctx, name, command)
    await _changed(ctx)
    return {"command": command.to_wire()}


async def update_command(ctx: Context, name: str,
                         request: UpdateCommandRequest) -> dict[str, Any]:
    """Only the fields given change."""
    _builtin(name, "updated")
    current = _custom(ctx, name)
    command = replace(
        current,
        description=(_text(request.description, "description")
                     if request.description is not None else current.description),
        args=_text(request.args, "args") if request.args is not None else current.args,
        set=_text(request.set, "set") if request.set is not None else current.set,
        updated_at=utcnow())
    await ctx.storage.save_command(command)
    _set(ctx, name, command)
    await _changed(ctx)
    return {"command": command.to_wire()}


async def delete_command(ctx: Context, name: str) -> dict[str, Any]:
    """A command that a channel type still lists cannot be deleted (400, naming the types):
    take it out of their ``commands`` first, so that no type is left offering a command that
    does not exist."""
    _builtin(name, "deleted")
    _custom(ctx, name)
    in_use = sorted(n for n, ct in ctx.channel_types.items() if name in ct.commands)
    if in_use:
        raise errors.InputError(
            f"command {name!r} is used by channel types {in_use}: remove it from their "
            "commands first")
    await ctx.storage.delete_command(name)
    _set(ctx, name, None)
    await _changed(ctx)
    return {"name": name}
