"""The numpy contender of the price benchmark, written the way one would with numpy and given
the same treatment as the Numba kernels: :func:`numpy_score` scores every listing at once
against ready baselines (as ``score_batch``), and :func:`numpy_baselines` computes the same
decayed, store-shrunk, trimmed weighted median/MAD as ``group_baselines``, group by group,
vectorised inside (for the refreshes a batch has to do)."""

from __future__ import annotations

import math

import numpy as np

from detectors._price_kernels import MAD_TO_SIGMA, Packed, unpack


def _np_ramp(x: np.ndarray, x0: float, x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    return np.where(
        x >= x0,
        0.0,
        np.where(
            x >= x1,
            y1 * (x0 - x) / (x0 - x1),
            np.where(x > x2, y1 + (y2 - y1) * (x1 - x) / max(x1 - x2, 1e-300), y2),
        ),
    )


def _np_wmedian(v: np.ndarray, w: np.ndarray) -> float:
    """Weighted median of sorted ``v`` (the midpoint on an exact split), as the kernel's."""
    cum = np.cumsum(w)
    half = 0.5 * cum[-1]
    k = int(np.searchsorted(cum, half, side="left"))
    if cum[k] == half and k + 1 < len(v):
        return float(0.5 * (v[k] + v[k + 1]))
    return float(v[k])


def _np_center_and_scale(v: np.ndarray, w: np.ndarray, min_scale: float) -> tuple[float, float]:
    order = np.argsort(v)
    center = _np_wmedian(v[order], w[order])
    d = np.abs(v - center)
    order = np.argsort(d)
    return center, max(MAD_TO_SIGMA * _np_wmedian(d[order], w[order]), min_scale)


def numpy_baselines(
    times: np.ndarray,
    log_prices: np.ndarray,
    stores: np.ndarray,
    offsets: np.ndarray,
    now: float,
    params: Packed,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(median, scale, observations, distinct stores)`` per group, as ``group_baselines``."""
    p = unpack(params)
    groups = len(offsets) - 1
    median = np.full(groups, np.nan)
    scale = np.full(groups, np.nan)
    observations = np.zeros(groups, np.int64)
    distinct = np.zeros(groups, np.int64)
    for g in range(groups):
        a, b = offsets[g], offsets[g + 1]
        keep = np.isfinite(log_prices[a:b])
        v, t, s = log_prices[a:b][keep], times[a:b][keep], stores[a:b][keep]
        if len(v) == 0:
            continue
        _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
        age = np.maximum(min(t.max(), now) - t, 0.0)
        w = np.exp(np.maximum(-math.log(2.0) / p.half_life_s * age, -700.0)) / np.sqrt(
            counts[inverse]
        )
        center, spread = _np_center_and_scale(v, w, p.min_scale)
        inside = (v >= center - p.trim_scales * spread) & (v <= center + p.trim_scales * spread)
        if not inside.all():
            center, spread = _np_center_and_scale(v[inside], w[inside], p.min_scale)
        median[g], scale[g] = center, spread
        observations[g], distinct[g] = len(v), len(counts)
    return median, scale, observations, distinct


def numpy_score(
    median: np.ndarray,
    scale: np.ndarray,
    observations: np.ndarray,
    stores: np.ndarray,
    log_price: np.ndarray,
    fee: np.ndarray,
    bc: np.ndarray,
    c: np.ndarray,
    ref_log: np.ndarray,
    authorised: np.ndarray,
    params: Packed,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The scores of ``score_batch`` for every listing at once: ``(reference, market, z,
    shipping)``."""
    p = unpack(params)
    trusted = (observations >= p.min_observations) & (stores >= p.min_stores)
    live = ~authorised & np.isfinite(log_price)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = _np_ramp(
            log_price - ref_log,
            p.ref_start_log,
            p.ref_review_log,
            p.ref_review_score,
            p.ref_block_log,
            p.ref_block_score,
        )
        ref = np.where(live & np.isfinite(ref_log), ref, 0.0)
        use_bc = (bc >= 0) & trusted[bc]
        use_c = ~use_bc & (bc >= 0) & (c >= 0) & trusted[c]
        g = np.where(use_bc, bc, np.where(use_c, c, 0))
        gap = log_price - median[g]
        z = np.where(live & (use_bc | use_c), gap / scale[g], np.nan)
        market = _np_ramp(
            z, p.z_start, p.z_review, p.market_review_score, p.z_block, p.market_block_score
        )
        market = np.where(use_c, np.minimum(market, p.category_max_score), market)
        market = np.where(live & (use_bc | use_c) & (gap <= p.market_max_log_ratio), market, 0.0)
        ship = _np_ramp(
            log_price - np.log(np.where(fee > 0, fee, 1.0)),
            -p.ship_start_log,
            -p.ship_full_log,
            p.ship_score,
            -p.ship_full_log,
            p.ship_score,
        )
        ship = np.where(live & (fee > 0) & (fee >= p.ship_min_fee), ship, 0.0)
    return ref, market, z, ship
