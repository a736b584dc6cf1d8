"""Inline bucket tables: fingerprint indexes whose buckets hold their entries' bytes.

A generic bucket table (``state.buckets``) files short handles in its buckets and one record
per entry elsewhere, so a read has to resolve, in the script, every handle the buckets name:
per-candidate work, and a batch of titles meets tens of thousands of chance candidates. An
inline table stores each entry's bytes (the detector keeps them small: a sketch and two ids) in
every bucket it joins, so a read returns bucket values as they are and the client decodes them
all in one compiled pass.

The lookup and the insert of a batch are one call (:class:`ProbeAdd`): every bucket asked for
is read, then the batch's entries are appended to it, so the read sees the table as it was
before the batch. This fits indexes whose additions do not depend on the verdict (every
screened title is history, whatever its decision); re-adding an entry is idempotent.

In every backend a bucket keeps at most ``max_entries`` entries per time slot, newest last (the
oldest is dropped); adding an entry that is already there moves it to the end and keeps the
newer of its two times. Times are whole seconds. Reads leave out entries older than the window.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from state.buckets import INLINE_KINDS, BucketPolicy, Buckets

MAX_ROWS = 65535
"""Rows of one probe (row numbers travel as 16-bit words)."""
MAX_PAYLOAD = 65535
"""Bytes of one entry's payload (its length travels as a 16-bit word)."""
MAX_TIME = (1 << 32) - 1

_EMPTY_I = np.zeros(0, dtype=np.int64)


def entry_second(t: float) -> int:
    """An event time as stored: whole seconds, clamped to 32 bits."""
    return min(max(math.floor(t), 0), MAX_TIME)


def _widest(offsets: npt.NDArray[np.int64]) -> int:
    """The largest ``offsets[i + 1] - offsets[i]`` (a few rows without array calls)."""
    if len(offsets) <= 65:
        at = offsets.tolist()
        return int(max(map(operator.sub, at[1:], at)))
    return int(np.diff(offsets).max())


@dataclass(frozen=True, slots=True)
class ProbeAdd:
    """Read buckets ``(part, fields[i, part])`` of every row ``i`` and every part, then add row
    ``i``'s entry to the same buckets where ``add[i]`` (a bucket is named by the top
    ``KEY_BITS`` bits of its value).

    Entry ``i`` is ``payloads[offsets[i]:offsets[i + 1]]`` (opaque to the state layer) with
    event time ``times[i]``. Rows whose time is older than the window are read, never added.
    """

    kind: Buckets
    fields: npt.NDArray[np.uint64]
    """Shape (rows, parts)."""
    payloads: bytes
    offsets: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]
    add: npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        rows = self.fields.shape[0]
        if self.kind not in INLINE_KINDS:
            raise ValueError(f"{self.kind} is not an inline bucket table")
        if self.fields.ndim != 2 or rows > MAX_ROWS:
            raise ValueError(f"fields must be (rows <= {MAX_ROWS}, parts), not {self.fields.shape}")
        if self.offsets.shape != (rows + 1,) or self.times.shape != (rows,):
            raise ValueError("offsets, times and fields disagree on the number of rows")
        if self.add.shape != (rows,):
            raise ValueError("add must have one flag per row")
        if rows and (_widest(self.offsets) > MAX_PAYLOAD or self.offsets[0] != 0):
            raise ValueError(f"payloads must be contiguous and at most {MAX_PAYLOAD} bytes")

    @property
    def rows(self) -> int:
        return int(self.fields.shape[0])

    @property
    def parts(self) -> int:
        return int(self.fields.shape[1])

    def payload(self, row: int) -> bytes:
        return self.payloads[int(self.offsets[row]) : int(self.offsets[row + 1])]

    def read_only(self) -> ProbeAdd:
        """The same lookup without the additions (a shadow config reads, never writes)."""
        return replace(self, add=np.zeros(self.rows, dtype=np.bool_))


@dataclass(slots=True)
class InlineHits:
    """What a probe found, as arrays: hit ``k`` is an entry of bucket ``part[k]`` of probe row
    ``row[k]``, with payload ``data[start[k]:start[k] + length[k]]`` and event time
    ``time[k]`` (whole seconds). An entry comes once per part and slot holding it.

    ``digest``, when the backend knows it (the replicated tables do; it is empty otherwise),
    is each hit's 64-bit payload hash (FNV-1a): equal payloads, equal digests, so a caller
    that groups hits by entry need not hash the payloads again."""

    data: bytes = b""
    row: npt.NDArray[np.int64] = field(default_factory=lambda: _EMPTY_I)
    part: npt.NDArray[np.int64] = field(default_factory=lambda: _EMPTY_I)
    start: npt.NDArray[np.int64] = field(default_factory=lambda: _EMPTY_I)
    length: npt.NDArray[np.int64] = field(default_factory=lambda: _EMPTY_I)
    time: npt.NDArray[np.int64] = field(default_factory=lambda: _EMPTY_I)
    digest: npt.NDArray[np.int64] = field(default_factory=lambda: _EMPTY_I)
    buffer: npt.NDArray[np.uint8] = field(init=False)
    """``data`` as an array (no copy), for kernels."""

    def __post_init__(self) -> None:
        self.buffer = np.frombuffer(self.data, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.row)

    def payload(self, k: int) -> bytes:
        start = int(self.start[k])
        return self.data[start : start + int(self.length[k])]

    def renumbered(self, rows: npt.NDArray[np.int64]) -> InlineHits:
        """The hits of probe row ``r`` as hits of row ``rows[r]``; those of rows mapped to a
        negative number are left out (a probe made for a batch, read for part of it)."""
        mapped = rows[self.row]
        return self._kept(mapped >= 0, mapped)

    def within(self, oldest: float) -> InlineHits:
        """The hits no older than ``oldest``."""
        keep = self.time >= math.floor(oldest)
        if keep.all():
            return self
        return self._kept(keep, self.row)

    def _kept(self, keep: npt.NDArray[np.bool_], row: npt.NDArray[np.int64]) -> InlineHits:
        """The hits where ``keep`` holds, numbered by ``row``."""
        return InlineHits(
            self.data,
            row[keep],
            self.part[keep],
            self.start[keep],
            self.length[keep],
            self.time[keep],
            self.digest[keep] if len(self.digest) == len(self.row) else _EMPTY_I,
        )


KEY_BITS = 32
"""Bits of a bucket value that name its bucket. Values are hashes: two distinct ones share a
bucket by chance once in 2^32, which only adds a candidate the caller verifies, and a 4-byte
field costs Redis half the memory of an 8-byte one."""


def bucket_keys(fields: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
    """The bucket each value falls in (its top ``KEY_BITS`` bits)."""
    return (fields >> np.uint64(64 - KEY_BITS)).astype(np.uint32)


def add_slot(t: float, now: float, policy: BucketPolicy) -> int | None:
    """The time slot an entry of event time ``t`` is filed in (the slot of ``now`` when its
    clock runs ahead), or ``None`` when it is already outside the window."""
    if t < now - policy.window_s:
        return None
    return math.floor(min(t, now) / policy.slot_s)


def probe_slots(policy: BucketPolicy, now: float) -> tuple[int, int]:
    """The first and last time slots that overlap the window ending at ``now``."""
    return math.floor((now - policy.window_s) / policy.slot_s), math.floor(now / policy.slot_s)
