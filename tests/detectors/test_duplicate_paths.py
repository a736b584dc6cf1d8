"""The duplicate detector's small-batch paths give exactly what its general paths give.

Small batches are fingerprinted in one kernel call, their bucket entries joined in Python, a
few pairs ranked and a few images matched without arrays. Each fast path is held here to
the path it stands in for (forced by setting its threshold to 0), on random inputs; the last
test runs whole batches through the detector and real Redis both ways.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.listing import Listing
from detectors import matching
from detectors._duplicate_kernels import title_signatures
from detectors.fingerprints import SIGNATURE_BITS, TitleHasher, fold_titles, image_hashes
from detectors.matching import Matches, image_matches, title_payloads
from state import bucket_codec, buckets, inline_codec
from state.buckets import BucketEntry, BucketHits
from tests.detectors.duplicate_harness import NOW, Harness, make_listing

HASHER = TitleHasher(64, 12, 5, 2, 4)


@contextmanager
def _general() -> Iterator[None]:
    """Send every size down the general paths (detector and state codecs)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("FEW_PAIRS", "FEW_IMAGES", "FEW_IMAGE_HITS", "FEW_PAYLOADS"):
            patch.setattr(matching, name, 0)
        patch.setattr(bucket_codec, "FEW", 0)
        patch.setattr(buckets, "FEW_HITS", 0)
        patch.setattr(inline_codec, "FEW_ROWS", 0)
        yield


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    titles=st.lists(st.text(alphabet="ab cdé\x00耐克跑鞋 Ｘ\u200b-ß𠀀İ", max_size=30), max_size=6)
)
def test_one_kernel_call_fingerprints_as_the_steps_it_replaced(titles: list[str]) -> None:
    cps, lo, hi = fold_titles(titles)
    sigs, features, bands = title_signatures(
        cps.copy(), lo, hi, HASHER._classes, HASHER._folds, HASHER._a, HASHER._b, 2, 12, 5
    )
    short = (sigs & np.uint32((1 << SIGNATURE_BITS) - 1)).astype(np.uint8)
    sketch = short[:, 0::2] | (short[:, 1::2] << np.uint8(SIGNATURE_BITS))
    found = HASHER.fingerprint(titles)
    for got, expected in (
        (found.signatures, sigs),
        (found.features, features),
        (found.bands, bands),
        (found.valid, features >= 4),
        (found.short, short),
        (found.sketch, sketch),
    ):
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape
        assert (got == expected).all()


ids = st.text(alphabet="ab|\x1f店ü😀", max_size=6)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(rows=st.lists(st.tuples(ids, ids, st.binary(min_size=32, max_size=32)), max_size=8))
def test_payloads_joined_in_python_are_the_kernels(rows: list[tuple[str, str, bytes]]) -> None:
    sketches = np.frombuffer(b"".join(s for *_, s in rows), dtype=np.uint8).reshape(-1, 32)
    stores, listings = [s for s, _, _ in rows], [x for _, x, _ in rows]
    payloads, offsets = title_payloads(sketches, stores, listings)
    with _general():
        general = title_payloads(sketches, stores, listings)
    assert payloads == general[0]
    assert offsets.dtype == general[1].dtype
    assert offsets.tolist() == general[1].tolist()


