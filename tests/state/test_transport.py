"""The store's own round trips against a real Redis: the script bundle and the connections a
store keeps (a call cut short never leaves a reply behind, a dead connection is replaced, an
error names the failing part)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from state.base import LedgerWrite, Series, SeriesPolicy, StateNeeds, StateUpdates
from state.bundle import bundle_args, bundle_source
from state.errors import StateUnavailable
from state.redis import RedisStateStore
from state.transport import Lane

POLICIES = {kind: SeriesPolicy(window_s=100.0, max_members=3) for kind in Series}
NOW = 1_800_000_000.0
SLOW = "local t = redis.call('TIME'); local stop = t[1] * 1e6 + t[2] + 300000\n" + (
    "repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] >= stop; return 'late'"
)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


@pytest.fixture
async def lane(client: aioredis.Redis) -> AsyncIterator[Lane]:
    kept = Lane(client)
    yield kept
    await kept.close()


async def test_a_call_cut_short_leaves_no_reply_for_the_next(lane: Lane) -> None:
    assert await lane.execute(("PING",)) == b"PONG"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await lane.execute(("EVAL", SLOW, 0))
    assert await lane.execute(("ECHO", "after")) == b"after"  # not the late reply


async def test_a_connection_redis_closed_is_replaced(lane: Lane, client: aioredis.Redis) -> None:
    first = await lane.execute(("CLIENT", "ID"))
    await client.client_kill_filter(_id=first)
    assert await lane.execute(("ECHO", "again")) == b"again"
    assert await lane.execute(("CLIENT", "ID")) != first


async def test_after_every_kept_connection_is_closed_the_next_call_succeeds(
    lane: Lane, client: aioredis.Redis
) -> None:
    """A Redis restart closes all of them: the retry must not take another dead one."""
    ids = await asyncio.gather(*(lane.execute(("CLIENT", "ID")) for _ in range(4)))
    assert len(set(ids)) == 4  # four connections kept
    for client_id in ids:
        await client.client_kill_filter(_id=client_id)
    assert await lane.execute(("ECHO", "after")) == b"after"


async def test_concurrent_calls_each_get_their_own_reply(lane: Lane) -> None:
    replies = await asyncio.gather(*(lane.execute(("ECHO", f"m{i}")) for i in range(20)))
    assert replies == [f"m{i}".encode() for i in range(20)]


async def test_the_bundle_runs_its_parts_in_order_and_names_a_failing_one(lane: Lane) -> None:
    source = bundle_source(
        {"echo": "return ARGV", "nothing": "return nil", "fail": "return redis.call('NOPE')"}
    )
    args = bundle_args([("echo", ["a", b"\x00b"]), ("nothing", []), ("echo", [])])
    assert await lane.execute(("EVAL", source, 0, *args)) == [[b"a", b"\x00b"], None, []]
    with pytest.raises(ResponseError, match="fail"):
        await lane.execute(("EVAL", source, 0, *bundle_args([("fail", [])])))
    assert await lane.execute(("ECHO", "still")) == b"still"


async def test_a_failing_part_stops_the_store_call_and_the_store_goes_on(
    redis_url: str, key_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    store = RedisStateStore(client, POLICIES, prefix=key_prefix)
    try:
        await client.set(f"{key_prefix}:ledger:bad:0", "not a hash")
        with pytest.raises(Exception, match="mark_emitted"):
            await store.mark_emitted(["bad:0"])
        await store.commit(StateUpdates(), [LedgerWrite("l:0", "fp", b'{"v": "\\u00e9"}')], NOW)
        snapshot = await store.fetch(StateNeeds(), ["l:0"], NOW)
        assert snapshot.ledger["l:0"].verdict == b'{"v": "\\u00e9"}'  # byte for byte
    finally:
        await store.close()


async def test_marking_an_expired_entry_leaves_no_key_behind(
    redis_url: str, key_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    store = RedisStateStore(client, POLICIES, prefix=key_prefix)
    try:
        await store.commit(StateUpdates(), [LedgerWrite("l:0", "fp", b"{}")], NOW)
        await store.mark_emitted(["l:0", "gone:0"])
        assert await client.exists(f"{key_prefix}:ledger:gone:0") == 0
        assert await client.hget(f"{key_prefix}:ledger:l:0", "e") == b"1"
        assert await client.ttl(f"{key_prefix}:ledger:l:0") > 0
    finally:
        await store.close()


async def test_a_store_made_from_a_url_is_bounded_by_its_own_timeout_alone() -> None:
    """The client has no socket timeout (each command would go through asyncio.wait_for):
    a Redis that accepts and then never answers is still given up within the store's
    timeout, as unavailable state."""
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    store = RedisStateStore.from_url(f"redis://127.0.0.1:{port}", POLICIES, timeout_s=0.3)
    assert store.client.connection_pool.connection_kwargs["socket_timeout"] is None
    started = asyncio.get_running_loop().time()
    with pytest.raises(StateUnavailable, match="TimeoutError"):
        await store.fetch(StateNeeds(), ["a:0"], NOW)
    assert asyncio.get_running_loop().time() - started < 2.0
    silent.close()
    await store.close()
    assert RedisStateStore.from_url(f"redis://127.0.0.1:{port}", POLICIES)._timeout == 5.0
