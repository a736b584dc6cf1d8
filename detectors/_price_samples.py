"""How a price observation is stored as a member of a ``Series.PRICE`` series, and how a
batch's samples are handed to the kernel.

A member reads ``"<log price>|<store>|<listing key>"``: the log price in the registry currency
at a fixed width (11 characters, 6 decimals), the CRC-32 of the store id in 8 hex digits (the
kernel only needs to tell stores apart), then ``listing_id:revision``. The listing key makes a
member unique per revision, so a redelivered listing re-adds the same string: a no-op. The
fixed-width fields come first so the kernel parses them in place
(``_price_kernels.parse_member``); Python only joins the members into one buffer.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors._price_kernels import Floats, Ints, Text
from state.base import Series, StateSnapshot

_LIMIT = 999.999999  # keeps the field at 11 characters; e^999 is far beyond any price


def encode_member(listing_key: str, store_id: str, log_price: float) -> str:
    """The member recording one allowed listing's price in a group."""
    value = min(max(log_price, -_LIMIT), _LIMIT)
    store = zlib.crc32(store_id.encode("utf-8"))
    return f"{value:+011.6f}|{store:08x}|{listing_key}"


@dataclass(frozen=True, slots=True)
class Samples:
    """Every group's members as one character buffer: member ``k`` is
    ``text[starts[k]:starts[k + 1]]``, group ``g`` holds members ``offsets[g]:offsets[g + 1]``."""

    index: dict[str, int]
    text: Text
    starts: Ints
    times: Floats
    offsets: Ints


def gather(snapshot: StateSnapshot, groups: Sequence[str]) -> Samples:
    """The samples of ``groups`` (in that order) out of a snapshot."""
    members: list[str] = []
    times: list[float] = []
    offsets = [0]
    for group in groups:
        rows = snapshot.members(Series.PRICE, group)
        if rows:
            names, stamps = zip(*rows, strict=True)
            members += names
            times += stamps
        offsets.append(len(members))
    joined = "".join(members)
    text: Text
    if joined.isascii():  # the common case: one byte per character
        text = np.frombuffer(joined.encode("ascii"), np.uint8)
    else:
        text = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
    starts = np.zeros(len(members) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, members), np.int64, len(members)), out=starts[1:])
    return Samples(
        {group: g for g, group in enumerate(groups)},
        text,
        starts,
        np.array(times, np.float64),
        np.array(offsets, np.int64),
    )
