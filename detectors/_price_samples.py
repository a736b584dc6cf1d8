"""How a price observation is stored as a member of a ``Series.PRICE`` series, and how a
batch's samples are flattened for the kernel.

A member reads ``"<log price>|<store>|<listing key>"``: the log price in the registry currency
at a fixed width (11 characters, 6 decimals), the CRC-32 of the store id in 8 hex digits (the
kernel only needs to tell stores apart), then ``listing_id:revision``. The listing key makes a
member unique per revision, so a redelivered listing re-adds the same string: a no-op. The two
fixed-width fields come first so reading a sample back is two slices per member.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors._price_kernels import Floats, Ints
from state.base import Series, StateSnapshot

_VALUE_END = 11
_STORE_START, _STORE_END = 12, 20
_LIMIT = 999.999999  # keeps the field at 11 characters; e^999 is far beyond any price


def encode_member(listing_key: str, store_id: str, log_price: float) -> str:
    """The member recording one allowed listing's price in a group."""
    value = min(max(log_price, -_LIMIT), _LIMIT)
    store = zlib.crc32(store_id.encode("utf-8"))
    return f"{value:+011.6f}|{store:08x}|{listing_key}"


def decode_member(member: str) -> tuple[float, int]:
    """``(log price, store hash)`` of a member; ``ValueError`` if it is not one of ours."""
    if len(member) <= _STORE_END or member[_VALUE_END] != "|" or member[_STORE_END] != "|":
        raise ValueError(f"not a price member: {member[:40]!r}")
    value = float(member[:_VALUE_END])
    if not math.isfinite(value):
        raise ValueError(f"not a finite log price: {member[:40]!r}")
    return value, int(member[_STORE_START:_STORE_END], 16)


@dataclass(frozen=True, slots=True)
class Samples:
    """Every group's members, concatenated: group ``g`` is ``offsets[g]:offsets[g + 1]``."""

    index: dict[str, int]
    values: Floats
    times: Floats
    stores: Ints
    offsets: Ints


def gather(snapshot: StateSnapshot, groups: Sequence[str]) -> Samples:
    """Flatten the samples of ``groups`` (in that order) out of a snapshot."""
    values: list[float] = []
    times: list[float] = []
    stores: list[int] = []
    offsets = [0]
    for group in groups:
        members = snapshot.members(Series.PRICE, group)
        try:
            # the fast path: one slice-and-convert per field; any odd member raises
            group_values = [float(m[:_VALUE_END]) for m, _ in members]
            group_stores = [int(m[_STORE_START:_STORE_END], 16) for m, _ in members]
            ok = all(m[_VALUE_END] == "|" for m, _ in members) and all(
                math.isfinite(v) for v in group_values
            )
        except (ValueError, IndexError):
            ok = False
        if ok:
            values.extend(group_values)
            stores.extend(group_stores)
            times.extend(t for _, t in members)
        else:
            for member, event_time in members:
                try:
                    value, store = decode_member(member)
                except ValueError:
                    continue  # written by something else: not an observation
                values.append(value)
                stores.append(store)
                times.append(event_time)
        offsets.append(len(values))
    return Samples(
        {group: g for g, group in enumerate(groups)},
        np.array(values, np.float64),
        np.array(times, np.float64),
        np.array(stores, np.int64),
        np.array(offsets, np.int64),
    )
