"""Price groups: a bounded ring of recent observations per group, and ready baselines beside it.

The price detector scores every listing against the robust baseline (median and scale of log
prices) of its group. Computing a baseline reads the group's whole sample, so doing it for
every batch made a batch read tens of thousands of members and spend most of its time on them.
Instead each group keeps, in Redis (``state.keys``):

- a *ring* (one string): the version ``n`` (observations ever taken in) and capacity in a
  header, the last ``cap`` observations as fixed 16-byte records (:data:`RECORD`: event time,
  log price, store hash), and the 8-byte digest of each one's ``listing_id:revision``, so adding
  the same revision again is a no-op (redelivery never counts twice). Layout and the Python
  twin of the scripts: ``state.price_ring``;
- *baselines*: summaries a worker computed from the ring at some version, one per set of
  estimator parameters (:attr:`BaselineSpec.digest`), kept with compare-and-set on the version
  (a baseline from an older version never replaces a newer one).

A read returns every group's version and stored baselines, and the records only for the groups
whose baseline is stale (:func:`is_stale`: missing, a share of its observations new since, or
too old): the reader recomputes those, scores against the rest, and writes the fresh ones with
its batch. A batch thus reads about a hundred bytes per fresh group, and a baseline is
recomputed once per ``refresh_share`` of new observations, by whichever worker gets there
first, instead of once per batch per worker. The scripts (``scripts/fetch_prices.lua``,
``scripts/commit_prices.lua``) read a ring's header with one ``GETRANGE``, every baseline of
the batch with one ``MGET``, and patch rings in place; the in-memory twin applies the same
rules to the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

RECORD = np.dtype([("t", "<f8"), ("lp", "<f4"), ("store", "<u4")])
"""One observation: event time (epoch s), natural log of the price in the registry currency,
CRC-32 of the store id (the estimator only tells stores apart)."""
RECORD_SIZE = RECORD.itemsize
_RECORD_STRUCT = struct.Struct("<dfI")
assert _RECORD_STRUCT.size == RECORD_SIZE
DIGEST_SIZE = 8
"""Bytes of BLAKE2b of ``listing_id:revision`` that identify an observation."""

Records = npt.NDArray[np.void]
Ints = npt.NDArray[np.int64]
EMPTY = np.zeros(0, RECORD)


def listing_digest(listing_key: str) -> bytes:
    """The identity of an observation (one chance collision in ~10^19 pairs)."""
    return hashlib.blake2b(listing_key.encode("utf-8"), digest_size=DIGEST_SIZE).digest()


def store_hash(store_id: str) -> int:
    return zlib.crc32(store_id.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class PricePolicy:
    """Observations older than ``window_s`` (event time) are left out of every read; a group's
    keys expire a day of wall-clock time after its last write past the window."""

    window_s: float


@dataclass(frozen=True, slots=True)
class BaselineSpec:
    """Which stored baseline a reader uses, and when it counts as stale."""

    digest: str
    """Names the estimator and its parameters: readers with other parameters keep their own."""
    refresh_share: float
    """Stale once this share of its observations (at least one) is new since it was computed."""
    max_age_s: float
    """Stale once computed this long ago (observations leave the window, weights decay)."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """A group's summary at ``version``, as the reader's estimator computed it."""

    version: int
    computed_at: float
    median: float
    """Baseline log price (NaN when the sample had no live observation)."""
    scale: float
    """Robust scale of log prices."""
    observations: int
    stores: int

    def encode(self) -> str:
        """``version|computed_at|median|scale|observations|stores``; the scripts read the
        first two and the fifth."""
        return (
            f"{self.version}|{self.computed_at!r}|{self.median!r}|{self.scale!r}|"
            f"{self.observations}|{self.stores}"
        )

    @classmethod
    def decode(cls, text: str) -> Baseline | None:
        parts = text.split("|")
        if len(parts) != 6:
            return None
        try:
            return cls(
                int(parts[0]),
                float(parts[1]),
                float(parts[2]),
                float(parts[3]),
                int(parts[4]),
                int(parts[5]),
            )
        except ValueError:
            return None


def is_stale(baseline: Baseline | None, version: int, now: float, spec: BaselineSpec) -> bool:
    """Whether ``baseline`` must be recomputed before use (mirrored in fetch_prices.lua)."""
    if baseline is None:
        return True
    new = version - baseline.version
    needed = max(1, math.floor(spec.refresh_share * baseline.observations))
    return new < 0 or new >= needed or abs(now - baseline.computed_at) >= spec.max_age_s


@dataclass(frozen=True, slots=True)
class PriceQuery:
    """Groups to read, and the baseline the reader wants for each."""

    groups: frozenset[str]
    spec: BaselineSpec


class PriceGroup(NamedTuple):
    """What a read found for one group (a tuple: a batch reads hundreds of them)."""

    version: int = 0
    baselines: Mapping[str, Baseline] = MappingProxyType({})
    """Stored baselines by spec digest (fresh or not)."""
    stale: frozenset[str] = frozenset()
    """Digests asked for whose baseline is missing or stale: ``sample`` is there to recompute."""
    sample: Records | None = None
    """The live observations (inside the window), oldest slot first, when some baseline is
    stale; ``None`` otherwise."""


EMPTY_GROUP = PriceGroup()

SMALL_ROWS = 64
"""Up to this many rows, rows are counted and grouped in plain Python (one batch of a few
listings touches no numpy routine for them; each costs microseconds on a cold cache)."""


@dataclass(frozen=True, slots=True)
class PriceRows:
    """Observations to add: row ``k`` joins group ``names[group[k]]``, whose ring holds
    ``cap``; ``digests[k]`` is its listing's :func:`listing_digest` as a little-endian word."""

    names: Sequence[str]
    group: Ints
    digests: npt.NDArray[np.uint64]
    records: Records
    cap: int
    counts: list[int] = field(init=False, repr=False, compare=False)
    """Rows per group (checked here: every group index is in range)."""

    def __post_init__(self) -> None:
        if not len(self.group) == len(self.digests) == len(self.records):
            raise ValueError("price rows: groups, digests and records differ in length")
        if self.cap < 1:
            raise ValueError("price rows: cap must be positive")
        names = len(self.names)
        if len(self.group) <= SMALL_ROWS:  # a few rows: plain Python, no numpy routine
            listed = self.group.tolist()
            fits = not listed or (min(listed) >= 0 and max(listed) < names)
            counts = [0] * names
            if fits:
                for g in listed:
                    counts[g] += 1
        else:
            fits = not len(self.group) or (
                int(self.group.min()) >= 0 and int(self.group.max()) < names
            )
            counts = np.bincount(self.group, minlength=names).tolist() if fits else []
        if not fits:
            raise ValueError("price rows: a group index is out of range")
        object.__setattr__(self, "counts", counts)

    @classmethod
    def of(
        cls, groups: Sequence[str], digests: Sequence[bytes], found: Records, cap: int
    ) -> PriceRows:
        """Rows from one group name and one digest per row."""
        index: dict[str, int] = {}
        ids = np.fromiter((index.setdefault(g, len(index)) for g in groups), np.int64, len(groups))
        words = np.frombuffer(b"".join(digests), "<u8") if digests else np.zeros(0, np.uint64)
        return cls(list(index), ids, words, found, cap)

    def __len__(self) -> int:
        return len(self.group)

    def by_group(self) -> list[tuple[str, Ints]]:
        """Row indices per group (groups in ``names`` order, each group's rows in order)."""
        order = np.argsort(self.group, kind="stable")
        cuts = np.cumsum(np.bincount(self.group, minlength=len(self.names)))[:-1]
        return [(self.names[g], rows) for g, rows in enumerate(np.split(order, cuts)) if len(rows)]


