"""Bucket tables: rolling fingerprint indexes that a batch reads and writes by the thousand.

A *series* (``state.base.Series``) costs Redis a few commands per id, which is right for a
handful of price groups per batch but not for fingerprints: a batch of 500 listings touches
about 10,000 LSH buckets, and one sorted set per bucket measured 1.4k listings/s through Redis.
A bucket table keeps, for each kind and *part* (an LSH band, an image-hash chunk, a signal
kind), one Redis hash per time slot whose fields are the 64-bit bucket values; reading or
writing a whole batch is then one command per part and slot, whatever the batch size. The
generic tables below file handles to records; the LSH kind is an *inline* table whose buckets
hold the entries themselves (``state.inline``).

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
    LSH = "tlsh"  # part: band; field: band hash (an inline table, ``state.inline``)
    PHASH = "bph"  # part: chunk index; field: 16-bit chunk value


INLINE_KINDS = frozenset({Buckets.LSH})
"""Kinds stored as inline tables (``state.inline``); the others are generic handle tables."""


def _generic(kind: Buckets) -> None:
    if kind in INLINE_KINDS:
        raise ValueError(f"{kind} is an inline bucket table: probe it with state.inline.ProbeAdd")


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

    def __post_init__(self) -> None:
        _generic(self.kind)


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

    def __post_init__(self) -> None:
        _generic(self.kind)


_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_U = np.zeros(0, dtype=np.uint64)


@dataclass(slots=True)
class BucketHits:
    """What a read found in one kind of bucket table, as arrays.

    Each distinct ``(store_id, ref)`` inside the window appears once in ``entries`` (with its
    newest time), however many buckets hold it: a listing sits in every one of its LSH
    bands' buckets, and the detector decodes it once. Row k of ``parts``/``values``/``entry``
    says that entry ``entry[k]`` sits in bucket ``(parts[k], values[k])``; a bucket has at
    most ``max_entries`` rows (its newest entries), in no particular order.
    """

    entries: list[BucketEntry] = field(default_factory=list)
    parts: npt.NDArray[np.int64] = field(default_factory=lambda: _EMPTY_I)
    values: npt.NDArray[np.uint64] = field(default_factory=lambda: _EMPTY_U)
    entry: npt.NDArray[np.int64] = field(default_factory=lambda: _EMPTY_I)
    _index: dict[tuple[int, int], list[int]] | None = None

    def bucket(self, part: int, value: int) -> list[BucketEntry]:
        """One bucket's entries (an index is built on the first call)."""
        if self._index is None:
            self._index = {}
            rows = zip(self.parts.tolist(), self.values.tolist(), self.entry.tolist(), strict=True)
            for p, v, e in rows:
                self._index.setdefault((p, v), []).append(e)
        return [self.entries[i] for i in self._index.get((part, value), [])]


