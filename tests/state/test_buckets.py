"""Bucket tables: the same cases over the in-memory twin and real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
import redis.asyncio as aioredis

from state.base import Series, SeriesPolicy, StateNeeds, StateStore, StateUpdates
from state.buckets import BucketPolicy, BucketQuery, BucketRows, Buckets
from state.memory import MemoryStateStore
from state.redis import RedisStateStore

SERIES = {kind: SeriesPolicy(window_s=100.0, max_members=3) for kind in Series}
BUCKETS = {kind: BucketPolicy(window_s=100.0, max_entries=3) for kind in Buckets}
NOW = 1_800_000_000.0


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_url: str, key_prefix: str
) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore(SERIES, bucket_policies=BUCKETS)
        return
    client = aioredis.Redis.from_url(redis_url)
    yield RedisStateStore(client, SERIES, prefix=key_prefix, bucket_policies=BUCKETS)
    await client.aclose()


def _rows(
    kind: Buckets, buckets: list[tuple[int, int]], entries: list[tuple[str, str, float]]
) -> BucketRows:
    """Entry k joins bucket k (same length lists)."""
    return BucketRows(
        kind,
        np.array([p for p, _ in buckets], dtype=np.int64),
        np.array([f for _, f in buckets], dtype=np.uint64),
        np.arange(len(entries), dtype=np.int64),
        [s for s, _, _ in entries],
        [r for _, r, _ in entries],
        np.array([t for _, _, t in entries], dtype=np.float64),
    )


def _needs(kind: Buckets, *buckets: tuple[int, int]) -> StateNeeds:
    needs = StateNeeds()
    needs.want_buckets(
        BucketQuery(
            kind,
            np.array([p for p, _ in buckets], dtype=np.int64),
            np.array([f for _, f in buckets], dtype=np.uint64),
        )
    )
    return needs


async def _write(store: StateStore, rows: BucketRows, now: float = NOW) -> None:
    updates = StateUpdates()
    updates.add_buckets(rows)
    await store.commit(updates, [], now)


async def test_one_entry_in_many_buckets_is_read_once(store: StateStore) -> None:
    big = (1 << 64) - 1  # the full 64-bit range survives the round trip
    rows = BucketRows(
        Buckets.PHASH,
        np.array([0, 1, 2], dtype=np.int64),
        np.array([7, big, 9], dtype=np.uint64),
        np.zeros(3, dtype=np.int64),
        ["s1"],
        ["L1|sig"],
        np.array([NOW - 5]),
    )
    await _write(store, rows)
    snapshot = await store.fetch(_needs(Buckets.PHASH, (0, 7), (1, big), (2, 8)), [], NOW)
    hits = snapshot.buckets[Buckets.PHASH]
    assert [(e.store_id, e.ref) for e in hits.entries] == [("s1", "L1|sig")]
    assert snapshot.bucket(Buckets.PHASH, 1, big)[0].event_time == pytest.approx(NOW - 5)
    assert snapshot.bucket(Buckets.PHASH, 2, 8) == []
    assert snapshot.bucket(Buckets.SIGNAL, 0, 7) == []


async def test_window_and_cap_keep_the_newest(store: StateStore) -> None:
    entries = [("s", f"r{i}", NOW - i * 10) for i in range(5)]
    entries.append(("s", "old", NOW - 500))  # outside the 100 s window: never read
    await _write(store, _rows(Buckets.PHASH, [(3, 42)] * 6, list(reversed(entries))))
    snapshot = await store.fetch(_needs(Buckets.PHASH, (3, 42)), [], NOW)
    assert sorted(e.ref for e in snapshot.bucket(Buckets.PHASH, 3, 42)) == ["r0", "r1", "r2"]


async def test_an_entry_added_twice_keeps_its_newest_time(store: StateStore) -> None:
    await _write(store, _rows(Buckets.SIGNAL, [(2, 5)], [("s", "100", NOW - 50)]))
    await _write(store, _rows(Buckets.SIGNAL, [(2, 5)], [("s", "100", NOW - 10)]))
    await _write(store, _rows(Buckets.SIGNAL, [(2, 5)], [("s", "100", NOW - 30)]))
    found = (await store.fetch(_needs(Buckets.SIGNAL, (2, 5)), [], NOW)).bucket(
        Buckets.SIGNAL, 2, 5
    )
    assert [(e.store_id, e.ref) for e in found] == [("s", "100")]
    assert found[0].event_time == pytest.approx(NOW - 10)


async def test_entries_of_one_batch_sharing_a_bucket_all_land(store: StateStore) -> None:
    rows = _rows(
        Buckets.PHASH, [(0, 1), (0, 1), (0, 2)], [("a", "x", NOW), ("b", "y", NOW), ("c", "z", NOW)]
    )
    await _write(store, rows)
    snapshot = await store.fetch(_needs(Buckets.PHASH, (0, 1), (0, 2)), [], NOW)
    assert {e.store_id for e in snapshot.bucket(Buckets.PHASH, 0, 1)} == {"a", "b"}
    assert {e.store_id for e in snapshot.bucket(Buckets.PHASH, 0, 2)} == {"c"}


async def test_the_status_of_stores_found_comes_with_the_read(store: StateStore) -> None:
    await store.ban_store("banned", NOW)
    await _write(
        store, _rows(Buckets.SIGNAL, [(0, 9), (0, 9)], [("banned", "1", NOW), ("ok", "1", NOW)])
    )
    snapshot = await store.fetch(_needs(Buckets.SIGNAL, (0, 9)), [], NOW)
    assert snapshot.store("banned").banned
    assert not snapshot.store("ok").banned


async def test_awkward_ids_round_trip(store: StateStore) -> None:
    odd = ["store\x1fwith\x1eseparators\x1d", "store|:ünïcode 店", "\x1c"]
    await _write(store, _rows(Buckets.PHASH, [(0, 1)] * 3, [(s, f"ref\x1d{s}", NOW) for s in odd]))
    found = (await store.fetch(_needs(Buckets.PHASH, (0, 1)), [], NOW)).bucket(Buckets.PHASH, 0, 1)
    assert {(e.store_id, e.ref) for e in found} == {(s, f"ref\x1d{s}") for s in odd}


async def test_entries_live_across_time_slots(store: StateStore) -> None:
    """Slots are half a window: an entry written in the previous slot is still read."""
    await _write(store, _rows(Buckets.PHASH, [(0, 1)], [("a", "early", NOW - 60)]), now=NOW - 60)
    await _write(store, _rows(Buckets.PHASH, [(0, 1)], [("b", "late", NOW)]))
    found = (await store.fetch(_needs(Buckets.PHASH, (0, 1)), [], NOW)).bucket(Buckets.PHASH, 0, 1)
    assert {e.ref for e in found} == {"early", "late"}
    later = await store.fetch(_needs(Buckets.PHASH, (0, 1)), [], NOW + 50)
    assert {e.ref for e in later.bucket(Buckets.PHASH, 0, 1)} == {"late"}


async def test_redis_keys_expire(redis_client: aioredis.Redis, key_prefix: str) -> None:
    store = RedisStateStore(redis_client, SERIES, prefix=key_prefix, bucket_policies=BUCKETS)
    await _write(store, _rows(Buckets.PHASH, [(0, 1)], [("a", "x", NOW)]))
    keys = [key async for key in redis_client.scan_iter(f"{key_prefix}:*")]
    assert len(keys) == 2  # one bucket hash, one entry hash
    for key in keys:
        ttl = await redis_client.ttl(key)
        assert 86400 < ttl <= 100 + 50 + 86400 + 1
