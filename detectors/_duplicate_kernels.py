"""Numba kernels of the duplicate detector: one call per batch, arrays in, arrays out.

``title_signatures`` turns the code points of a whole batch of normalised titles into MinHash
signatures and LSH band hashes; ``bucket_pairs`` finds the pairs of rows of a batch that share
a bucket (an LSH band, an image-hash chunk) without ever comparing every row with every other.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

MAX_FEATURES = 512
"""Distinct shingles kept per title (titles are at most 512 characters)."""

CLASS_SEPARATOR = 0
CLASS_WORD = 1
CLASS_CJK = 2
CLASS_IGNORABLE = 3
"""Character classes of ``char_classes()``: word letters and digits are shingled by whole
words, CJK by character k-grams, ignorable (zero-width, soft hyphen, ...) characters are
skipped without ending a word, everything else separates."""

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_CJK_SEED = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _fmix64(h: np.uint64) -> np.uint64:
    """MurmurHash3's 64-bit finaliser: spreads every input bit over the whole word."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True, inline="always")
def _class_of(cp: np.uint32, classes: npt.NDArray[np.uint8]) -> int:
    if cp < 65536:
        return int(classes[cp])
    if 0x20000 <= cp <= 0x3FFFF:  # CJK extensions B-H and compatibility supplement
        return CLASS_CJK
    return CLASS_SEPARATOR


@njit(cache=True)
def _features(
    cps: npt.NDArray[np.uint32],
    lo: int,
    hi: int,
    classes: npt.NDArray[np.uint8],
    folds: npt.NDArray[np.uint32],
    cjk_k: int,
    out: npt.NDArray[np.uint64],
    run: npt.NDArray[np.uint32],
) -> int:
    """Hash one title's shingles into ``out``; returns how many (duplicates included).
    Letters are case-folded through ``folds`` (one code point to one) as they are read."""
    count = 0
    pos = lo
    while pos < hi and count < out.shape[0]:
        kind = _class_of(cps[pos], classes)
        if kind != CLASS_WORD and kind != CLASS_CJK:  # a separator or an ignorable
            pos += 1
            continue
        length = 0
        while pos < hi:  # collect the run of one class, skipping ignorables inside it
            cls = _class_of(cps[pos], classes)
            if cls == CLASS_IGNORABLE:
                pos += 1
                continue
            if cls != kind:
                break
            if length < run.shape[0]:
                cp = cps[pos]
                run[length] = folds[cp] if cp < 65536 else cp
                length += 1
            pos += 1
        if kind == CLASS_WORD or length <= cjk_k:
            h = _FNV_OFFSET if kind == CLASS_WORD else _FNV_OFFSET ^ _CJK_SEED
            for j in range(length):
                h = (h ^ np.uint64(run[j])) * _FNV_PRIME
            out[count] = _fmix64(h)
            count += 1
        else:
            for s in range(length - cjk_k + 1):
                if count >= out.shape[0]:
                    break
                h = _FNV_OFFSET ^ _CJK_SEED
                for j in range(s, s + cjk_k):
                    h = (h ^ np.uint64(run[j])) * _FNV_PRIME
                out[count] = _fmix64(h)
                count += 1
    return count


@njit(cache=True)
def _insertion_sort(values: npt.NDArray[np.uint64], count: int) -> None:
    """Sort ``values[:count]`` in place: a title has a few dozen shingles, where this beats
    the general sort and its allocations."""
    for i in range(1, count):
        x = values[i]
        j = i - 1
        while j >= 0 and values[j] > x:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = x


