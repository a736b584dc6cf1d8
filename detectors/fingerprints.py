"""Content fingerprints of listings: MinHash title signatures with LSH bands, and image hashes
cut into multi-index chunks.

Titles are folded once for the whole batch (NFKC and case folding of one joined string, then
one UTF-32 encode), so the per-title Python work is a few slices; the kernel in
``_duplicate_kernels`` does the shingling, hashing and banding.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors._duplicate_kernels import (
    CLASS_CJK,
    CLASS_IGNORABLE,
    CLASS_SEPARATOR,
    CLASS_WORD,
    pair_agreement,
    title_fingerprints,
)

SIGNATURE_BITS = 4
"""Bits of each MinHash value kept in the stored sketch (b-bit MinHash): 64 values take 32
bytes, stored in every LSH bucket a title joins, and two unrelated values agree by chance 1
time in 16 (the estimator corrects for it). Verifying the benchmark's candidates without the
rows of the band that found them, 4 bits let as few unrelated titles through as 8 bits with
those rows (0.6% against 0.9%) at the same recall."""
CHANCE = 1.0 / (1 << SIGNATURE_BITS)

PHASH_CHUNKS = 4
PHASH_CHUNK_BITS = 16

_CJK_RANGES = (
    (0x2E80, 0x2FDF),  # radicals
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x3100, 0x312F),  # bopomofo
    (0x3130, 0x318F),  # hangul compatibility jamo
    (0x31F0, 0x31FF),  # katakana extension
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
)


@functools.cache
def char_classes() -> npt.NDArray[np.uint8]:
    """The class of every BMP code point (see ``_duplicate_kernels``), built once."""
    classes = np.zeros(65536, dtype=np.uint8)
    for cp in range(65536):
        ch = chr(cp)
        category = unicodedata.category(ch)
        if category[0] in "LN" or category in ("Mn", "Mc"):
            classes[cp] = CLASS_WORD
        elif category == "Cf":  # zero-width spaces and joiners, soft hyphen, bidi marks
            classes[cp] = CLASS_IGNORABLE
        else:
            classes[cp] = CLASS_SEPARATOR
    for low, high in _CJK_RANGES:
        block = classes[low : high + 1]
        block[block == CLASS_WORD] = CLASS_CJK
    return classes


@functools.cache
def char_folds() -> npt.NDArray[np.uint32]:
    """Simple case folding of every BMP code point, one code point to one (the kernel folds
    as it reads, which is faster than ``str.casefold`` on the batch). The few characters whose
    full folding expands, such as ß to ss, keep their lower-case form."""
    folds = np.arange(65536, dtype=np.uint32)
    for cp in range(65536):
        ch = chr(cp)
        for folded in (ch.casefold(), ch.lower()):
            if len(folded) == 1:
                folds[cp] = ord(folded)
                break
    return folds


def fold_titles(
    titles: Sequence[str],
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Code points of the NFKC-normalised titles, and each title's ``[lo, hi)`` bounds.

    The titles are joined with NUL, normalised and encoded in three calls for the whole batch;
    NFKC never composes across NUL, so this equals normalising each title alone. A title that
    itself contains NUL has it replaced by a space first. (Case folding happens in the kernel.)
    """
    n = len(titles)
    joined = "\x00".join(titles)
    folded = unicodedata.normalize("NFKC", joined)
    cps = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32).copy()
    cuts = np.flatnonzero(cps == 0)
    if len(cuts) != max(n - 1, 0):
        return fold_titles([title.replace("\x00", " ") for title in titles])
    lo = np.zeros(n, dtype=np.int64)
    hi = np.full(n, len(cps), dtype=np.int64)
    if n > 1:
        lo[1:] = cuts + 1
        hi[:-1] = cuts
    return cps, lo, hi


def reference_shingles(title: str, cjk_shingle: int) -> set[str]:
    """The shingles the kernel hashes, in plain Python: a readable reference for tests, and
    the same features handed to peer libraries in the benchmark."""
    classes = char_classes()
    folds = char_folds()
    text = "".join(
        chr(folds[ord(ch)]) if ord(ch) < 65536 else ch
        for ch in unicodedata.normalize("NFKC", title.replace("\x00", " "))
    )

    def class_of(ch: str) -> int:
        cp = ord(ch)
        if cp < 65536:
            return int(classes[cp])
        return CLASS_CJK if 0x20000 <= cp <= 0x3FFFF else CLASS_SEPARATOR

    runs: list[tuple[int, str]] = []
    for ch in text:
        kind = class_of(ch)
        if kind == CLASS_IGNORABLE:
            continue
        if kind == CLASS_SEPARATOR:
            runs.append((CLASS_SEPARATOR, ""))
        elif runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1] + ch)
        else:
            runs.append((kind, ch))
    found: set[str] = set()
    for kind, run in runs:
        if kind == CLASS_WORD or (kind == CLASS_CJK and len(run) <= cjk_shingle):
            found.add(f"{kind}:{run}")
        elif kind == CLASS_CJK:
            found.update(
                f"{kind}:{run[i : i + cjk_shingle]}" for i in range(len(run) - cjk_shingle + 1)
            )
    return found


