"""The price detector against a real Redis, through the engine: rolling baselines converge, resist
injected fakes, ignore redeliveries and lose nothing to concurrent writers; precision holds."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
import redis.asyncio as aioredis

from config.thresholds import ScreenConfig
from contract.listing import Listing
from detectors._price_baselines import baselines_for, sample_columns
from detectors._price_features import brand_group, category_group
from detectors._price_kernels import group_baselines, pack
from detectors.batch import ListingBatch
from detectors.price import PriceDetector, kernel_params
from haze.engine import Screened, Screener
from haze.runtime import Runtime
from state import price_ring
from state.base import StateNeeds
from state.keys import price_ring_key
from state.policies import price_policy, series_policies
from state.prices import (
    DIGEST_SIZE,
    EMPTY,
    BaselineSpec,
    PriceQuery,
    listing_digest,
)
from state.redis import RedisStateStore
from tests.price_data import NOW, REGISTRY, Market, screen_config

pytestmark = pytest.mark.integration

BACKPACKS = brand_group("acme", "bags/backpacks")  # no registry reference: market only


def redis_store(client: aioredis.Redis, config: ScreenConfig, prefix: str) -> RedisStateStore:
    return RedisStateStore(
        client, series_policies(config), prefix=prefix, price_policy=price_policy(config)
    )


def screener(config: ScreenConfig, store: RedisStateStore) -> Screener:
    return Screener(Runtime.build(config, REGISTRY), store, clock=lambda: NOW)


async def screen_all(screen: Screener, listings: list[Listing], size: int = 50) -> list[Screened]:
    results: list[Screened] = []
    for start in range(0, len(listings), size):
        results += await screen.screen(listings[start : start + size])
    return results


RING = BaselineSpec("ring", refresh_share=1.0, max_age_s=1.0)
"""A spec no detector stores a baseline for: a read with it always returns the ring."""


async def baseline(
    store: RedisStateStore, config: ScreenConfig, group: str
) -> tuple[float, float, int]:
    """``(median price, robust log scale, observations)`` of a group, computed from its ring as
    the detector computes it."""
    needs = StateNeeds()
    needs.want_prices(PriceQuery(frozenset([group]), RING))
    sample = (await store.fetch(needs, [], NOW)).price_group(group).sample
    median, scale, observations, _ = group_baselines(
        *sample_columns([sample if sample is not None else EMPTY]),
        NOW,
        pack(kernel_params(config.detectors.price)),
    )
    return math.exp(median[0]), float(scale[0]), int(observations[0])


async def detector_view(
    store: RedisStateStore, config: ScreenConfig, group: str
) -> tuple[float, int, int]:
    """``(median log price, observations, stores)`` the detector scores against: the stored
    baseline while fresh, else one recomputed from the ring."""
    detector = PriceDetector(config.detectors.price, REGISTRY)
    needs = StateNeeds()
    needs.want_prices(PriceQuery(frozenset([group]), detector.spec))
    snapshot = await store.fetch(needs, [], NOW)
    table = baselines_for([group], snapshot, detector.spec, NOW, detector.packed)
    return float(table.median[0]), int(table.observations[0]), int(table.stores[0])


async def raw(client: aioredis.Redis, prefix: str, group: str) -> tuple[bytes, bytes, int]:
    """A group's records, listing digests and version, as Redis holds them."""
    ring = await client.get(price_ring_key(prefix, group)) or b""
    n, cap = price_ring.header(ring)
    held = min(n, cap)
    digests = ring[price_ring.HEADER : price_ring.HEADER + held * DIGEST_SIZE]
    return price_ring.records(ring), digests, n