def _rank_in_runs(labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Position of each element inside its run of equal (sorted) labels."""
    if len(labels) == 0:
        return _EMPTY_I
    starts = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1])))
    lengths = np.diff(np.concatenate((starts, [len(labels)])))
    return np.arange(len(labels), dtype=np.int64) - np.repeat(starts, lengths)


FEW_HITS = 64
"""Up to this many bucket rows, :meth:`HitsBuilder.build` works in plain Python (the same
result as its array path, without the fixed cost of a dozen array calls)."""


class HitsBuilder:
    """Collects bucket contents into :class:`BucketHits`, deduplicating entries by
    ``(store_id, ref)`` and applying the window and the cap (both backends use it)."""

    __slots__ = (
        "_cap",
        "_entries",
        "_few",
        "_index",
        "_keys",
        "_oldest",
        "_parts",
        "_times",
        "_values",
    )

    def __init__(self, oldest: float, cap: int) -> None:
        self._oldest = oldest
        self._cap = cap
        self._index: dict[tuple[str, str], int] = {}
        self._keys: list[tuple[str, str]] = []
        self._times: list[float] = []
        self._parts: list[npt.NDArray[np.int64]] = []
        self._values: list[npt.NDArray[np.uint64]] = []
        self._entries: list[npt.NDArray[np.int64]] = []
        self._few: list[tuple[int, int, int]] = []

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

    def add(
        self,
        parts: npt.NDArray[np.int64],
        values: npt.NDArray[np.uint64],
        entries: npt.NDArray[np.int64],
    ) -> None:
        """Entry ``entries[k]`` sits in bucket ``(parts[k], values[k])`` (repeats allowed)."""
        self._parts.append(parts.astype(np.int64, copy=False))
        self._values.append(values.astype(np.uint64, copy=False))
        self._entries.append(entries.astype(np.int64, copy=False))

    def add_few(self, rows: Sequence[tuple[int, int, int]]) -> None:
        """:meth:`add` for rows given as ``(part, value, entry)`` (values in 0..2^64-1)."""
        self._few.extend(rows)
        if not self._parts:  # build() tells "nothing added" from "added nothing"
            self._parts.append(_EMPTY_I)
            self._values.append(_EMPTY_U)
            self._entries.append(_EMPTY_I)

    def build(self) -> BucketHits:
        if not self._parts:
            return BucketHits()
        if len(self._few) + sum(len(p) for p in self._parts) <= FEW_HITS:
            return self._build_few()
        times = np.array(self._times, dtype=np.float64)
        parts = np.concatenate([*self._parts, np.array([r[0] for r in self._few], np.int64)])
        values = np.concatenate([*self._values, np.array([r[1] for r in self._few], np.uint64)])
        entry = np.concatenate([*self._entries, np.array([r[2] for r in self._few], np.int64)])
        live = times[entry] >= self._oldest
        parts, values, entry = parts[live], values[live], entry[live]
        # per bucket: newest first, a repeated entry once, at most the cap
        order = np.lexsort((entry, -times[entry], values, parts))
        parts, values, entry = parts[order], values[order], entry[order]
        if len(order):
            new_bucket = np.concatenate(
                ([True], (parts[1:] != parts[:-1]) | (values[1:] != values[:-1]))
            )
            repeat = np.concatenate(([False], ~new_bucket[1:] & (entry[1:] == entry[:-1])))
            keep = ~repeat
            parts, values, entry = parts[keep], values[keep], entry[keep]
            labels = np.cumsum(new_bucket[keep]) - 1
            keep = _rank_in_runs(labels) < self._cap
            parts, values, entry = parts[keep], values[keep], entry[keep]
        used, entry = np.unique(entry, return_inverse=True)  # only entries some bucket holds
        entries = []
        for i in used.tolist():
            store_id, ref = self._keys[i]
            entries.append(BucketEntry(store_id, ref, self._times[i]))
        return BucketHits(entries, parts, values, entry.astype(np.int64))

    def _build_few(self) -> BucketHits:
        """:meth:`build` for a few rows, in plain Python (the same hits in the same order)."""
        times, oldest, cap = self._times, self._oldest, self._cap
        rows = list(self._few)
        for parts, values, numbers in zip(self._parts, self._values, self._entries, strict=True):
            rows += zip(parts.tolist(), values.tolist(), numbers.tolist(), strict=True)
        live = [row for row in rows if times[row[2]] >= oldest]
        live.sort(key=lambda row: (row[0], row[1], -times[row[2]], row[2]))
        kept: list[tuple[int, int, int]] = []
        bucket: tuple[int, int] | None = None
        last = rank = -1
        for part, value, e in live:  # newest first, a repeated entry once, at most the cap
            if (part, value) != bucket:
                bucket, last, rank = (part, value), -1, 0
            elif e == last:
                continue
            last = e
            if rank < cap:
                kept.append((part, value, e))
            rank += 1
        used = sorted({e for _, _, e in kept})  # only entries some bucket holds
        number = {e: i for i, e in enumerate(used)}
        entries = []
        for i in used:
            store_id, ref = self._keys[i]
            entries.append(BucketEntry(store_id, ref, times[i]))
        return BucketHits(
            entries,
            np.array([r[0] for r in kept], dtype=np.int64),
            np.array([r[1] for r in kept], dtype=np.uint64),
            np.array([number[r[2]] for r in kept], dtype=np.int64),
        )


DEFAULT_CAPS = {Buckets.SIGNAL: 256, Buckets.LSH: 16, Buckets.PHASH: 64}


def default_bucket_policies(window_s: float) -> dict[Buckets, BucketPolicy]:
    """The caps ``config.duplicate`` ships with, for stores built without a config."""
    return {kind: BucketPolicy(window_s, cap) for kind, cap in DEFAULT_CAPS.items()}
