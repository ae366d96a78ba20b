"""The history contract, run against every backend: memory (one process) and Redis (a
cluster: several ``RedisHistory`` objects on one key prefix behave as one history).

Times are given explicitly (``proposed``, ``now``), so nothing here depends on the clock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis_asyncio

from hubbub.core.models import format_stamp
from hubbub.history import History, MemoryHistory, create_history
from hubbub.history.base import parse_stamp
from hubbub.history.redis import RedisHistory

REDIS_URL = "redis://127.0.0.1:6379/0"
T0 = 1_800_000_000_000_000  # a stamp in 2027, microseconds
SECOND = 1_000_000

Factory = Callable[..., History]


@pytest.fixture(params=["memory", "redis"])
async def make_history(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Histories of one backend sharing one store of the test's own; closed at the end.
    (Memory histories cannot share: the factory returns the same one for equal bounds.)"""
    made: dict[tuple[int, float], History] = {}
    extra: list[History] = []
    prefix = f"hubbub-test-{uuid.uuid4().hex[:10]}"

    def factory(size: int = 100, ttl: float = 60.0, *, another: bool = False) -> History:
        if request.param == "memory":
            return made.setdefault((size, ttl), MemoryHistory(size=size, ttl=ttl))
        history = RedisHistory(REDIS_URL, size=size, ttl=ttl, prefix=prefix)
        extra.append(history)
        return history

    yield factory
    for history in [*made.values(), *extra]:
        await history.close()
    if request.param == "redis":
        client = redis_asyncio.Redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def data(i: int) -> bytes:
    return f'{{"type":"tick","i":{i}}}'.encode()


async def test_stamps_strictly_increase_even_when_the_clock_does_not(
        make_history: Factory) -> None:
    history = make_history()
    stamps = [await history.append("channel:a", T0, data(i)) for i in range(3)]
    stamps.append(await history.append("channel:a", T0 - SECOND, data(3)))  # clock went back
    stamps.append(await history.append("channel:a", T0 + SECOND, data(4)))
    assert stamps == [T0, T0 + 1, T0 + 2, T0 + 3, T0 + SECOND]
    # Another stream has its own clock.
    assert await history.append("channel:b", T0, data(0)) == T0


async def test_concurrent_appends_from_two_nodes_never_tie(make_history: Factory) -> None:
    a, b = make_history(), make_history(another=True)
    stamps = await asyncio.gather(*[(a if i % 2 else b).append("channel:x", T0, data(i))
                                    for i in range(40)])
    assert sorted(stamps) == list(range(T0, T0 + 40))


async def test_read_returns_what_follows_the_cursor_oldest_first(make_history: Factory) -> None:
    history = make_history()
    stamps = [await history.append("channel:a", T0 + i * SECOND, data(i)) for i in range(5)]
    await history.append("channel:b", T0, data(99))
    pages = await history.read(["channel:a", "channel:b", "channel:none"], stamps[1],
                               T0 + 10 * SECOND)
    assert pages["channel:a"].entries == [(stamps[i], data(i)) for i in (2, 3, 4)]
    assert pages["channel:a"].complete
    assert pages["channel:b"].entries == []
    assert pages["channel:none"].entries == [] and pages["channel:none"].complete
    # Equal entries stay distinct.
    twice = [await history.append("channel:c", T0, data(7)) for _ in range(2)]
    page = (await history.read(["channel:c"], 0, T0))["channel:c"]
    assert page.entries == [(twice[0], data(7)), (twice[1], data(7))]


async def test_the_count_bound_drops_the_oldest_and_says_so(make_history: Factory) -> None:
    history = make_history(size=3)
    stamps = [await history.append("channel:a", T0 + i, data(i)) for i in range(5)]
    now = T0 + SECOND
    # A cursor from before the drop: incomplete (events 0 and 1 are gone); the rest is there.
    page = (await history.read(["channel:a"], T0 - 1, now))["channel:a"]
    assert not page.complete
    assert [d for _, d in page.entries] == [data(2), data(3), data(4)]
    # The newest dropped entry was 1: a cursor at it or past it misses nothing.
    assert (await history.read(["channel:a"], stamps[1], now))["channel:a"].complete
    assert not (await history.read(["channel:a"], stamps[0], now))["channel:a"].complete


async def test_the_age_bound_drops_old_entries(make_history: Factory) -> None:
    history = make_history(ttl=10.0)
    await history.append("channel:a", T0, data(0))
    await history.append("channel:a", T0 + 5 * SECOND, data(1))
    page = (await history.read(["channel:a"], 0, T0 + 12 * SECOND))["channel:a"]
    assert [d for _, d in page.entries] == [data(1)]
    # An append prunes too: entry 1 is too old by the time of entry 2.
    await history.append("channel:a", T0 + 16 * SECOND, data(2))
    page = (await history.read(["channel:a"], 0, T0 + 16 * SECOND))["channel:a"]
    assert [d for _, d in page.entries] == [data(2)]


async def test_take_hands_each_inbox_entry_out_once(make_history: Factory) -> None:
    a, b = make_history(), make_history(another=True)
    stamps = [await a.append("user:u", T0 + i, data(i)) for i in range(4)]
    first, second = await asyncio.gather(a.take("user:u", stamps[0], T0),
                                         b.take("user:u", stamps[0], T0))
    assert sorted([*first, *second]) == [(stamps[i], data(i)) for i in (1, 2, 3)]
    assert not (first and second)
    assert await a.take("user:u", 0, T0) == [(stamps[0], data(0))]
    assert await b.take("user:u", 0, T0) == []


async def test_stats_count_streams_and_entries(make_history: Factory) -> None:
    history = make_history(size=2)
    for i in range(3):
        await history.append("channel:a", T0 + i, data(i))
    await history.append("user:u", T0, data(0))
    stats = await history.stats()
    assert (stats.streams, stats.entries) == (2, 3)


# helpers and the factory --------------------------------------------------------------------


def test_stamps_round_trip_through_rfc3339() -> None:
    assert format_stamp(T0 + 7) == "2027-01-15T08:00:00.000007Z"
    assert parse_stamp(format_stamp(T0 + 7)) == T0 + 7
    assert parse_stamp("2027-01-15T09:00:00.5+01:00") == T0 + 500_000
    assert parse_stamp("2027-01-15T08:00:00Z") == T0
    with pytest.raises(ValueError):
        parse_stamp("yesterday")


def test_size_or_ttl_zero_switches_history_off() -> None:
    assert create_history("memory", size=0, ttl=60) is None
    assert create_history("memory", size=10, ttl=0) is None
    assert isinstance(create_history("memory", size=10, ttl=1), MemoryHistory)
