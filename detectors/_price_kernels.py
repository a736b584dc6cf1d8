"""Numba kernels of the price detector: group baselines when they are due, and every listing's
scores against ready baselines in one call per batch.

:func:`group_baselines` turns the observation samples of the groups whose stored baseline is
stale (``state.prices``) into robust baselines; it runs for a handful of groups per batch.
:func:`score_batch` scores a whole batch against the baselines of its groups, one array entry
per group. Nothing here knows about listings, Redis or the registry. Log prices throughout:
price ratios become differences and a group's spread is comparable across price levels.
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


def _inlined(fn: F) -> F:
    """A kernel inlined into its callers' Numba IR: small, hot, called once per item."""
    return cast(F, numba.njit(cache=True, nogil=True, inline="always")(fn))


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


PARAMS = np.dtype([(name, np.float64) for name in KernelParams._fields])
""":class:`KernelParams` as one record: the kernels take it as a one-element array, which
Numba's dispatcher types in C (a named tuple of 21 floats is typed field by field in Python,
microseconds per call)."""

Packed = npt.NDArray[np.void]


def pack(params: KernelParams) -> Packed:
    """``params`` as the kernels take them (``p = params[0]``, then ``p.z_start``...)."""
    return np.array([tuple(params)], PARAMS)


def unpack(packed: Packed) -> KernelParams:
    return KernelParams(*packed[0].tolist())


class BatchScores(NamedTuple):
    """What :func:`score_batch` returns, per listing."""

    reference_score: Floats  # i
    market_score: Floats  # i
    market_base: Ints  # i: BASE_* of the baseline used
    market_z: Floats  # i
    shipping_score: Floats  # i
    fired: Ints  # the listings with any score above 0, in order


@_inlined
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


