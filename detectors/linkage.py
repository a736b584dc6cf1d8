"""Which stores a listing's store is linked to through keyed identity signals.

Stores that used the same keyed signal (bank account, phone, ...) within the history window
form a *group*: the stored ones (``Buckets.SIGNAL``) plus the batch's own listings. Sharing a
signal is not suspicious by itself (a chain of authorised shops runs on one bank account); it
becomes a reason when a store of the group is banned, or when many stores of the group are
*fresh*: first seen with the signal within a short window.

A stored entry is ``(store_id, ref=<first-seen second>)``: re-using the same ref keeps the
entry (and the store's first sighting) stable while its time moves forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from contract.listing import Listing
from contract.signals import SIGNAL_KINDS
from state.base import StateSnapshot
from state.buckets import BucketEntry, BucketQuery, BucketRows, Buckets

SignalKey = tuple[int, int]
"""(kind index in ``SIGNAL_KINDS``, 64 bits of the keyed digest): a bucket of ``Buckets.SIGNAL``."""


def signal_key(kind: str, digest: str) -> SignalKey:
    """The bucket of one keyed signal. 64 of the digest's 128 bits: a chance collision among
    ten million signals has a probability of about 3e-6."""
    return SIGNAL_KINDS.index(kind), int(digest[:16], 16)


class SignalGroup:
    """The stores seen with one signal: first sighting per store (window and batch)."""

    __slots__ = ("banned", "first_seen", "kind", "members", "stored")

    def __init__(
        self,
        kind: str,
        members: list[int],
        first_seen: dict[str, float] | None = None,
        stored: AbstractSet[str] = frozenset(),
    ) -> None:
        self.kind = kind
        self.members = members
        """Batch listings carrying this signal."""
        self.first_seen: dict[str, float] = {} if first_seen is None else first_seen
        self.stored = stored
        """Stores that came from the state (their first sighting must not be rewritten)."""
        self.banned: list[str] | None = None
        """The banned stores among ``first_seen`` (filled on first use)."""


class SignalIndex:
    """Which linking signals the listings of a batch carry, before any state is read: the
    signal keys in order of first appearance, the kind and the carrying listings of each, and
    each listing's keys (numbers into ``keys``). Built once per batch."""

    __slots__ = ("keys", "kinds", "members", "of_listing")

    def __init__(self, listings: Sequence[Listing], kinds: Sequence[str]) -> None:
        numbered = [(kind, SIGNAL_KINDS.index(kind)) for kind in kinds]
        found: dict[SignalKey, int] = {}
        self.keys: list[SignalKey] = []
        self.kinds: list[str] = []
        self.members: list[list[int]] = []
        self.of_listing: list[list[int]] = []
        for i, listing in enumerate(listings):
            mine: list[int] = []
            signals = listing.signals
            if signals:
                for kind, number in numbered:
                    digest = signals.get(kind)
                    if digest is None:
                        continue
                    key = (number, int(digest[:16], 16))  # signal_key(kind, digest)
                    g = found.get(key)
                    if g is None:
                        g = found[key] = len(self.keys)
                        self.keys.append(key)
                        self.kinds.append(kind)
                        self.members.append([])
                    self.members[g].append(i)
                    mine.append(g)
            self.of_listing.append(mine)

    def query(self) -> BucketQuery:
        """The buckets of every signal of the batch."""
        parts = np.array([k[0] for k in self.keys], dtype=np.int64)
        fields = np.array([k[1] for k in self.keys], dtype=np.uint64)
        return BucketQuery(Buckets.SIGNAL, parts, fields)


@dataclass(frozen=True, slots=True)
class BannedLink:
    """A banned store sharing signals with a listing's store."""

    banned_store: str
    kinds: tuple[str, ...]
    banned_stores: int
    """How many banned stores the listing's store is linked to in all."""


@dataclass(frozen=True, slots=True)
class Burst:
    kind: str
    fresh_stores: int


