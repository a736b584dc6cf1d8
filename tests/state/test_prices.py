"""Price groups: the same cases over the in-memory twin and real Redis (rings, idempotent adds,
versions, the window, stale baselines and their compare-and-set)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import numpy as np
import pytest
import redis.asyncio as aioredis

from state import price_ring
from state.base import Series, SeriesPolicy, StateNeeds, StateStore, StateUpdates
from state.keys import price_baseline_key, price_ring_key
from state.memory import MemoryStateStore
from state.prices import (
    Baseline,
    BaselineSpec,
    BaselineWrite,
    PricePolicy,
    PriceQuery,
    PriceRows,
    decode_ring,
    is_stale,
    listing_digest,
    records,
)
from state.redis import RedisStateStore

SERIES = {kind: SeriesPolicy(window_s=100.0, max_members=3) for kind in Series}
WINDOW = PricePolicy(window_s=1000.0)
NOW = 1_800_000_000.0
SPEC = BaselineSpec("d1", refresh_share=0.25, max_age_s=60.0)


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_url: str, key_prefix: str
) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore(SERIES, price_policy=WINDOW)
        return
    client = aioredis.Redis.from_url(redis_url)
    yield RedisStateStore(client, SERIES, prefix=key_prefix, price_policy=WINDOW)
    await client.aclose()


def rows(group: str, keys: list[str], times: list[float], cap: int = 4) -> PriceRows:
    """Observations of ``group``: listing ``keys[k]`` at ``times[k]``, log price k, store k."""
    n = len(keys)
    found = records(times, np.arange(n, dtype=np.float64), np.arange(n))
    return PriceRows.of([group] * n, [listing_digest(k) for k in keys], found, cap)


async def add(store: StateStore, *batches: PriceRows, baselines=()) -> None:
    updates = StateUpdates()
    for batch in batches:
        updates.add_prices(batch)
    updates.keep_baselines(list(baselines))
    await store.commit(updates, [], NOW)


async def read(store: StateStore, *groups: str, spec: BaselineSpec = SPEC, now: float = NOW):
    needs = StateNeeds()
    needs.want_prices(PriceQuery(frozenset(groups), spec))
    return (await store.fetch(needs, [], now)).prices


def baseline(version: int, observations: int = 8, at: float = NOW, median: float = 1.0):
    return Baseline(version, at, median, 0.25, observations, 3)


async def test_a_ring_keeps_the_last_cap_observations_in_order_of_arrival(
    store: StateStore,
) -> None:
    await add(store, rows("g", ["a", "b", "c"], [NOW - 3, NOW - 2, NOW - 1]))
    await add(store, rows("g", ["d", "e", "f"], [NOW, NOW, NOW]))
    group = (await read(store, "g"))["g"]
    assert group.version == 6
    assert group.sample is not None
    # slots 0..3 hold e, f, c, d: the two oldest were overwritten in place
    assert group.sample["t"].tolist() == [NOW, NOW, NOW - 1, NOW]
    assert group.sample["lp"].tolist() == [1.0, 2.0, 2.0, 0.0]
    assert (await read(store, "never-written")) == {}


async def test_a_batch_larger_than_the_ring_keeps_its_last_rows(store: StateStore) -> None:
    keys = [f"k{i}" for i in range(10)]
    await add(store, rows("g", keys, [NOW] * 10))
    group = (await read(store, "g"))["g"]
    assert group.version == 10
    assert group.sample is not None and sorted(group.sample["lp"].tolist()) == [6, 7, 8, 9]


async def test_the_same_listing_is_counted_once(store: StateStore) -> None:
    first = rows("g", ["a", "b", "a"], [NOW, NOW, NOW])  # a twice in one batch
    await add(store, first)
    await add(store, first)  # a redelivered batch
    await add(store, rows("g", ["b"], [NOW - 50]))  # the same revision at another time
    group = (await read(store, "g"))["g"]
    assert group.version == 2
    assert group.sample is not None and group.sample["lp"].tolist() == [0.0, 1.0]
    await add(store, rows("g", ["c", "a", "d"], [NOW] * 3))  # new, held, new
    group = (await read(store, "g"))["g"]
    assert group.version == 4
    assert group.sample is not None and group.sample["lp"].tolist() == [0.0, 1.0, 0.0, 2.0]
    other = await read(store, "h")
    assert other == {}  # a listing's digest is per group: h never saw it


async def test_reads_leave_out_observations_older_than_the_window(store: StateStore) -> None:
    await add(store, rows("g", ["old", "new"], [NOW - 5000, NOW - 10]))
    group = (await read(store, "g"))["g"]
    assert group.version == 2
    assert group.sample is not None and group.sample["t"].tolist() == [NOW - 10]


async def test_a_fresh_baseline_comes_without_the_ring(store: StateStore) -> None:
    await add(store, rows("g", ["a", "b"], [NOW, NOW]), baselines=[])
    group = (await read(store, "g"))["g"]
    assert group.stale == {"d1"} and group.baselines == {}
    await add(store, baselines=[BaselineWrite("g", "d1", baseline(2))])
    group = (await read(store, "g"))["g"]
    assert group.stale == frozenset() and group.sample is None
    assert group.baselines["d1"] == baseline(2)


@pytest.mark.parametrize(
    ("new", "observations", "age", "stale"),
    [
        (0, 8, 0.0, False),  # nothing new
        (1, 8, 0.0, False),  # under a quarter new
        (2, 8, 0.0, True),  # a quarter of 8 is new
        (1, 3, 0.0, True),  # fewer than 4 observations: every new one counts
        (0, 8, 59.0, False),
        (0, 8, 60.0, True),  # too old
        (0, 8, -60.0, True),  # from a clock far ahead
    ],
)
async def test_when_a_baseline_is_stale(
    store: StateStore, new: int, observations: int, age: float, stale: bool
) -> None:
    keys = [f"k{i}" for i in range(3)]
    await add(store, rows("g", keys, [NOW] * 3, cap=16))
    at = NOW - age
    await add(store, baselines=[BaselineWrite("g", "d1", baseline(3, observations, at))])
    if new:
        await add(store, rows("g", [f"n{i}" for i in range(new)], [NOW] * new, cap=16))
    group = (await read(store, "g"))["g"]
    assert ("d1" in group.stale) is stale
    assert (group.sample is not None) is stale
    assert is_stale(group.baselines["d1"], group.version, NOW, SPEC) is stale


async def test_each_spec_has_its_own_baseline(store: StateStore) -> None:
    await add(store, rows("g", ["a"], [NOW]))
    await add(store, baselines=[BaselineWrite("g", "d1", baseline(1, 1))])
    other = BaselineSpec("d2", 0.25, 60.0)
    group = (await read(store, "g", spec=other))["g"]
    assert group.stale == {"d2"} and group.sample is not None
    assert group.baselines == {}  # only the baselines asked for come back
    assert (await read(store, "g"))["g"].stale == frozenset()  # d1 is still there, fresh


async def test_an_older_baseline_never_replaces_a_newer_one(store: StateStore) -> None:
    await add(store, rows("g", ["a", "b", "c"], [NOW] * 3))
    await add(store, baselines=[BaselineWrite("g", "d1", baseline(3, median=3.0))])
    await add(store, baselines=[BaselineWrite("g", "d1", baseline(2, median=2.0))])
    await add(store, baselines=[BaselineWrite("g", "d1", baseline(3, at=NOW - 1, median=9.0))])
    assert (await read(store, "g"))["g"].baselines["d1"].median == 3.0
    later = baseline(3, at=NOW + 1, median=4.0)  # same version, recomputed later: kept
    await add(store, baselines=[BaselineWrite("g", "d1", later)])
    assert (await read(store, "g"))["g"].baselines["d1"] == later


async def test_a_nan_baseline_round_trips(store: StateStore) -> None:
    await add(store, rows("g", ["a"], [NOW - 5000]))  # only an observation out of the window
    empty = Baseline(1, NOW, math.nan, math.nan, 0, 0)
    await add(store, baselines=[BaselineWrite("g", "d1", empty)])
    stored = (await read(store, "g"))["g"].baselines["d1"]
    assert math.isnan(stored.median) and stored.observations == 0


async def test_two_concurrent_writers_lose_nothing(store: StateStore) -> None:
    async def writer(name: str) -> None:
        for start in range(0, 300, 30):
            keys = [f"{name}-{i}" for i in range(start, start + 30)]
            await add(store, rows("shared", keys, [NOW] * 30, cap=1024))

    await asyncio.gather(writer("a"), writer("b"))
    group = (await read(store, "shared"))["shared"]
    assert group.version == 600
    assert group.sample is not None and len(group.sample) == 600


async def test_both_backends_keep_the_same_ring(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    redis_store = RedisStateStore(redis_client, SERIES, prefix=key_prefix, price_policy=WINDOW)
    memory_store = MemoryStateStore(SERIES, price_policy=WINDOW)
    batches = [
        rows("c:x", ["a", "b", "a"], [NOW, NOW, NOW]),
        rows("c:x", ["c", "d", "e", "b"], [NOW] * 4),
        rows("c:x", [f"k{i}" for i in range(9)], [NOW] * 9),  # more than the ring holds
        rows("c:x", ["m0"], [NOW], cap=6),  # grown: laid out anew
        rows("c:x", ["m1", "m2", "m3"], [NOW] * 3, cap=3),  # shrunk
        rows("c:x", ["m3", "m4"], [NOW] * 2, cap=3),
    ]
    for batch in batches:
        await add(redis_store, batch)
        await add(memory_store, batch)
        ring = await redis_client.get(price_ring_key(key_prefix, "c:x"))
        assert ring == memory_store.price_ring("c:x")
    assert price_ring.header(ring) == (19, 3)
    assert price_ring.records(ring) == decode_ring(price_ring.records(ring), 0.0).tobytes()
    baseline_key = price_baseline_key(key_prefix, "d1", "c:x")
    await add(redis_store, baselines=[BaselineWrite("c:x", "d1", baseline(19))])
    assert await redis_client.get(baseline_key) == baseline(19).encode().encode()
    for key in (price_ring_key(key_prefix, "c:x"), baseline_key):
        assert 0 < await redis_client.ttl(key) <= 1000 + 86400


async def test_a_new_sample_size_keeps_the_newest_observations(store: StateStore) -> None:
    await add(store, rows("g", [f"k{i}" for i in range(6)], [NOW] * 6, cap=4))  # k2..k5 held
    await add(store, rows("g", ["n0"], [NOW], cap=8))  # grown: k2..k5 stay, n0 joins
    group = (await read(store, "g"))["g"]
    assert group.version == 7
    assert group.sample is not None and sorted(group.sample["lp"].tolist()) == [0, 2, 3, 4, 5]
    await add(store, rows("g", ["k5", "m0", "m1"], [NOW] * 3, cap=2))  # shrunk: k5 is held
    group = (await read(store, "g"))["g"]
    assert group.version == 9
    assert group.sample is not None and sorted(group.sample["lp"].tolist()) == [1, 2]
