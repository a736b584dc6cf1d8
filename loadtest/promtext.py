"""Reading the service's own Prometheus histograms (server-side latency percentiles)."""

from __future__ import annotations

import math
import re

_BUCKET = re.compile(r"^(?P<name>\w+)_bucket\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


def histogram_buckets(text: str, name: str, **labels: str) -> list[tuple[float, float]]:
    """``(upper bound, cumulative count)`` pairs of one histogram series, sorted by bound."""
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    buckets = []
    for line in text.splitlines():
        match = _BUCKET.match(line)
        if not match or match["name"] != name:
            continue
        parts = set(match["labels"].split(","))
        le = next((p for p in parts if p.startswith("le=")), None)
        if le is None or not wanted <= parts:
            continue
        bound = le.split("=", 1)[1].strip('"')
        buckets.append((math.inf if bound == "+Inf" else float(bound), float(match["value"])))
    return sorted(buckets)


def quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus-style ``histogram_quantile``: linear within the bucket holding the rank."""
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def difference(
    after: list[tuple[float, float]], before: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The observations made between two scrapes of one histogram."""
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]