class Linkage:
    """The signal groups of one batch, and what they say about each listing."""

    def __init__(
        self,
        listings: Sequence[Listing],
        kinds: Sequence[str],
        state: StateSnapshot | None,
        index: SignalIndex | None = None,
    ) -> None:
        self.listings = listings
        self.index = index if index is not None else SignalIndex(listings, kinds)
        stored = state.buckets.get(Buckets.SIGNAL) if state is not None else None
        self.groups: list[SignalGroup] = []
        for key, kind, members in zip(
            self.index.keys, self.index.kinds, self.index.members, strict=True
        ):
            entries = stored.bucket(*key) if stored is not None else ()
            group = self._group(kind, members, entries) if entries else SignalGroup(kind, members)
            first_seen, known_stores = group.first_seen, group.stored
            for i in members:  # a batch sighting; a stored store keeps its first one
                listing = listings[i]
                store_id, when = listing.store_id, listing.event_time
                if store_id in known_stores:
                    continue
                known = first_seen.get(store_id)
                if known is None or when < known:
                    first_seen[store_id] = when
            self.groups.append(group)
        self.of_listing = self.index.of_listing
        """Per listing, its signals (numbers into ``groups``)."""

    @staticmethod
    def _group(kind: str, members: list[int], entries: Sequence[BucketEntry]) -> SignalGroup:
        """A group with the stores the state holds for it (their first sightings)."""
        first_seen: dict[str, float] = {}
        stored: set[str] = set()
        for entry in entries:
            try:
                first = float(entry.ref)
            except ValueError:
                first = entry.event_time
            known = first_seen.get(entry.store_id)
            first_seen[entry.store_id] = first if known is None else min(known, first)
            stored.add(entry.store_id)
        return SignalGroup(kind, members, first_seen, stored)

    def query(self) -> BucketQuery:
        return self.index.query()

    def linked(self, i: int, store_id: str) -> bool:
        """Whether ``store_id`` shares a signal with listing ``i``'s store."""
        groups = self.groups
        return any(store_id in groups[g].first_seen for g in self.of_listing[i])

    def banned_link(self, i: int, state: StateSnapshot) -> BannedLink | None:
        """The banned store sharing the most signal kinds with listing ``i``'s store (never
        the store itself), with the kinds it shares."""
        own = self.listings[i].store_id
        kinds: dict[str, set[str]] = {}
        for g in self.of_listing[i]:
            group = self.groups[g]
            if group.banned is None:
                group.banned = [s for s in group.first_seen if state.store(s).banned]
            for store_id in group.banned:
                if store_id != own:
                    kinds.setdefault(store_id, set()).add(group.kind)
        if not kinds:
            return None
        store_id = min(kinds, key=lambda s: (-len(kinds[s]), s))
        return BannedLink(store_id, tuple(sorted(kinds[store_id])), len(kinds))

    def bursts(self, window_s: float, min_stores: int) -> list[Burst | None]:
        """Per listing: the signal on which the most stores are fresh, when its own store is
        fresh too and they are at least ``min_stores``."""
        found: list[Burst | None] = [None] * len(self.listings)
        times = None
        for group in self.groups:
            if len(group.first_seen) < min_stores:
                continue
            if times is None:
                times = np.array([x.event_time for x in self.listings], dtype=np.float64)
            firsts = np.sort(np.fromiter(group.first_seen.values(), np.float64))
            members = np.array(group.members, dtype=np.int64)
            since = times[members] - window_s
            fresh = len(firsts) - np.searchsorted(firsts, since, side="left")
            own_first = np.array(
                [group.first_seen[self.listings[i].store_id] for i in group.members]
            )
            for i, count, own in zip(
                group.members, fresh.tolist(), (own_first >= since).tolist(), strict=True
            ):
                current = found[i]
                if (
                    own
                    and count >= min_stores
                    and (current is None or count > current.fresh_stores)
                ):
                    found[i] = Burst(group.kind, count)
        return found

    def updates(self) -> BucketRows:
        """One entry per store and signal of the batch, keeping a stored first sighting."""
        parts: list[int] = []
        fields: list[int] = []
        stores: list[str] = []
        refs: list[str] = []
        times: list[float] = []
        for key, group in zip(self.index.keys, self.groups, strict=True):
            newest: dict[str, float] = {}
            for i in group.members:
                listing = self.listings[i]
                newest[listing.store_id] = max(
                    listing.event_time, newest.get(listing.store_id, 0.0)
                )
            for store_id, when in newest.items():
                parts.append(key[0])
                fields.append(key[1])
                stores.append(store_id)
                refs.append(f"{group.first_seen[store_id]:.0f}")
                times.append(when)
        count = len(stores)
        return BucketRows(
            Buckets.SIGNAL,
            np.array(parts, dtype=np.int64),
            np.array(fields, dtype=np.uint64),
            np.arange(count, dtype=np.int64),
            stores,
            refs,
            np.array(times, dtype=np.float64),
        )
