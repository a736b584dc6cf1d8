"""Numba kernels of the inline bucket tables: frame a batch's entries, parse a probe's answer.

Framing (shared with ``scripts/probe_add_buckets.lua``): an entry is a big-endian u16 payload
length, the payload, a big-endian u32 time in seconds; a bucket is a u16 entry count followed
by its entries. The answer for one (slot, part) is the hash's values for every row, in row
order (empty where a row's bucket has no value), or nothing when the slot was not read.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit


@njit(cache=True)
def frame_entries(
    payloads: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    seconds: npt.NDArray[np.int64],
) -> npt.NDArray[np.uint8]:
    """Every row's framed entry, in row order, in one buffer."""
    n = offsets.shape[0] - 1
    out = np.empty(int(offsets[n] - offsets[0]) + 6 * n, dtype=np.uint8)
    at = 0
    for i in range(n):
        at = put_entry(out, at, payloads, offsets[i], offsets[i + 1], seconds[i])
    return out


@njit(cache=True, inline="always")
def put_entry(
    out: npt.NDArray[np.uint8], at: int, payloads: npt.NDArray[np.uint8], lo: int, hi: int, t: int
) -> int:
    """Frame the entry ``payloads[lo:hi]`` of time ``t`` at ``out[at:]``; returns where it
    ends (also the framing of ``state._replica_kernels``' records)."""
    size = hi - lo
    out[at] = (size >> 8) & 0xFF
    out[at + 1] = size & 0xFF
    at += 2
    for j in range(lo, hi):
        out[at] = payloads[j]
        at += 1
    out[at] = (t >> 24) & 0xFF
    out[at + 1] = (t >> 16) & 0xFF
    out[at + 2] = (t >> 8) & 0xFF
    out[at + 3] = t & 0xFF
    return at + 4


@njit(cache=True, inline="always")
def _u16(buf: npt.NDArray[np.uint8], at: int) -> int:
    return (int(buf[at]) << 8) | int(buf[at + 1])


@njit(cache=True, inline="always")
def _u32(buf: npt.NDArray[np.uint8], at: int) -> int:
    return (
        (int(buf[at]) << 24) | (int(buf[at + 1]) << 16) | (int(buf[at + 2]) << 8) | int(buf[at + 3])
    )


@njit(cache=True)
def _walk(
    buf: npt.NDArray[np.uint8],
    bounds: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    nparts: int,
    rows: int,
    oldest: int,
    out_row: npt.NDArray[np.int64],
    out_part: npt.NDArray[np.int64],
    out_start: npt.NDArray[np.int64],
    out_length: npt.NDArray[np.int64],
    out_time: npt.NDArray[np.int64],
    fill: bool,
) -> int:
    """Count (or, with ``fill``, write out) the entries no older than ``oldest`` of every
    answered bucket. Value ``k`` of a blob is row ``k``'s bucket (rows past ``rows`` are
    ignored); an entry that runs past its bucket ends that bucket."""
    total = 0
    value = 0
    for b in range(counts.shape[0]):
        for row in range(counts[b]):
            at, stop = bounds[value], bounds[value + 1]
            value += 1
            if stop - at < 2 or row >= rows:
                continue
            count = _u16(buf, at)
            q = at + 2
            for _ in range(count):
                if q + 2 > stop:
                    break
                length = _u16(buf, q)
                if q + 2 + length + 4 > stop:
                    break
                time = _u32(buf, q + 2 + length)
                if time >= oldest:
                    if fill:
                        out_row[total] = row
                        out_part[total] = b % nparts
                        out_start[total] = q + 2
                        out_length[total] = length
                        out_time[total] = time
                    total += 1
                q += 2 + length + 4
    return total


@njit(cache=True)
def parse_hits(
    buf: npt.NDArray[np.uint8],
    sizes: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    nparts: int,
    rows: int,
    oldest: int,
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]:
    """The entries of a probe's answer: ``buf`` concatenates bucket values of ``sizes[v]``
    bytes (0: no bucket), blob after blob; blob ``b`` holds ``counts[b]`` values, row by row,
    for part ``b % nparts``. Returns row, part, payload start, payload length and time of
    every entry found no older than ``oldest`` (whole seconds)."""
    bounds = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
    for v in range(sizes.shape[0]):
        bounds[v + 1] = bounds[v] + sizes[v]
    empty = np.empty(0, dtype=np.int64)
    total = _walk(
        buf, bounds, counts, nparts, rows, oldest, empty, empty, empty, empty, empty, False
    )
    row = np.empty(total, dtype=np.int64)
    part = np.empty(total, dtype=np.int64)
    start = np.empty(total, dtype=np.int64)
    length = np.empty(total, dtype=np.int64)
    time = np.empty(total, dtype=np.int64)
    _walk(buf, bounds, counts, nparts, rows, oldest, row, part, start, length, time, True)
    return row, part, start, length, time
