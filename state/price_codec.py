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
import numpy.typing as npt
import orjson

from state.prices import (
    DIGEST_SIZE,
    EMPTY,
    RECORD_SIZE,
    SMALL_ROWS,
    Baseline,
    BaselineWrite,
    PriceGroup,
    PricePolicy,
    PriceQuery,
    PriceRows,
    Records,
    decode_ring,
    merge_queries,
)

Ints = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]

GRACE_S = 86400.0
"""Keys outlive the window by a day of wall-clock time, as series keys do."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def fetch_args(
    queries: Sequence[PriceQuery], prefix: str, now: float
) -> tuple[list[bytes], list[str], list[str]]:
    """``(script arguments, groups in answer order, spec digests in answer order)``."""
    if len(queries) == 1:  # one reader (no shadow config): nothing to merge
        groups, specs = sorted(queries[0].groups), [queries[0].spec]
    else:
        groups, specs = merge_queries(queries)
    document = {
        "p": prefix,
        "now": now,
        "specs": [(s.digest, s.refresh_share, s.max_age_s) for s in specs],
        "groups": groups,
    }
    return [orjson.dumps(document)], groups, [s.digest for s in specs]


class BaselineCache:
    """Decoded baselines by their stored text: a group's baseline reads the same from batch to
    batch until it is recomputed, so most batches decode none (bounded; cleared when full)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self.known: dict[bytes, Baseline | None] = {}
        """Decoded so far (``None``: not a baseline)."""

    def get(self, text: bytes) -> Baseline | None:
        found = self.known.get(text, _MISSING)
        if found is _MISSING:
            if len(self.known) >= self._limit:
                self.known.clear()
            found = self.known[text] = Baseline.decode(_text(text))
        return found  # type: ignore[return-value]


_MISSING = object()


def read_fetch(
    rows: Sequence[Any],
    groups: Sequence[str],
    digests: Sequence[str],
    policy: PricePolicy,
    now: float,
    cache: BaselineCache | None = None,
) -> dict[str, PriceGroup]:
    """The groups a fetch found (groups never written are left out: they read as empty)."""
    cache = cache or BaselineCache()
    known, decode = cache.known, cache.get
    oldest = now - policy.window_s
    found: dict[str, PriceGroup] = {}
    everything = frozenset(digests)
    for group, row in zip(groups, rows, strict=True):
        version = int(row[0])
        if version <= 0:
            continue
        baselines: dict[str, Baseline] = {}
        for digest, text in zip(digests, row[3:], strict=False):
            if text is not None and (decoded := known.get(text) or decode(text)) is not None:
                baselines[digest] = decoded
        flags = row[1]
        if b"0" not in flags:  # every spec stale (the usual single spec)
            stale = everything
        elif b"1" not in flags:
            stale = _FRESH
        else:
            stale = frozenset(d for d, flag in zip(digests, flags, strict=False) if flag != 48)
        sample = None
        if stale:  # no records with a stale baseline: the ring expired, nothing is live
            ring = row[2]
            sample = decode_ring(ring if ring is not None else b"", oldest)
        found[group] = PriceGroup(version, baselines, stale, sample)
    return found


_FRESH: frozenset[str] = frozenset()


def commit_args(
    rows: Sequence[PriceRows], baselines: Sequence[BaselineWrite], prefix: str, policy: PricePolicy
) -> list[bytes] | None:
    """Script arguments for a batch's observations and baselines (``None``: nothing to do)."""
    rows = [batch for batch in rows if len(batch)]
    if not rows and not baselines:
        return None
    # one entry per group (the script reads each ring once), its rows in the order given
    if len(rows) == 1 and len(set(rows[0].names)) == len(rows[0].names):
        # the usual case (one detector wrote): its group numbers are the entries already
        only = rows[0]
        names, counts, caps = only.names, only.counts, dict.fromkeys(only.names, only.cap)
        found, digests = _grouped(only.group, only.records, only.digests)
    else:
        index: dict[str, int] = {}
        caps = {}
        ids, digest_parts, record_parts = [], [], []
        for batch in rows:
            local = np.array([index.setdefault(g, len(index)) for g in batch.names], np.int64)
            caps.update(dict.fromkeys(batch.names, batch.cap))
            ids.append(local[batch.group])
            digest_parts.append(batch.digests)
            record_parts.append(batch.records)
        names = list(index)
        group = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        counts = np.bincount(group, minlength=len(names)).tolist()
        found, digests = _grouped(
            group,
            np.concatenate(record_parts) if record_parts else EMPTY,
            np.concatenate(digest_parts) if digest_parts else np.zeros(0, np.uint64),
        )
    document = {
        "p": prefix,
        "ttl": math.ceil(policy.window_s + GRACE_S),
        "groups": [(g, count, caps[g]) for g, count in zip(names, counts, strict=True) if count],
        "baselines": [
            (w.group, w.digest, w.baseline.version, w.baseline.computed_at, w.baseline.encode())
            for w in baselines
        ],
    }
    return [orjson.dumps(document), found, digests]


def _grouped(group: Ints, found: Records, digests: Words) -> tuple[bytes, bytes]:
    """The records and digests as bytes, group after group (stable: each group's rows keep
    their order). A few rows are reordered as bytes in Python, many by numpy."""
    raw_records = found.tobytes()
    raw_digests = digests.astype("<u8", copy=False).tobytes()
    if len(group) <= SMALL_ROWS:
        listed = group.tolist()
        order = sorted(range(len(listed)), key=listed.__getitem__)
        if order == list(range(len(listed))):
            return raw_records, raw_digests
        r, d = RECORD_SIZE, DIGEST_SIZE
        return (
            b"".join([raw_records[k * r : (k + 1) * r] for k in order]),
            b"".join([raw_digests[k * d : (k + 1) * d] for k in order]),
        )
    ranked = np.argsort(group, kind="stable")
    return found[ranked].tobytes(), digests[ranked].astype("<u8", copy=False).tobytes()
