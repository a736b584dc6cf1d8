"""The workers' copies of the offender index, against real Redis: every fetch brings a copy up
to date, by the change log when it can and in full when it must."""

from __future__ import annotations

import redis.asyncio as aioredis

from state.base import Series, SeriesPolicy, StateNeeds, StorePolicy
from state.redis import RedisStateStore

SERIES = {kind: SeriesPolicy(window_s=100.0, max_members=3) for kind in Series}
NOW = 1_800_000_000.0


def _store(client: aioredis.Redis, prefix: str) -> RedisStateStore:
    return RedisStateStore(client, SERIES, prefix=prefix, store_policy=StorePolicy(2))


async def _statuses(store: RedisStateStore, *stores: str) -> dict[str, tuple[bool, int]]:
    """What a fetch says of these stores (banned, strikes)."""
    snapshot = await store.fetch(StateNeeds(stores=set(stores)), [], NOW)
    return {s: (snapshot.store(s).banned, snapshot.store(s).strikes) for s in stores}


async def test_a_ban_through_one_worker_reaches_another(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    writer, reader = _store(redis_client, key_prefix), _store(redis_client, key_prefix)
    assert await _statuses(reader, "a", "b") == {"a": (False, 0), "b": (False, 0)}
    assert reader.offenders.full_loads == 1
    await writer.ban_store("a", NOW)
    await writer.add_strike("b", "listing-1", NOW)
    assert await _statuses(reader, "a", "b") == {"a": (True, 0), "b": (False, 1)}
    await writer.add_strike("b", "listing-2", NOW)  # the policy's second strike bans
    await writer.clear_store("a")
    assert await _statuses(reader, "a", "b") == {"a": (False, 0), "b": (True, 2)}
    assert reader.offenders.full_loads == 1  # the change log sufficed
    # stores the fetch did not ask for are known too (the detector meets them in buckets)
    snapshot = await reader.fetch(StateNeeds(stores={"z"}), [], NOW)
    assert snapshot.store("b").banned


async def test_a_copy_far_behind_reloads_in_full(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    writer, reader = _store(redis_client, key_prefix), _store(redis_client, key_prefix)
    await _statuses(reader, "s0")
    for i in range(4100):  # more changes than the log keeps
        await writer.ban_store(f"s{i}", NOW)
    await writer.clear_store("s7")
    assert await _statuses(reader, "s0", "s7", "s4099") == {
        "s0": (True, 0),
        "s7": (False, 0),
        "s4099": (True, 0),
    }
    assert reader.offenders.full_loads == 2


async def test_a_reset_history_drops_what_the_copy_knew(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    """Redis lost its data (a flush, a new instance): the epoch changes, the copy reloads."""
    writer, reader = _store(redis_client, key_prefix), _store(redis_client, key_prefix)
    await writer.ban_store("gone", NOW)
    assert await _statuses(reader, "gone") == {"gone": (True, 0)}
    async for key in redis_client.scan_iter(f"{key_prefix}:*"):
        await redis_client.delete(key)
    await writer.ban_store("new", NOW)
    assert await _statuses(reader, "gone", "new") == {"gone": (False, 0), "new": (True, 0)}
