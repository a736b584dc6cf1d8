"""Ready baselines for a batch's price groups: stored ones while fresh, recomputed ones when due.

The store (``state.prices``) keeps each group's baseline beside its ring of observations and
sends the ring only for the groups whose baseline is stale. :func:`baselines_for` gathers the
batch's baselines into arrays for ``score_batch``, recomputing the stale ones in one Numba
call (``group_baselines``) and handing them back as writes, so the next batch, on any worker,
reads them ready.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from config.price import MarketRule
from detectors._price_kernels import Floats, Ints, KernelParams, group_baselines
from state.base import StateSnapshot
from state.prices import EMPTY, EMPTY_GROUP, Baseline, BaselineSpec, BaselineWrite, Records

ESTIMATOR = "wmedian-mad-trim/1"
"""Names the estimator of ``group_baselines``: change it when its arithmetic changes, so stored
baselines of the old one are not read as this one's."""


def baseline_spec(market: MarketRule) -> BaselineSpec:
    """The stored baseline this config reads: its digest covers every parameter the estimator
    uses, so a config (or a shadow config) with other ones keeps baselines of its own."""
    material = f"{ESTIMATOR}|{market.half_life_days!r}|{market.trim_scales!r}|{market.min_scale!r}"
    digest = hashlib.blake2b(material.encode(), digest_size=5).hexdigest()
    return BaselineSpec(digest, market.refresh_share, market.refresh_max_age_s)


def sample_columns(samples: Sequence[Records]) -> tuple[Floats, Floats, Ints, Ints]:
    """``(times, log prices, store hashes, offsets)`` of several groups' samples, as
    ``group_baselines`` takes them."""
    offsets = np.zeros(len(samples) + 1, np.int64)
    np.cumsum([len(s) for s in samples], out=offsets[1:])
    if not samples:
        samples = [EMPTY]
    # field by field: concatenating structured arrays goes through numpy's slow field promotion
    return (
        np.concatenate([s["t"] for s in samples]).astype(np.float64),
        np.concatenate([s["lp"] for s in samples]).astype(np.float64),
        np.concatenate([s["store"] for s in samples]).astype(np.int64),
        offsets,
    )


@dataclass(frozen=True, slots=True)
class BaselineTable:
    """The baselines of a batch's groups, entry ``g`` for group ``groups[g]``."""

    median: Floats
    scale: Floats
    observations: Ints
    stores: Ints
    refreshed: list[BaselineWrite]
    """The baselines recomputed for this batch (groups that hold observations), to keep."""

    @property
    def recomputed(self) -> int:
        return len(self.refreshed)


def baselines_for(
    groups: Sequence[str],
    snapshot: StateSnapshot,
    spec: BaselineSpec,
    now: float,
    params: KernelParams,
) -> BaselineTable:
    """Every group's baseline: the stored one unless the store marked it stale (or has none),
    else computed from the group's sample."""
    count = len(groups)
    median = np.full(count, np.nan)
    scale = np.full(count, np.nan)
    observations = np.zeros(count, np.int64)
    stores = np.zeros(count, np.int64)
    digest = spec.digest
    due: list[int] = []
    read = snapshot.prices
    found = [read.get(name, EMPTY_GROUP) for name in groups]
    for g, group in enumerate(found):
        stored = group.baselines.get(digest)
        if stored is None or digest in group.stale:
            due.append(g)
            continue
        median[g] = stored.median
        scale[g] = stored.scale
        observations[g] = stored.observations
        stores[g] = stored.stores
    refreshed: list[BaselineWrite] = []
    if due:
        samples = [x if (x := found[g].sample) is not None else EMPTY for g in due]
        m, s, n, k = group_baselines(*sample_columns(samples), now, params)
        median[due], scale[due], observations[due], stores[due] = m, s, n, k
        for j, g in enumerate(due):
            version = found[g].version
            if version > 0:
                baseline = Baseline(version, now, float(m[j]), float(s[j]), int(n[j]), int(k[j]))
                refreshed.append(BaselineWrite(groups[g], digest, baseline))
    return BaselineTable(median, scale, observations, stores, refreshed)
