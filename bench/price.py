"""Price benchmark: the batch kernel against river's HalfSpaceTrees and a numpy implementation
of the same robust z-score, and the detector's cost per batch of 1,000 with its Redis round
trips.

The data is a synthetic marketplace (fixed seed): brands selling in a few categories each,
listings drawn with Zipf popularity over (brand, category) groups, every group's ring full (256
recent prices), as in steady state. Everything is prepared before the timed regions.

Like for like: ``haze_kernel`` (``score_batch``) and ``numpy_robust_z`` (``numpy_score``) both
score a batch against the same ready baselines (outputs checked equal), which is what the
detector does per batch; a baseline is recomputed only when its group has taken in a tenth of
new observations (``state.prices``), and that cost is measured on its own for both
(``group_baselines`` against ``numpy_baselines``, outputs checked equal) and charged at the
rate of refreshes the Redis run counts per batch, in ``*_with_refresh``. ``river_hst`` is
``learn_one`` + ``score_one`` per listing: learning included.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench._price_market import BATCH, BRANDED_SHARE, CATEGORIES, NOW, SEED, Marketplace
from bench._price_numpy import numpy_baselines, numpy_score
from config.thresholds import ScreenConfig
from detectors._price_baselines import BaselineTable, sample_columns
from detectors._price_kernels import group_baselines, score_batch
from detectors.batch import ListingBatch
from detectors.price import PriceDetector
from haze.services import RedisService, free_port
from state.base import StateUpdates
from state.policies import price_policy, series_policies
from state.prices import RECORD_SIZE, PriceRows
from state.redis import RedisStateStore

RIVER_ITEMS = 20_000
WARMUP_BATCHES = 4
TIMED_BATCHES = 24


def _best_seconds(fn: Callable[[], object], min_s: float = 1.0, min_runs: int = 5) -> float:
    """Seconds of the fastest of repeated runs (at least ``min_s`` in all)."""
    fn()
    best = math.inf
    spent = 0.0
    runs = 0
    while spent < min_s or runs < min_runs:
        started = time.perf_counter()
        fn()
        took = time.perf_counter() - started
        best = min(best, took)
        spent += took
        runs += 1
    return best


def river_rate(log_prices: np.ndarray, repeats: int = 3) -> float:
    """learn_one + score_one per item, the best of ``repeats`` fresh models."""
    from river import anomaly

    low, high = float(log_prices.min()), float(log_prices.max())
    rows = [{"log_price": float(x)} for x in log_prices]
    best = math.inf
    for _ in range(repeats):
        model = anomaly.HalfSpaceTrees(seed=SEED, limits={"log_price": (low, high)})
        for row in rows[:500]:  # fill the first window, outside the timed region
            model.learn_one(row)
        started = time.perf_counter()
        for row in rows:
            model.score_one(row)
            model.learn_one(row)
        best = min(best, time.perf_counter() - started)
    return len(rows) / best


def _split(rows: PriceRows, size: int) -> list[PriceRows]:
    return [
        PriceRows(
            rows.names,
            rows.group[a : a + size],
            rows.digests[a : a + size],
            rows.records[a : a + size],
            rows.cap,
        )
        for a in range(0, len(rows), size)
    ]


async def _batch_cost(
    market: Marketplace, detector: PriceDetector, config: ScreenConfig
) -> dict[str, Any]:
    """Milliseconds per batch of 1,000 for needs + fetch + detect + updates + commit."""
    with tempfile.TemporaryDirectory(prefix="haze-bench-redis-") as folder:
        service = RedisService(free_port(), Path(folder))
        service.start()
        try:
            return await _timed_batches(market, detector, config, service.url)
        finally:
            service.stop()


async def _timed_batches(
    market: Marketplace, detector: PriceDetector, config: ScreenConfig, url: str
) -> dict[str, Any]:
    store = RedisStateStore.from_url(
        url, series_policies(config), prefix="bench", price_policy=price_policy(config)
    )
    try:
        batches = [market.listings(BATCH) for _ in range(WARMUP_BATCHES + TIMED_BATCHES)]
        groups: set[str] = set()
        for listings in batches:
            groups |= set(detector.pricer.groups(ListingBatch(listings, NOW)))
        for chunk in _split(market.history(groups, detector), 20_000):
            updates = StateUpdates()
            updates.add_prices(chunk)
            await store.commit(updates, [], NOW)
        phases: dict[str, list[float]] = {"total": [], "fetch": [], "detect": [], "commit": []}
        script_us = 0.0
        counts: dict[str, list[float]] = {
            "groups": [],
            "refreshed": [],
            "kb_read": [],
            "observations": [],
        }
        for k, listings in enumerate(batches):
            if k == WARMUP_BATCHES:
                script_us = -await _script_us(store)
            t0 = time.perf_counter()
            batch = ListingBatch(listings, NOW)
            snapshot = await store.fetch(detector.needs(batch), [], NOW)
            t1 = time.perf_counter()
            found = detector.detect(batch, snapshot)
            decisions = ["allow" if not reasons else "block" for reasons in found]
            t2 = time.perf_counter()
            updates = detector.updates(batch, snapshot, decisions)
            await store.commit(updates, [], NOW)
            t3 = time.perf_counter()
            for name, value in (
                ("total", t3 - t0),
                ("fetch", t1 - t0),
                ("detect", t2 - t1),
                ("commit", t3 - t2),
            ):
                phases[name].append(value * 1000)
            rings = [g.sample for g in snapshot.prices.values() if g.sample is not None]
            counts["groups"].append(len(detector.pricer.groups(batch)))
            counts["refreshed"].append(len(updates.baselines))
            counts["kb_read"].append(sum(len(r) for r in rings) * RECORD_SIZE / 1024)
            counts["observations"].append(sum(len(rows) for rows in updates.prices))
        result: dict[str, Any] = {
            name: statistics.median(values[WARMUP_BATCHES:]) for name, values in phases.items()
        }
        result |= {
            name: statistics.mean(values[WARMUP_BATCHES:]) for name, values in counts.items()
        }
        result["redis_ms"] = (script_us + await _script_us(store)) / 1000 / TIMED_BATCHES
        result["cold_ms"] = phases["total"][0]
        result["cold_refreshed"] = counts["refreshed"][0]
        return result
    finally:
        await store.close()


async def _script_us(store: RedisStateStore) -> float:
    """Microseconds the Redis server spent in scripts so far (INFO commandstats)."""
    stats = await store.client.info("commandstats")
    return float(
        sum(stats.get(f"cmdstat_{name}", {}).get("usec", 0) for name in ("eval", "evalsha"))
    )


def _kernel_case(
    market: Marketplace, detector: PriceDetector
) -> tuple[tuple[Any, ...], tuple[Any, ...], int]:
    """For a fresh batch whose groups' rings are full: the arguments of ``score_batch`` (with
    the baselines ready), those of ``group_baselines`` (every group's sample), and the number
    of groups."""
    batch = ListingBatch(market.listings(BATCH), NOW)
    priced = detector.pricer.batch(batch)
    history = market.history(set(priced.groups), detector)
    by_group = dict(history.by_group())
    samples = [history.records[by_group[g]] for g in priced.groups]
    times, log_prices, stores, offsets = sample_columns(samples)
    # contiguous float64 and int64 columns for both (numpy would compute in float32 otherwise)
    columns = (
        np.ascontiguousarray(times, np.float64),
        np.ascontiguousarray(log_prices, np.float64),
        np.ascontiguousarray(stores, np.int64),
        offsets,
        NOW,
        detector.packed,
    )
    median, scale, observations, stores = group_baselines(*columns)
    table = BaselineTable(median, scale, observations, stores, [])
    return detector.kernel_args(priced, table), columns, len(priced.groups)


def _check_equal(ours: tuple[np.ndarray, ...], theirs: tuple[np.ndarray, ...], what: str) -> None:
    for mine, other in zip(ours, theirs, strict=True):
        if not np.allclose(mine, other, equal_nan=True):
            raise AssertionError(f"numpy and Numba {what} disagree")


def run() -> dict[str, Any]:
    config = ScreenConfig.model_validate({"version": "bench"})
    market = Marketplace()
    detector = PriceDetector(config.detectors.price, market.registry)
    detector.warm()
    inputs, columns, groups = _kernel_case(market, detector)

    ours = score_batch(*inputs)
    _check_equal(
        (ours.reference_score, ours.market_score, ours.market_z, ours.shipping_score),
        numpy_score(*inputs),
        "scores",
    )
    _check_equal(group_baselines(*columns), numpy_baselines(*columns), "baselines")
    flagged = int(((ours.reference_score > 0) | (ours.market_score > 0)).sum())

    haze_s = _best_seconds(lambda: score_batch(*inputs))
    numpy_s = _best_seconds(lambda: numpy_score(*inputs))
    haze_group_s = _best_seconds(lambda: group_baselines(*columns)) / groups
    numpy_group_s = _best_seconds(lambda: numpy_baselines(*columns), min_runs=3) / groups
    log_prices = inputs[4]
    river = river_rate(np.resize(log_prices[np.isfinite(log_prices)], RIVER_ITEMS))
    cost = asyncio.run(_batch_cost(market, detector, config))
    refreshed = cost["refreshed"]
    haze = BATCH / haze_s
    numpy_rate = BATCH / numpy_s
    haze_refresh = BATCH / (haze_s + refreshed * haze_group_s)
    numpy_refresh = BATCH / (numpy_s + refreshed * numpy_group_s)
    market_rule = config.detectors.price.market

    return {
        "haze_kernel": round(haze),
        "numpy_robust_z": round(numpy_rate),
        "river_hst": round(river),
        "batch_1000_ms": round(cost["total"], 2),
        "batch_1000_redis_ms": round(cost["redis_ms"], 2),
        "haze_kernel_with_refresh": round(haze_refresh),
        "numpy_with_refresh": round(numpy_refresh),
        "baseline_us_per_group": round(haze_group_s * 1e6, 2),
        "numpy_baseline_us_per_group": round(numpy_group_s * 1e6, 1),
        "ratios": {
            "haze_kernel / river_hst": round(haze / river, 1),
            "haze_kernel / numpy_robust_z": round(haze / numpy_rate, 2),
            "with refresh: haze / river_hst": round(haze_refresh / river, 1),
            "with refresh: haze / numpy": round(haze_refresh / numpy_refresh, 2),
        },
        "targets": {
            "haze_kernel >= 40x river_hst": "met" if haze >= 40 * river else "NOT met",
            "haze_kernel >= 1.2x numpy_robust_z": "met" if haze >= 1.2 * numpy_rate else "NOT met",
            "batch_1000_ms < 10 ms with a warm worker (aim: well under)": (
                "met" if cost["total"] < 10 else "NOT met"
            ),
        },
        "notes": (
            f"Batches of {BATCH} listings ({BRANDED_SHARE:.0%} branded, Zipf popularity over "
            f"{len(market.pairs)} (brand, category) pairs in {CATEGORIES} categories) touch "
            f"~{groups} price groups whose rings hold {market_rule.sample_size} prices each. "
            "Like for like: haze_kernel (score_batch, Numba) and numpy_robust_z (the same "
            "arithmetic in numpy) score a whole batch against the same ready baselines, as "
            f"the detector does (outputs checked equal; {flagged} listings flagged): a few "
            "arithmetic operations per listing, hence the rate. river_hst is HalfSpaceTrees "
            "(defaults) learn_one + score_one per listing on the log price, "
            "so it learns as it goes. Our learning is elsewhere: observations are appended in "
            "Redis at commit, and a group's decayed, store-shrunk, trimmed weighted median/MAD "
            f"is recomputed once a {market_rule.refresh_share:.0%} share of it is new: "
            f"{haze_group_s * 1e6:.1f} us per group of {market_rule.sample_size} in Numba, "
            f"{numpy_group_s * 1e6:.0f} us in numpy (outputs checked equal). In the Redis run "
            f"a batch recomputed {refreshed:.1f} of its {cost['groups']:.0f} groups on "
            f"average (each batch adds {cost['observations']:,.0f} observations to them), so "
            f"charging those refreshes gives haze {haze_refresh:,.0f} and numpy "
            f"{numpy_refresh:,.0f} listings/s (*_with_refresh; {haze_refresh / river:.0f}x "
            "river; appending the observations is Redis work, in batch_1000_ms). "
            "batch_1000_ms: median over "
            f"{TIMED_BATCHES} batches after {WARMUP_BATCHES} warm-up ones of needs + one fetch "
            "+ detect (pricing, refreshes, kernel, evidence) + updates + one commit against a "
            f"local redis-server: needs + fetch {cost['fetch']:.2f} ms (reading "
            f"{cost['kb_read']:.0f} KB of records for the stale groups, about 100 bytes per "
            f"fresh one), detect {cost['detect']:.2f} ms, updates + commit "
            f"{cost['commit']:.2f} ms; the Redis server spent {cost['redis_ms']:.2f} ms of it in "
            "scripts (the rest is the worker's Python and waiting for a core on this shared "
            "machine). The "
            f"first batch of a cold store (no stored baseline: {cost['cold_refreshed']} "
            f"recomputed) took {cost['cold_ms']:.1f} ms."
        ),
    }