@njit(cache=True)
def _signatures_into(
    cps: npt.NDArray[np.uint32],
    lo: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
    classes: npt.NDArray[np.uint8],
    folds: npt.NDArray[np.uint32],
    perm_a: npt.NDArray[np.uint64],
    perm_b: npt.NDArray[np.uint64],
    cjk_k: int,
    rows: int,
    sigs: npt.NDArray[np.uint32],
    distinct: npt.NDArray[np.int32],
    band_hashes: npt.NDArray[np.uint64],
) -> None:
    """Fill ``sigs`` (all 0xFFFFFFFF on entry), ``distinct`` and ``band_hashes`` (zeros)."""
    n = lo.shape[0]
    num_perm = perm_a.shape[0]
    bands = band_hashes.shape[1]
    feats = np.empty(MAX_FEATURES, dtype=np.uint64)
    run = np.empty(MAX_FEATURES, dtype=np.uint32)
    for t in range(n):
        count = _features(cps, lo[t], hi[t], classes, folds, cjk_k, feats, run)
        if count == 0:
            continue
        if count <= 64:
            _insertion_sort(feats, count)
        else:
            feats[:count].sort()
        row = sigs[t]
        unique = 0
        for f in range(count):
            x = feats[f]
            if f > 0 and x == feats[f - 1]:
                continue  # the same shingle twice: min-hashing it again changes nothing
            unique += 1
            for p in range(num_perm):
                row[p] = min(row[p], np.uint32((perm_a[p] * x + perm_b[p]) >> np.uint64(32)))
        distinct[t] = unique
        for band in range(bands):
            h = _FNV_OFFSET ^ np.uint64(band)
            for p in range(band * rows, (band + 1) * rows):
                h = (h ^ np.uint64(row[p])) * _FNV_PRIME
            band_hashes[t, band] = _fmix64(h)


