"""Numba kernels that verify title candidates: one call per batch, arrays in, arrays out.

Titles are compared on 4-bit MinHash sketches (two values per byte: 32 bytes for 64). A
candidate pair was found because the values of some LSH band are all equal, so those values say
nothing about the pair: the estimate leaves out the rows of the first band the pair shares,
which removes the upward bias that otherwise lets pairs of one category's generic titles
through.

A stored entry's payload (``detectors.matching``) is the sketch (``width`` bytes), the store
id's length as a big-endian u16, the store id and the listing id (UTF-8).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from detectors._duplicate_kernels import bucket_pairs

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_FEW_HITS = 48


@njit(cache=True)
def build_payloads(
    sketches: npt.NDArray[np.uint8],
    stores: npt.NDArray[np.uint8],
    store_at: npt.NDArray[np.int64],
    listings: npt.NDArray[np.uint8],
    listing_at: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Row ``i``'s payload: ``sketches[i]``, the length of store ``i``, store ``i`` and listing
    ``i`` (``stores[store_at[i]:store_at[i + 1]]``, likewise for listings)."""
    n, width = sketches.shape
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        size = width + 2 + (store_at[i + 1] - store_at[i]) + (listing_at[i + 1] - listing_at[i])
        offsets[i + 1] = offsets[i] + size
    out = np.empty(offsets[n], dtype=np.uint8)
    for i in range(n):
        at = offsets[i]
        for j in range(width):
            out[at + j] = sketches[i, j]
        size = store_at[i + 1] - store_at[i]
        out[at + width] = (size >> 8) & 0xFF
        out[at + width + 1] = size & 0xFF
        at += width + 2
        for j in range(store_at[i], store_at[i + 1]):
            out[at] = stores[j]
            at += 1
        for j in range(listing_at[i], listing_at[i + 1]):
            out[at] = listings[j]
            at += 1
    return out, offsets


@njit(cache=True, inline="always")
def _agreement(
    a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], skip_lo: int, skip_hi: int
) -> float:
    """Share of equal 4-bit values of two sketches outside values ``[skip_lo, skip_hi)``."""
    same = 0
    used = 0
    for j in range(a.shape[0]):
        x = a[j] ^ b[j]
        p = 2 * j
        if p < skip_lo or p >= skip_hi:
            used += 1
            same += (x & 0x0F) == 0
        if p + 1 < skip_lo or p + 1 >= skip_hi:
            used += 1
            same += (x >> 4) == 0
    return same / used if used else 0.0


@njit(cache=True, inline="always")
def _jaccard(agree: float, chance: float) -> float:
    """Li and König's b-bit estimator, clipped to [0, 1]."""
    estimate = (agree - chance) / (1.0 - chance)
    return min(max(estimate, 0.0), 1.0)


@njit(cache=True)
def pair_similarity(
    sketches: npt.NDArray[np.uint8],
    bands: npt.NDArray[np.uint64],
    q: npt.NDArray[np.int64],
    r: npt.NDArray[np.int64],
    rows: int,
    chance: float,
) -> npt.NDArray[np.float64]:
    """Estimated Jaccard similarity of batch titles ``q[k]`` and ``r[k]``, without the rows of
    the first band they share (all values when they share none)."""
    out = np.empty(q.shape[0], dtype=np.float64)
    for k in range(q.shape[0]):
        a, b = q[k], r[k]
        skip = -1
        for band in range(bands.shape[1]):
            if bands[a, band] == bands[b, band]:
                skip = band
                break
        lo, hi = (skip * rows, (skip + 1) * rows) if skip >= 0 else (0, 0)
        out[k] = _jaccard(_agreement(sketches[a], sketches[b], lo, hi), chance)
    return out


@njit(cache=True, inline="always")
def _other_store(
    buffer: npt.NDArray[np.uint8],
    s: int,
    size: int,
    width: int,
    own: npt.NDArray[np.uint8],
    lo: int,
) -> bool:
    """Whether the payload at ``buffer[s:s + size]`` is well formed and names a store other
    than the one of the batch's own payload at ``own[lo:]``."""
    if size < width + 2:
        return False
    store = (int(buffer[s + width]) << 8) | int(buffer[s + width + 1])
    if width + 2 + store > size:
        return False
    mine = (int(own[lo + width]) << 8) | int(own[lo + width + 1])
    if mine != store:
        return True
    for j in range(store):  # noqa: SIM110 - a plain loop compiles; a generator does not
        if buffer[s + width + 2 + j] != own[lo + width + 2 + j]:
            return True
    return False


