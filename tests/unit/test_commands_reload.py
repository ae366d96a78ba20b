"""Custom commands live in memory on every process; a reload from storage (another process
changed them) must never put back what a newer change of this process replaced. The
interleaving is played exactly: the reload's read is held until this process's update has
been applied."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.schemas import CreateCommandRequest, UpdateCommandRequest
from hubbub.service import Context
from hubbub.service.admin import commands


async def test_a_reload_overtaken_by_a_local_update_does_not_undo_it(ctx: Context) -> None:
    await commands.create_command(ctx, CreateCommandRequest(name="ticket",
                                                            description="Open a ticket"))
    read_done, release = asyncio.Event(), asyncio.Event()
    list_commands = ctx.storage.list_commands

    async def held_list_commands() -> Any:
        found = await list_commands()  # what storage holds before the update
        if not release.is_set():
            read_done.set()
            await release.wait()
        return found

    ctx.storage.list_commands = held_list_commands  # type: ignore[method-assign]
    # Another process changed the commands: this one reloads them.
    commands.on_changed(ctx, {"origin": "another-node"})
    await read_done.wait()
    await commands.update_command(ctx, "ticket",
                                  UpdateCommandRequest(description="Open a support ticket"))
    release.set()
    await asyncio.gather(*ctx.background)
    assert commands.get_command(ctx, "ticket")["description"] == "Open a support ticket"


async def test_this_process_does_not_reload_on_its_own_change(ctx: Context) -> None:
    calls = 0
    list_commands = ctx.storage.list_commands

    async def counted() -> Any:
        nonlocal calls
        calls += 1
        return await list_commands()

    ctx.storage.list_commands = counted  # type: ignore[method-assign]
    await commands.create_command(ctx, CreateCommandRequest(name="poll", description="A poll"))
    await asyncio.sleep(0.05)
    assert calls == 0 and commands.get_command(ctx, "poll")["description"] == "A poll"
