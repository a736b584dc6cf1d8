"""The worker-local series cache: fewer reads, own writes visible at once, others' within TTL."""

from __future__ import annotations

from state.base import Series, SeriesPolicy, StateNeeds, StateUpdates
from state.cache import CachedSeriesStore
from state.memory import MemoryStateStore

POLICIES = {kind: SeriesPolicy(window_s=1000.0, max_members=4) for kind in Series}
NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _needs(*ids: str) -> StateNeeds:
    needs = StateNeeds()
    needs.want(Series.PRICE, ids)
    needs.want(Series.SIGNAL, ["phone:x"])
    return needs


async def test_cached_reads_own_writes_and_expiry() -> None:
    shared = MemoryStateStore(POLICIES)
    clock = Clock()
    cached = CachedSeriesStore(shared, POLICIES, frozenset({Series.PRICE}), 2.0, clock=clock)
    other = StateUpdates()
    other.add(Series.PRICE, "g", "a", NOW)
    await shared.commit(other, [], NOW)

    first = await cached.fetch(_needs("g"), [], NOW)
    assert [m for m, _ in first.members(Series.PRICE, "g")] == ["a"]

    mine = StateUpdates()
    mine.add(Series.PRICE, "g", "b", NOW + 1)
    await cached.commit(mine, [], NOW)  # own write: visible at once
    late = StateUpdates()
    late.add(Series.PRICE, "g", "c", NOW + 2)
    await shared.commit(late, [], NOW)  # another worker's write: not yet

    rounds = shared.round_trips
    second = await cached.fetch(_needs("g"), [], NOW)
    assert [m for m, _ in second.members(Series.PRICE, "g")] == ["a", "b"]
    assert shared.round_trips == rounds + 1  # the SIGNAL need still went through, once

    clock.t = 2.5  # past the TTL: re-read
    third = await cached.fetch(_needs("g"), [], NOW)
    assert [m for m, _ in third.members(Series.PRICE, "g")] == ["a", "b", "c"]


async def test_uncached_kinds_pass_through() -> None:
    shared = MemoryStateStore(POLICIES)
    cached = CachedSeriesStore(shared, POLICIES, frozenset({Series.PRICE}), 2.0, clock=Clock())
    updates = StateUpdates()
    updates.add(Series.SIGNAL, "phone:x", "store-1", NOW)
    await cached.commit(updates, [], NOW)
    snapshot = await cached.fetch(_needs(), [], NOW)
    assert snapshot.members(Series.SIGNAL, "phone:x") == [("store-1", NOW)]