@_inlined
def weighted_median(x: Floats, w: Floats, n: int) -> float:
    """Weighted median of ``x[:n]`` (weights ``w[:n]``, all positive), in expected O(n) by
    quickselect; the midpoint when the cumulative weight splits exactly between two values.
    Reorders ``x[:n]`` and ``w[:n]``."""
    total = 0.0
    for k in range(n):
        total += w[k]
    target = 0.5 * total
    lo = 0
    hi = n - 1
    below = 0.0  # weight of the members known to lie below x[lo:hi + 1]
    above_min = math.inf  # smallest member known to lie above it
    while lo < hi:
        a, b, c = x[lo], x[(lo + hi) // 2], x[hi]
        pivot = max(min(a, b), min(max(a, b), c))
        lt = lo
        i = lo
        gt = hi
        w_less = 0.0
        w_equal = 0.0
        while i <= gt:
            xi = x[i]
            if xi < pivot:
                x[i], x[lt] = x[lt], xi
                w[i], w[lt] = w[lt], w[i]
                w_less += w[lt]
                lt += 1
                i += 1
            elif xi > pivot:
                x[i], x[gt] = x[gt], xi
                w[i], w[gt] = w[gt], w[i]
                gt -= 1
            else:
                w_equal += w[i]
                i += 1
        if below + w_less >= target:
            above_min = pivot
            hi = lt - 1
        elif below + w_less + w_equal >= target:
            if below + w_less + w_equal == target:
                following = above_min
                for k in range(gt + 1, hi + 1):
                    following = min(following, x[k])
                if following < math.inf:
                    return float(0.5 * (pivot + following))
            return float(pivot)
        else:
            below += w_less + w_equal
            lo = gt + 1
    lo = min(lo, n - 1)  # reached only by rounding when the range ran out
    if below + w[lo] == target and above_min < math.inf:
        return float(0.5 * (x[lo] + above_min))
    return float(x[lo])


@_kernel
def center_and_scale(
    v: Floats, w: Floats, n: int, scratch_x: Floats, scratch_w: Floats, min_scale: float
) -> tuple[float, float]:
    """Weighted median of ``v[:n]`` and its robust scale (1.4826 weighted MAD, floored)."""
    scratch_x[:n] = v[:n]
    scratch_w[:n] = w[:n]
    center = weighted_median(scratch_x, scratch_w, n)
    for k in range(n):
        scratch_x[k] = abs(v[k] - center)
    scratch_w[:n] = w[:n]
    spread = MAD_TO_SIGMA * weighted_median(scratch_x, scratch_w, n)
    return center, max(spread, min_scale)


@_kernel
def group_baselines(
    times: Floats,
    log_prices: Floats,
    stores: Ints,
    offsets: Ints,
    now: float,
    params: Packed,
) -> tuple[Floats, Floats, Ints, Ints]:
    """Robust baseline of every group: ``(median, scale, observations, distinct stores)``.

    Observations ``offsets[g]:offsets[g + 1]`` belong to group ``g`` (event time, log price,
    store hash; NaN prices are skipped; the columns may be the float32 and uint32 fields of the
    state's records, widened as they are read). An observation weighs ``0.5 ** (age / half_life)``
    divided by the square root of its store's count in the group (one store cannot define a
    market). A first median/MAD pass finds the bulk; observations beyond ``trim_scales``
    scales from it are left out of a second pass, so a cluster of outliers cannot drag the
    centre.
    """
    p = params[0]
    groups = offsets.shape[0] - 1
    median = np.full(groups, np.nan)
    scale = np.full(groups, np.nan)
    observations = np.zeros(groups, np.int64)
    distinct = np.zeros(groups, np.int64)
    largest = 0
    for g in range(groups):
        largest = max(largest, offsets[g + 1] - offsets[g])
    v = np.empty(largest)
    w = np.empty(largest)
    t = np.empty(largest)
    slot = np.empty(largest, np.int64)
    scratch_x = np.empty(largest)
    scratch_w = np.empty(largest)
    size = 2
    while size < 2 * largest:
        size *= 2
    keys = np.empty(size, np.int64)
    counts = np.empty(size, np.int64)
    decay = math.log(2.0) / p.half_life_s
    for g in range(groups):
        n = 0
        newest = -math.inf
        for k in range(offsets[g], offsets[g + 1]):
            value = log_prices[k]
            if not math.isfinite(value):
                continue
            v[n] = value
            t[n] = times[k]
            slot[n] = stores[k]
            newest = max(newest, times[k])
            n += 1
        if n == 0:
            continue
        # ages from the newest observation, or from now when some claim a later time (a
        # listing dated in the future weighs as a fresh one, not more); a common factor leaves
        # the median unchanged, so replays of old data keep their relative weights
        reference = min(newest, now)
        # count each store's observations: open addressing over a power-of-two table
        mask = 2
        while mask < 2 * n:
            mask *= 2
        mask -= 1
        keys[: mask + 1] = -1
        for j in range(n):
            h = slot[j] & mask
            while keys[h] != -1 and keys[h] != slot[j]:
                h = (h + 1) & mask
            if keys[h] == -1:
                keys[h] = slot[j]
                counts[h] = 0
                distinct[g] += 1
            counts[h] += 1
            slot[j] = h
        for j in range(n):
            age = max(reference - t[j], 0.0)
            w[j] = math.exp(max(-decay * age, -700.0)) / math.sqrt(counts[slot[j]])
        center, spread = center_and_scale(v, w, n, scratch_x, scratch_w, p.min_scale)
        low = center - p.trim_scales * spread
        high = center + p.trim_scales * spread
        kept = 0
        for j in range(n):
            if low <= v[j] <= high:
                v[kept] = v[j]
                w[kept] = w[j]
                kept += 1
        if kept < n:
            center, spread = center_and_scale(v, w, kept, scratch_x, scratch_w, p.min_scale)
        median[g] = center
        scale[g] = spread
        observations[g] = n
    return median, scale, observations, distinct


def score_batch(
    median: Floats,
    scale: Floats,
    observations: Ints,
    stores: Ints,
    log_price: Floats,
    shipping_fee: Floats,
    brand_group: Ints,
    category_group: Ints,
    reference_log: Floats,
    authorised: Bools,
    params: Packed,
) -> BatchScores:
    """The scores of every listing against ready baselines (see :func:`_score_batch`)."""
    return BatchScores._make(
        _score_batch(
            median,
            scale,
            observations,
            stores,
            log_price,
            shipping_fee,
            brand_group,
            category_group,
            reference_log,
            authorised,
            params,
        )
    )


@_kernel
def _score_batch(
    median: Floats,
    scale: Floats,
    observations: Ints,
    stores: Ints,
    log_price: Floats,
    shipping_fee: Floats,
    brand_group: Ints,
    category_group: Ints,
    reference_log: Floats,
    authorised: Bools,
    params: Packed,
) -> tuple[Floats, Floats, Ints, Floats, Floats, Ints]:
    """The three scores of every listing against ready baselines.

    Per group ``g`` (the batch's groups): the baseline log price, its robust scale, and the
    observations and distinct stores it rests on. Per listing ``i``: ``log_price`` in the
    registry currency (NaN: not checkable), ``shipping_fee`` in the same currency, the indices
    of its (brand, category) group (-1 without a brand) and category group, the log registry
    reference (NaN: none), and whether the store is authorised for the brand (then nothing
    fires: an authorised store is never flagged on price). The market baseline falls back from
    (brand, category) to category when the first is not trusted yet (too few observations or
    stores); unbranded listings get no market check (a category mixes tiers: a cheap generic
    item is not a fake).
    """
    p = params[0]
    trusted = (observations >= p.min_observations) & (stores >= p.min_stores)
    n = log_price.shape[0]
    reference_score = np.zeros(n)
    market_score = np.zeros(n)
    market_base = np.zeros(n, np.int64)
    market_z = np.full(n, np.nan)
    shipping_score = np.zeros(n)
    fired = np.empty(n, np.int64)
    count = 0
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
        if reference_score[i] > 0 or market_score[i] > 0 or shipping_score[i] > 0:
            fired[count] = i
            count += 1
    # a plain tuple: Numba boxes a named tuple through its Python constructor
    return reference_score, market_score, market_base, market_z, shipping_score, fired[:count]