@njit(cache=True)
def _by_row_then_key(
    row: npt.NDArray[np.int64], keys: npt.NDArray[np.uint64], n_rows: int
) -> npt.NDArray[np.int64]:
    """The hits in order of row, each row's by key: a counting sort by row (the rows are the
    batch's, few hits each), then an insertion sort of each row's hits, twice as fast as
    sorting every key of the batch (about 20 hits a row)."""
    n = row.shape[0]
    first = np.zeros(n_rows + 1, dtype=np.int64)
    for k in range(n):
        first[row[k] + 1] += 1
    for r in range(n_rows):
        first[r + 1] += first[r]
    order = np.empty(n, dtype=np.int64)
    fill = first[:-1].copy()
    for k in range(n):
        order[fill[row[k]]] = k
        fill[row[k]] += 1
    for r in range(n_rows):
        lo, hi = first[r], first[r + 1]
        if hi - lo > _FEW_HITS:  # a row in full buckets: no quadratic sort
            mine = order[lo:hi].copy()
            order[lo:hi] = mine[np.argsort(keys[mine], kind="mergesort")]
            continue
        for i in range(lo + 1, hi):
            k = order[i]
            j = i - 1
            while j >= lo and keys[order[j]] > keys[k]:
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = k
    return order


@njit(cache=True)
def verify_hits(
    buffer: npt.NDArray[np.uint8],
    start: npt.NDArray[np.int64],
    length: npt.NDArray[np.int64],
    row: npt.NDArray[np.int64],
    part: npt.NDArray[np.int64],
    sketches: npt.NDArray[np.uint8],
    own: npt.NDArray[np.uint8],
    own_at: npt.NDArray[np.int64],
    rows: int,
    chance: float,
    threshold: float,
    digest: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The hits that verify, one per probing row and distinct stored entry, with their
    estimated Jaccard similarity. ``digest``: each hit's 64-bit payload hash when the backend
    gave it (else empty: the payloads are hashed here).

    Hits of one row with the same payload (an entry met through several bands or slots) are
    one candidate, verified once without the rows of the lowest band it was met through.
    Entries of the row's own store (named in the row's own payload, ``own[own_at[r]:]``)
    are left out. Returns the chosen hit of each verified candidate (in order of row) and
    its similarity."""
    n = start.shape[0]
    width = sketches.shape[1]
    keys = np.empty(n, dtype=np.uint64)
    if digest.shape[0] == n:  # one key per (row, entry), as below, without the bytes
        for k in range(n):
            mixed = np.uint64(digest[k]) ^ (np.uint64(row[k]) * np.uint64(0x9E3779B97F4A7C15))
            keys[k] = mixed * _FNV_PRIME
    else:
        for k in range(n):
            h = _FNV_OFFSET ^ (np.uint64(row[k]) * np.uint64(0x9E3779B97F4A7C15))
            for j in range(start[k], start[k] + length[k]):
                h = (h ^ np.uint64(buffer[j])) * _FNV_PRIME
            keys[k] = h
    order = _by_row_then_key(row, keys, sketches.shape[0])
    chosen = np.empty(n, dtype=np.int64)
    similarity = np.empty(n, dtype=np.float64)
    found = 0
    a = 0
    while a < n:
        b = a
        best = order[a]
        while b < n and keys[order[b]] == keys[order[a]] and row[order[b]] == row[order[a]]:
            k = order[b]
            if part[k] < part[best]:
                best = k
            b += 1
        a = b
        r = row[best]
        if not _other_store(buffer, start[best], length[best], width, own, own_at[r]):
            continue
        lo = part[best] * rows
        stored = buffer[start[best] : start[best] + width]
        estimate = _jaccard(_agreement(sketches[r], stored, lo, lo + rows), chance)
        if estimate >= threshold:
            chosen[found] = best
            similarity[found] = estimate
            found += 1
    return chosen[:found].copy(), similarity[:found].copy()


@njit(cache=True)
def batch_title_pairs(
    bands: npt.NDArray[np.uint64],
    valid: npt.NDArray[np.bool_],
    cap: int,
    store_codes: npt.NDArray[np.int64],
    sketches: npt.NDArray[np.uint8],
    rows: int,
    chance: float,
    threshold: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The batch's own near-duplicate pairs in one call: ``bucket_pairs`` over the LSH bands,
    pairs of one store dropped, then ``pair_similarity`` and the threshold (the order of
    ``bucket_pairs`` is kept)."""
    q, r = bucket_pairs(bands, valid, cap)
    keep = 0
    for k in range(q.shape[0]):
        if store_codes[q[k]] != store_codes[r[k]]:
            q[keep] = q[k]
            r[keep] = r[k]
            keep += 1
    q, r = q[:keep], r[:keep]
    similarity = pair_similarity(sketches, bands, q, r, rows, chance)
    out = 0
    for k in range(q.shape[0]):
        if similarity[k] >= threshold:
            q[out] = q[k]
            r[out] = r[k]
            similarity[out] = similarity[k]
            out += 1
    return q[:out].copy(), r[:out].copy(), similarity[:out].copy()