@njit(cache=True)
def title_signatures(
    cps: npt.NDArray[np.uint32],
    lo: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
    classes: npt.NDArray[np.uint8],
    folds: npt.NDArray[np.uint32],
    perm_a: npt.NDArray[np.uint64],
    perm_b: npt.NDArray[np.uint64],
    cjk_k: int,
    bands: int,
    rows: int,
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int32], npt.NDArray[np.uint64]]:
    """MinHash signatures, distinct-feature counts and LSH band hashes of a batch of titles.

    Title ``t`` is ``cps[lo[t]:hi[t]]`` (NFKC-normalised code points, case-folded here). Each
    shingle hash ``x`` is permuted ``num_perm`` times by multiply-shift, ``(a * x + b) >> 32``
    (a odd): one multiply-add per value, which the compiler vectorises, in place of the slower
    modular permutations of the textbook.
    """
    n = lo.shape[0]
    sigs = np.full((n, perm_a.shape[0]), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    distinct = np.zeros(n, dtype=np.int32)
    band_hashes = np.zeros((n, bands), dtype=np.uint64)
    _signatures_into(
        cps, lo, hi, classes, folds, perm_a, perm_b, cjk_k, rows, sigs, distinct, band_hashes
    )
    return sigs, distinct, band_hashes


@njit(cache=True)
def title_fingerprints(
    cps: npt.NDArray[np.uint32],
    n: int,
    classes: npt.NDArray[np.uint8],
    folds: npt.NDArray[np.uint32],
    perm_a: npt.NDArray[np.uint64],
    perm_b: npt.NDArray[np.uint64],
    cjk_k: int,
    bands: int,
    rows: int,
    bits: int,
    min_features: int,
) -> tuple[
    npt.NDArray[np.uint32],
    npt.NDArray[np.int32],
    npt.NDArray[np.uint64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.uint8],
    npt.NDArray[np.uint8],
]:
    """Everything ``TitleHasher.fingerprint`` returns, in one call (a batch of one title pays
    one kernel call, not a dozen array operations): ``cps`` holds ``n`` titles separated by
    exactly ``n - 1`` NUL code points. Returns signatures, distinct-feature counts, band
    hashes, which titles have at least ``min_features`` features, the low ``bits`` bits of
    each signature value and those values packed two per byte (``bits`` is 4)."""
    lo = np.zeros(n, dtype=np.int64)
    hi = np.full(n, cps.shape[0], dtype=np.int64)
    t = 0
    for pos in range(cps.shape[0]):
        if cps[pos] == 0 and t + 1 < n:
            hi[t] = pos
            lo[t + 1] = pos + 1
            t += 1
    sigs, distinct, band_hashes = title_signatures(
        cps, lo, hi, classes, folds, perm_a, perm_b, cjk_k, bands, rows
    )
    num_perm = perm_a.shape[0]
    mask = np.uint32((1 << bits) - 1)
    short = np.empty((n, num_perm), dtype=np.uint8)
    sketch = np.empty((n, num_perm // 2), dtype=np.uint8)
    valid = np.empty(n, dtype=np.bool_)
    for i in range(n):
        valid[i] = distinct[i] >= min_features
        for p in range(num_perm):
            short[i, p] = np.uint8(sigs[i, p] & mask)
        for j in range(num_perm // 2):
            sketch[i, j] = short[i, 2 * j] | (short[i, 2 * j + 1] << np.uint8(bits))
    return sigs, distinct, band_hashes, valid, short, sketch


@njit(cache=True)
def _bucket_ranks(
    keys: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per column: rows sorted by key (stable), bucket start of each sorted position, and each
    row's rank inside its bucket (0 for the first row of the bucket in row order)."""
    n, parts = keys.shape
    orders = np.empty((parts, n), dtype=np.int64)
    starts = np.empty((parts, n), dtype=np.int64)
    ranks = np.empty((parts, n), dtype=np.int64)
    for c in range(parts):
        order = np.argsort(keys[:, c], kind="mergesort")
        orders[c] = order
        start = 0
        for a in range(n):
            if a > 0 and keys[order[a], c] != keys[order[a - 1], c]:
                start = a
            starts[c, a] = start
            ranks[c, order[a]] = a - start
    return orders, starts, ranks


@njit(cache=True)
def _walk_pairs(
    keys: npt.NDArray[np.uint64],
    valid: npt.NDArray[np.bool_],
    cap: int,
    orders: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    ranks: npt.NDArray[np.int64],
    out_q: npt.NDArray[np.int64],
    out_r: npt.NDArray[np.int64],
    fill: bool,
) -> int:
    n, parts = keys.shape
    total = 0
    for c in range(parts):
        order = orders[c]
        for a in range(n):
            q = order[a]
            if not valid[q]:
                continue
            start = starts[c, a]
            b = start
            while b < n and b < start + cap and keys[order[b], c] == keys[q, c]:
                r = order[b]
                b += 1
                if r == q or not valid[r]:
                    continue
                seen = False  # already paired in an earlier column where r was a reference
                for e in range(c):
                    if keys[q, e] == keys[r, e] and ranks[e, r] < cap:
                        seen = True
                        break
                if seen:
                    continue
                if fill:
                    out_q[total] = q
                    out_r[total] = r
                total += 1
    return total


@njit(cache=True)
def bucket_pairs(
    keys: npt.NDArray[np.uint64], valid: npt.NDArray[np.bool_], cap: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Pairs ``(q, r)`` of valid rows that share a key in some column, each pair once.

    Within one bucket (one value of one column) every row is paired with the first ``cap``
    rows of the bucket (its *references*, in row order), so a bucket of thousands of
    identical titles costs ``rows x cap`` pairs rather than its square, the same bound the
    stored buckets keep. A pair found in several columns is emitted once.
    """
    orders, starts, ranks = _bucket_ranks(keys)
    empty = np.empty(0, dtype=np.int64)
    total = _walk_pairs(keys, valid, cap, orders, starts, ranks, empty, empty, False)
    out_q = np.empty(total, dtype=np.int64)
    out_r = np.empty(total, dtype=np.int64)
    _walk_pairs(keys, valid, cap, orders, starts, ranks, out_q, out_r, True)
    return out_q, out_r


@njit(cache=True)
def pair_agreement(
    left: npt.NDArray[np.uint8],
    right: npt.NDArray[np.uint8],
    q: npt.NDArray[np.int64],
    r: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Share of equal values between ``left[q[k]]`` and ``right[r[k]]`` for every pair k, without
    gathering the pairs' signatures into (pairs x num_perm) temporaries."""
    width = left.shape[1]
    out = np.empty(q.shape[0], dtype=np.float64)
    for k in range(q.shape[0]):
        a = left[q[k]]
        b = right[r[k]]
        same = 0
        for p in range(width):
            if a[p] == b[p]:
                same += 1
        out[k] = same / width
    return out
