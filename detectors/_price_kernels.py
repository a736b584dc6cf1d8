"""Numba kernels of the price detector: every group's baseline, then every listing's scores,
in one call per batch (:func:`score_batch`).

Inputs are flat arrays that ``detectors/price.py`` builds from the batch and the Redis samples
(members of all groups concatenated, ``offsets[g]:offsets[g + 1]`` delimiting group ``g``);
nothing here knows about listings, Redis or the registry. Log prices throughout: price ratios
become differences and a group's spread is comparable across price levels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

F = TypeVar("F", bound=Callable[..., Any])

BASE_NONE = 0
BASE_BRAND_CATEGORY = 1
BASE_CATEGORY = 2

MAD_TO_SIGMA = 1.4826
"""MAD of a normal distribution times this is its standard deviation."""

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def _kernel(fn: F) -> F:
    """``numba.njit(cache=True)``, typed for mypy (numba ships no type information)."""
    return cast(F, numba.njit(cache=True, nogil=True)(fn))


class KernelParams(NamedTuple):
    """The thresholds the kernels need, as plain floats (log space where it says so)."""

    half_life_s: float
    trim_scales: float
    min_scale: float
    min_observations: float
    min_stores: float
    z_start: float
    z_review: float
    z_block: float
    market_max_log_ratio: float
    market_review_score: float
    market_block_score: float
    category_max_score: float
    ref_start_log: float
    ref_review_log: float
    ref_block_log: float
    ref_review_score: float
    ref_block_score: float
    ship_min_fee: float
    ship_start_log: float
    ship_full_log: float
    ship_score: float


class BatchScores(NamedTuple):
    """What :func:`score_batch` returns: per group (``g``) and per listing (``i``)."""

    median: Floats  # g: baseline log price (NaN without members)
    scale: Floats  # g: robust scale of log prices (1.4826 MAD, floored)
    observations: Ints  # g: members in the sample
    stores: Ints  # g: distinct stores among them
    reference_score: Floats  # i
    market_score: Floats  # i
    market_base: Ints  # i: BASE_* of the baseline used
    market_z: Floats  # i
    shipping_score: Floats  # i


@_kernel
def ramp(x: float, x0: float, x1: float, y1: float, x2: float, y2: float) -> float:
    """Piecewise-linear score falling with ``x`` (``x0 > x1 >= x2``): 0 at or above ``x0``,
    ``y1`` at ``x1``, ``y2`` at or below ``x2``."""
    if x >= x0:
        return 0.0
    if x >= x1:
        return y1 * (x0 - x) / (x0 - x1)
    if x > x2:
        return y1 + (y2 - y1) * (x1 - x) / (x1 - x2)
    return y2


@_kernel
def weighted_median(v: Floats, w: Floats, lo: int, hi: int) -> float:
    """Weighted median of ``v[lo:hi]`` (sorted ascending) with weights ``w[lo:hi]``; the
    midpoint when the cumulative weight splits exactly between two values."""
    total = 0.0
    for k in range(lo, hi):
        total += w[k]
    half = 0.5 * total
    cum = 0.0
    for k in range(lo, hi):
        cum += w[k]
        if cum >= half:
            if cum == half and k + 1 < hi:
                return float(0.5 * (v[k] + v[k + 1]))
            return float(v[k])
    return float(v[hi - 1])


@_kernel
def weighted_mad(v: Floats, w: Floats, lo: int, hi: int, center: float) -> float:
    """Weighted median of ``|v - center|`` over sorted ``v[lo:hi]``, in O(n): deviations grow
    outward from ``center`` on both sides, so two cursors merge them in order."""
    total = 0.0
    for k in range(lo, hi):
        total += w[k]
    half = 0.5 * total
    right = lo
    while right < hi and v[right] < center:
        right += 1
    left = right - 1
    cum = 0.0
    deviation = 0.0
    while left >= lo or right < hi:
        if right < hi and (left < lo or v[right] - center <= center - v[left]):
            deviation = v[right] - center
            cum += w[right]
            right += 1
        else:
            deviation = center - v[left]
            cum += w[left]
            left -= 1
        if cum >= half:
            break
    return deviation


@_kernel
def group_baselines(
    values: Floats, times: Floats, stores: Ints, offsets: Ints, p: KernelParams
) -> tuple[Floats, Floats, Ints, Ints]:
    """Robust baseline of every group: ``(median, scale, observations, distinct stores)``.

    Weights: ``0.5 ** (age / half_life)`` (age from the group's newest member; the median is
    invariant to a common factor), divided by the square root of the member's store's count
    in the group. A first median/MAD pass finds the bulk; members beyond ``trim_scales`` scales
    from it are left out of a second pass, so a cluster of outliers cannot drag the centre.
    """
    groups = offsets.shape[0] - 1
    median = np.full(groups, np.nan)
    scale = np.full(groups, np.nan)
    observations = np.zeros(groups, np.int64)
    distinct = np.zeros(groups, np.int64)
    for g in range(groups):
        a = offsets[g]
        n = offsets[g + 1] - a
        if n == 0:
            continue
        seg_v = values[a : a + n]
        seg_t = times[a : a + n]
        seg_s = stores[a : a + n]
        newest = seg_t.max()
        weight = np.empty(n)
        by_store = np.argsort(seg_s)
        k = 0
        while k < n:
            store = seg_s[by_store[k]]
            end = k
            while end < n and seg_s[by_store[end]] == store:
                end += 1
            shrink = 1.0 / math.sqrt(end - k)
            for q in range(k, end):
                j = by_store[q]
                weight[j] = shrink * 0.5 ** ((newest - seg_t[j]) / p.half_life_s)
            distinct[g] += 1
            k = end
        order = np.argsort(seg_v)
        v = seg_v[order]
        w = weight[order]
        center = weighted_median(v, w, 0, n)
        spread = max(MAD_TO_SIGMA * weighted_mad(v, w, 0, n, center), p.min_scale)
        lo = int(np.searchsorted(v, center - p.trim_scales * spread, side="left"))
        hi = int(np.searchsorted(v, center + p.trim_scales * spread, side="right"))
        if lo > 0 or hi < n:
            center = weighted_median(v, w, lo, hi)
            spread = max(MAD_TO_SIGMA * weighted_mad(v, w, lo, hi, center), p.min_scale)
        median[g] = center
        scale[g] = spread
        observations[g] = n
    return median, scale, observations, distinct


@_kernel
def score_batch(
    values: Floats,
    times: Floats,
    stores: Ints,
    offsets: Ints,
    log_price: Floats,
    shipping_fee: Floats,
    brand_group: Ints,
    category_group: Ints,
    reference_log: Floats,
    authorised: Bools,
    p: KernelParams,
) -> BatchScores:
    """Baselines of every group, then the three scores of every listing.

    Per listing ``i``: ``log_price`` in the registry currency (NaN: not checkable),
    ``shipping_fee`` in the same currency, the indices of its (brand, category) group (-1
    without a brand) and category group, the log registry reference (NaN: none), and whether
    the store is authorised for the brand (then nothing fires: an authorised store is never
    flagged on price). The market baseline falls back from (brand, category) to category when
    the first is not trusted yet (too few observations or stores); unbranded listings get no
    market check (a category mixes tiers: a cheap generic item is not a fake).
    """
    median, scale, observations, distinct = group_baselines(values, times, stores, offsets, p)
    trusted = (observations >= p.min_observations) & (distinct >= p.min_stores)
    n = log_price.shape[0]
    reference_score = np.zeros(n)
    market_score = np.zeros(n)
    market_base = np.zeros(n, np.int64)
    market_z = np.full(n, np.nan)
    shipping_score = np.zeros(n)
    for i in range(n):
        lp = log_price[i]
        if authorised[i] or not math.isfinite(lp):
            continue
        if math.isfinite(reference_log[i]):
            reference_score[i] = ramp(
                lp - reference_log[i],
                p.ref_start_log,
                p.ref_review_log,
                p.ref_review_score,
                p.ref_block_log,
                p.ref_block_score,
            )
        bg = brand_group[i]
        cg = category_group[i]
        g = -1
        if bg >= 0 and trusted[bg]:
            g = bg
            market_base[i] = BASE_BRAND_CATEGORY
        elif bg >= 0 and cg >= 0 and trusted[cg]:
            g = cg
            market_base[i] = BASE_CATEGORY
        if g >= 0:
            gap = lp - median[g]
            z = gap / scale[g]
            market_z[i] = z
            if gap <= p.market_max_log_ratio:
                score = ramp(
                    z,
                    p.z_start,
                    p.z_review,
                    p.market_review_score,
                    p.z_block,
                    p.market_block_score,
                )
                if market_base[i] == BASE_CATEGORY:
                    score = min(score, p.category_max_score)
                market_score[i] = score
        fee = shipping_fee[i]
        if fee > 0.0 and fee >= p.ship_min_fee:
            shipping_score[i] = ramp(
                lp - math.log(fee),
                -p.ship_start_log,
                -p.ship_full_log,
                p.ship_score,
                -p.ship_full_log,
                p.ship_score,
            )
    return BatchScores(
        median,
        scale,
        observations,
        distinct,
        reference_score,
        market_score,
        market_base,
        market_z,
        shipping_score,
    )
