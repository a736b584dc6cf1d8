"""The state interface: what detectors may read and write, independent of the backend.

State is organised as *series*: for each kind (stores seen with a keyed signal, listings in an
LSH bucket, listings in a perceptual-hash bucket, a store's listings) and id, a bounded set of
``member -> event time`` entries inside a rolling window. Members are opaque strings that the
detectors encode; adding a member twice is a no-op, which makes redelivery idempotent by
construction. Fingerprint indexes that a batch touches by the thousand (LSH bands, image-hash
chunks, keyed signals) are *bucket tables* instead (``state.buckets``), read and written with
array arguments; title bands are an *inline* bucket table (``state.inline``), looked up and
added to in one call. Price groups are rings of binary records with ready baselines beside them
(``state.prices``): a batch reads the baselines, and a group's records only when its baseline
is stale. Stores carry an offender status (banned, strikes); a snapshot can tell the status of
any store. The ledger remembers each
screened ``listing_id:revision`` with its verdict, so a redelivered event repeats its verdict.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from state.buckets import BucketEntry, BucketHits, BucketQuery, BucketRows, Buckets
from state.inline import InlineHits, ProbeAdd
from state.prices import EMPTY_GROUP, BaselineWrite, PriceGroup, PriceQuery, PriceRows

_NO_STATUSES: Mapping[str, StoreStatus] = MappingProxyType({})

MEMBER_SEP = "\x1f"
"""Separates the store id at the head of a member from the rest (see ``store_member``)."""


def store_member(store_id: str, rest: str = "") -> str:
    """A member that names its store first, so its store's status can be fetched with it."""
    return f"{store_id}{MEMBER_SEP}{rest}" if rest else store_id


def split_member(member: str) -> tuple[str, str]:
    """``(store_id, rest)`` of a member built by :func:`store_member`."""
    store_id, _, rest = member.partition(MEMBER_SEP)
    return store_id, rest


class Series(enum.StrEnum):
    """Kinds of rolling series. The value is the Redis key segment."""

    SIGNAL = "sig"  # id: "<kind>:<hmac digest>"; member: store_id
    LSH = "lsh"  # id: "<band>:<band hash>"; member: store_member(store_id, listing reference)
    PHASH = "ph"  # id: "<chunk>:<chunk value>"; member: store_member(store_id, listing reference)
    STORE_LISTINGS = "sl"  # id: store_id; member: listing key (history of a store)


@dataclass(slots=True)
class StateNeeds:
    """What a batch asks to read. Detectors fill it; the engine merges and fetches it once."""

    series: dict[Series, set[str]] = field(default_factory=dict)
    stores: set[str] = field(default_factory=set)
    member_stores: set[Series] = field(default_factory=set)
    """Series kinds whose members start with a store id (``store_member``): the status of
    every such store found is fetched in the same round trip (a store linked to a banned one
    is known without a second read)."""
    buckets: list[BucketQuery] = field(default_factory=list)
    """Bucket tables to read; the status of every store found in them comes with them."""
    prices: list[PriceQuery] = field(default_factory=list)
    """Price groups to read, with the baseline each reader wants."""
    probes: list[ProbeAdd] = field(default_factory=list)
    """Inline bucket tables to look up and add to in the same call (the additions do not wait
    for the verdicts: they are written by the fetch). One per kind."""

    def want(self, kind: Series, ids: Iterable[str], *, with_member_stores: bool = False) -> None:
        self.series.setdefault(kind, set()).update(ids)
        if with_member_stores:
            self.member_stores.add(kind)

    def want_buckets(self, query: BucketQuery) -> None:
        self.buckets.append(query)

    def want_prices(self, query: PriceQuery) -> None:
        self.prices.append(query)

    def probe(self, query: ProbeAdd, *, writes: bool = True) -> None:
        """Look up (and, with ``writes``, add to) an inline table. A kind is probed once: a
        read-only probe of a kind already probed is dropped (its reader gets the answer of the
        first), and a writing probe replaces a read-only one."""
        if not writes:
            query = query.read_only()
        for j, known in enumerate(self.probes):
            if known.kind == query.kind:
                if writes and not known.add.any():
                    self.probes[j] = query
                    return
                if not writes:
                    return
                raise ValueError(f"{query.kind} is probed twice with additions")
        self.probes.append(query)

    def merge(self, other: StateNeeds, *, writes: bool = True) -> None:
        """Add ``other``'s needs; without ``writes``, its inline additions are left out (a
        shadow config reads the state, never changes it)."""
        for kind, ids in other.series.items():
            self.want(kind, ids)
        self.stores |= other.stores
        self.member_stores |= other.member_stores
        self.buckets.extend(other.buckets)
        self.prices.extend(other.prices)
        for query in other.probes:
            self.probe(query, writes=writes)


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """An offender record. ``banned_at`` is epoch seconds, 0 when not banned."""

    banned: bool = False
    strikes: int = 0
    banned_at: float = 0.0


_NO_STATUS = StoreStatus()


class LedgerEntry(NamedTuple):
    """A screened listing revision: the content fingerprint, its verdict, and whether the
    verdict (and complaint) were already produced to Kafka. (A named tuple: one is built for
    every listing screened.)"""

    fingerprint: str
    verdict: bytes
    emitted: bool


