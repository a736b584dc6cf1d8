"""The numpy contender of the price benchmark: the same robust z-scores as
``detectors._price_kernels.score_batch`` (same inputs, same outputs), written the way one would
with numpy: members parsed over the whole buffer, a loop over groups vectorised inside, then
every listing at once."""

from __future__ import annotations

import math

import numpy as np

from detectors._price_kernels import (
    MAD_TO_SIGMA,
    MEMBER_MIN_LENGTH,
    STORE_END,
    STORE_START,
    VALUE_WIDTH,
    KernelParams,
)


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


def _np_parse(text: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ok, log price, store hash)`` of every member, vectorised over the buffer."""
    lengths = np.diff(starts)
    at = np.minimum(starts[:-1, None] + np.arange(STORE_END + 1), max(len(text) - 1, 0))
    chars = text[at].astype(np.int64) if len(text) else np.zeros(at.shape, np.int64)
    digits = chars[:, [1, 2, 3, 5, 6, 7, 8, 9, 10]] - ord("0")
    hexes = chars[:, STORE_START:STORE_END]
    nibbles = np.where(hexes >= ord("a"), hexes - ord("a") + 10, hexes - ord("0"))
    ok = (
        (lengths >= MEMBER_MIN_LENGTH)
        & (chars[:, VALUE_WIDTH] == ord("|"))
        & (chars[:, STORE_END] == ord("|"))
        & (chars[:, 4] == ord("."))
        & ((chars[:, 0] == ord("+")) | (chars[:, 0] == ord("-")))
        & np.all((digits >= 0) & (digits <= 9), axis=1)
        & np.all(
            (nibbles >= 0)
            & (nibbles <= 15)
            & ((hexes <= ord("9")) | (hexes >= ord("a")))
            & (hexes <= ord("f")),
            axis=1,
        )
    )
    micros = digits @ (10 ** np.arange(8, -1, -1, dtype=np.int64))
    values = np.where(chars[:, 0] == ord("-"), -1.0, 1.0) * (micros / 1e6)
    stores = nibbles @ (16 ** np.arange(7, -1, -1, dtype=np.int64))
    return ok, values, stores


def numpy_score(
    text: np.ndarray,
    starts: np.ndarray,
    times: np.ndarray,
    offsets: np.ndarray,
    now: float,
    log_price: np.ndarray,
    fee: np.ndarray,
    bc: np.ndarray,
    c: np.ndarray,
    ref_log: np.ndarray,
    authorised: np.ndarray,
    p: KernelParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same computation as ``score_batch`` in numpy: members parsed over the whole buffer,
    then a loop over groups, vectorised inside, then every listing at once."""
    ok, values, stores = _np_parse(text, starts)
    groups = len(offsets) - 1
    median = np.full(groups, np.nan)
    scale = np.full(groups, np.nan)
    trusted = np.zeros(groups, bool)
    for g in range(groups):
        a, b = offsets[g], offsets[g + 1]
        keep = ok[a:b]
        v, t, s = values[a:b][keep], times[a:b][keep], stores[a:b][keep]
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
        trusted[g] = len(v) >= p.min_observations and len(counts) >= p.min_stores
    live = ~authorised & np.isfinite(log_price)
    with np.errstate(invalid="ignore"):
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
        z = np.where(use_bc | use_c, gap / scale[g], np.nan)
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
