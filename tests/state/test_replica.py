"""Replicated inline tables (``state.replica``) against a real Redis: what a worker's replica
does when it starts late, falls behind, loses an answer, or finds its log reset or damaged.
The answers themselves are checked against the memory twin in ``test_inline_buckets``."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import redis.asyncio as aioredis

from state import replica
from state.base import StateNeeds
from state.buckets import Buckets
from state.errors import StateUnavailable
from state.memory import MemoryStateStore
from state.redis import RedisStateStore
from tests.state.test_inline_buckets import BUCKETS, NOW, SERIES, _found, _probe, _run, _value


def _worker(client: aioredis.Redis, prefix: str) -> RedisStateStore:
    return RedisStateStore(client, SERIES, prefix=prefix, bucket_policies=BUCKETS)


def _counted(store: RedisStateStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count ``store``'s round trips from now on (in the returned list's one item)."""
    calls = [0]
    send = store._eval_together

    async def counted(*parts: tuple[str, list[object]]) -> list[object]:
        calls[0] += 1
        return await send(*parts)

    monkeypatch.setattr(store, "_eval_together", counted)
    return calls


def _table(store: RedisStateStore) -> replica.LogReplica:
    assert store.replicas is not None
    return store.replicas[Buckets.LSH]


async def test_a_worker_that_starts_late_reads_what_others_added(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    first = _worker(redis_client, key_prefix)
    await _run(first, _probe([([_value(0, 1)], b"early", NOW - 5)]))
    late = _worker(redis_client, key_prefix)
    hits = await _run(late, _probe([([_value(0, 1)], b"ask", NOW)], add=False))
    assert _found(hits) == [(0, 0, b"early", int(NOW - 5))]
    assert _table(late).full_reads == 1
    # and the first worker sees what the late one added
    await _run(late, _probe([([_value(0, 1)], b"late", NOW - 1)]))
    hits = await _run(first, _probe([([_value(0, 1)], b"ask", NOW)], add=False))
    assert [payload for _, _, payload, _ in _found(hits)] == [b"early", b"late"]


async def test_a_replica_far_behind_catches_up_in_several_answers(
    redis_client: aioredis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replica, "READ_LIMIT", 50)  # a record here is 40-60 bytes
    writer, memory = (
        _worker(redis_client, key_prefix),
        MemoryStateStore(SERIES, bucket_policies=BUCKETS),
    )
    for i in range(12):
        probe = _probe([([_value(0, i % 3), _value(1, 5)], f"entry{i}".encode(), NOW - 20 + i)])
        await _run(writer, probe)
        await _run(memory, probe)
    late = _worker(redis_client, key_prefix)
    calls = _counted(late, monkeypatch)
    ask = _probe([([_value(0, 1), _value(1, 5)], b"new", NOW)])
    expected = _found(await _run(memory, ask))
    assert _found(await _run(late, ask)) == expected
    assert calls[0] > 5  # one answer could not hold the log
    # its own entry went in after the whole log: everyone agrees on what follows
    again = _probe([([_value(0, 1), _value(1, 5)], b"x", NOW)], add=False)
    assert _found(await _run(writer, again)) == _found(await _run(memory, again))
    assert _found(await _run(late, again)) == _found(await _run(memory, again))


async def test_an_answer_never_taken_is_replayed_once_from_the_log(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    """A sync that ran in Redis but whose answer was lost (a timeout) left its records in
    the log: the next sync replays them as anyone's, and the retried batch adds nothing
    twice."""
    store = _worker(redis_client, key_prefix)
    table = _table(store)
    lost = _probe([([_value(0, 4)], b"lost", NOW - 3)])
    plan = table.plan([lost], NOW)
    await store._eval_together(("log_sync", table.sync_args(plan, NOW)))  # answer dropped
    assert _found(await _run(store, lost)) == [(0, 0, b"lost", int(NOW - 3))]  # the retry
    hits = await _run(store, _probe([([_value(0, 4)], b"ask", NOW)], add=False))
    assert _found(hits) == [(0, 0, b"lost", int(NOW - 3))]


async def test_a_log_that_is_gone_or_reset_is_followed(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    store = _worker(redis_client, key_prefix)
    await _run(store, _probe([([_value(0, 2)], b"before", NOW)]))
    await redis_client.delete(*[key async for key in redis_client.scan_iter(f"{key_prefix}:*")])
    ask = _probe([([_value(0, 2)], b"ask", NOW)], add=False)
    assert _found(await _run(store, ask)) == []  # Redis lost it: so does the replica
    assert not _table(store).slots
    other = _worker(redis_client, key_prefix)  # a new log, a new epoch
    await _run(other, _probe([([_value(0, 2)], b"after", NOW)]))
    assert [payload for _, _, payload, _ in _found(await _run(store, ask))] == [b"after"]


async def test_slots_that_left_the_window_are_dropped(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    store = _worker(redis_client, key_prefix)
    await _run(store, _probe([([_value(0, 1)], b"old", NOW - 60)]), now=NOW - 60)
    table = _table(store)
    held = set(table.slots)
    assert held and table.nbytes > 0 and store.held_bytes == table.nbytes
    await _run(store, _probe([([_value(0, 1)], b"ask", NOW + 300)], add=False), now=NOW + 300)
    assert not held & set(table.slots)


async def test_bytes_that_are_not_records_degrade_the_batch(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    store = _worker(redis_client, key_prefix)
    await _run(store, _probe([([_value(0, 1)], b"good", NOW)]))
    [key] = [key async for key in redis_client.scan_iter(f"{key_prefix}:tlsh:log:*")]
    await redis_client.append(key, b"\x0d\x00\x00\x00garbage!!")  # claims 13 bytes, holds junk
    late = _worker(redis_client, key_prefix)
    with pytest.raises(StateUnavailable, match="not records"):
        await _run(late, _probe([([_value(0, 1)], b"ask", NOW)], add=False))


def test_a_record_cut_short_waits_for_the_rest() -> None:
    policy = BUCKETS[Buckets.LSH]
    table = replica.LogReplica(Buckets.LSH, "t", policy)
    probe = _probe(
        [([_value(0, 1), _value(1, 2)], b"abc", NOW), ([_value(0, 3), _value(1, 2)], b"de", NOW)]
    )
    [record] = table.records(probe, NOW).values()
    slot = replica.SlotTable(b"e" * replica.HEAD)
    data = np.frombuffer(record + record[:7], dtype=np.uint8)
    assert slot.replay(data, 0, policy.max_entries) == len(record)  # the partial one waits
    assert slot.used.tolist() == [2 * 6, 2 * 6]  # two nodes of 6 words in each part
    assert slot.ends.tolist() == [5]  # their payloads once in the arena: abc, de


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & (2**64 - 1)
    return h - 2**64 if h >= 2**63 else h


def test_hits_name_their_entries_by_the_payloads_hash() -> None:
    """The replica's digests are the payloads' FNV-1a (what the detector would compute)."""
    policy = BUCKETS[Buckets.LSH]
    table = replica.LogReplica(Buckets.LSH, "t", policy)
    first = _probe(
        [([_value(0, 1), _value(1, 2)], b"abc", NOW), ([_value(0, 1)] * 2, b"xyz!", NOW)]
    )
    slot, record = next(iter(table.records(first, NOW).items()))
    table.slots[slot] = replica.SlotTable(b"e" * replica.HEAD)
    table.slots[slot].replay(np.frombuffer(record, dtype=np.uint8), 0, policy.max_entries)
    hits = table.probe(_probe([([_value(0, 1), _value(1, 2)], b"q", NOW)], add=False), NOW)
    assert len(hits) == 3 and len(hits.digest) == 3
    for k in range(len(hits)):
        assert int(hits.digest[k]) == _fnv1a64(hits.payload(k))
    kept = hits.renumbered(np.array([0], dtype=np.int64))  # the digests follow their hits
    assert kept.digest.tolist() == hits.digest.tolist()


async def test_catching_up_reads_every_log_before_the_first_batch(
    redis_client: aioredis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _worker(redis_client, key_prefix)
    for i in range(6):
        await _run(writer, _probe([([_value(0, i)], f"entry{i}".encode(), NOW - 10 + i)]))
    monkeypatch.setattr(replica, "READ_LIMIT", 50)  # several answers
    late = _worker(redis_client, key_prefix)
    await late.catch_up(NOW)
    caught = {slot: table.cursor for slot, table in _table(late).slots.items()}
    assert caught == {slot: table.cursor for slot, table in _table(writer).slots.items()}
    calls = _counted(late, monkeypatch)
    hits = await _run(late, _probe([([_value(0, 3)], b"ask", NOW)], add=False))
    assert [payload for _, _, payload, _ in _found(hits)] == [b"entry3"]
    assert calls[0] == 1  # nothing left to read: the batch's own round trip only


async def test_a_read_sent_before_the_last_ones_own_records_were_replayed_sees_them_once(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    """A read's own records reach the replica on the loop's next turn (after its caller has
    answered). A read sent before that turn reads them back from the log; whichever replays
    them first, the replica holds them once."""
    store = _worker(redis_client, key_prefix)
    needs = StateNeeds()
    needs.probe(_probe([([_value(0, 1), _value(1, 2)], b"first", NOW)]))
    await store.fetch(needs, [], NOW)  # no turn of the loop between this read and the next
    again = StateNeeds()
    again.probe(_probe([([_value(0, 1), _value(1, 2)], b"ask", NOW)], add=False))
    hits = (await store.fetch(again, [], NOW)).inline[Buckets.LSH]
    assert _found(hits) == [(0, 0, b"first", int(NOW)), (0, 1, b"first", int(NOW))]
    await asyncio.sleep(0)
    table = _table(store)
    assert [int(t.ends[0]) for t in table.slots.values() if t.parts] == [len(b"first")]
    hits = await _run(store, _probe([([_value(0, 1)], b"ask", NOW)], add=False))
    assert _found(hits) == [(0, 0, b"first", int(NOW))]
