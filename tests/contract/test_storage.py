"""The storage contract, run against every backend: SQLite (a file of the test's own) and
PostgreSQL (a database of the session's own on the real server, emptied before each test).

Whatever one database answers, the other must answer too: same rows, same order, same errors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

import hubbub.storage.sql.engine as sql_engine
from hubbub import errors
from hubbub.core.models import (
    App,
    Channel,
    ChannelType,
    Command,
    Member,
    Task,
    User,
    WebhookDelivery,
)
from hubbub.storage.base import StorageError
from hubbub.storage.sql import SqlStorage
from hubbub.storage.tables import metadata
from tests.contract.conftest import MakeDatabase

T0 = "2024-01-01T00:00:00.000000Z"


def ts(n: int) -> str:
    """A fixed-width timestamp ``n`` seconds after T0 (they sort as text)."""
    return f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}.000000Z"


# fixtures ------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, storage_url: str, tmp_path: Path) -> str:
    """An empty database of the same backend, never opened."""
    if storage_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/fresh/never-opened.db"
    make: MakeDatabase = request.getfixturevalue("make_pg_database")
    return make()


@pytest.fixture
async def storage(storage_url: str) -> AsyncIterator[SqlStorage]:
    store = SqlStorage(storage_url)
    await store.open()
    assert store.engine is not None
    async with store.engine.begin() as conn:  # every test starts from empty tables
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
    yield store
    await store.close()


@pytest.fixture
async def second(storage_url: str, storage: SqlStorage) -> AsyncIterator[SqlStorage]:
    """Another process's view of the same database: its own engine and connections."""
    store = SqlStorage(storage_url)
    await store.open()
    yield store
    await store.close()


def user(uid: str, **data: Any) -> User:
    fields = {k: data.pop(k) for k in ("role", "teams", "teams_role", "language", "invisible",
                                       "banned", "created_at") if k in data}
    fields.setdefault("created_at", T0)
    return User(id=uid, data=data, updated_at=T0, **fields)


def channel(cid: str, **data: Any) -> Channel:
    channel_type, _, channel_id = cid.partition(":")
    fields = {k: data.pop(k) for k in ("team", "frozen", "disabled", "created_by_id",
                                       "updated_at", "created_at") if k in data}
    fields.setdefault("created_at", T0)
    fields.setdefault("updated_at", T0)
    return Channel(type=channel_type, id=channel_id, data=data, **fields)


def member(cid: str, uid: str, role: str = "channel_member", n: int = 0) -> Member:
    return Member(cid=cid, user_id=uid, channel_role=role, created_at=ts(n), updated_at=ts(n))


def webhook(wid: str, *, due: float = 0.0, timeout: float = 1.0, state: str = "pending",
            created: float = 0.0) -> WebhookDelivery:
    return WebhookDelivery(id=wid, url="http://127.0.0.1:9/hook", body='{"type":"x"}',
                           event_type="x", state=state, timeout=timeout, created_at=created,
                           next_attempt_at=due)


# migrations, app -----------------------------------------------------------------------------


