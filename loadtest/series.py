"""Time series of a load test: per-second throughput and latency percentiles from samples.

Pure functions over ``(time, latency)`` samples, so the report is testable without a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Point:
    """One time bin: samples completed in ``[second, second + width)`` and their latencies."""

    second: float
    count: int
    rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float


def per_second(
    times_s: Sequence[float], latencies_ms: Sequence[float], *, width_s: float = 1.0
) -> list[Point]:
    """Bins from the first to the last sample; empty bins have rate 0 and NaN percentiles."""
    if len(times_s) != len(latencies_ms):
        raise ValueError("times and latencies differ in length")
    if not times_s:
        return []
    times = np.asarray(times_s, dtype=np.float64)
    latencies = np.asarray(latencies_ms, dtype=np.float64)
    bins = np.floor(times / width_s).astype(np.int64)
    first, last = int(bins.min()), int(bins.max())
    order = np.argsort(bins, kind="stable")
    bins, latencies = bins[order], latencies[order]
    edges = np.searchsorted(bins, np.arange(first, last + 2))
    points = []
    for index, b in enumerate(range(first, last + 1)):
        chunk = latencies[edges[index] : edges[index + 1]]
        if chunk.size:
            p50, p90, p99 = (float(v) for v in np.percentile(chunk, [50, 90, 99]))
        else:
            p50 = p90 = p99 = math.nan
        points.append(Point(b * width_s, int(chunk.size), chunk.size / width_s, p50, p90, p99))
    return points


def steady_rate(times_s: Sequence[float]) -> float:
    """Completions per second between the first and the last completion (0 for fewer than 2)."""
    if len(times_s) < 2:
        return 0.0
    span = max(times_s) - min(times_s)
    return (len(times_s) - 1) / span if span > 0 else 0.0


def percentiles(latencies_ms: Sequence[float]) -> dict[str, float]:
    if not latencies_ms:
        return {"p50_ms": math.nan, "p90_ms": math.nan, "p99_ms": math.nan}
    p50, p90, p99 = (float(v) for v in np.percentile(latencies_ms, [50, 90, 99]))
    return {"p50_ms": round(p50, 2), "p90_ms": round(p90, 2), "p99_ms": round(p99, 2)}
