"""The fingerprint kernels: shingling, MinHash accuracy, banding, in-batch pairing."""

from __future__ import annotations

import hashlib
import itertools
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors._duplicate_kernels import bucket_pairs
from detectors._match_kernels import pair_similarity, verify_hits
from detectors.fingerprints import (
    CHANCE,
    TitleHasher,
    estimate_jaccard,
    fold_titles,
    image_hashes,
    reference_shingles,
)

HASHER = TitleHasher(64, 12, 5, 2, 4)


def _same(a: str, b: str) -> bool:
    prints = HASHER.fingerprint([a, b])
    return bool((prints.signatures[0] == prints.signatures[1]).all())


def test_word_order_case_width_and_zero_width_do_not_matter() -> None:
    base = "nike air max 90 black running shoes"
    assert _same(base, "Black RUNNING shoes Nike AIR max 90")
    assert _same(base, "ＮＩＫＥ Ａｉｒ max 90 black running shoes")  # full-width
    assert _same(base, "ni\u200bke air max 90 black running sh\u00adoes")  # zero-width, soft hyphen
    assert _same(base, "nike, air-max 90 / black (running) shoes!")
    assert not _same(base, "nike air max 95 black running shoes")


def test_cjk_is_shingled_by_character_pairs() -> None:
    prints = HASHER.fingerprint(["耐克气垫跑鞋", "耐克气垫跑靴", "跑鞋", ""])
    # 5 pairs each, 4 shared; a run no longer than the shingle is one shingle; empty is none
    assert prints.features.tolist() == [5, 5, 1, 0]
    assert prints.valid.tolist() == [True, True, False, False]


def test_titles_containing_nul_are_folded_one_by_one() -> None:
    cps, lo, hi = fold_titles(["a\x00b", "Ｃ", ""])
    texts = ["".join(map(chr, cps[s:e])) for s, e in zip(lo, hi, strict=True)]
    assert texts == ["a b", "C", ""]  # NFKC only: the kernel folds case as it reads


def test_signatures_are_seeded() -> None:
    again = TitleHasher(64, 12, 5, 2, 4).fingerprint(["a stable title of words"])
    assert (again.signatures == HASHER.fingerprint(["a stable title of words"]).signatures).all()


def _pairs(count: int, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """Titles over a large vocabulary and copies sharing a random share of their words."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(3000)]
    left, right, exact = [], [], []
    for _ in range(count):
        words = rng.sample(vocabulary, rng.randint(6, 20))
        keep = rng.randint(0, len(words))
        other = words[:keep] + rng.sample(vocabulary, len(words) - keep)
        left.append(" ".join(words))
        right.append(" ".join(other))
        a, b = set(words), set(other)
        exact.append(len(a & b) / len(a | b))
    return left, right, np.array(exact)


def test_estimated_jaccard_tracks_the_exact_one() -> None:
    left, right, exact = _pairs(2000, 11)
    pl, pr = HASHER.fingerprint(left), HASHER.fingerprint(right)
    rows = np.arange(2000, dtype=np.int64)
    error = estimate_jaccard(pl.short, pr.short, rows, rows) - exact
    assert abs(error.mean()) < 0.01  # unbiased
    # MinHash's own spread, sqrt(J (1 - J) / 64), widened by 4-bit values agreeing by chance
    assert np.abs(error).mean() < 0.06


def test_verification_leaves_out_the_band_that_found_the_pair() -> None:
    """Among pairs of middling similarity that share a band, the plain estimate is biased
    upwards (those 5 values are equal by construction, about 5/64 (1 - J) too much); without
    them it is not."""
    left, right, exact = _pairs(6000, 12)
    prints = HASHER.fingerprint(left + right)
    n = len(left)
    q, r = np.arange(n, dtype=np.int64), np.arange(n, 2 * n, dtype=np.int64)
    shared = (prints.bands[q] == prints.bands[r]).any(axis=1) & (exact < 0.6)
    q, r = q[shared], r[shared]
    assert len(q) > 100
    plain = estimate_jaccard(prints.short, prints.short, q, r) - exact[shared]
    fair = pair_similarity(prints.sketch, prints.bands, q, r, 5, CHANCE) - exact[shared]
    assert plain.mean() > 0.03
    assert abs(fair.mean()) < abs(plain.mean()) / 2


def test_sketches_pack_the_four_bit_values() -> None:
    prints = HASHER.fingerprint(["one two three four five", "six seven eight nine ten"])
    assert prints.sketch.shape == (2, 32)
    assert (prints.sketch & 0x0F == prints.short[:, 0::2]).all()
    assert (prints.sketch >> 4 == prints.short[:, 1::2]).all()


@settings(max_examples=50, deadline=None)
@given(
    keys=st.lists(st.lists(st.integers(0, 3), min_size=3, max_size=3), min_size=0, max_size=30),
    invalid=st.sets(st.integers(0, 29)),
)
def test_bucket_pairs_find_every_shared_bucket_once(
    keys: list[list[int]], invalid: set[int]
) -> None:
    n = len(keys)
    array = np.array(keys, dtype=np.uint64).reshape(n, 3)
    valid = np.array([i not in invalid for i in range(n)], dtype=np.bool_)
    q, r = bucket_pairs(array, valid, 1000)
    found = list(zip(q.tolist(), r.tolist(), strict=True))
    expected = {
        (a, b)
        for a, b in itertools.permutations(range(n), 2)
        if valid[a] and valid[b] and any(keys[a][c] == keys[b][c] for c in range(3))
    }
    assert len(found) == len(set(found))
    assert set(found) == expected


def test_bucket_pairs_stay_linear_in_a_huge_bucket() -> None:
    """10,000 identical rows: each is paired with the bucket's first 8 rows, not all."""
    keys = np.zeros((10_000, 4), dtype=np.uint64)
    q, r = bucket_pairs(keys, np.ones(10_000, dtype=np.bool_), 8)
    assert len(q) == 10_000 * 8 - 8
    assert set(r.tolist()) == set(range(8))


@settings(max_examples=200, deadline=None)
@given(value=st.integers(0, 2**64 - 1), flips=st.sets(st.integers(0, 63), max_size=3))
def test_image_hashes_within_three_bits_share_a_chunk(value: int, flips: set[int]) -> None:
    other = value
    for bit in flips:
        other ^= 1 << bit
    images = image_hashes([[value], [other]], min_bits=0)
    chunks = images.chunks
    assert (chunks[0] == chunks[1]).any()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab 1-耐克跑鞋\u200bÅｘ\x00,"), max_size=40))
def test_the_kernel_shingles_like_the_reference(text: str) -> None:
    assert HASHER.fingerprint([text]).features[0] == len(reference_shingles(text, 2))


def _reference_verify(
    data: bytes,
    hits: list[tuple[int, int, int, int]],
    sketches: np.ndarray,
    own: list[bytes],
    rows: int,
    threshold: float,
) -> list[tuple[int, float]]:
    """verify_hits in plain Python: per row, each distinct payload once, through its lowest
    part, other stores only, at or above the threshold; rows in order, a row's candidates in
    the kernel's key order (which the caller does not rely on: compared as sets per row)."""
    width = sketches.shape[1]
    best: dict[tuple[int, bytes], tuple[int, int]] = {}
    for k, (row, part, start, length) in enumerate(hits):
        payload = data[start : start + length]
        seen = best.get((row, payload))
        if seen is None or part < seen[0]:
            best[(row, payload)] = (part, k)
    out = []
    for (row, payload), (part, k) in best.items():
        store = payload[width : width + 2 + int.from_bytes(payload[width : width + 2], "big")]
        mine = own[row][width : width + 2 + int.from_bytes(own[row][width : width + 2], "big")]
        if len(payload) < width + 2 or store == mine:
            continue
        values = [(b >> s) & 15 for b in payload[:width] for s in (0, 4)]
        ours = [(b >> s) & 15 for b in sketches[row].tolist() for s in (0, 4)]
        kept = [j for j in range(2 * width) if not part * rows <= j < (part + 1) * rows]
        agree = sum(values[j] == ours[j] for j in kept) / len(kept)
        estimate = min(max((agree - CHANCE) / (1 - CHANCE), 0.0), 1.0)
        if estimate >= threshold:
            out.append((row, k, estimate))
    return sorted(out)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(1, 6), crowded=st.booleans())