@dataclass(frozen=True, slots=True)
class BaselineWrite:
    """A baseline a reader recomputed, for the store to keep if it is the newest."""

    group: str
    digest: str
    baseline: Baseline


def pack_record(time: float, log_price: float, store: int) -> bytes:
    """One :data:`RECORD` as bytes, without numpy (a row or two per batch is the usual case).
    The log price is rounded to float32 as numpy rounds it; a finite log price always fits."""
    return _RECORD_STRUCT.pack(time, log_price, store)


def records(times: npt.ArrayLike, log_prices: npt.ArrayLike, stores: npt.ArrayLike) -> Records:
    """Records from columns (log prices are kept to float32: ~1e-6 relative)."""
    t = np.asarray(times, np.float64)
    out = np.zeros(len(t), RECORD)
    out["t"] = t
    out["lp"] = np.asarray(log_prices, np.float64)
    out["store"] = np.asarray(stores, np.uint32)
    return out


def decode_ring(ring: bytes, oldest: float) -> Records:
    """The live records of a ring's records region (whole records only, at or after
    ``oldest``)."""
    whole = len(ring) - len(ring) % RECORD_SIZE
    found = np.frombuffer(ring, RECORD, whole // RECORD_SIZE)
    times = found["t"]
    if len(times) and times.min() >= oldest:  # the usual case: everything is live
        return found
    return found[times >= oldest]


def merge_queries(queries: Sequence[PriceQuery]) -> tuple[list[str], list[BaselineSpec]]:
    """The groups (sorted) and distinct specs of several readers' queries."""
    groups: set[str] = set()
    specs: dict[tuple[str, float, float], BaselineSpec] = {}
    for query in queries:
        groups |= query.groups
        spec = query.spec
        specs.setdefault((spec.digest, spec.refresh_share, spec.max_age_s), spec)
    return sorted(groups), list(specs.values())
