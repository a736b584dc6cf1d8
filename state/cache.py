"""A worker-local read cache in front of a state store, for series that are read far more often
than they change in ways that matter (rolling price samples: hundreds of members per group,
read by every batch that touches the group).

A cached series is served from memory for ``ttl_s`` seconds after it was read; this worker's own
additions are applied to the cached copy at commit, so only other workers' additions can be up
to ``ttl_s`` late. Everything else (ledger, offender status, uncached kinds) passes through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from state.base import (
    LedgerWrite,
    Series,
    SeriesPolicy,
    StateNeeds,
    StateSnapshot,
    StateStore,
    StateUpdates,
    StoreStatus,
)


class CachedSeriesStore(StateStore):
    def __init__(
        self,
        inner: StateStore,
        policies: Mapping[Series, SeriesPolicy],
        kinds: frozenset[Series],
        ttl_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.inner = inner
        self._policies = dict(policies)
        self._kinds = kinds
        self._ttl = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._cache: dict[tuple[Series, str], tuple[float, list[tuple[str, float]]]] = {}

    def _fresh(self, kind: Series, series_id: str, at: float) -> list[tuple[str, float]] | None:
        entry = self._cache.get((kind, series_id))
        if entry is None or at - entry[0] > self._ttl:
            return None
        return entry[1]

    async def fetch(
        self, needs: StateNeeds, ledger_keys: Sequence[str], now: float
    ) -> StateSnapshot:
        at = self._clock()
        cached: dict[Series, dict[str, list[tuple[str, float]]]] = {}
        remaining = StateNeeds(
            stores=set(needs.stores),
            member_stores=set(needs.member_stores),
            buckets=list(needs.buckets),
        )
        for kind, ids in needs.series.items():
            if kind not in self._kinds:
                remaining.want(kind, ids)
                continue
            hits = cached.setdefault(kind, {})
            missing = set()
            for series_id in ids:
                members = self._fresh(kind, series_id, at)
                if members is None:
                    missing.add(series_id)
                else:
                    hits[series_id] = members
            remaining.want(kind, missing)
        snapshot = await self.inner.fetch(remaining, ledger_keys, now)
        if len(self._cache) > self._max_entries:
            self._cache.clear()
        for kind in self._kinds & set(remaining.series):
            found = snapshot.series.setdefault(kind, {})
            for series_id in remaining.series[kind]:
                self._cache[(kind, series_id)] = (at, found.get(series_id, []))
        oldest = {kind: now - policy.window_s for kind, policy in self._policies.items()}
        for kind, hits in cached.items():
            found = snapshot.series.setdefault(kind, {})
            for series_id, members in hits.items():
                # members are kept oldest first: only filter when the oldest has aged out
                if members and members[0][1] < oldest[kind]:
                    members = [(m, t) for m, t in members if t >= oldest[kind]]
                if members:
                    found[series_id] = members
        return snapshot

    async def commit(
        self, updates: StateUpdates, ledger: Sequence[LedgerWrite], now: float
    ) -> None:
        await self.inner.commit(updates, ledger, now)
        touched: dict[tuple[Series, str], dict[str, float]] = {}
        for kind, series_id, member, event_time in updates.adds:
            entry = self._cache.get((kind, series_id))
            if entry is None:
                continue
            members = touched.setdefault((kind, series_id), dict(entry[1]))
            members[member] = max(event_time, members.get(member, event_time))
        for (kind, series_id), members in touched.items():
            cap = self._policies[kind].max_members
            newest = sorted(members.items(), key=lambda mt: mt[1])[-cap:]
            self._cache[(kind, series_id)] = (self._cache[(kind, series_id)][0], newest)

    async def mark_emitted(self, keys: Sequence[str]) -> None:
        await self.inner.mark_emitted(keys)

    async def ban_store(self, store_id: str, now: float) -> StoreStatus:
        return await self.inner.ban_store(store_id, now)

    async def clear_store(self, store_id: str) -> StoreStatus:
        return await self.inner.clear_store(store_id)

    async def add_strike(self, store_id: str, strike_id: str, now: float) -> StoreStatus:
        return await self.inner.add_strike(store_id, strike_id, now)

    async def ping(self) -> bool:
        return await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