@dataclass(frozen=True, slots=True)
class TitleFingerprints:
    """Fingerprints of a batch of titles, row ``i`` for title ``i``."""

    signatures: npt.NDArray[np.uint32]
    """MinHash values, shape (n, num_perm)."""
    features: npt.NDArray[np.int32]
    """Distinct shingles per title."""
    bands: npt.NDArray[np.uint64]
    """LSH band hashes, shape (n, bands)."""
    valid: npt.NDArray[np.bool_]
    """Titles with enough shingles to be matched at all."""
    short: npt.NDArray[np.uint8]
    """The b-bit values that are compared, shape (n, num_perm)."""
    sketch: npt.NDArray[np.uint8]
    """The same values packed two per byte, shape (n, num_perm / 2): what buckets store."""


def estimate_jaccard(
    left: npt.NDArray[np.uint8],
    right: npt.NDArray[np.uint8],
    q: npt.NDArray[np.int64],
    r: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Jaccard similarity of the pairs ``(left[q[k]], right[r[k]])`` from their b-bit
    signatures, corrected for values that agree by chance (Li and König's b-bit estimator),
    clipped to [0, 1]. (Candidates are verified without the band that found them, in
    ``detectors._match_kernels``.)"""
    agree = pair_agreement(left, right, q, r)
    return np.clip((agree - CHANCE) / (1.0 - CHANCE), 0.0, 1.0)


class TitleHasher:
    """MinHash and LSH banding with fixed, seeded permutations (every worker agrees)."""

    def __init__(
        self, num_perm: int, bands: int, rows: int, cjk_shingle: int, min_features: int
    ) -> None:
        self.num_perm = num_perm
        self.bands = bands
        self.rows = rows
        self.cjk_shingle = cjk_shingle
        self.min_features = min_features
        rng = np.random.default_rng(0x4A2E)
        self._a = rng.integers(0, 1 << 63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._b = rng.integers(0, 1 << 63, num_perm, dtype=np.uint64)
        self._classes = char_classes()
        self._folds = char_folds()

    def fingerprint(self, titles: Sequence[str]) -> TitleFingerprints:
        """The batch's titles normalised as one string (see :func:`fold_titles`, which this
        matches) and fingerprinted in one kernel call."""
        n = len(titles)
        folded = unicodedata.normalize("NFKC", "\x00".join(titles))
        if folded.count("\x00") != max(n - 1, 0):  # a title holds NUL itself
            folded = unicodedata.normalize(
                "NFKC", "\x00".join(t.replace("\x00", " ") for t in titles)
            )
        cps = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32)  # read-only
        sigs, features, bands, valid, short, sketch = title_fingerprints(
            cps,
            n,
            self._classes,
            self._folds,
            self._a,
            self._b,
            self.cjk_shingle,
            self.bands,
            self.rows,
            SIGNATURE_BITS,
            self.min_features,
        )
        return TitleFingerprints(sigs, features, bands, valid, short, sketch)


@dataclass(frozen=True, slots=True)
class ImageHashes:
    """The usable image hashes of a batch: ``owner[k]`` is the listing of ``hashes[k]``."""

    owner: npt.NDArray[np.int64]
    hashes: npt.NDArray[np.uint64]
    chunks: npt.NDArray[np.uint64]
    """The four 16-bit chunks of each hash, shape (m, 4), lowest first: at distance 3 or
    less, two hashes agree exactly on at least one chunk."""


_CHUNK_MASK = (1 << PHASH_CHUNK_BITS) - 1
_CHUNK_SHIFTS = tuple(range(0, PHASH_CHUNKS * PHASH_CHUNK_BITS, PHASH_CHUNK_BITS))
_CHUNK_SHIFT_ARRAY = np.array(_CHUNK_SHIFTS, dtype=np.uint64)
FEW_IMAGES = 16
"""Up to this many images, chunks are cut in plain Python (the same values as the array
shifts, without their fixed cost)."""
_NO_IMAGES = ImageHashes(
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.uint64),
    np.zeros((0, PHASH_CHUNKS), dtype=np.uint64),
)


def image_hashes(phashes: Sequence[Sequence[int]], min_bits: int) -> ImageHashes:
    """Each listing's distinct image hashes, without near-constant ones (blank images)."""
    owner: list[int] = []
    hashes: list[int] = []
    for i, listing_hashes in enumerate(phashes):
        for value in dict.fromkeys(listing_hashes):
            ones = value.bit_count()
            if min_bits <= ones <= 64 - min_bits:
                owner.append(i)
                hashes.append(value)
    if not hashes:
        return _NO_IMAGES
    values = np.array(hashes, dtype=np.uint64)
    if len(hashes) <= FEW_IMAGES:
        chunks = np.array(
            [[(h >> shift) & _CHUNK_MASK for shift in _CHUNK_SHIFTS] for h in hashes],
            dtype=np.uint64,
        )
    else:
        chunks = (values[:, None] >> _CHUNK_SHIFT_ARRAY[None, :]) & np.uint64(_CHUNK_MASK)
    return ImageHashes(np.array(owner, dtype=np.int64), values, chunks)


def hamming(left: npt.NDArray[np.uint64], right: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Bitwise distance of hash pairs."""
    distance: npt.NDArray[np.int64] = np.bitwise_count(left ^ right).astype(np.int64)
    return distance
