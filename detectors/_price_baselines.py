"""Ready baselines for a batch's price groups: stored ones while fresh, recomputed ones when due.

The store (``state.prices``) keeps each group's baseline beside its ring of observations and
sends the ring only for the groups whose baseline is stale. :func:`baselines_for` gathers the
batch's baselines into arrays for ``score_batch``, recomputing the stale ones in one Numba
call (``group_baselines``) and handing them back as writes, so the next batch, on any worker,
reads them ready.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import numpy as np

from config.price import MarketRule
from detectors._price_kernels import Floats, Ints, Packed, group_baselines
from state.base import StateSnapshot
from state.prices import (
    EMPTY,
    EMPTY_GROUP,
    RECORD,
    Baseline,
    BaselineSpec,
    BaselineWrite,
    PriceGroup,
    Records,
)

ESTIMATOR = "wmedian-mad-trim/1"
"""Names the estimator of ``group_baselines``: change it when its arithmetic changes, so stored
baselines of the old one are not read as this one's."""


def baseline_spec(market: MarketRule) -> BaselineSpec:
    """The stored baseline this config reads: its digest covers every parameter the estimator
    uses, so a config (or a shadow config) with other ones keeps baselines of its own."""
    material = f"{ESTIMATOR}|{market.half_life_days!r}|{market.trim_scales!r}|{market.min_scale!r}"
    digest = hashlib.blake2b(material.encode(), digest_size=5).hexdigest()
    return BaselineSpec(digest, market.refresh_share, market.refresh_max_age_s)


def sample_columns(samples: Sequence[Records]) -> tuple[Any, Any, Any, Ints]:
    """``(times, log prices, store hashes, offsets)`` of several groups' samples, as
    ``group_baselines`` takes them: views of the records' fields (float64, float32, uint32,
    strided; the kernel widens them as it reads, so no column is copied first)."""
    offsets = np.array([0, *accumulate(len(s) for s in samples)], np.int64)
    if len(samples) == 1:
        joined = samples[0]
    elif samples:
        # as bytes: concatenating structured arrays goes through numpy's slow field promotion
        joined = np.frombuffer(b"".join([s.tobytes() for s in samples]), RECORD)
    else:
        joined = EMPTY
    return joined["t"], joined["lp"], joined["store"], offsets


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
    params: Packed,
) -> BaselineTable:
    """Every group's baseline: the stored one unless the store marked it stale (or has none),
    else computed from the group's sample. Columns are gathered in lists (a batch of one has a
    group or two), and the kernel runs only for due groups that hold observations: with none,
    its answer is known (no median, no observation)."""
    median: list[float] = []
    scale: list[float] = []
    observations: list[int] = []
    stores: list[int] = []
    digest = spec.digest
    due: list[tuple[int, PriceGroup]] = []
    read = snapshot.prices
    for g, name in enumerate(groups):
        group = read.get(name, EMPTY_GROUP)
        stored = group.baselines.get(digest)
        if stored is None or digest in group.stale:
            due.append((g, group))
            stored = _NO_BASELINE
        median.append(stored.median)
        scale.append(stored.scale)
        observations.append(stored.observations)
        stores.append(stored.stores)
    floats = np.array([median, scale], np.float64)
    ints = np.array([observations, stores], np.int64)
    table = BaselineTable(floats[0], floats[1], ints[0], ints[1], [])
    if not due:
        return table
    sampled = [(g, x) for g, group in due if (x := group.sample) is not None and len(x)]
    if sampled:
        m, s, n, k = group_baselines(*sample_columns([x for _, x in sampled]), now, params)
        at = [g for g, _ in sampled]
        table.median[at], table.scale[at], table.observations[at], table.stores[at] = m, s, n, k
    for g, group in due:
        if group.version > 0:
            baseline = Baseline(
                group.version,
                now,
                float(table.median[g]),
                float(table.scale[g]),
                int(table.observations[g]),
                int(table.stores[g]),
            )
            table.refreshed.append(BaselineWrite(groups[g], digest, baseline))
    return table


_NO_BASELINE = Baseline(0, 0.0, math.nan, math.nan, 0, 0)
"""What a due group reads as until it is computed (and stays as without observations)."""
