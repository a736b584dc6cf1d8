"""Title near-duplicates through real Redis: the repeat offender's edits still match, unrelated
titles of the same category do not (measured against the configured bound)."""

from __future__ import annotations

import random

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.corpus import CATEGORIES, EDITS, edit, title
from config.registry import load_registry
from detectors.batch import ListingBatch
from detectors.duplicate import DuplicateDetector
from haze.engine import Screener
from haze.runtime import Runtime
from state.base import StateNeeds
from state.buckets import Buckets
from tests.detectors.duplicate_harness import (
    NOW,
    REGISTRY,
    Harness,
    codes,
    make_listing,
    reason,
    screen_config,
)

CONFIG = screen_config()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    category=st.sampled_from(CATEGORIES),
    kind=st.sampled_from(EDITS),
)
async def test_an_edited_copy_of_a_banned_listing_is_caught(
    redis_client: aioredis.Redis, seed: int, category: object, kind: str
) -> None:
    """Colour, size, word order or one word changed: still the banned store's listing."""
    rng = random.Random(seed)
    original = title(rng, category)  # type: ignore[arg-type]
    copy = edit(rng, original, kind, category)  # type: ignore[arg-type]
    harness = Harness.fresh(redis_client, CONFIG)
    await harness.screen([make_listing("orig", "banned-store", original, at=NOW - 3600)])
    await harness.state.ban_store("banned-store", NOW - 1800)
    [found] = await harness.screen([make_listing("copy", "new-store", copy)])
    match = reason(found, "DUPLICATE_OF_BANNED_LISTING")
    assert match.evidence["matched_listing"] == "orig"
    assert match.evidence["matched_store"] == "banned-store"
    assert match.evidence["similarity"] >= CONFIG.detectors.duplicate.jaccard_threshold


@pytest.mark.parametrize("kind", EDITS)
async def test_recall_per_edit_over_many_listings(redis_client: aioredis.Redis, kind: str) -> None:
    """The same in bulk: 200 originals in one batch, 200 edited copies in the next."""
    rng = random.Random(f"recall-{kind}")
    harness = Harness.fresh(redis_client, CONFIG)
    originals, copies = [], []
    for i in range(200):
        category = CATEGORIES[i % len(CATEGORIES)]
        text = title(rng, category)
        originals.append(make_listing(f"o{i}", f"banned-{i}", text, at=NOW - 3600))
        copies.append(make_listing(f"c{i}", f"new-{i}", edit(rng, text, kind, category)))
    await harness.screen(originals, now=NOW - 3600)
    for i in range(200):
        await harness.state.ban_store(f"banned-{i}", NOW - 1800)
    results = await harness.screen(copies)
    caught = sum(
        "DUPLICATE_OF_BANNED_LISTING" in codes(found)
        and reason(found, "DUPLICATE_OF_BANNED_LISTING").evidence["matched_listing"] == f"o{i}"
        for i, found in enumerate(results)
    )
    assert caught / 200 >= 0.97


async def test_unrelated_titles_of_one_category_rarely_match(redis_client: aioredis.Redis) -> None:
    """1,000 listings of banned stores, then 1,000 unrelated listings of the same categories:
    the share of those that match anything stays under ``max_false_match_rate``."""
    rng = random.Random("unrelated")
    harness = Harness.fresh(redis_client, CONFIG)
    stored = [
        make_listing(f"b{i}", f"banned-{i % 100}", title(rng, CATEGORIES[i % 4]), at=NOW - 60)
        for i in range(1000)
    ]
    await harness.screen(stored, now=NOW - 60)
    for i in range(100):
        await harness.state.ban_store(f"banned-{i}", NOW - 30)
    texts = {x.title for x in stored}
    fresh = []
    while len(fresh) < 1000:
        text = title(rng, CATEGORIES[len(fresh) % 4])
        if text not in texts:  # an exact repeat would be a true duplicate
            fresh.append(make_listing(f"u{len(fresh)}", f"honest-{len(fresh)}", text))
    results = await harness.screen(fresh)
    matched = sum("DUPLICATE_OF_BANNED_LISTING" in codes(found) for found in results)
    rate = matched / len(fresh)
    assert rate < CONFIG.detectors.duplicate.max_false_match_rate, f"false-match rate {rate:.4f}"


async def test_a_store_is_not_a_duplicate_of_itself(redis_client: aioredis.Redis) -> None:
    harness = Harness.fresh(redis_client)
    text = "nike am90 breathable mesh running shoes black 42"
    await harness.screen([make_listing("a", "banned", text, at=NOW - 60)], now=NOW - 60)
    await harness.state.ban_store("banned", NOW - 30)
    [found] = await harness.screen([make_listing("b", "banned", text)])
    assert codes(found) == {"STORE_BANNED"}


async def test_same_batch_copies_across_many_stores_are_weak(redis_client: aioredis.Redis) -> None:
    """The same listing from four unrelated new stores in one batch: a weak reason each."""
    harness = Harness.fresh(redis_client)
    text = "adidas ub22 lightweight cushioned running shoes white 43"
    listings = [make_listing(f"l{i}", f"store-{i}", text) for i in range(4)]
    for found in await harness.screen(listings):
        assert codes(found) == {"DUPLICATE_ACROSS_STORES"}
        assert reason(found, "DUPLICATE_ACROSS_STORES").evidence["stores"] == 3


async def test_short_generic_titles_are_never_matched(redis_client: aioredis.Redis) -> None:
    harness = Harness.fresh(redis_client)
    await harness.screen([make_listing("a", "banned", "black t-shirt", at=NOW - 60)], NOW - 60)
    await harness.state.ban_store("banned", NOW - 30)
    [found] = await harness.screen([make_listing("b", "honest", "black t-shirt")])
    assert found == []


async def test_a_shadow_config_never_adds_to_the_title_buckets(
    redis_client: aioredis.Redis,
) -> None:
    """A shadow with other bands probes nothing of its own: only the live config's bands of
    a screened title are stored, once."""
    harness = Harness.fresh(redis_client)
    live = Runtime.build(screen_config(), load_registry()[0])
    other = Runtime.build(screen_config(bands=10, rows=6), load_registry()[0])
    screener = Screener(live, harness.state, shadow=other, clock=lambda: NOW)
    text = "nike am90 breathable mesh running shoes black 42"
    await screener.screen([make_listing("a", "s1", text)])
    for config in (screen_config(), screen_config(bands=10, rows=6)):
        detector = DuplicateDetector.build(config, REGISTRY)
        assert detector is not None
        batch = ListingBatch([make_listing("probe", "s2", text)], NOW)
        needs = StateNeeds()
        needs.merge(detector.needs(batch), writes=False)
        snapshot = await harness.state.fetch(needs, [], NOW)
        hits = snapshot.inline.get(Buckets.LSH)
        live_bands = config.detectors.duplicate.bands == 12
        assert (0 if hits is None else len(hits)) == (12 if live_bands else 0)
