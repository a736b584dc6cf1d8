"""The same state cases over every backend: the in-memory twin and real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from state.base import (
    LedgerWrite,
    Series,
    SeriesPolicy,
    StateNeeds,
    StateStore,
    StateUpdates,
    StorePolicy,
    store_member,
)
from state.memory import MemoryStateStore
from state.redis import RedisStateStore

POLICIES = {kind: SeriesPolicy(window_s=100.0, max_members=3) for kind in Series}
NOW = 1_800_000_000.0


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_url: str, key_prefix: str
) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore(POLICIES, StorePolicy(strikes_to_ban=2))
        return
    client = aioredis.Redis.from_url(redis_url)
    yield RedisStateStore(
        client, POLICIES, prefix=key_prefix, store_policy=StorePolicy(strikes_to_ban=2)
    )
    await client.aclose()


def _needs(kind: Series, *ids: str, member_stores: bool = False) -> StateNeeds:
    needs = StateNeeds()
    needs.want(kind, ids, with_member_stores=member_stores)
    return needs


async def test_series_keep_the_newest_within_cap_and_window(store: StateStore) -> None:
    updates = StateUpdates()
    for i in range(6):
        updates.add(Series.STORE_LISTINGS, "g", f"m{i}", NOW - i * 10)
    updates.add(Series.STORE_LISTINGS, "g", "old", NOW - 500)  # outside the 100 s window
    await store.commit(updates, [], NOW)
    snapshot = await store.fetch(_needs(Series.STORE_LISTINGS, "g", "absent"), [], NOW)
    assert [m for m, _ in snapshot.members(Series.STORE_LISTINGS, "g")] == ["m2", "m1", "m0"]
    assert snapshot.members(Series.STORE_LISTINGS, "absent") == []


async def test_adding_a_member_twice_changes_nothing(store: StateStore) -> None:
    updates = StateUpdates()
    updates.add(Series.SIGNAL, "phone:abc", "store-1", NOW)
    await store.commit(updates, [], NOW)
    await store.commit(updates, [], NOW)  # a redelivered batch
    snapshot = await store.fetch(_needs(Series.SIGNAL, "phone:abc"), [], NOW)
    assert snapshot.members(Series.SIGNAL, "phone:abc") == [("store-1", NOW)]


async def test_member_stores_come_back_with_their_status(store: StateStore) -> None:
    updates = StateUpdates()
    updates.add(Series.LSH, "0:123", store_member("banned-store", "l1:0"), NOW)
    updates.add(Series.LSH, "0:123", store_member("clean-store", "l2:0"), NOW)
    await store.commit(updates, [], NOW)
    await store.ban_store("banned-store", NOW)
    snapshot = await store.fetch(_needs(Series.LSH, "0:123", member_stores=True), [], NOW)
    assert snapshot.store("banned-store").banned
    assert not snapshot.store("clean-store").banned
    without = await store.fetch(_needs(Series.LSH, "0:123"), [], NOW)
    assert "banned-store" not in without.stores


async def test_ledger_round_trip_and_emitted_flag(store: StateStore) -> None:
    await store.commit(StateUpdates(), [LedgerWrite("l1:0", "fp1", b'{"decision":"block"}')], NOW)
    snapshot = await store.fetch(StateNeeds(), ["l1:0", "l2:0"], NOW)
    assert set(snapshot.ledger) == {"l1:0"}
    assert (snapshot.ledger["l1:0"].fingerprint, snapshot.ledger["l1:0"].emitted) == ("fp1", False)
    await store.mark_emitted(["l1:0", "l2:0"])
    snapshot = await store.fetch(StateNeeds(), ["l1:0", "l2:0"], NOW)
    assert snapshot.ledger["l1:0"].emitted and "l2:0" not in snapshot.ledger


async def test_strikes_are_idempotent_and_ban_at_the_policy(store: StateStore) -> None:
    assert (await store.add_strike("s", "listing-1", NOW)).strikes == 1
    assert (await store.add_strike("s", "listing-1", NOW)).strikes == 1  # same strike again
    status = await store.add_strike("s", "listing-2", NOW)
    assert status.banned and status.strikes == 2
    cleared = await store.clear_store("s")
    assert not cleared.banned
    needs = StateNeeds(stores={"s"})
    assert not (await store.fetch(needs, [], NOW)).store("s").banned


async def test_concurrent_writers_lose_nothing(store: StateStore) -> None:
    big = {kind: SeriesPolicy(window_s=100.0, max_members=10_000) for kind in Series}
    if isinstance(store, RedisStateStore):
        store = RedisStateStore(store.client, big, prefix=store.prefix)
    else:
        store = MemoryStateStore(big)

    async def writer(name: str) -> None:
        for start in range(0, 500, 50):
            updates = StateUpdates()
            for i in range(start, start + 50):
                updates.add(Series.STORE_LISTINGS, "shared", f"{name}-{i}", NOW)
            await store.commit(updates, [], NOW)

    await asyncio.gather(writer("a"), writer("b"))
    snapshot = await store.fetch(_needs(Series.STORE_LISTINGS, "shared"), [], NOW)
    assert len(snapshot.members(Series.STORE_LISTINGS, "shared")) == 1000


async def test_a_redis_that_lost_its_scripts_is_reloaded_and_applies_once(
    redis_url: str, key_prefix: str
) -> None:
    """Batches send scripts by digest; after SCRIPT FLUSH (a restarted Redis) the call loads
    the bundle and sends the call again, a write of two parts too, and nothing is applied twice."""
    client = aioredis.Redis.from_url(redis_url)
    store = RedisStateStore(client, POLICIES, prefix=key_prefix)
    try:
        updates = StateUpdates()
        updates.add(Series.STORE_LISTINGS, "g", "m1", NOW)
        await store.commit(updates, [LedgerWrite("l:0", "fp", b"{}")], NOW)
        await client.script_flush()
        snapshot = await store.fetch(_needs(Series.STORE_LISTINGS, "g"), ["l:0"], NOW)
        assert [m for m, _ in snapshot.members(Series.STORE_LISTINGS, "g")] == ["m1"]
        assert snapshot.ledger["l:0"].fingerprint == "fp"
        await client.script_flush()
        adds = store_commit_args(store, [("m2", NOW), ("m3", NOW - 1)])
        await store._eval_together(("commit", adds), ("commit", adds))
        snapshot = await store.fetch(_needs(Series.STORE_LISTINGS, "g"), [], NOW)
        assert sorted(m for m, _ in snapshot.members(Series.STORE_LISTINGS, "g")) == [
            "m1",
            "m2",
            "m3",
        ]
    finally:
        await client.aclose()


def store_commit_args(store: RedisStateStore, members: list[tuple[str, float]]) -> list[object]:
    import orjson

    series = orjson.dumps(
        {
            "policies": {kind.value: (100.0, 3) for kind in Series},
            "adds": [(Series.STORE_LISTINGS.value, "g", m, t) for m, t in members],
        }
    )
    return [store.prefix, NOW, 60, series]