def test_verify_hits_keeps_one_candidate_per_row_and_entry(
    seed: int, n_rows: int, crowded: bool
) -> None:
    """Candidates met through several parts or slots verify once, through the lowest part;
    a row's own store never matches; digests given or hashed here agree; rows with more hits
    than the insertion sort takes (a title in full buckets) come out alike."""
    rng = random.Random(seed)
    width, rows = 32, 5
    sketches = np.frombuffer(rng.randbytes(n_rows * width), dtype=np.uint8).reshape(n_rows, width)
    pool = []
    for i in range(12):
        near = bytearray(sketches[i % n_rows].tobytes())
        for _ in range(rng.randrange(0, 12)):
            near[rng.randrange(width)] = rng.randrange(256)
        store = f"s{rng.randrange(3)}".encode()
        pool.append(bytes(near) + len(store).to_bytes(2, "big") + store + f"l{i}".encode())
    own = []
    for r in range(n_rows):
        store = f"s{r % 3}".encode()
        own.append(bytes(width) + len(store).to_bytes(2, "big") + store + b"me")
    data = b"".join(pool)
    at = [0, *itertools.accumulate(len(p) for p in pool)]
    hits = []
    for _ in range(rng.randrange(1, 400 if crowded else 40)):
        entry = rng.randrange(len(pool))
        hits.append((rng.randrange(n_rows), rng.randrange(12), at[entry], len(pool[entry])))
    digests = np.array(
        [int.from_bytes(hashlib.blake2b(data[s : s + n], digest_size=8).digest(), "little",
                        signed=True) for _, _, s, n in hits],
        dtype=np.int64,
    )  # fmt: skip
    columns = [np.array(c, dtype=np.int64) for c in zip(*hits, strict=True)]
    row, part, start, length = columns
    own_at = np.array([0, *itertools.accumulate(len(p) for p in own)], dtype=np.int64)
    expected = _reference_verify(data, hits, sketches, own, rows, 0.3)
    for digest in (digests, np.zeros(0, dtype=np.int64)):
        chosen, similarity = verify_hits(
            np.frombuffer(data, dtype=np.uint8), start, length, row, part, sketches,
            np.frombuffer(b"".join(own), dtype=np.uint8), own_at, rows, CHANCE, 0.3, digest,
        )  # fmt: skip
        assert (np.diff(row[chosen]) >= 0).all()  # in order of row
        found = sorted(zip(row[chosen].tolist(), chosen.tolist(), similarity.tolist(), strict=True))
        assert [(r, k) for r, k, _ in found] == [(r, k) for r, k, _ in expected]
        assert np.allclose([s for *_, s in found], [s for *_, s in expected])
