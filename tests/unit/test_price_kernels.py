"""The price kernels on their own: robust weighted statistics and the per-listing scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors._price_baselines import sample_columns
from detectors._price_kernels import (
    BASE_BRAND_CATEGORY,
    BASE_CATEGORY,
    BASE_NONE,
    center_and_scale,
    group_baselines,
    pack,
    ramp,
    score_batch,
    weighted_median,
)
from detectors.price import kernel_params
from state.prices import records
from tests.price_data import DAY, NOW, screen_config

PARAMS = kernel_params(screen_config().detectors.price)
finite = st.floats(-50, 50, allow_nan=False)


def flat(groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """Kernel inputs (times, log prices, stores, offsets, now) for groups of (log prices, times,
    stores), through the records the state layer keeps."""
    samples = [records(t, v, s) for v, t, s in groups]
    return (*sample_columns(samples), NOW)


def lognormal_group(rng, n, median, sigma, stores=40):
    return (
        rng.normal(math.log(median), sigma, n),
        rng.uniform(NOW - 20 * DAY, NOW, n),
        rng.integers(0, stores, n),
    )


def baseline(*group, params=PARAMS):
    median, scale, n, stores = group_baselines(*flat([group]), pack(params))
    return math.exp(median[0]), scale[0], n[0], stores[0]


@settings(max_examples=80, deadline=None)
@given(st.lists(finite, min_size=1, max_size=60))
def test_equal_weights_give_the_plain_median_and_mad(xs: list[float]) -> None:
    v = np.array(xs)
    scratch = np.empty((2, len(v)))
    center, spread = center_and_scale(v, np.ones_like(v), len(v), scratch[0], scratch[1], 0.0)
    assert center == pytest.approx(np.median(v))
    assert spread == pytest.approx(1.4826 * np.median(np.abs(v - center)))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(finite, st.floats(0.01, 10)), min_size=1, max_size=60))
def test_weighted_median_matches_the_sorted_definition(pairs: list[tuple[float, float]]) -> None:
    v = np.array([x for x, _ in pairs])
    w = np.array([x for _, x in pairs])
    order = np.argsort(v, kind="stable")
    sv, cum = v[order], np.cumsum(w[order])
    half = 0.5 * cum[-1]
    k = int(np.searchsorted(cum, half))  # first value whose cumulative weight reaches half
    allowed = [sv[min(k, len(v) - 1)]]
    for j in (k - 1, k):  # an exact split (up to rounding) between neighbours: their midpoint
        if 0 <= j < len(v) - 1 and math.isclose(cum[j], half, rel_tol=1e-9):
            allowed += [sv[j], sv[j + 1], 0.5 * (sv[j] + sv[j + 1])]
    got = weighted_median(v.copy(), w.copy(), len(v))
    assert any(got == pytest.approx(a) for a in allowed)


def test_weighted_median_follows_the_weights_and_splits_ties() -> None:
    v = np.array([1.0, 2.0, 3.0])
    assert weighted_median(v.copy(), np.array([1.0, 1.0, 5.0]), 3) == 3.0
    assert weighted_median(v.copy(), np.array([5.0, 1.0, 1.0]), 3) == 1.0
    assert weighted_median(np.array([3.0, 1.0]), np.ones(2), 2) == 2.0  # even: midpoint
    assert weighted_median(np.array([5.0, 5.0, 5.0, 9.0]), np.ones(4), 4) == 5.0


def test_unpriced_observations_are_skipped() -> None:
    group = (np.array([math.nan, math.log(50.0)]), np.array([NOW, NOW]), np.array([1, 2]))
    median, _, n, stores = group_baselines(*flat([group]), pack(PARAMS))
    assert math.exp(median[0]) == pytest.approx(50.0, rel=1e-6)
    assert (n[0], stores[0]) == (1, 1)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.0, 0.0),  # above the start knot
        (-1.0, 0.0),  # at the start knot
        (-2.0, 0.3),  # halfway to the review knot
        (-3.0, 0.6),  # review knot
        (-4.0, 0.75),  # halfway to the block knot
        (-5.0, 0.9),  # block knot
        (-50.0, 0.9),  # beyond: stays at the block score
    ],
)
def test_ramp_is_piecewise_linear_between_its_knots(x: float, expected: float) -> None:
    assert ramp(x, -1.0, -3.0, 0.6, -5.0, 0.9) == pytest.approx(expected)


def test_baseline_converges_on_a_known_distribution() -> None:
    rng = np.random.default_rng(1)
    median, scale, n, stores = baseline(*lognormal_group(rng, 2000, 3000.0, 0.2))
    assert median == pytest.approx(3000.0, rel=0.02)
    assert scale == pytest.approx(0.2, rel=0.1)
    assert (n, stores) == (2000, 40)


def test_a_fifth_of_fakes_at_a_tenth_barely_moves_the_baseline() -> None:
    rng = np.random.default_rng(2)
    honest = lognormal_group(rng, 400, 3000.0, 0.3)
    fakes = lognormal_group(rng, 100, 300.0, 0.3, stores=5)
    mixed = tuple(np.concatenate([h, f]) for h, f in zip(honest, fakes, strict=True))
    clean, _, _, _ = baseline(*honest)
    robust, _, _, _ = baseline(*mixed)
    untrimmed, _, _, _ = baseline(*mixed, params=PARAMS._replace(trim_scales=1e9))
    assert robust == pytest.approx(clean, rel=0.02)
    assert untrimmed < clean * 0.95  # the second pass is what holds the centre


def test_one_store_flooding_a_group_does_not_define_its_market() -> None:
    rng = np.random.default_rng(3)
    honest = (*lognormal_group(rng, 60, 3000.0, 0.1)[:2], np.arange(60))
    flood = (
        rng.normal(math.log(1500.0), 0.05, 150),
        rng.uniform(NOW - DAY, NOW, 150),
        np.full(150, 999),
    )
    mixed = tuple(np.concatenate([h, f]) for h, f in zip(honest, flood, strict=True))
    median, _, n, stores = baseline(*mixed)
    assert (n, stores) == (210, 61)
    assert median > 2600.0  # 150 of 210 members, yet not the median


def test_recent_prices_outweigh_old_ones() -> None:
    rng = np.random.default_rng(4)
    n = 100
    old = (np.full(n, math.log(1000.0)), np.full(n, NOW - 28 * DAY), rng.integers(0, 20, n))
    new = (np.full(40, math.log(2000.0)), np.full(40, NOW), rng.integers(0, 20, 40))
    mixed = tuple(np.concatenate([a, b]) for a, b in zip(old, new, strict=True))
    assert baseline(*mixed)[0] == pytest.approx(2000.0)  # 4 half-lives: old weigh 1/16


def test_a_listing_dated_in_the_future_weighs_as_a_fresh_one() -> None:
    rng = np.random.default_rng(10)
    honest = lognormal_group(rng, 100, 3000.0, 0.1)
    future = (np.array([math.log(300.0)]), np.array([NOW + 365 * DAY]), np.array([999]))
    mixed = tuple(np.concatenate([a, b]) for a, b in zip(honest, future, strict=True))
    assert baseline(*mixed)[0] == pytest.approx(3000.0, rel=0.05)


def test_an_empty_group_has_no_baseline() -> None:
    empty = (np.zeros(0), np.zeros(0), np.zeros(0, np.int64))
    median, scale, n, stores = group_baselines(*flat([empty]), pack(PARAMS))
    assert math.isnan(median[0]) and math.isnan(scale[0]) and n[0] == 0 and stores[0] == 0


def score(groups, log_price, *, bc, c, ref=math.nan, authorised=False, fee=0.0, params=PARAMS):
    """One listing scored against baselines computed from ``groups``."""
    median, scale, n, stores = group_baselines(*flat(groups), pack(params))
    return score_batch(
        median,
        scale,
        n,
        stores,
        np.array([log_price]),
        np.array([fee]),
        np.array([bc], np.int64),
        np.array([c], np.int64),
        np.array([ref]),
        np.array([authorised]),
        pack(params),
    )


def test_market_falls_back_from_brand_to_category_and_only_for_branded_listings() -> None:
    rng = np.random.default_rng(5)
    thin = lognormal_group(rng, 5, 3000.0, 0.1)  # too few observations to trust
    category = lognormal_group(rng, 200, 3000.0, 0.1)
    cheap = math.log(300.0)
    fallback = score([thin, category], cheap, bc=0, c=1)
    assert fallback.market_base[0] == BASE_CATEGORY
    assert fallback.market_score[0] == pytest.approx(PARAMS.category_max_score)
    trusted = score([category, thin], cheap, bc=0, c=1)
    assert trusted.market_base[0] == BASE_BRAND_CATEGORY
    assert trusted.market_score[0] == pytest.approx(PARAMS.market_block_score)
    unbranded = score([category], cheap, bc=-1, c=0)
    assert unbranded.market_base[0] == BASE_NONE and unbranded.market_score[0] == 0.0


def test_too_few_stores_keep_a_baseline_untrusted() -> None:
    rng = np.random.default_rng(6)
    two_stores = lognormal_group(rng, 200, 3000.0, 0.1, stores=2)
    result = score([two_stores], math.log(300.0), bc=0, c=0)
    assert result.market_base[0] == BASE_NONE and result.market_score[0] == 0.0


def test_a_tight_group_does_not_turn_a_modest_discount_into_a_hit() -> None:
    rng = np.random.default_rng(7)
    tight = lognormal_group(rng, 200, 3000.0, 0.01)
    result = score([tight], math.log(3000.0 * 0.6), bc=0, c=0)
    assert result.market_z[0] < -5  # far in z (the floor of the scale still applies)...
    assert result.market_score[0] == 0.0  # ...but 60% of the market is no fake's price


def test_authorised_and_unconvertible_listings_score_nothing() -> None:
    rng = np.random.default_rng(8)
    group = lognormal_group(rng, 200, 3000.0, 0.1)
    cheap = math.log(10.0)
    for result in (
        score([group], cheap, bc=0, c=0, ref=math.log(2800.0), fee=500.0, authorised=True),
        score([group], math.nan, bc=0, c=0, ref=math.log(2800.0), fee=500.0),
    ):
        assert result.reference_score[0] == result.market_score[0] == 0.0
        assert result.shipping_score[0] == 0.0


@pytest.mark.parametrize(
    ("price", "fee", "expected"),
    [
        (1.0, 200.0, PARAMS.ship_score),  # a 1-yuan item with 200 yuan shipping
        (100.0, 20.0, 0.0),  # ordinary
        (5.0, 25.0, 0.0),  # 5x the price, but a fee under the floor
        (100.0, 300.0, 0.0),  # at the start ratio
    ],
)
def test_shipping_fee_out_of_line_with_the_price(price: float, fee: float, expected: float) -> None:
    result = score([], math.log(price), bc=-1, c=-1, fee=fee)
    assert result.shipping_score[0] == pytest.approx(expected)
