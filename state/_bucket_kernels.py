"""Numba kernels of the generic bucket tables: lay out a batch's writes in one call.

A batch of one listing writes a handful of bucket rows, a batch of 500 a few thousand; either
way the commit arguments are one kernel call (array calls cost microseconds each whatever
their size, and sorting a few thousand rows in Python costs milliseconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit


@njit(cache=True, inline="always")
def _put_u32(out: npt.NDArray[np.uint8], at: int, value: int) -> int:
    """Write the low 32 bits of ``value`` big-endian at ``out[at:]``; the next position."""
    for j in range(4):
        out[at + j] = (value >> (24 - 8 * j)) & 0xFF
    return at + 4


@njit(cache=True, inline="always")
def _put_u64(out: npt.NDArray[np.uint8], at: int, value: np.uint64) -> int:
    """Write ``value`` big-endian at ``out[at:]``; the next position."""
    for j in range(8):
        out[at + j] = np.uint8((value >> np.uint64(56 - 8 * j)) & np.uint64(0xFF))
    return at + 8


@njit(cache=True)
def _stable_by(order: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``order`` re-sorted by ``keys[order]``, stably (one key of a least-significant-first
    multi-key sort)."""
    return order[np.argsort(keys[order], kind="mergesort")]


@njit(cache=True)
def commit_layout(
    parts: npt.NDArray[np.int64],
    fields: npt.NDArray[np.uint64],
    entries: npt.NDArray[np.int64],
    times: npt.NDArray[np.float64],
    oldest: float,
    now: float,
    slot_s: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """The slots and bucket groups that rows ``(parts[k], fields[k]) <- entries[k]`` write.

    Rows whose entry's time ``times[entries[k]]`` is older than ``oldest`` are dropped; a row
    is filed in the slot of its time, or of ``now`` when its clock runs ahead. Returns
    ``meta`` and ``packed`` (empty ``meta`` when nothing is left):

    - ``meta``: the number of slots, then per slot (in order) the slot and how many distinct
      entries it takes; the number of groups, then per group (by part, then slot) the part,
      the slot, its distinct bucket values, its rows and whether it sends counts (some value
      takes more than one entry);
    - ``packed``: per slot its entry numbers (big-endian u32, ascending); per group its
      distinct bucket values (u64, ascending), its rows' entry numbers in order of value,
      then entry (u32), and, when it sends them, how many entries each value takes (u32).
    """
    n = entries.shape[0]
    kp = np.empty(n, dtype=np.int64)
    kf = np.empty(n, dtype=np.uint64)
    ke = np.empty(n, dtype=np.int64)
    ks = np.empty(n, dtype=np.int64)
    m = 0
    for k in range(n):
        e = entries[k]
        if e >= times.shape[0] or e < -times.shape[0]:
            raise IndexError("a bucket row names an entry that is not there")
        t = times[e]
        if t >= oldest:
            kp[m] = parts[k]
            kf[m] = fields[k]
            ke[m] = entries[k]
            ks[m] = np.int64(np.floor((t if t < now else now) / slot_s))
            m += 1
    if m == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint8)
    kp, kf, ke, ks = kp[:m], kf[:m], ke[:m], ks[:m]
    meta = np.empty(2 + 7 * m, dtype=np.int64)
    packed = np.empty(24 * m, dtype=np.uint8)
    at = 0

    # slots: the distinct (slot, entry) pairs, by slot then entry
    order = _stable_by(np.argsort(ke, kind="mergesort"), ks)
    slots = 0
    mi = 1
    last_slot = np.int64(0)
    for a in range(m):
        k = order[a]
        if a > 0 and ks[k] == ks[order[a - 1]] and ke[k] == ke[order[a - 1]]:
            continue
        if slots == 0 or ks[k] != last_slot:
            last_slot = ks[k]
            meta[mi] = last_slot
            meta[mi + 1] = 0
            mi += 2
            slots += 1
        meta[mi - 1] += 1
        at = _put_u32(packed, at, ke[k])
    meta[0] = slots

    # groups: rows by part, slot, bucket value, entry
    order = np.argsort(ke, kind="mergesort")
    order = order[np.argsort(kf[order], kind="mergesort")]
    order = _stable_by(order, ks)
    order = _stable_by(order, kp)
    groups_at = mi
    mi += 1
    groups = 0
    a = 0
    while a < m:
        first = order[a]
        b = a
        while b < m and kp[order[b]] == kp[first] and ks[order[b]] == ks[first]:
            b += 1
        distinct = 0
        for c in range(a, b):
            k = order[c]
            if c == a or kf[k] != kf[order[c - 1]]:
                at = _put_u64(packed, at, kf[k])
                distinct += 1
        for c in range(a, b):
            at = _put_u32(packed, at, ke[order[c]])
        counted = distinct != b - a
        if counted:
            run = 0
            for c in range(a, b):
                run += 1
                if c + 1 == b or kf[order[c + 1]] != kf[order[c]]:
                    at = _put_u32(packed, at, run)
                    run = 0
        meta[mi] = kp[first]
        meta[mi + 1] = ks[first]
        meta[mi + 2] = distinct
        meta[mi + 3] = b - a
        meta[mi + 4] = 1 if counted else 0
        mi += 5
        groups += 1
        a = b
    meta[groups_at] = groups
    return meta[:mi], packed[:at]