async def test_baseline_converges_on_a_known_distribution(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    config = screen_config()
    store = redis_store(redis_client, config, key_prefix)
    market = Market("acme", "bags/backpacks", median=4000.0, sigma=0.15)
    results = await screen_all(screener(config, store), market.honest(300))

    assert all(r.decision == "allow" for r in results)
    median, scale, n = await baseline(store, config, BACKPACKS)
    assert n == config.detectors.price.market.sample_size  # capped to the most recent
    assert median == pytest.approx(4000.0, rel=0.03)
    assert scale == pytest.approx(0.15, rel=0.25)
    category_median, _, _ = await baseline(store, config, category_group("bags/backpacks"))
    assert category_median == pytest.approx(4000.0, rel=0.03)
    # what the detector scores against (a stored baseline at most a tenth behind) agrees
    stored_median, stored_n, stores = await detector_view(store, config, BACKPACKS)
    assert math.exp(stored_median) == pytest.approx(4000.0, rel=0.03)
    assert stored_n >= 0.9 * n and stores == market.stores


async def test_injected_fakes_at_a_tenth_barely_move_the_baseline(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    config = screen_config()
    store = redis_store(redis_client, config, key_prefix)
    market = Market("acme", "bags/backpacks", median=4000.0, sigma=0.3, seed=11)
    stream = market.mixed(320, fake_share=0.2)
    fake = {x.key for x in stream if x.store_id.startswith("fake-")}
    results = await screen_all(screener(config, store), stream, size=20)

    # a naive median of everything offered would have moved well beyond "a few percent"
    naive = float(np.median([x.price for x in stream]))
    assert naive < 4000.0 * 0.94
    median, _, _ = await baseline(store, config, BACKPACKS)
    assert median == pytest.approx(4000.0, rel=0.03)
    # honest sellers are never flagged; once the baseline is trusted, every fake is caught
    # (blocked, or held for review where the group's spread makes a tenth less extreme)
    assert all(r.decision == "allow" for r in results if r.key not in fake)
    late_fakes = [r.decision for r in results[len(results) // 3 :] if r.key in fake]
    assert late_fakes and "allow" not in late_fakes
    assert late_fakes.count("block") > len(late_fakes) / 2


async def test_a_redelivered_batch_leaves_the_statistics_unchanged(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    config = screen_config()
    store = redis_store(redis_client, config, key_prefix)
    screen = screener(config, store)
    market = Market("acme", "bags/backpacks", median=4000.0, seed=3)
    await screen_all(screen, market.honest(60))
    batch = market.honest(40)
    await screen.screen(batch)
    before = await raw(redis_client, key_prefix, BACKPACKS)
    stats_before = await baseline(store, config, BACKPACKS)
    view_before = await detector_view(store, config, BACKPACKS)

    again = await screen.screen(batch)  # redelivery: answered from the ledger
    assert not any(r.fresh for r in again)
    # even bypassing the ledger, writing the same allowed listings again adds nothing
    detector = PriceDetector(config.detectors.price, REGISTRY)
    priced = ListingBatch(batch, NOW)
    updates = detector.updates(
        priced, await store.fetch(detector.needs(priced), [], NOW), ["allow"] * len(batch)
    )
    await store.commit(updates, [], NOW)

    assert await raw(redis_client, key_prefix, BACKPACKS) == before
    assert await baseline(store, config, BACKPACKS) == stats_before
    assert await detector_view(store, config, BACKPACKS) == view_before


async def test_two_concurrent_writers_lose_nothing(redis_url: str, key_prefix: str) -> None:
    config = screen_config(market={"sample_size": 512})
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    try:
        screens = [screener(config, redis_store(c, config, key_prefix)) for c in clients]
        markets = [Market("acme", "bags/backpacks", 4000.0, seed=s, stores=10) for s in (21, 22)]
        streams = [m.honest(200) for m in markets]
        await asyncio.gather(
            *(screen_all(s, x, size=10) for s, x in zip(screens, streams, strict=True))
        )
        written = await raw(clients[0], key_prefix, BACKPACKS)
        whole_category = await raw(clients[0], key_prefix, category_group("bags/backpacks"))
    finally:
        for client in clients:
            await client.aclose()
    digests = {listing_digest(x.key) for stream in streams for x in stream}
    for ring, held, version in (written, whole_category):
        assert version == 400 and len(ring) == 400 * 16
        assert {held[k : k + 8] for k in range(0, len(held), 8)} == digests


@pytest.mark.parametrize("history", [0, 120], ids=["cold", "warm"])
async def test_an_honest_discount_passes_and_a_tenth_of_the_reference_is_blocked(
    redis_client: aioredis.Redis, key_prefix: str, history: int
) -> None:
    config = screen_config()
    store = redis_store(redis_client, config, key_prefix)
    screen = screener(config, store)
    market = Market("acme", "bags/handbags", median=3300.0, seed=5)  # reference 2800
    await screen_all(screen, market.honest(history))

    discount, tenth, official = await screen.screen(
        [
            market.one(2800 * 0.7, store="store-reseller"),
            market.one(2800 * 0.1, store="store-reseller"),
            market.one(2800 * 0.1, store="store-acme-official"),  # authorised: never on price
        ]
    )
    assert discount.decision == "allow" and official.decision == "allow"
    verdict = tenth.verdict.decode()
    assert tenth.decision == "block"
    assert '"PRICE_BELOW_REFERENCE"' in verdict and '"baseline":"reference"' in verdict
    assert ('"baseline":"brand_category"' in verdict) == (history > 0)


async def test_a_warm_group_is_read_without_its_ring_by_any_worker(
    redis_url: str, key_prefix: str
) -> None:
    config = screen_config()
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    try:
        first, second = (redis_store(c, config, key_prefix) for c in clients)
        market = Market("acme", "bags/backpacks", median=4000.0, seed=31)
        await screen_all(screener(config, first), market.honest(300), size=10)
        detector = PriceDetector(config.detectors.price, REGISTRY)
        needs = StateNeeds()
        needs.want_prices(PriceQuery(frozenset([BACKPACKS]), detector.spec))
        # the second worker refreshes what is due in its batch of 5 (under a tenth of the ring)
        await screen_all(screener(config, second), market.honest(5))
        group = (await first.fetch(needs, [], NOW)).price_group(BACKPACKS)
        assert group.sample is None and not group.stale  # a few hundred bytes, no ring
        stored = group.baselines[detector.spec.digest]
        assert (group.version, stored.version) == (305, 300)
        median, n, _ = await detector_view(first, config, BACKPACKS)
        assert (median, n) == (stored.median, stored.observations)
        ring_median, _, _ = await baseline(second, config, BACKPACKS)
        assert math.exp(stored.median) == pytest.approx(ring_median, rel=0.01)
    finally:
        for client in clients:
            await client.aclose()
