"""In-process twin of the Redis store, for unit tests and the detector check suite.

Same semantics as ``state.redis.RedisStateStore`` (windows, caps, idempotent adds, ledger,
strikes); the shared state tests run every case over both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from state import price_ring
from state.base import (
    LedgerEntry,
    LedgerWrite,
    Series,
    SeriesPolicy,
    StateNeeds,
    StateSnapshot,
    StateStore,
    StateUpdates,
    StorePolicy,
    StoreStatus,
    split_member,
)
from state.buckets import (
    BucketHits,
    BucketPolicy,
    BucketQuery,
    BucketRows,
    Buckets,
    HitsBuilder,
    default_bucket_policies,
)
from state.inline import InlineHits, ProbeAdd, bucket_keys, entry_second, probe_slots
from state.inline_codec import add_slots
from state.prices import (
    RECORD_SIZE,
    Baseline,
    PriceGroup,
    PricePolicy,
    PriceQuery,
    PriceRows,
    decode_ring,
    is_stale,
    merge_queries,
)

Bucket = list[tuple[bytes, int]]
"""An inline bucket: (payload, time in seconds), newest last."""


class MemoryStateStore(StateStore):
    def __init__(
        self,
        policies: Mapping[Series, SeriesPolicy],
        store_policy: StorePolicy | None = None,
        bucket_policies: Mapping[Buckets, BucketPolicy] | None = None,
        price_policy: PricePolicy | None = None,
    ) -> None:
        self._policies = dict(policies)
        window = max((policy.window_s for policy in self._policies.values()), default=30 * 86400.0)
        self._bucket_policies = dict(bucket_policies or default_bucket_policies(window))
        self._price_policy = price_policy or PricePolicy(window)
        self._rings: dict[str, bytes] = {}
        self._baselines: dict[tuple[str, str], Baseline] = {}
        self._buckets: dict[tuple[Buckets, int, int], dict[tuple[str, str], float]] = {}
        self._inline: dict[tuple[Buckets, int, int, int], Bucket] = {}
        self._store_policy = store_policy or StorePolicy()
        self._series: dict[tuple[Series, str], dict[str, float]] = {}
        self._stores: dict[str, StoreStatus] = {}
        self._strikes: dict[str, set[str]] = {}
        self._ledger: dict[str, LedgerEntry] = {}
        self.round_trips = 0

    async def fetch(
        self, needs: StateNeeds, ledger_keys: Sequence[str], now: float
    ) -> StateSnapshot:
        self.round_trips += 1
        snapshot = StateSnapshot(offenders=MappingProxyType(self._stores))
        for query in needs.probes:
            found_inline = self._probe(query, now)
            if len(found_inline):
                snapshot.inline[query.kind] = found_inline
        for kind, ids in needs.series.items():
            oldest = now - self._policies[kind].window_s
            found: dict[str, list[tuple[str, float]]] = {}
            for series_id in ids:
                members = self._series.get((kind, series_id), {})
                live = sorted(
                    ((m, t) for m, t in members.items() if t >= oldest), key=lambda mt: mt[1]
                )
                if live:
                    found[series_id] = live
            snapshot.series[kind] = found
        wanted_stores = set(needs.stores)
        for kind in needs.member_stores:
            for found_members in snapshot.series.get(kind, {}).values():
                wanted_stores.update(split_member(m)[0] for m, _ in found_members)
        if needs.prices:
            snapshot.prices = self._read_prices(needs.prices, now)
        if needs.buckets:
            snapshot.buckets = self._read_buckets(needs.buckets, now)
            for hits in snapshot.buckets.values():
                wanted_stores.update(entry.store_id for entry in hits.entries)
        for store_id in wanted_stores:
            if store_id in self._stores:
                snapshot.stores[store_id] = self._stores[store_id]
        for key in ledger_keys:
            if key in self._ledger:
                snapshot.ledger[key] = self._ledger[key]
        return snapshot

    async def commit(
        self, updates: StateUpdates, ledger: Sequence[LedgerWrite], now: float
    ) -> None:
        self.round_trips += 1
        for kind, series_id, member, event_time in updates.adds:
            policy = self._policies[kind]
            members = self._series.setdefault((kind, series_id), {})
            members[member] = max(event_time, members.get(member, event_time))
            oldest = now - policy.window_s
            for stale in [m for m, t in members.items() if t < oldest]:
                del members[stale]
            if len(members) > policy.max_members:
                newest = sorted(members.items(), key=lambda mt: mt[1])[-policy.max_members :]
                members.clear()
                members.update(newest)
        for rows in updates.buckets:
            self._write_buckets(rows, now)
        for price_rows in updates.prices:
            self._write_prices(price_rows)
        for kept in updates.baselines:
            old = self._baselines.get((kept.digest, kept.group))
            new = kept.baseline
            if old is None or (new.version, new.computed_at) > (old.version, old.computed_at):
                self._baselines[(kept.digest, kept.group)] = new
        for write in ledger:
            self._ledger[write.key] = LedgerEntry(write.fingerprint, write.verdict, emitted=False)

    def _read_prices(self, queries: list[PriceQuery], now: float) -> dict[str, PriceGroup]:
        groups, specs = merge_queries(queries)
        oldest = now - self._price_policy.window_s
        found: dict[str, PriceGroup] = {}
        for group in groups:
            ring = self._rings.get(group, b"")
            version, _ = price_ring.header(ring)
            if version <= 0:
                continue
            baselines = {
                spec.digest: stored
                for spec in specs
                if (stored := self._baselines.get((spec.digest, group))) is not None
            }
            stale = frozenset(
                spec.digest
                for spec in specs
                if is_stale(baselines.get(spec.digest), version, now, spec)
            )
            sample = decode_ring(price_ring.records(ring), oldest).copy() if stale else None
            found[group] = PriceGroup(version, baselines, stale, sample)
        return found

    def _write_prices(self, rows: PriceRows) -> None:
        raw = rows.records.tobytes()
        digests = rows.digests.astype("<u8").tobytes()
        for group, index in rows.by_group():
            pairs = [
                (digests[k * 8 : (k + 1) * 8], raw[k * RECORD_SIZE : (k + 1) * RECORD_SIZE])
                for k in index.tolist()
            ]
            self._rings[group], _ = price_ring.add(self._rings.get(group), pairs, rows.cap)

    def price_ring(self, group: str) -> bytes:
        """Test helper: a price group's ring, laid out as in Redis."""
        return self._rings.get(group, b"")

    def _read_buckets(
        self, queries: Sequence[BucketQuery], now: float
    ) -> dict[Buckets, BucketHits]:
        builders: dict[Buckets, HitsBuilder] = {}
        for query in queries:
            policy = self._bucket_policies[query.kind]
            builder = builders.setdefault(
                query.kind, HitsBuilder(now - policy.window_s, policy.max_entries)
            )
            asked = set(zip(query.parts.tolist(), query.fields.tolist(), strict=True))
            parts, values, entries = [], [], []
            for part, value in asked:
                for (store, ref), t in self._buckets.get((query.kind, part, value), {}).items():
                    parts.append(part)
                    values.append(value)
                    entries.append(builder.entry(store, ref, t))
            builder.add(
                np.array(parts, dtype=np.int64),
                np.array(values, dtype=np.uint64),
                np.array(entries, dtype=np.int64),
            )
        built = {kind: builder.build() for kind, builder in builders.items()}
        return {kind: hits for kind, hits in built.items() if len(hits.entry)}

    def _probe(self, query: ProbeAdd, now: float) -> InlineHits:
        """Read every bucket of every slot in the window, then add the rows filed in it."""
        policy = self._bucket_policies[query.kind]
        lo, hi = probe_slots(policy, now)
        oldest = math.floor(now - policy.window_s)
        slots = add_slots(query, policy, now).tolist()
        fields = bucket_keys(query.fields).tolist()
        seconds = [entry_second(t) for t in query.times.tolist()]
        found: list[tuple[int, int, bytes, int]] = []
        for slot in range(lo, hi + 1):
            for part in range(query.parts):
                keys = [(query.kind, part, slot, fields[r][part]) for r in range(query.rows)]
                for r, key in enumerate(keys):
                    for payload, t in self._inline.get(key, ()):
                        if t >= oldest:
                            found.append((r, part, payload, t))
                for r, key in enumerate(keys):
                    if slots[r] == slot:
                        bucket = self._inline.setdefault(key, [])
                        _append(bucket, query.payload(r), seconds[r], policy.max_entries)
        if not found:
            return InlineHits()
        lengths = np.array([len(payload) for _, _, payload, _ in found], dtype=np.int64)
        starts = np.zeros(len(found), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        return InlineHits(
            b"".join(payload for _, _, payload, _ in found),
            np.array([r for r, _, _, _ in found], dtype=np.int64),
            np.array([part for _, part, _, _ in found], dtype=np.int64),
            starts,
            lengths,
            np.array([t for _, _, _, t in found], dtype=np.int64),
        )

    def _write_buckets(self, rows: BucketRows, now: float) -> None:
        policy = self._bucket_policies[rows.kind]
        oldest = now - policy.window_s
        times = rows.times.tolist()
        for part, value, e in zip(
            rows.parts.tolist(),
            rows.fields.astype(np.uint64).tolist(),
            rows.entries.tolist(),
            strict=True,
        ):
            if times[e] < oldest:
                continue
            stored = self._buckets.setdefault((rows.kind, part, value), {})
            member = (rows.stores[e], rows.refs[e])
            stored[member] = max(times[e], stored.get(member, times[e]))
            if len(stored) > policy.max_entries:
                by_time = sorted(stored.items(), key=lambda item: (item[1], item[0]))
                stored.clear()
                stored.update(by_time[-policy.max_entries :])

    async def mark_emitted(self, keys: Sequence[str]) -> None:
        self.round_trips += 1
        for key in keys:
            entry = self._ledger.get(key)
            if entry is not None:
                self._ledger[key] = LedgerEntry(entry.fingerprint, entry.verdict, emitted=True)

    async def ban_store(self, store_id: str, now: float) -> StoreStatus:
        current = self._stores.get(store_id, StoreStatus())
        status = StoreStatus(banned=True, strikes=current.strikes, banned_at=now)
        self._stores[store_id] = status
        return status

    async def clear_store(self, store_id: str) -> StoreStatus:
        self._strikes.pop(store_id, None)
        self._stores[store_id] = StoreStatus()
        return self._stores[store_id]

    async def add_strike(self, store_id: str, strike_id: str, now: float) -> StoreStatus:
        strikes = self._strikes.setdefault(store_id, set())
        strikes.add(strike_id)
        current = self._stores.get(store_id, StoreStatus())
        banned = current.banned or len(strikes) >= self._store_policy.strikes_to_ban
        banned_at = current.banned_at or (now if banned else 0.0)
        status = StoreStatus(banned=banned, strikes=len(strikes), banned_at=banned_at)
        self._stores[store_id] = status
        return status

    async def ping(self) -> bool:
        return True

    def series_members(self, kind: Series, series_id: str) -> dict[str, float]:
        """Test helper: the raw members of one series."""
        return dict(self._series.get((kind, series_id), {}))


def _append(bucket: Bucket, payload: bytes, t: int, cap: int) -> None:
    """Add an entry to an inline bucket as the script does: a repeat moves to the end and
    keeps the newer time; past the cap the oldest goes."""
    for j, (known, when) in enumerate(bucket):
        if known == payload:
            t = max(t, when)
            del bucket[j]
            break
    bucket.append((payload, t))
    if len(bucket) > cap:
        del bucket[: len(bucket) - cap]
