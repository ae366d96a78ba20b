"""A real service (SQLite in a temp folder, the in-process broker) without HTTP, for the
tests that play an exact interleaving of events no socket could produce reliably."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub.broker.memory import MemoryBroker
from hubbub.config import Settings
from hubbub.service import Context
from hubbub.service.lifecycle import create_context, start, stop
from hubbub.storage.sql import SqlStorage


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/hubbub.db", api_key="k",
                        api_secret="s" * 40, history_size=0)
    context = create_context(settings, SqlStorage(settings.database_url), MemoryBroker())
    await start(context)
    yield context
    await stop(context)
