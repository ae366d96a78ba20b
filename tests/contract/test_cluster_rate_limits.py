"""Rate limits hold for the cluster, not per node: a user spreading calls over two nodes gets
one budget (Stream's default, 60 calls per endpoint per window), counted in Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from stream_chat import StreamChat

from tests.conftest import API_KEY, API_SECRET, Server, uid
from tests.contract.conftest import MakeDatabase
from tests.contract.nodes import rest, stop_nodes
from tests.contract.test_cluster import new_channel

LIMIT = 60


@pytest.fixture(scope="module")
def limited_pair(make_pg_database: MakeDatabase) -> Iterator[tuple[Server, Server]]:
    """Two nodes on the default per-user limits (not the suite's relaxed ones)."""
    database_url = make_pg_database()
    broker = f"redis://127.0.0.1:6379/0?prefix=rl-{uuid.uuid4().hex[:8]}"
    nodes = [Server(database_url=database_url, relaxed=False,
                    env={"HUBBUB_BROKER_URL": broker}) for _ in range(2)]
    try:
        for node in nodes:  # one after the other: the first creates the app
            node.start()
        yield nodes[0], nodes[1]
    finally:
        stop_nodes(nodes)


async def test_a_user_gets_one_budget_across_both_nodes(
        limited_pair: tuple[Server, Server]) -> None:
    node_a, node_b = limited_pair
    sdk = StreamChat(api_key=API_KEY, api_secret=API_SECRET, base_url=node_a.url)
    # Two windows at most: if the window turns during a run, the run is repeated once in the
    # new window (which then has nearly all its time left).
    for _attempt in range(2):
        user = uid("busy")
        channel_id = new_channel(sdk, [user])
        token = sdk.create_token(user)
        statuses, resets, remaining = [], set(), []
        for i in range(LIMIT + 1):
            node = node_a if i % 2 == 0 else node_b
            response = await rest(node, token, "POST", f"/channels/messaging/{channel_id}/event",
                                  {"event": {"type": "tick", "i": i}})
            statuses.append(response.status_code)
            resets.add(response.headers["x-ratelimit-reset"])
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        if len(resets) == 1:
            break
    else:
        pytest.fail("the rate-limit window turned during both runs")
    # Half of the calls went through each node: per-node counting would refuse none.
    assert statuses[:LIMIT] == [201] * LIMIT
    assert statuses[LIMIT] == 429
    assert remaining[:LIMIT] == list(range(LIMIT - 1, -1, -1))  # one count for both nodes