@st.composite
def matches(draw: st.DrawFn) -> Matches:
    """Pairs with ties in similarity and in the matched listing's names."""
    refs = draw(st.integers(1, 6))
    names = st.sampled_from(["a", "b", "a\x00", ""])
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, refs - 1), st.sampled_from([0.5, 0.75])),
            max_size=12,
        )
    )
    return Matches(
        np.array([q for q, _, _ in pairs], dtype=np.int64),
        np.array([r for _, r, _ in pairs], dtype=np.int64),
        np.array([s for _, _, s in pairs], dtype=np.float64),
        None,
        draw(st.lists(names, min_size=refs, max_size=refs)),
        draw(st.lists(names, min_size=refs, max_size=refs)),
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(found=matches(), stores=st.sets(st.sampled_from(["a", "b", ""])))
def test_a_few_pairs_rank_as_arrays_rank_them(found: Matches, stores: set[str]) -> None:
    where = found.stores_where(stores)
    best, per_store = found.best(where), found.best_per_store()
    with _general():
        assert found.best(where) == best
        assert found.best_per_store() == per_store


def _listing(i: int, store: str) -> Listing:
    return Listing(f"l{i}", "seller", store, "title", "c", 1.0)


@st.composite
def image_cases(draw: st.DrawFn) -> tuple[list[Listing], Any, BucketHits | None]:
    """A batch's images (some copies of each other, a few bits apart) and stored bucket
    rows (near and far hashes, one entry in several buckets, parts beyond the four chunks,
    same-store entries, malformed refs)."""
    rng = random.Random(draw(st.integers(0, 10**6)))
    base = [rng.getrandbits(64) | 0x00FF00FF00FF00FF for _ in range(3)]

    def near() -> int:
        value = rng.choice(base)
        for _ in range(rng.choice([0, 1, 2, 3, 4, 9])):
            value ^= 1 << rng.randrange(64)
        return value

    count = draw(st.integers(0, 6))
    stores = ["s0", "s1", "s2"]
    listings = [_listing(i, rng.choice(stores)) for i in range(count)]
    phashes = [[near() for _ in range(rng.randrange(0, 3))] for _ in range(count)]
    images = image_hashes(phashes, 8)
    if not draw(st.booleans()):
        return listings, images, None
    entries, rows = [], []
    for e in range(draw(st.integers(1, 8))):
        value = near()
        ref = rng.choice([f"x{e}|{value:016x}", f"x{e}|{value:x}", f"x{e}", f"x{e}|zz", "y|"])
        entries.append(BucketEntry(rng.choice([*stores, "s9"]), ref, 0.0))
        for part in rng.sample(range(5), rng.randint(1, 4)):
            rows.append((part, (value >> (16 * (part % 4))) & 0xFFFF, e))
    hits = BucketHits(
        entries,
        np.array([p for p, _, _ in rows], dtype=np.int64),
        np.array([v for _, v, _ in rows], dtype=np.uint64),
        np.array([e for _, _, e in rows], dtype=np.int64),
    )
    return listings, images, hits


def _matched(found: Matches) -> tuple[Any, ...]:
    assert found.distance is not None
    return (
        found.query.dtype,
        found.query.tolist(),
        found.ref.tolist(),
        found.similarity.dtype,
        found.similarity.tolist(),
        found.distance.dtype,
        found.distance.tolist(),
        found.ref_listing,
        found.ref_store,
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(case=image_cases(), cap=st.integers(1, 3))
def test_a_few_images_match_as_arrays_match_them(case: tuple[Any, ...], cap: int) -> None:
    listings, images, hits = case
    few = image_matches(listings, images, hits, max_distance=3, cap=cap)
    with _general():
        general = image_matches(listings, images, hits, max_distance=3, cap=cap)
    assert _matched(few) == _matched(general)


def _stream(seed: int) -> Iterator[tuple[list[Listing], float]]:
    """Batches of 1 to 70 listings: near-copies of a few titles and images, shared
    signals, stores that are banned along the way (see the test)."""
    rng = random.Random(seed)
    words = [
        "black",
        "white",
        "red",
        "running",
        "shoes",
        "leather",
        "wallet",
        "bag",
        "air",
        "max",
        "canvas",
        "tote",
        "耐克",
        "跑鞋",
    ]
    titles = [" ".join(rng.sample(words, rng.randint(4, 8))) for _ in range(12)]
    images = [rng.getrandbits(64) | 0x00FF00FF00FF00FF for _ in range(8)]
    phones = [f"+86 138{rng.randrange(10**8):08d}" for _ in range(6)]
    now, counter = NOW, 0
    for size in (1, 1, 2, 5, 20, 1, 70, 3, 1, 40, 1, 20):
        now += rng.choice([1.0, 600.0])
        batch = []
        for _ in range(size):
            counter += 1
            words_of = rng.choice(titles).split()
            words_of[rng.randrange(len(words_of))] = rng.choice(words)
            phashes = [rng.choice(images) ^ (1 << rng.randrange(64)) for _ in range(2)]
            signals = {"phone": rng.choice(phones)} if rng.random() < 0.6 else {}
            batch.append(
                make_listing(
                    f"l{counter}",
                    f"s{rng.randrange(8)}",
                    " ".join(words_of),
                    at=now - rng.choice([0.0, 30.0]),
                    signals=signals,
                    phashes=phashes[: rng.randrange(3)],
                )
            )
        yield batch, now


async def test_whole_batches_screen_alike_either_way(redis_client: aioredis.Redis) -> None:
    fast, general = Harness.fresh(redis_client), Harness.fresh(redis_client)
    seen_codes: set[str] = set()
    for step, (batch, now) in enumerate(_stream(7)):
        found = await fast.screen(batch, now)
        with _general():
            expected = await general.screen(batch, now)
        assert found == expected, f"batch {step} of {len(batch)}"
        seen_codes |= {reason.code for reasons in found for reason in reasons}
        if step % 3 == 2:  # bans make the strong reasons reachable
            for harness in (fast, general):
                await harness.state.ban_store(f"s{step % 8}", now)
    assert {"DUPLICATE_OF_BANNED_LISTING", "IMAGE_OF_BANNED_LISTING"} <= seen_codes
