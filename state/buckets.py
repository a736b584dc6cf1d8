"""Bucket tables: rolling fingerprint indexes that a batch reads and writes by the thousand.

A *series* (``state.base.Series``) costs Redis a few commands per id, which is right for a
handful of price groups per batch but not for fingerprints: a batch of 500 listings touches
about 10,000 LSH buckets, and one sorted set per bucket measured 1.4k listings/s through Redis.
A bucket table keeps, for each kind and *part* (an LSH band, an image-hash chunk, a signal
kind), one Redis hash per time slot whose fields are the 64-bit bucket values; reading or
writing a whole batch is then one command per part and slot, whatever the batch size.

Entries name a store first (``store_id``, then an opaque ``ref`` the detector encodes), so the
read also returns the offender status of every store found, as ``with_member_stores`` does for
series. Entries are windowed by event time and capped per bucket (newest kept); adding the
same ``(store_id, ref)`` again only moves its time forward, so redelivery is idempotent.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt


class Buckets(enum.StrEnum):
    """Kinds of bucket tables. The value is the Redis key segment."""

    SIGNAL = "bsig"  # part: signal kind index; field: 64 bits of the keyed digest
    LSH = "blsh"  # part: band; field: band hash
    PHASH = "bph"  # part: chunk index; field: 16-bit chunk value


class BucketEntry(NamedTuple):
    """One entry of a bucket: the store it belongs to, the detector's reference, its time."""

    store_id: str
    ref: str
    event_time: float


@dataclass(frozen=True, slots=True)
class BucketPolicy:
    """How long and how many entries a bucket keeps.

    Redis stores entries in hashes per time slot of ``window_s / slots_per_window`` seconds, and
    reads the slots that overlap the window: entries are filtered to the window exactly on
    read, and a slot's key expires once all of it has left the window (a day later), so idle
    buckets cost nothing after ``window_s * (1 + 1 / slots_per_window)``.
    """

    window_s: float
    max_entries: int
    slots_per_window: int = 2

    @property
    def slot_s(self) -> float:
        return self.window_s / self.slots_per_window


@dataclass(frozen=True, slots=True)
class BucketQuery:
    """Buckets to read: ``(parts[k], fields[k])`` for every k (repeats are fine)."""

    kind: Buckets
    parts: npt.NDArray[np.int64]
    fields: npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class BucketRows:
    """Entries to add: entry ``entries[k]`` joins bucket ``(parts[k], fields[k])``.

    ``stores``, ``refs`` and ``times`` describe each entry once, however many buckets it
    joins (a listing joins one bucket per LSH band).
    """

    kind: Buckets
    parts: npt.NDArray[np.int64]
    fields: npt.NDArray[np.uint64]
    entries: npt.NDArray[np.int64]
    stores: Sequence[str]
    refs: Sequence[str]
    times: npt.NDArray[np.float64]


@dataclass(slots=True)
class BucketHits:
    """What a read found in one kind of bucket table.

    Each distinct ``(store_id, ref)`` inside the window appears once in ``entries`` (with its
    newest time), however many buckets hold it: a listing sits in every one of its LSH
    bands' buckets, and the detector decodes it once. ``found[part][value]`` lists the
    indexes into ``entries`` of one non-empty bucket, at most ``max_entries`` of them, in no
    particular order.
    """

    entries: list[BucketEntry] = field(default_factory=list)
    found: dict[int, dict[int, list[int]]] = field(default_factory=dict)

    def bucket(self, part: int, value: int) -> list[BucketEntry]:
        return [self.entries[i] for i in self.found.get(part, {}).get(value, [])]


class HitsBuilder:
    """Collects bucket contents into :class:`BucketHits`, deduplicating entries by
    ``(store_id, ref)`` and applying the window and the cap (both backends use it)."""

    __slots__ = ("_buckets", "_cap", "_index", "_keys", "_oldest", "_times")

    def __init__(self, oldest: float, cap: int) -> None:
        self._oldest = oldest
        self._cap = cap
        self._index: dict[tuple[str, str], int] = {}
        self._keys: list[tuple[str, str]] = []
        self._times: list[float] = []
        self._buckets: dict[int, dict[int, list[int]]] = {}

    def entry(self, store_id: str, ref: str, event_time: float) -> int:
        """The index of one entry (a repeat keeps the newest time)."""
        key = (store_id, ref)
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self._keys)
            self._keys.append(key)
            self._times.append(event_time)
        elif event_time > self._times[index]:
            self._times[index] = event_time
        return index

    def bucket(self, part: int, value: int, indexes: list[int]) -> None:
        """One bucket's entries, oldest first (duplicates allowed)."""
        self._buckets.setdefault(part, {})[value] = indexes

    def build(self) -> BucketHits:
        alive = [t >= self._oldest for t in self._times]
        entries = [
            BucketEntry(store, ref, t)
            for (store, ref), t in zip(self._keys, self._times, strict=True)
        ]
        found: dict[int, dict[int, list[int]]] = {}
        for part, values in self._buckets.items():
            for value, indexes in values.items():
                live = [i for i in dict.fromkeys(reversed(indexes)) if alive[i]][: self._cap]
                if live:
                    found.setdefault(part, {})[value] = live
        return BucketHits(entries, found)


DEFAULT_CAPS = {Buckets.SIGNAL: 256, Buckets.LSH: 64, Buckets.PHASH: 64}


def default_bucket_policies(window_s: float) -> dict[Buckets, BucketPolicy]:
    """The caps ``config.duplicate`` ships with, for stores built without a config."""
    return {kind: BucketPolicy(window_s, cap) for kind, cap in DEFAULT_CAPS.items()}