@dataclass(slots=True)
class StateSnapshot:
    """What the store answered for one batch. Missing ids read as empty; ``stores`` holds every
    store asked for, and every member store of the kinds in ``StateNeeds.member_stores``, that
    has a status."""

    series: dict[Series, dict[str, list[tuple[str, float]]]] = field(default_factory=dict)
    stores: dict[str, StoreStatus] = field(default_factory=dict)
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)
    buckets: dict[Buckets, BucketHits] = field(default_factory=dict)
    """What the bucket tables asked for hold (non-empty buckets only)."""
    prices: dict[str, PriceGroup] = field(default_factory=dict)
    """The price groups asked for that hold observations."""
    inline: dict[Buckets, InlineHits] = field(default_factory=dict)
    """What the inline tables probed held before this batch's additions."""
    offenders: Mapping[str, StoreStatus] = field(default_factory=lambda: _NO_STATUSES)
    """Every store that has a status (backends that know them all fill it)."""

    def members(self, kind: Series, series_id: str) -> list[tuple[str, float]]:
        """``(member, event time)`` pairs of one series, oldest first."""
        return self.series.get(kind, {}).get(series_id, [])

    def store(self, store_id: str) -> StoreStatus:
        status = self.stores.get(store_id)
        if status is None:
            status = self.offenders.get(store_id)
        return _NO_STATUS if status is None else status

    def banned_among(self, store_ids: Collection[str]) -> set[str]:
        """The stores of ``store_ids`` that :meth:`store` reads as banned, walking whichever
        is smaller: the ids, or the statuses known (a batch meets thousands of stores in its
        buckets; a marketplace bans few)."""
        known = len(self.stores) + len(self.offenders)
        if known >= len(store_ids):
            return {s for s in store_ids if self.store(s).banned}
        stores = self.stores
        banned = {s for s, status in stores.items() if status.banned}
        banned.update(
            s for s, status in self.offenders.items() if status.banned and s not in stores
        )
        return banned.intersection(store_ids)

    def bucket(self, kind: Buckets, part: int, value: int) -> list[BucketEntry]:
        """Entries of one bucket (empty when it was not asked for or is empty)."""
        hits = self.buckets.get(kind)
        return hits.bucket(part, value) if hits is not None else []

    def price_group(self, group: str) -> PriceGroup:
        """One price group (empty: version 0, no baseline, no sample, when never written)."""
        return self.prices.get(group, EMPTY_GROUP)


@dataclass(slots=True)
class StateUpdates:
    """What a batch writes back: series additions, bucket rows, price observations and
    recomputed baselines, committed with the ledger in one round trip."""

    adds: list[tuple[Series, str, str, float]] = field(default_factory=list)
    buckets: list[BucketRows] = field(default_factory=list)
    prices: list[PriceRows] = field(default_factory=list)
    baselines: list[BaselineWrite] = field(default_factory=list)

    def add(self, kind: Series, series_id: str, member: str, event_time: float) -> None:
        self.adds.append((kind, series_id, member, event_time))

    def add_buckets(self, rows: BucketRows) -> None:
        self.buckets.append(rows)

    def add_prices(self, rows: PriceRows) -> None:
        self.prices.append(rows)

    def keep_baselines(self, writes: Sequence[BaselineWrite]) -> None:
        self.baselines.extend(writes)

    def merge(self, other: StateUpdates) -> None:
        self.adds.extend(other.adds)
        self.buckets.extend(other.buckets)
        self.prices.extend(other.prices)
        self.baselines.extend(other.baselines)


@dataclass(frozen=True, slots=True)
class LedgerWrite:
    key: str
    fingerprint: str
    verdict: bytes


@dataclass(frozen=True, slots=True)
class SeriesPolicy:
    """How long and how many members a series kind keeps."""

    window_s: float
    max_members: int


@dataclass(frozen=True, slots=True)
class StorePolicy:
    strikes_to_ban: int = 3


class StateStore(ABC):
    """A backend for the rolling state. Every method is one round trip to the backend."""

    @abstractmethod
    async def fetch(
        self, needs: StateNeeds, ledger_keys: Sequence[str], now: float
    ) -> StateSnapshot:
        """Read the series, buckets, price groups and stores in ``needs`` (members newer than
        ``now`` minus the window) and the ledger entries of ``ledger_keys``."""

    @abstractmethod
    async def commit(
        self, updates: StateUpdates, ledger: Sequence[LedgerWrite], now: float
    ) -> None:
        """Apply series additions, bucket rows, price observations and baselines, and ledger
        writes atomically."""

    @abstractmethod
    async def mark_emitted(self, keys: Sequence[str]) -> None:
        """Record that these listings' verdicts (and complaints) reached Kafka."""

    @abstractmethod
    async def ban_store(self, store_id: str, now: float) -> StoreStatus: ...

    @abstractmethod
    async def clear_store(self, store_id: str) -> StoreStatus: ...

    @abstractmethod
    async def add_strike(self, store_id: str, strike_id: str, now: float) -> StoreStatus:
        """Count one strike (idempotent per ``strike_id``); bans at the policy's count."""

    @abstractmethod
    async def ping(self) -> bool: ...

    @property
    def held_bytes(self) -> int:
        """Memory this store holds of the shared state (a worker's replicated tables): 0 for
        a store that holds nothing of its own."""
        return 0

    async def catch_up(self, now: float) -> None:  # noqa: B027 - optional hook
        """Bring what this store holds of the shared state up to date before it is needed
        (a worker's replicated tables read the logs they have not read yet); a no-op where
        nothing is held."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
