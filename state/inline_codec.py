"""Arguments and answer of ``scripts/probe_add_buckets.lua`` (inline bucket tables).

Layout: one hash per part and time slot, ``<prefix>:<kind>:<part>:<slot>``, whose fields are
4-byte bucket keys (``state.inline.bucket_keys``) and whose values are buckets of framed
entries (``state._inline_kernels``). A batch travels as a handful of strings: the framed
entries once, then the rows' bucket keys as 4-byte words, part after part, in one string
(every argument costs the client an encode, whatever its size); the answer is, per slot and
part, the hash's values for every row as Redis read them (framing them in the script cost a
sixth of its time). Both sides are packed and unpacked as arrays or in C-level passes, never
entry by entry in Python.
"""

from __future__ import annotations

import itertools
import math
import struct
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


def slot_ttl(policy: BucketPolicy, slot: int, now: float) -> int:
    """Seconds until the slot has left the window, plus a day (as for generic tables)."""
    ttl = math.ceil((slot + 1) * policy.slot_s + policy.window_s - now + GRACE_S)
    return max(ttl, int(GRACE_S))


FEW_ROWS = 16
"""Up to this many rows, a probe's slots and framed entries are computed in plain Python
(array calls cost microseconds each whatever their size); the bytes are the same."""


def add_slots(query: ProbeAdd, policy: BucketPolicy, now: float) -> np.ndarray[Any, Any]:
    """Each row's slot to be added to, -1 when it is not added (not asked, or too old)."""
    times = query.times
    slots = np.floor(np.minimum(times, now) / policy.slot_s).astype(np.int64)
    slots[~query.add | (times < now - policy.window_s)] = -1
    return slots


def _adds(query: ProbeAdd, policy: BucketPolicy, now: float) -> tuple[list[Any], bytes]:
    """Per time slot of the window, the rows added to it (``"*"`` all, ``""`` none, else
    16-bit row numbers), and the framed entries (empty when nothing is added), with arrays."""
    lo, hi = probe_slots(policy, now)
    slots = add_slots(query, policy, now)
    adds: list[Any] = []
    for slot in range(lo, hi + 1):
        mine = slots == slot
        if mine.all():
            adds.append("*")
        elif not mine.any():
            adds.append("")
        else:
            adds.append(np.flatnonzero(mine).astype(">u2").tobytes())
    if (slots >= 0).any():
        payloads = np.frombuffer(query.payloads, dtype=np.uint8)
        seconds = np.clip(np.floor(query.times), 0, MAX_TIME).astype(np.int64)
        return adds, frame_entries(payloads, query.offsets, seconds).tobytes()
    return adds, b""


def _adds_few(
    query: ProbeAdd, policy: BucketPolicy, now: float, times: list[float]
) -> tuple[list[Any], bytes]:
    """:func:`_adds` for a few rows with no NaN time, in plain Python (the same bytes)."""
    lo, hi = probe_slots(policy, now)
    oldest, slot_s = now - policy.window_s, policy.slot_s
    slots = [
        math.floor(min(t, now) / slot_s) if added and not t < oldest else -1
        for t, added in zip(times, query.add.tolist(), strict=True)
    ]
    adds: list[Any] = []
    for slot in range(lo, hi + 1):
        mine = [i for i, s in enumerate(slots) if s == slot]
        if len(mine) == len(slots):
            adds.append("*")
        elif not mine:
            adds.append("")
        else:
            adds.append(struct.pack(f">{len(mine)}H", *mine))
    if max(slots) < 0:
        return adds, b""
    offsets = query.offsets.tolist()
    payloads = query.payloads
    framed = []
    for i, t in enumerate(times):
        start, stop = offsets[i], offsets[i + 1]
        second = 0 if t < 0 else MAX_TIME if t >= MAX_TIME else math.floor(t)
        framed += [_U16.pack(stop - start), payloads[start:stop], _U32.pack(second)]
    return adds, b"".join(framed)


_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


def probe_args(
    query: ProbeAdd, policy: BucketPolicy, prefix: str, now: float
) -> tuple[list[Any], ProbePlan]:
    """ARGV for ``probe_add_buckets.lua`` and the plan to read its answer with."""
    lo, hi = probe_slots(policy, now)
    rows, parts = query.rows, query.parts
    times = query.times.tolist() if 0 < rows <= FEW_ROWS else []
    if times and not any(t != t for t in times):  # t != t: a NaN time
        adds, framed = _adds_few(query, policy, now, times)
    else:
        adds, framed = _adds(query, policy, now)
    args: list[Any] = [kind_base(prefix, query.kind), policy.max_entries, parts]
    args += [framed, lo, hi]
    for slot, added in zip(range(lo, hi + 1), adds, strict=True):
        args += [slot_ttl(policy, slot, now), added]
    keys = bucket_keys(query.fields)
    if rows > 1:
        ordered = np.sort(keys, axis=0)
        dups = bytes((ordered[1:] == ordered[:-1]).any(axis=0).astype(np.uint8) + ord("0"))
    else:
        dups = b"0" * parts
    args += [keys.astype(">u4").T.tobytes(), dups]  # the columns part after part
    return args, ProbePlan(lo, hi, parts, rows)


def read_probe(
    reply: Sequence[Any], plan: ProbePlan, policy: BucketPolicy, now: float
) -> InlineHits:
    """The entries found, inside the window. ``reply`` holds, per slot and part, the bucket
    of every row (``None`` where there is none) or nothing (a slot that was not read)."""
    answered = min(len(reply), (plan.last_slot - plan.first_slot + 1) * plan.parts)
    blobs = reply[:answered]
    counts = np.fromiter(map(len, blobs), dtype=np.int64, count=answered)
    if not counts.any():
        return InlineHits()
    # C-level passes: a batch's answer is rows x parts values, most of them None
    values = [value or b"" for value in itertools.chain.from_iterable(blobs)]
    data = b"".join(values)
    if not data:
        return InlineHits()
    sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    row, part, start, length, time = parse_hits(
        np.frombuffer(data, dtype=np.uint8),
        sizes,
        counts,
        plan.parts,
        plan.rows,
        math.floor(now - policy.window_s),
    )
    return InlineHits(data, row, part, start, length, time)


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
    policy = BucketPolicy(window_s=1.0, max_entries=1)
    _adds(query, policy, 0.0)  # what batches of more than FEW_ROWS rows use
    args, plan = probe_args(query, policy, "warm", 0.0)
    read_probe([[b"\x00\x01" + args[3]]], plan, policy, 0.0)
