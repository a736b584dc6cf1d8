"""Arguments and answers of the price-group scripts (``scripts/fetch_prices.lua``,
``scripts/commit_prices.lua``; the layout is in ``state.prices``).

A batch's observations travel as two binary strings (records, then listing digests, group after
group) beside one small JSON document, so the client encodes three arguments per batch however
many rows, and the script slices them without parsing a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from state.prices import (
    Baseline,
    BaselineWrite,
    PriceGroup,
    PricePolicy,
    PriceQuery,
    PriceRows,
    decode_ring,
    merge_queries,
)

GRACE_S = 86400.0
"""Keys outlive the window by a day of wall-clock time, as series keys do."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def fetch_args(
    queries: Sequence[PriceQuery], prefix: str, now: float
) -> tuple[list[bytes], list[str], list[str]]:
    """``(script arguments, groups in answer order, spec digests in answer order)``."""
    groups, specs = merge_queries(queries)
    document = {
        "p": prefix,
        "now": now,
        "specs": [(s.digest, s.refresh_share, s.max_age_s) for s in specs],
        "groups": groups,
    }
    return [orjson.dumps(document)], groups, [s.digest for s in specs]


def read_fetch(
    rows: Sequence[Any],
    groups: Sequence[str],
    digests: Sequence[str],
    policy: PricePolicy,
    now: float,
) -> dict[str, PriceGroup]:
    """The groups a fetch found (groups never written are left out: they read as empty)."""
    oldest = now - policy.window_s
    found: dict[str, PriceGroup] = {}
    for group, row in zip(groups, rows, strict=True):
        version = int(row[0])
        if version <= 0:
            continue
        flags = _text(row[1])
        ring = row[2]
        baselines: dict[str, Baseline] = {}
        stale: set[str] = set()
        for j, digest in enumerate(digests):
            text = row[3 + j] if 3 + j < len(row) else None
            if text is not None:
                decoded = Baseline.decode(_text(text))
                if decoded is not None:
                    baselines[digest] = decoded
            if flags[j : j + 1] != "0":
                stale.add(digest)
        sample = decode_ring(bytes(ring), oldest) if ring is not None else None
        if stale and sample is None:  # the ring expired under its meta: nothing is live
            sample = decode_ring(b"", oldest)
        found[group] = PriceGroup(version, baselines, frozenset(stale), sample)
    return found


def commit_args(
    rows: Sequence[PriceRows], baselines: Sequence[BaselineWrite], prefix: str, policy: PricePolicy
) -> list[bytes] | None:
    """Script arguments for a batch's observations and baselines (``None``: nothing to do)."""
    if not any(len(r.groups) for r in rows) and not baselines:
        return None
    # one entry per group (the script reads each ring once), its rows in the order given
    names: list[str] = []
    digests: list[bytes] = []
    caps: dict[str, int] = {}
    for batch in rows:
        names += batch.groups
        digests += batch.digests
        caps.update(dict.fromkeys(batch.groups, batch.cap))
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(g, len(index)) for g in names), np.int64, len(names))
    order = np.argsort(ids, kind="stable")
    counts = np.bincount(ids, minlength=len(index)).tolist()
    joined = np.concatenate([batch.records for batch in rows]) if rows else None
    records = joined[order].tobytes() if joined is not None else b""
    groups = [(g, count, caps[g]) for g, count in zip(index, counts, strict=True)]
    ordered = b"".join([digests[k] for k in order.tolist()])
    document = {
        "p": prefix,
        "ttl": math.ceil(policy.window_s + GRACE_S),
        "groups": groups,
        "baselines": [
            (w.group, w.digest, w.baseline.version, w.baseline.computed_at, w.baseline.encode())
            for w in baselines
        ],
    }
    return [orjson.dumps(document), records, ordered]
