"""Inline bucket tables (looked up and added to in one call): the same cases over the in-memory
twin, real Redis holding the buckets, and real Redis holding the log of per-worker replicas
(``state.replica``), and a property test that all answer alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from state.base import Series, SeriesPolicy, StateNeeds, StateStore
from state.buckets import BucketPolicy, Buckets
from state.inline import InlineHits, ProbeAdd
from state.memory import MemoryStateStore
from state.redis import RedisStateStore

SERIES = {kind: SeriesPolicy(window_s=100.0, max_members=3) for kind in Series}
BUCKETS = {kind: BucketPolicy(window_s=100.0, max_entries=3) for kind in Buckets}
NOW = 1_800_000_000.0


def _redis_store(
    client: aioredis.Redis, prefix: str, inline_tables: str = "replica"
) -> RedisStateStore:
    return RedisStateStore(
        client, SERIES, prefix=prefix, bucket_policies=BUCKETS, inline_tables=inline_tables
    )


@pytest.fixture(params=["memory", "redis", "replica"])
async def store(
    request: pytest.FixtureRequest, redis_url: str, key_prefix: str
) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore(SERIES, bucket_policies=BUCKETS)
        return
    client = aioredis.Redis.from_url(redis_url)
    yield _redis_store(client, key_prefix, request.param)
    await client.aclose()


def _probe(rows: Sequence[tuple[Sequence[int], bytes, float]], *, add: bool = True) -> ProbeAdd:
    """One row per (bucket value of each part, payload, event time)."""
    payloads = [payload for _, payload, _ in rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in payloads], out=offsets[1:])
    return ProbeAdd(
        Buckets.LSH,
        np.array([fields for fields, _, _ in rows], dtype=np.uint64).reshape(len(rows), -1),
        b"".join(payloads),
        offsets,
        np.array([t for _, _, t in rows], dtype=np.float64),
        np.full(len(rows), add, dtype=np.bool_),
    )


def _value(part: int, bucket: int) -> int:
    """A 64-bit bucket value whose top 32 bits (what names the bucket) are ``bucket``."""
    return (bucket << 32) | (part + 1)


async def _run(store: StateStore, probe: ProbeAdd, now: float = NOW) -> InlineHits:
    needs = StateNeeds()
    needs.probe(probe)
    snapshot = await store.fetch(needs, [], now)
    await asyncio.sleep(0)  # a replica takes the batch's own records on the loop's next turn
    return snapshot.inline.get(Buckets.LSH, InlineHits())


def _found(hits: InlineHits) -> list[tuple[int, int, bytes, int]]:
    """(row, part, payload, time) of every hit, sorted."""
    return sorted(
        (int(hits.row[k]), int(hits.part[k]), hits.payload(k), int(hits.time[k]))
        for k in range(len(hits))
    )


async def test_a_probe_sees_the_table_as_it_was_before_its_batch(store: StateStore) -> None:
    first = _probe([([_value(0, 7), _value(1, 8)], b"alpha", NOW - 5)])
    assert _found(await _run(store, first)) == []
    again = _probe([([_value(0, 7), _value(1, 9)], b"beta", NOW - 1)])
    assert _found(await _run(store, again)) == [(0, 0, b"alpha", int(NOW - 5))]
    # the second batch's entry is there for the third
    third = _probe([([_value(0, 7), _value(1, 9)], b"gamma", NOW)])
    assert _found(await _run(store, third)) == [
        (0, 0, b"alpha", int(NOW - 5)),
        (0, 0, b"beta", int(NOW - 1)),
        (0, 1, b"beta", int(NOW - 1)),
    ]


async def test_rows_of_one_batch_sharing_a_bucket_all_land(store: StateStore) -> None:
    batch = _probe([([_value(0, 3)], b"one", NOW), ([_value(0, 3)], b"two", NOW)])
    assert _found(await _run(store, batch)) == []
    later = await _run(store, _probe([([_value(0, 3)], b"x", NOW)], add=False))
    assert [payload for _, _, payload, _ in _found(later)] == [b"one", b"two"]


async def test_an_entry_added_again_is_one_entry_with_the_newer_time(store: StateStore) -> None:
    for t in (NOW - 50, NOW - 10, NOW - 30):
        await _run(store, _probe([([_value(0, 5)], b"same", t)]))
    hits = await _run(store, _probe([([_value(0, 5)], b"ask", NOW)], add=False))
    assert _found(hits) == [(0, 0, b"same", int(NOW - 10))]


async def test_the_cap_keeps_the_newest_entries(store: StateStore) -> None:
    for i in range(5):
        await _run(store, _probe([([_value(0, 1)], f"e{i}".encode(), NOW - 10 + i)]))
    hits = await _run(store, _probe([([_value(0, 1)], b"ask", NOW)], add=False))
    assert [payload for _, _, payload, _ in _found(hits)] == [b"e2", b"e3", b"e4"]


async def test_old_entries_are_neither_read_nor_added(store: StateStore) -> None:
    await _run(store, _probe([([_value(0, 1)], b"old", NOW - 90)]), now=NOW - 90)
    await _run(store, _probe([([_value(0, 1)], b"stale", NOW - 500)]))  # already outside
    hits = await _run(store, _probe([([_value(0, 1)], b"ask", NOW + 20)], add=False), NOW + 20)
    assert _found(hits) == []
    hits = await _run(store, _probe([([_value(0, 1)], b"ask", NOW)], add=False))
    assert [payload for _, _, payload, _ in _found(hits)] == [b"old"]


async def test_a_read_only_probe_adds_nothing(store: StateStore) -> None:
    await _run(store, _probe([([_value(0, 2)], b"look", NOW)], add=False))
    assert _found(await _run(store, _probe([([_value(0, 2)], b"ask", NOW)]))) == []


async def test_entries_live_across_time_slots(store: StateStore) -> None:
    """Slots are half a window: an entry filed in the previous slot is still read."""
    await _run(store, _probe([([_value(0, 4)], b"early", NOW - 60)]), now=NOW - 60)
    await _run(store, _probe([([_value(0, 4)], b"late", NOW)]))
    hits = await _run(store, _probe([([_value(0, 4)], b"ask", NOW)], add=False))
    assert [payload for _, _, payload, _ in _found(hits)] == [b"early", b"late"]


async def test_a_large_batch_is_read_and_written_in_chunks(store: StateStore) -> None:
    rows = [([_value(0, i), _value(1, i % 7)], f"p{i}".encode(), NOW) for i in range(3500)]
    await _run(store, _probe(rows))
    hits = await _run(store, _probe([([_value(0, 3499), _value(1, 2)], b"ask", NOW)], add=False))
    found = _found(hits)
    assert (0, 0, b"p3499", int(NOW)) in found
    assert len([f for f in found if f[1] == 1]) == 3  # the cap of bucket 2 of part 1


@pytest.mark.parametrize("inline_tables", ["redis", "replica"])
async def test_redis_keys_expire(
    redis_client: aioredis.Redis, key_prefix: str, inline_tables: str
) -> None:
    store = _redis_store(redis_client, key_prefix, inline_tables)
    await _run(store, _probe([([_value(0, 1)], b"x", NOW)]))
    keys = [key async for key in redis_client.scan_iter(f"{key_prefix}:tlsh:*")]
    assert len(keys) == 1
    ttl = await redis_client.ttl(keys[0])
    assert 86400 < ttl <= 100 + 50 + 86400 + 1


async def test_malformed_buckets_are_skipped(redis_client: aioredis.Redis, key_prefix: str) -> None:
    store = _redis_store(redis_client, key_prefix, "redis")
    await _run(store, _probe([([_value(0, 1)], b"good", NOW)]))
    [key] = [key async for key in redis_client.scan_iter(f"{key_prefix}:tlsh:*")]
    bad_field = (9).to_bytes(4, "big")
    await redis_client.hset(key, bad_field, b"\x00\x05\xff\xff")  # claims 5 entries, holds none
    hits = await _run(store, _probe([([_value(0, 9)], b"ask", NOW)], add=False))
    assert _found(hits) == []
    hits = await _run(store, _probe([([_value(0, 1)], b"ask", NOW)], add=False))
    assert [payload for _, _, payload, _ in _found(hits)] == [b"good"]


rows_strategy = st.lists(
    st.tuples(
        st.lists(st.integers(0, 3), min_size=2, max_size=2),  # bucket of each of 2 parts
        st.sampled_from([b"a", b"b", b"c", b"dd", b"eee"]),
        st.integers(-120, 0),  # event time offset
        st.booleans(),  # added
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=st.lists(rows_strategy, min_size=1, max_size=5))
async def test_every_backend_answers_alike(
    redis_client: aioredis.Redis, batches: list[list[tuple[list[int], bytes, int, bool]]]
) -> None:
    """The memory twin, buckets in Redis, and two replicas of one log taking turns (two
    workers): every batch gets the same answer from each."""
    memory = MemoryStateStore(SERIES, bucket_policies=BUCKETS)
    prefix = f"alike{uuid.uuid4().hex[:10]}"
    in_redis = _redis_store(redis_client, prefix + "r", "redis")
    workers = [_redis_store(redis_client, prefix + "l") for _ in range(2)]
    try:
        for step, batch in enumerate(batches):
            now = NOW + 30 * step
            rows = [
                ([_value(p, b) for p, b in enumerate(buckets)], payload, now + dt)
                for buckets, payload, dt, _ in batch
            ]
            probe = _probe(rows)
            probe = ProbeAdd(
                probe.kind,
                probe.fields,
                probe.payloads,
                probe.offsets,
                probe.times,
                np.array([added for *_, added in batch], dtype=np.bool_),
            )
            expected = _found(await _run(memory, probe, now))
            assert _found(await _run(in_redis, probe, now)) == expected
            assert _found(await _run(workers[step % 2], probe, now)) == expected
    finally:
        for store in (in_redis, *workers):
            await store.release()


def test_a_kind_is_probed_once_and_a_read_only_merge_writes_nothing() -> None:
    writing = _probe([([_value(0, 1)], b"w", NOW)])
    reading = _probe([([_value(0, 2)], b"r", NOW)])
    needs = StateNeeds()
    needs.probe(reading, writes=False)
    assert not needs.probes[0].add.any()
    needs.probe(writing)  # a writing probe replaces a read-only one
    assert needs.probes == [writing]
    shadow = StateNeeds()
    shadow.probe(reading)
    needs.merge(shadow, writes=False)  # the kind is probed already: the shadow reads its answer
    assert needs.probes == [writing]
    with pytest.raises(ValueError, match="probed twice"):
        needs.probe(_probe([([_value(0, 3)], b"x", NOW)]))
