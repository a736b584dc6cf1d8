"""Arguments and answer of ``scripts/probe_add_buckets.lua`` (inline bucket tables).

Layout: one hash per part and time slot, ``<prefix>:<kind>:<part>:<slot>``, whose fields are
4-byte bucket keys (``state.inline.bucket_keys``) and whose values are buckets of framed
entries (``state._inline_kernels``). A batch travels as a handful of strings: the framed
entries once, then per part the rows' bucket keys as 4-byte words; the answer is one string
per slot and part. Both sides are packed and unpacked as arrays, never entry by entry in
Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from state._inline_kernels import frame_entries, parse_hits
from state.bucket_codec import GRACE_S
from state.buckets import INLINE_KINDS, BucketPolicy
from state.inline import MAX_TIME, InlineHits, ProbeAdd, bucket_keys, probe_slots
from state.keys import kind_base

INLINE_WARM_KIND = next(iter(INLINE_KINDS))


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """How to read the script's answer: the slots it covered and the query's shape."""

    first_slot: int
    last_slot: int
    parts: int
    rows: int


def _ttl(policy: BucketPolicy, slot: int, now: float) -> int:
    """Seconds until the slot has left the window, plus a day (as for generic tables)."""
    ttl = math.ceil((slot + 1) * policy.slot_s + policy.window_s - now + GRACE_S)
    return max(ttl, int(GRACE_S))


def add_slots(query: ProbeAdd, policy: BucketPolicy, now: float) -> np.ndarray[Any, Any]:
    """Each row's slot to be added to, -1 when it is not added (not asked, or too old)."""
    times = query.times
    slots = np.floor(np.minimum(times, now) / policy.slot_s).astype(np.int64)
    slots[~query.add | (times < now - policy.window_s)] = -1
    return slots


def probe_args(
    query: ProbeAdd, policy: BucketPolicy, prefix: str, now: float
) -> tuple[list[Any], ProbePlan]:
    """ARGV for ``probe_add_buckets.lua`` and the plan to read its answer with."""
    lo, hi = probe_slots(policy, now)
    slots = add_slots(query, policy, now)
    if (slots >= 0).any():
        payloads = np.frombuffer(query.payloads, dtype=np.uint8)
        seconds = np.clip(np.floor(query.times), 0, MAX_TIME).astype(np.int64)
        framed = frame_entries(payloads, query.offsets, seconds).tobytes()
    else:
        framed = b""  # nothing to add: the script only reads
    args: list[Any] = [kind_base(prefix, query.kind), policy.max_entries, query.parts]
    args += [framed, lo, hi]
    for slot in range(lo, hi + 1):
        mine = slots == slot
        if mine.all():
            adds: Any = "*"
        elif not mine.any():
            adds = ""
        else:
            adds = np.flatnonzero(mine).astype(">u2").tobytes()
        args += [_ttl(policy, slot, now), adds]
    keys = bucket_keys(query.fields)
    if query.rows > 1:
        ordered = np.sort(keys, axis=0)
        shared = (ordered[1:] == ordered[:-1]).any(axis=0).tolist()
    else:
        shared = [False] * query.parts
    columns = keys.T.astype(">u4")
    for part in range(query.parts):
        args += [columns[part].tobytes(), "1" if shared[part] else ""]
    return args, ProbePlan(lo, hi, query.parts, query.rows)


def read_probe(
    reply: Sequence[Any], plan: ProbePlan, policy: BucketPolicy, now: float
) -> InlineHits:
    """The entries found, inside the window."""
    blobs = [value if isinstance(value, bytes) else bytes(value) for value in reply]
    sizes = np.fromiter((len(blob) for blob in blobs), dtype=np.int64, count=len(blobs))
    if not sizes.any():
        return InlineHits()
    bounds = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    slots = plan.last_slot - plan.first_slot + 1
    parts = np.tile(np.arange(plan.parts, dtype=np.int64), slots)[: len(blobs)]
    data = b"".join(blobs)
    row, part, start, length, time = parse_hits(
        np.frombuffer(data, dtype=np.uint8), bounds, parts, plan.rows
    )
    return InlineHits(data, row, part, start, length, time).within(now - policy.window_s)


def warm() -> None:
    """Compile (or load cached) the codec's kernels before the first batch needs them."""
    query = ProbeAdd(
        INLINE_WARM_KIND,
        np.zeros((1, 1), dtype=np.uint64),
        b"x",
        np.array([0, 1], dtype=np.int64),
        np.zeros(1, dtype=np.float64),
        np.ones(1, dtype=np.bool_),
    )
    args, plan = probe_args(query, BucketPolicy(window_s=1.0, max_entries=1), "warm", 0.0)
    bucket = b"\x00\x01" + args[3]
    blob = b"\x00\x00" + len(bucket).to_bytes(4, "big") + bucket
    read_probe([blob], plan, BucketPolicy(window_s=1.0, max_entries=1), 0.0)
