"""Image near-duplicates through real Redis: up to the configured number of flipped bits
matches a banned store's image, one more does not."""

from __future__ import annotations

import redis.asyncio as aioredis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.detectors.duplicate_harness import (
    NOW,
    Harness,
    codes,
    make_listing,
    reason,
    screen_config,
)

CONFIG = screen_config()
MAX = CONFIG.detectors.duplicate.phash_max_distance
MIN_BITS = CONFIG.detectors.duplicate.phash_min_bits

# a hash with a usable number of bits set (near-constant hashes are ignored on purpose)
hashes = st.integers(0, 2**64 - 1).filter(lambda h: MIN_BITS + 8 <= h.bit_count() <= 56 - MIN_BITS)
flips = st.lists(st.integers(0, 63), min_size=MAX + 1, max_size=MAX + 1, unique=True)


def _flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


async def _screen_pair(redis_client: aioredis.Redis, original: int, copy: int) -> set[str]:
    harness = Harness.fresh(redis_client, CONFIG)
    banned = make_listing("orig", "banned", "studio photo one", at=NOW - 60, phashes=[original])
    await harness.screen([banned], now=NOW - 60)
    await harness.state.ban_store("banned", NOW - 30)
    [found] = await harness.screen(
        [make_listing("copy", "other", "a different title", phashes=[copy])]
    )
    if "IMAGE_OF_BANNED_LISTING" in codes(found):
        evidence = reason(found, "IMAGE_OF_BANNED_LISTING").evidence
        assert evidence["matched_listing"] == "orig"
        assert evidence["matched_store"] == "banned"
        assert evidence["hamming_distance"] == (original ^ copy).bit_count()
    return codes(found)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(original=hashes, bits=flips)
# the worst cases for chunked lookup: every flip in its own 16-bit chunk, or all in one chunk
@example(original=0x0F0F_F0F0_0F0F_F0F0, bits=[0, 16, 32, 48][: MAX + 1])
@example(original=0x0F0F_F0F0_0F0F_F0F0, bits=[1, 2, 3, 4][: MAX + 1])
async def test_flipped_bits_boundary(
    redis_client: aioredis.Redis, original: int, bits: list[int]
) -> None:
    within = _flip(original, bits[:MAX])
    beyond = _flip(original, bits)
    assert "IMAGE_OF_BANNED_LISTING" in await _screen_pair(redis_client, original, within)
    assert "IMAGE_OF_BANNED_LISTING" not in await _screen_pair(redis_client, original, beyond)


async def test_blank_image_hashes_never_match(redis_client: aioredis.Redis) -> None:
    """A placeholder image hashes to (nearly) all zeros: it must not link two listings."""
    assert await _screen_pair(redis_client, 0, 1) == set()
    assert await _screen_pair(redis_client, 2**64 - 1, 2**64 - 2) == set()


async def test_a_shared_photo_between_honest_stores_is_no_reason(
    redis_client: aioredis.Redis,
) -> None:
    harness = Harness.fresh(redis_client, CONFIG)
    photo = 0x5A5A_A5A5_3C3C_C3C3
    first = make_listing("a", "reseller-1", "genuine brand bag", at=NOW - 60, phashes=[photo])
    await harness.screen([first], now=NOW - 60)
    [found] = await harness.screen([make_listing("b", "reseller-2", "brand bag", phashes=[photo])])
    assert found == []