async def test_open_migrates_a_fresh_database_to_head_and_reopens(fresh_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(sql_engine.MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()

    store = SqlStorage(fresh_url)
    await store.open()
    try:
        assert store.engine is not None
        async with store.engine.connect() as conn:
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                       ).scalar_one()
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        assert version == head
        assert {t.name for t in metadata.sorted_tables} <= tables
        await store.save_users([user("kept", name="Kept")])
    finally:
        await store.close()

    again = SqlStorage(fresh_url)  # a restart: migrations are a no-op, data is still there
    await again.open()
    try:
        assert (await again.get_users(["kept"]))["kept"].data == {"name": "Kept"}
    finally:
        await again.close()


async def test_nodes_opening_a_fresh_database_together_all_start(fresh_url: str) -> None:
    """Several processes start at once on a new database: one migrates, the others wait."""
    stores = [SqlStorage(fresh_url) for _ in range(3)]
    try:
        await asyncio.wait_for(asyncio.gather(*[s.open() for s in stores]), 30)
        await stores[0].save_users([user("x")])
        assert set(await stores[2].get_users(["x"])) == {"x"}
    finally:
        for store in stores:
            await store.close()


async def test_create_app_is_race_safe(storage: SqlStorage, second: SqlStorage) -> None:
    assert await storage.get_app() is None
    candidates = [App(api_key=f"key-{i}", api_secret=f"secret-{i}", settings={"n": i},
                      created_at=T0) for i in range(6)]
    stored = await asyncio.gather(*[(storage if i % 2 else second).create_app(app)
                                    for i, app in enumerate(candidates)])
    assert len({(a.api_key, a.api_secret) for a in stored}) == 1
    winner = stored[0]
    assert winner in candidates
    assert await storage.get_app() == await second.get_app() == winner

    await storage.save_app_settings({"webhook_url": "http://x", "nested": {"a": [1, True]}})
    reread = await second.get_app()
    assert reread is not None and reread.settings == {"webhook_url": "http://x",
                                                      "nested": {"a": [1, True]}}
    assert reread.api_key == winner.api_key


# users ---------------------------------------------------------------------------------------


async def test_users_save_get_and_replace_whole(storage: SqlStorage) -> None:
    alice = user("alice", role="admin", teams=["red", "blue"], teams_role={"red": "admin"},
                 language="fr", name="Alice",
                 age=30, vip=True, tags=["a", "b"], profile={"city": "Caf\u00e9 \U0001f41d"})
    alice.last_active = ts(5)
    await storage.save_users([alice, user("bob")])

    got = await storage.get_users(["alice", "bob", "nobody", "alice"])
    assert set(got) == {"alice", "bob"}
    assert got["alice"] == alice
    got["alice"].data["name"] = "mutated"  # a fresh copy: the stored row is untouched
    assert (await storage.get_users(["alice"]))["alice"].data["name"] == "Alice"
    assert await storage.get_users([]) == {}

    replaced = user("alice", role="user", nick="A")
    await storage.save_users([replaced])
    assert (await storage.get_users(["alice"]))["alice"] == replaced


async def test_touch_users_sets_last_active_only(storage: SqlStorage) -> None:
    alice = user("alice", name="Alice")
    alice.last_active = ts(1)
    await storage.save_users([alice, user("bob")])
    await storage.touch_users({"alice": ts(7), "bob": ts(8), "nobody": ts(9)})
    await storage.touch_users({})
    got = await storage.get_users(["alice", "bob", "nobody"])
    assert set(got) == {"alice", "bob"}  # an unknown id is not created
    assert got["alice"] == dataclasses.replace(alice, last_active=ts(7))
    assert got["bob"].last_active == ts(8)


async def test_free_text_fields_keep_any_length(storage: SqlStorage) -> None:
    """SQLite stores strings of any length; so must PostgreSQL, for the fields a client fills
    without a length limit (a refusal here would be a 500 for the client's data)."""
    long_user = user("long", language="l" * 300, name="n" * 3000)
    await storage.save_users([long_user])
    assert (await storage.get_users(["long"]))["long"] == long_user
    long_channel = channel("messaging:long", team="t" * 1000)
    assert await storage.create_channel(long_channel, [])
    assert await storage.get_channel("messaging:long") == long_channel


@pytest.mark.parametrize("where", ["value", "key", "language"])
async def test_text_with_nul_is_stored_or_refused_as_input_never_a_storage_error(
        storage: SqlStorage, where: str) -> None:
    """PostgreSQL cannot hold U+0000 (TEXT or JSONB); SQLite can. Either way it is the
    client's data: stored, or refused as bad input (400), never a database failure (500)."""
    nul = {"value": user("nul", name="a\x00b"), "key": user("nul", **{"a\x00b": 1}),
           "language": user("nul", language="e\x00n")}[where]
    try:
        await storage.save_users([nul])
    except errors.InputError as refused:
        assert storage.dialect == "postgresql" and "NUL" in str(refused)
        assert await storage.get_users(["nul"]) == {}
    else:
        assert (await storage.get_users(["nul"]))["nul"] == nul


async def test_delete_users_removes_their_memberships(storage: SqlStorage) -> None:
    await storage.save_users([user("alice"), user("bob")])
    await storage.create_channel(channel("messaging:x"), [member("messaging:x", "alice"),
                                                          member("messaging:x", "bob")])
    await storage.delete_users(["alice"])
    assert set(await storage.get_users(["alice", "bob"])) == {"bob"}
    assert [m.user_id for m in await storage.get_members("messaging:x")] == ["bob"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def seeded(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SqlStorage]:
    """A database of the module's own with users and channels that the query tests only read
    (set up once: most of this module's tests are queries)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('seeded')}/seeded.db"
    else:
        url = request.getfixturevalue("make_pg_database")()
    store = SqlStorage(url)
    await store.open()
    await _seed_people(store)
    await _seed_rooms(store)
    yield store
    await store.close()


@pytest.fixture
def people(seeded: SqlStorage) -> SqlStorage:
    return seeded


@pytest.fixture
def rooms(seeded: SqlStorage) -> SqlStorage:
    return seeded


async def _seed_people(storage: SqlStorage) -> None:
    await storage.save_users([
        user("u1", role="admin", name="Alice", age=30, vip=True, created_at=ts(1),
             teams=["red", "blue"]),
        user("u2", name="alicia", age=9, vip=False, created_at=ts(2), teams=["blue"]),
        user("u3", name="Bob", age=10, vip=True, created_at=ts(3), banned=True,
             teams=["green"]),
        user("u4", name="Carol", age=45, created_at=ts(4)),
        user("u5", name="dave", age="old", vip="yes", created_at=ts(5)),  # other JSON types
        user("u6", created_at=ts(6), language="en"),  # no custom fields at all
    ])


USER_FILTERS: list[tuple[Any, list[str]]] = [
    ({}, ["u1", "u2", "u3", "u4", "u5", "u6"]),
    ({"id": "u2"}, ["u2"]),
    ({"id": {"$eq": "u2"}}, ["u2"]),
    ({"id": {"$in": ["u3", "u1", "zz"]}}, ["u1", "u3"]),
    ({"id": {"$nin": ["u1", "u2"]}}, ["u3", "u4", "u5", "u6"]),
    ({"id": {"$in": []}}, []),
    ({"role": "admin"}, ["u1"]),
    ({"banned": True}, ["u3"]),
    ({"language": "en"}, ["u6"]),
    ({"created_at": {"$gte": ts(5)}}, ["u5", "u6"]),
    ({"name": "Bob"}, ["u3"]),
    ({"name": {"$in": ["Bob", "Carol", "nobody"]}}, ["u3", "u4"]),
    ({"name": {"$ne": "Bob"}}, ["u1", "u2", "u4", "u5"]),
    ({"age": 30}, ["u1"]),
    ({"age": {"$gt": 9}}, ["u1", "u3", "u4"]),
    ({"age": {"$lte": 10}}, ["u2", "u3"]),
    ({"age": {"$lt": 100}}, ["u1", "u2", "u3", "u4"]),
    ({"age": {"$in": [9, 45]}}, ["u2", "u4"]),
    ({"age": "old"}, ["u5"]),
    ({"vip": True}, ["u1", "u3"]),
    ({"vip": False}, ["u2"]),
    ({"name": {"$exists": True}}, ["u1", "u2", "u3", "u4", "u5"]),
    ({"name": {"$exists": False}}, ["u6"]),
    ({"name": {"$autocomplete": "ali"}}, ["u1", "u2"]),
    ({"name": {"$autocomplete": "ALI"}}, ["u1", "u2"]),
    ({"$and": [{"vip": True}, {"age": {"$gte": 30}}]}, ["u1"]),
    ({"$or": [{"name": "Bob"}, {"age": {"$gt": 40}}, {"id": "u6"}]}, ["u3", "u4", "u6"]),
    ({"$or": [{"$and": [{"vip": True}, {"age": 10}]}, {"role": "admin"}]}, ["u1", "u3"]),
    ({"$nor": [{"vip": True}, {"id": "u6"}]}, ["u2", "u4", "u5"]),
    ({"vip": True, "age": {"$gt": 20}}, ["u1"]),
    # teams: a JSON array, matched by membership
    ({"teams": {"$in": ["blue"]}}, ["u1", "u2"]),
    ({"teams": {"$in": ["green", "red"]}}, ["u1", "u3"]),
    ({"teams": {"$in": ["nope"]}}, []),
    ({"teams": {"$in": []}}, []),
    ({"teams": "green"}, ["u3"]),
    ({"teams": {"$contains": "red"}}, ["u1"]),
    ({"teams": {"$exists": False}}, ["u4", "u5", "u6"]),
    ({"teams": []}, ["u4", "u5", "u6"]),
    ({"teams": {"$exists": True}}, ["u1", "u2", "u3"]),
    ({"$or": [{"teams": {"$in": ["green"]}}, {"teams": {"$exists": False}}]},
     ["u3", "u4", "u5", "u6"]),
]


@pytest.mark.parametrize(("conditions", "expected"), USER_FILTERS,
                         ids=[str(f) for f, _ in USER_FILTERS])
async def test_query_users_filters(people: SqlStorage, conditions: Any,
                                   expected: list[str]) -> None:
    found = await people.query_users(conditions, None, 100, 0)
    assert [u.id for u in found] == expected  # default order: created_at


@pytest.mark.parametrize("conditions", [
    {"age": {"$regex": "x"}}, {"$xor": [{"a": 1}]}, {"$or": []}, {"$and": {"a": 1}},
    {"id": {"$in": "u1"}}, {"name": {"$eq": {"nested": 1}}}, [{"id": "u1"}],
    {"teams": {"$in": [1]}}, {"teams": {"$gt": "a"}},
])
async def test_query_users_refuses_bad_filters_as_input_errors(people: SqlStorage,
                                                               conditions: Any) -> None:
    with pytest.raises(errors.InputError):
        await people.query_users(conditions, None, 10, 0)


@pytest.mark.parametrize(("sort", "expected"), [
    ([{"field": "age", "direction": -1}], ["u5", "u4", "u1", "u3", "u2", "u6"]),
    ([{"field": "age", "direction": 1}], ["u6", "u2", "u3", "u1", "u4", "u5"]),
    ([{"field": "created_at", "direction": -1}], ["u6", "u5", "u4", "u3", "u2", "u1"]),
    ([{"field": "role", "direction": 1}, {"field": "id", "direction": -1}],
     ["u1", "u6", "u5", "u4", "u3", "u2"]),
])
async def test_query_users_sort(people: SqlStorage, sort: Any, expected: list[str]) -> None:
    """Numbers sort as numbers (9 before 10); a missing value is the smallest. (Where one
    field holds several JSON types, the databases order the types differently: u5's string
    among numbers is left out of the comparison.)"""
    found = [u.id for u in await people.query_users({}, sort, 100, 0)]
    if sort[0]["field"] == "age":
        found.remove("u5")
        expected = [u for u in expected if u != "u5"]
    assert found == expected


async def test_query_users_limit_and_offset(people: SqlStorage) -> None:
    sort = [{"field": "id", "direction": 1}]
    pages = [[u.id for u in await people.query_users({}, sort, 2, offset)]
             for offset in (0, 2, 4, 6)]
    assert pages == [["u1", "u2"], ["u3", "u4"], ["u5", "u6"], []]
    assert [u.id for u in await people.query_users({"vip": True}, sort, 1, 1)] == ["u3"]


# channel types, roles, tasks -----------------------------------------------------------------


async def test_channel_types(storage: SqlStorage) -> None:
    ct = ChannelType(name="livestream", config={"custom_events": True, "max": 5},
                     grants={"user": ["read-channel"]}, commands=["giphy"], created_at=T0,
                     updated_at=T0, builtin=True)
    await storage.save_channel_type(ct)
    await storage.save_channel_type(dataclasses.replace(ct, name="other", builtin=False))
    assert sorted(await storage.list_channel_types(), key=lambda c: c.name) == [
        ct, dataclasses.replace(ct, name="other", builtin=False)]

    changed = dataclasses.replace(ct, config={"custom_events": False}, updated_at=ts(1))
    await storage.save_channel_type(changed)
    assert changed in await storage.list_channel_types()

    await storage.create_channel(channel("livestream:a"), [])
    await storage.create_channel(channel("livestream:b"), [])
    await storage.create_channel(channel("other:a"), [])
    assert await storage.count_channels("livestream") == 2
    assert await storage.count_channels("nope") == 0

    await storage.delete_channel_type("other")
    assert [c.name for c in await storage.list_channel_types()] == ["livestream"]


async def test_roles(storage: SqlStorage) -> None:
    assert await storage.create_role("moderator2", T0) is True
    assert await storage.create_role("moderator2", ts(1)) is False
    assert await storage.create_role("a-role", ts(2)) is True
    assert await storage.list_roles() == [
        {"name": "a-role", "created_at": ts(2), "updated_at": ts(2)},
        {"name": "moderator2", "created_at": T0, "updated_at": T0}]

    await storage.save_users([user("x", role="moderator2"), user("y", role="moderator2")])
    await storage.create_channel(channel("messaging:r"),
                                 [member("messaging:r", "z", role="moderator2")])
    assert await storage.count_role_uses("moderator2") == 3
    assert await storage.count_role_uses("a-role") == 0

    assert await storage.delete_role("a-role") is True
    assert await storage.delete_role("a-role") is False
    assert [r["name"] for r in await storage.list_roles()] == ["moderator2"]


async def test_commands(storage: SqlStorage) -> None:
    ticket = Command(name="ticket", description="Open a ticket", args="[text]",
                     set="support_set", created_at=T0, updated_at=T0)
    await storage.save_command(ticket)
    await storage.save_command(Command(name="a-cmd", created_at=T0, updated_at=T0))
    assert [c.name for c in await storage.list_commands()] == ["a-cmd", "ticket"]
    assert ticket in await storage.list_commands()

    changed = dataclasses.replace(ticket, description="Changed", updated_at=ts(1))
    await storage.save_command(changed)
    assert changed in await storage.list_commands()

    assert await storage.delete_command("ticket") is True
    assert await storage.delete_command("ticket") is False
    assert [c.name for c in await storage.list_commands()] == ["a-cmd"]


async def test_tasks(storage: SqlStorage) -> None:
    task = Task(id="t1", type="delete-users", status="pending", result={}, created_at=T0,
                updated_at=T0)
    await storage.save_task(task)
    assert await storage.get_task("t1") == task
    done = dataclasses.replace(task, status="completed", result={"ids": ["a", "b"]},
                               updated_at=ts(1))
    await storage.save_task(done)
    assert await storage.get_task("t1") == done
    assert await storage.get_task("nope") is None


# channels and members ------------------------------------------------------------------------


async def test_create_channel_is_false_on_duplicate_and_writes_nothing(
        storage: SqlStorage) -> None:
    first = channel("messaging:general", name="General", created_by_id="alice", team="red")
    assert await storage.create_channel(first, [member("messaging:general", "alice")]) is True
    again = channel("messaging:general", name="Other")
    assert await storage.create_channel(again, [member("messaging:general", "bob")]) is False
    assert await storage.get_channel("messaging:general") == first
    assert [m.user_id for m in await storage.get_members("messaging:general")] == ["alice"]
    assert await storage.get_channel("messaging:nope") is None


async def test_create_channel_race_has_one_winner(storage: SqlStorage,
                                                  second: SqlStorage) -> None:
    results = await asyncio.gather(*[
        (storage if i % 2 else second).create_channel(
            channel("messaging:race", n=i), [member("messaging:race", f"user{i}")])
        for i in range(6)])
    assert sorted(results) == [False] * 5 + [True]
    winner = results.index(True)
    assert (await storage.get_channel("messaging:race")).data == {"n": winner}  # type: ignore[union-attr]
    assert [m.user_id for m in await storage.get_members("messaging:race")] == [f"user{winner}"]


async def test_save_and_delete_channels(storage: SqlStorage) -> None:
    await storage.create_channel(channel("messaging:a"), [member("messaging:a", "alice")])
    await storage.create_channel(channel("messaging:b"), [member("messaging:b", "alice")])
    updated = channel("messaging:a", frozen=True, updated_at=ts(9), topic="new")
    await storage.save_channel(updated)
    assert await storage.get_channel("messaging:a") == updated

    await storage.delete_channels(["messaging:a"])
    assert await storage.get_channel("messaging:a") is None
    assert await storage.get_members("messaging:a") == []
    assert await storage.count_members(["messaging:a", "messaging:b"]) == {
        "messaging:a": 0, "messaging:b": 1}


async def test_get_channel_and_member(storage: SqlStorage) -> None:
    ch = channel("team:x", name="X")
    await storage.create_channel(ch, [member("team:x", "alice", "channel_moderator", 3)])
    found, membership = await storage.get_channel_and_member("team:x", "alice")
    assert found == ch
    assert membership is not None and (membership.cid, membership.user_id,
                                       membership.channel_role, membership.created_at) == (
        "team:x", "alice", "channel_moderator", ts(3))
    assert await storage.get_channel_and_member("team:x", "bob") == (ch, None)
    assert await storage.get_channel_and_member("team:nope", "alice") == (None, None)


async def test_point_reads_see_every_committed_write_at_once(storage: SqlStorage,
                                                              second: SqlStorage) -> None:
    """The hot point reads (on SQLite: a synchronous reader of their own) never serve a stale
    row: each sees what this storage or another process committed before it."""
    for writer in (storage, second):
        alice = user("alice", name="Alice", teams=["t"], invisible=True, banned=True,
                     profile={"n": [1, 2.5, None, "\u00e9"]})
        await writer.save_users([alice])
        assert (await storage.get_users(["alice"]))["alice"] == alice
        await writer.save_users([user("alice", nick="A")])
        assert (await storage.get_users(["alice"]))["alice"] == user("alice", nick="A")
        ch = channel("messaging:p", name="P", team="red", frozen=True, disabled=True,
                     created_by_id="alice")
        ch.config_overrides = {"typing_events": False, "nested": {"a": [1]}}
        ch.last_message_at = ts(9)
        assert await writer.create_channel(ch, [member("messaging:p", "alice", n=2)])
        assert await storage.get_channel("messaging:p") == ch
        found, membership = await storage.get_channel_and_member("messaging:p", "alice")
        assert found == ch and membership is not None
        assert membership.channel_role == "channel_member"
        ch.frozen, ch.data = False, {"name": "Q"}
        await writer.save_channel(ch)
        await writer.remove_members("messaging:p", ["alice"])
        assert await storage.get_channel_and_member("messaging:p", "alice") == (ch, None)
        await writer.delete_channels(["messaging:p"])
        await writer.delete_users(["alice"])
        assert await storage.get_channel("messaging:p") is None
        assert await storage.get_channel_and_member("messaging:p", "alice") == (None, None)
        assert await storage.get_users(["alice"]) == {}


async def test_get_users_of_a_large_batch(storage: SqlStorage) -> None:
    batch = [user(f"u{i:03d}") for i in range(250)]
    await storage.save_users(batch)
    ids = [u.id for u in batch] + ["nobody"]
    assert await storage.get_users(ids) == {u.id: u for u in batch}
    assert set(await storage.get_users(ids[:7] * 3)) == set(ids[:7])


async def test_members_save_remove_count(storage: SqlStorage) -> None:
    cid = "messaging:m"
    await storage.create_channel(channel(cid), [member(cid, "alice", n=1)])
    await storage.save_members([member(cid, "bob", n=2), member(cid, "carol", n=3)])
    promoted = dataclasses.replace(member(cid, "bob", "channel_moderator", 2), invited=True,
                                   invite_accepted_at=ts(4), updated_at=ts(4))
    await storage.save_members([promoted])  # upsert: replaces bob's membership

    got = await storage.get_members(cid)
    assert [m.user_id for m in got] == ["alice", "bob", "carol"]  # by created_at
    assert got[1] == promoted
    assert [m.user_id for m in await storage.get_members(cid, ["carol", "zed"])] == ["carol"]
    assert await storage.count_members([cid, "messaging:none"]) == {cid: 3,
                                                                   "messaging:none": 0}
    assert await storage.count_members([]) == {}

    await storage.remove_members(cid, ["alice", "carol", "zed"])
    assert [m.user_id for m in await storage.get_members(cid)] == ["bob"]


async def test_get_memberships_of_one_user_across_channels(storage: SqlStorage) -> None:
    await storage.create_channel(channel("messaging:a"), [
        member("messaging:a", "alice", "channel_moderator", 1), member("messaging:a", "bob")])
    await storage.create_channel(channel("team:b"), [member("team:b", "alice", n=2)])
    await storage.create_channel(channel("messaging:c"), [member("messaging:c", "bob")])

    found = await storage.get_memberships(["messaging:a", "team:b", "messaging:c",
                                           "messaging:none"], "alice")
    assert found == {"messaging:a": member("messaging:a", "alice", "channel_moderator", 1),
                     "team:b": member("team:b", "alice", n=2)}
    assert await storage.get_memberships(["messaging:a"], "zed") == {}
    assert await storage.get_memberships([], "alice") == {}


async def test_query_members(storage: SqlStorage) -> None:
    cid = "messaging:q"
    await storage.save_users([user("alice", name="Alice", age=30), user("bob", name="Bob",
                                                                        age=9),
                              user("carol", name="Carol", age=10)])
    await storage.create_channel(channel(cid), [
        member(cid, "alice", n=3), member(cid, "bob", "channel_moderator", 1),
        member(cid, "carol", n=2), member(cid, "ghost", n=4)])  # ghost: no user row
    await storage.create_channel(channel("messaging:other"), [member("messaging:other",
                                                                     "alice")])

    async def ids(conditions: Any, sort: Any = None, limit: int = 100,
                  offset: int = 0) -> list[str]:
        return [m.user_id for m in await storage.query_members(cid, conditions, sort, limit,
                                                               offset)]

    assert await ids({}) == ["bob", "carol", "alice", "ghost"]
    assert await ids({"user_id": {"$in": ["alice", "ghost", "nobody"]}}) == ["alice", "ghost"]
    assert await ids({"id": "carol"}) == ["carol"]
    assert await ids({"channel_role": "channel_moderator"}) == ["bob"]
    assert await ids({"name": {"$autocomplete": "a"}}) == ["carol", "alice"]
    assert await ids({"age": {"$gte": 10}}) == ["carol", "alice"]
    assert await ids({"$or": [{"name": "Bob"}, {"user_id": "ghost"}]}) == ["bob", "ghost"]
    # ghost has no user row: no age, so it sorts first (missing is smallest).
    assert await ids({}, [{"field": "age", "direction": 1}], 3) == ["ghost", "bob", "carol"]
    assert await ids({}, [{"field": "age", "direction": -1}], 3) == ["alice", "carol", "bob"]
    assert await ids({}, [{"field": "user_id", "direction": -1}], 2, 1) == ["carol", "bob"]


async def _seed_rooms(storage: SqlStorage) -> None:
    """Channels and memberships (of users without user rows: only the query tests of
    channels read them)."""
    specs: dict[str, tuple[list[str], dict[str, Any], int]] = {
        "messaging:ab": (["alice", "bob"], {"name": "AB", "level": 2, "public": True}, 1),
        "messaging:abc": (["alice", "bob", "carol"], {"name": "ABC", "level": 10}, 2),
        "messaging:a": (["alice"], {"name": "A", "level": 9, "public": False}, 3),
        "team:bc": (["bob", "carol"], {"name": "BC"}, 4),
        "livestream:empty": ([], {"public": True}, 5),
    }
    for cid, (users, data, n) in specs.items():
        await storage.create_channel(channel(cid, updated_at=ts(n), team="red" if n % 2 else "",
                                             **data),
                                     [member(cid, u, n=n) for u in users])


CHANNEL_FILTERS: list[tuple[Any, list[str]]] = [
    ({}, ["livestream:empty", "team:bc", "messaging:a", "messaging:abc", "messaging:ab"]),
    ({"members": {"$in": ["carol"]}}, ["team:bc", "messaging:abc"]),
    ({"members": {"$in": ["alice", "carol"]}}, ["team:bc", "messaging:a", "messaging:abc",
                                                "messaging:ab"]),
    ({"members": {"$eq": ["alice", "bob"]}}, ["messaging:ab"]),
    ({"members": {"$eq": ["bob", "alice"]}}, ["messaging:ab"]),
    ({"members": {"$eq": ["alice"]}}, ["messaging:a"]),
    ({"members": ["carol", "bob"]}, ["team:bc"]),
    ({"members": "alice"}, ["messaging:a", "messaging:abc", "messaging:ab"]),
    ({"cid": {"$in": ["messaging:a", "team:bc", "x:y"]}}, ["team:bc", "messaging:a"]),
    ({"cid": "messaging:ab"}, ["messaging:ab"]),
    ({"type": "messaging"}, ["messaging:a", "messaging:abc", "messaging:ab"]),
    ({"type": {"$in": ["team", "livestream"]}}, ["livestream:empty", "team:bc"]),
    ({"id": "bc"}, ["team:bc"]),
    ({"team": "red"}, ["livestream:empty", "messaging:a", "messaging:ab"]),
    ({"name": "ABC"}, ["messaging:abc"]),
    ({"level": {"$gt": 5}}, ["messaging:a", "messaging:abc"]),
    ({"public": True}, ["livestream:empty", "messaging:ab"]),
    ({"type": "messaging", "members": {"$in": ["carol"]}}, ["messaging:abc"]),
    ({"$or": [{"members": {"$in": ["carol"]}}, {"public": False}]},
     ["team:bc", "messaging:a", "messaging:abc"]),
]


@pytest.mark.parametrize(("conditions", "expected"), CHANNEL_FILTERS,
                         ids=[str(f) for f, _ in CHANNEL_FILTERS])
async def test_query_channels_filters(rooms: SqlStorage, conditions: Any,
                                      expected: list[str]) -> None:
    found = await rooms.query_channels(conditions, None, 100, 0)
    assert [c.cid for c in found] == expected  # default order: updated_at, newest first


async def test_query_channels_sort_limit_offset(rooms: SqlStorage) -> None:
    by_level = [{"field": "level", "direction": 1}]
    found = [c.cid for c in await rooms.query_channels({"type": "messaging"}, by_level, 10, 0)]
    assert found == ["messaging:ab", "messaging:a", "messaging:abc"]  # 2 < 9 < 10
    page = await rooms.query_channels({}, [{"field": "cid", "direction": -1}], 2, 1)
    assert [c.cid for c in page] == ["messaging:abc", "messaging:ab"]


@pytest.mark.parametrize("conditions", [
    {"members": {"$in": "alice"}}, {"members": {"$in": [1]}}, {"members": {"$gt": "a"}},
    {"members": {"$eq": [None]}},
])
async def test_query_channels_refuses_bad_member_filters(rooms: SqlStorage,
                                                         conditions: Any) -> None:
    with pytest.raises(errors.InputError):
        await rooms.query_channels(conditions, None, 10, 0)


# webhook outbox ------------------------------------------------------------------------------


async def test_webhook_outbox_claim_lease_attempt(storage: SqlStorage) -> None:
    now = 1_000_000.0
    await storage.enqueue_webhooks([webhook("w1", due=now - 5, created=1),
                                    webhook("w2", due=now - 1, created=2, timeout=2.5),
                                    webhook("later", due=now + 60, created=3)])
    await storage.enqueue_webhooks([])
    assert await storage.count_webhooks() == {"pending": 3}

    claimed = await storage.claim_due_webhooks(now, 10, 30.0)
    assert [d.id for d in claimed] == ["w1", "w2"]  # due ones, oldest due first
    assert [d.lease_until for d in claimed] == [now + 1.0 + 30, now + 2.5 + 30]
    assert claimed[0].body == '{"type":"x"}' and claimed[0].attempts == 0

    # Leased: nobody else gets them, even later, until the lease runs out.
    assert await storage.claim_due_webhooks(now + 10, 10, 30.0) == []
    assert [d.id for d in await storage.claim_due_webhooks(now + 31.5, 10, 30.0)] == ["w1"]
    # w1 is leased again (until now + 62.5), w2's lease ran out at now + 32.5.
    assert [d.id for d in await storage.claim_due_webhooks(now + 40, 10, 30.0)] == ["w2"]
    assert [d.id for d in await storage.claim_due_webhooks(now + 70, 10, 30.0)] == [
        "w1", "later"]

    # An attempt's outcome releases the lease.
    w1 = claimed[0]
    w1.attempts, w1.last_status, w1.last_error, w1.next_attempt_at = 1, 503, "HTTP 503", now + 5
    await storage.save_webhook_attempt(w1)
    again = await storage.claim_due_webhooks(now + 5, 10, 30.0)
    assert [(d.id, d.attempts, d.last_status, d.last_error) for d in again] == [
        ("w1", 1, 503, "HTTP 503")]
    w1.state, w1.attempts, w1.delivered_at, w1.last_status = "delivered", 2, now + 6, 200
    await storage.save_webhook_attempt(w1)
    assert await storage.claim_due_webhooks(now + 50, 10, 30.0) == []  # others still leased
    assert await storage.count_webhooks() == {"pending": 2, "delivered": 1}
    listed = await storage.list_webhooks("delivered", 10, 0)
    assert [(d.id, d.delivered_at, d.lease_until) for d in listed] == [("w1", now + 6, 0.0)]


async def test_webhook_claims_are_exclusive_across_concurrent_claimers(
        storage: SqlStorage, second: SqlStorage) -> None:
    now = time.time()
    await storage.enqueue_webhooks([webhook(f"w{i:03d}", due=now - i) for i in range(60)])

    async def claimer(store: SqlStorage) -> list[str]:
        got: list[str] = []
        for _ in range(8):
            got += [d.id for d in await store.claim_due_webhooks(now, 7, 60.0)]
        return got

    results = await asyncio.gather(*[claimer(s) for s in (storage, second) * 3])
    everything = [wid for got in results for wid in got]
    assert len(everything) == len(set(everything)), "a delivery was claimed twice"
    assert set(everything) == {f"w{i:03d}" for i in range(60)}


async def test_dead_webhooks_requeue_and_listing(storage: SqlStorage) -> None:
    await storage.enqueue_webhooks([
        webhook("d1", state="dead", created=1), webhook("d2", state="dead", created=2),
        webhook("d3", state="dead", created=3), webhook("p1", created=4)])
    for wid in ("d1", "d2", "d3"):
        dead = webhook(wid, state="dead")
        dead.attempts, dead.last_error = 7, "gave up"
        await storage.save_webhook_attempt(dead)

    assert [d.id for d in await storage.list_webhooks(None, 10, 0)] == ["d1", "d2", "d3", "p1"]
    assert [d.id for d in await storage.list_webhooks("dead", 2, 1)] == ["d2", "d3"]

    assert await storage.requeue_dead_webhooks(["d2", "p1", "nope"], 500.0) == 1
    assert await storage.count_webhooks() == {"dead": 2, "pending": 2}
    requeued = (await storage.list_webhooks("pending", 10, 0))
    assert [(d.id, d.attempts, d.next_attempt_at) for d in requeued] == [
        ("p1", 0, 0.0), ("d2", 0, 500.0)]
    assert await storage.requeue_dead_webhooks(None, 600.0) == 2
    assert await storage.count_webhooks() == {"pending": 4}
    assert await storage.requeue_dead_webhooks(None, 700.0) == 0


# errors --------------------------------------------------------------------------------------


async def test_driver_errors_become_storage_errors(storage: SqlStorage) -> None:
    await storage.enqueue_webhooks([webhook("same")])
    with pytest.raises(StorageError) as duplicate:
        await storage.enqueue_webhooks([webhook("same")])
    assert not isinstance(duplicate.value, sa.exc.SQLAlchemyError)
    assert isinstance(duplicate.value.__cause__, sa.exc.SQLAlchemyError)
    assert await storage.count_webhooks() == {"pending": 1}  # atomic: nothing half-written

    closed = SqlStorage(storage.url)
    with pytest.raises(StorageError):
        await closed.get_app()


@pytest.mark.parametrize("url", ["postgresql://root@127.0.0.1:1/test",
                                 "sqlite:////proc/hubbub-cannot-write-here/x.db"])
async def test_unreachable_database_is_a_storage_error(url: str) -> None:
    store = SqlStorage(url)
    with pytest.raises(StorageError):
        await store.open()
    await store.close()

