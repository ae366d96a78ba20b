"""Fixtures of the contract suites: throw-away PostgreSQL databases on the real server.

The server is the one on 127.0.0.1:5432 (``.ci/run`` starts it); ``HUBBUB_TEST_POSTGRES_URL``
points elsewhere. Every database made here is named ``hubbub_test_<random>`` and dropped at the
end of the session, connections and all.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import pytest

T = TypeVar("T")
ADMIN_URLS = [os.environ["HUBBUB_TEST_POSTGRES_URL"]] if os.environ.get(
    "HUBBUB_TEST_POSTGRES_URL") else ["postgresql://root@127.0.0.1:5432/test",
                                      "postgresql://postgres@127.0.0.1:5432/test"]


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a loop of its own, away from the tests' loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def _admin_connection() -> tuple[asyncpg.Connection, str]:
    errors = []
    for url in ADMIN_URLS:
        try:
            return await asyncpg.connect(url, timeout=5), url
        except (OSError, asyncpg.PostgresError) as exc:
            errors.append(f"{url}: {exc}")
    pytest.fail("PostgreSQL is needed for the contract tests (run .ci/run to start it): "
                + "; ".join(errors))


MakeDatabase = Callable[[], str]


@pytest.fixture(scope="session")
def make_pg_database() -> Iterator[MakeDatabase]:
    """``make_pg_database()`` creates an empty database and returns its plain URL
    (``postgresql://user@host:port/name``, as an operator would write it)."""
    made: list[str] = []
    admin_url = ""

    def make() -> str:
        nonlocal admin_url
        name = f"hubbub_test_{uuid.uuid4().hex[:12]}"

        async def create() -> str:
            conn, url = await _admin_connection()
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()
            return url

        admin_url = run_sync(create)
        made.append(name)
        return admin_url.rsplit("/", 1)[0] + "/" + name

    yield make

    async def drop() -> None:
        conn, _ = await _admin_connection()
        try:
            for name in made:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    if made:
        run_sync(drop)


@pytest.fixture(scope="session")
def pg_url(make_pg_database: MakeDatabase) -> str:
    """One database for the session's storage contract tests (emptied before each test)."""
    return make_pg_database()
