"""The byte layout of a price ring, in Python: what ``scripts/commit_prices.lua`` and
``scripts/fetch_prices.lua`` do to a ring in Redis, for the in-memory twin (byte for byte, so
both backends keep the same slots).

A ring is one string: ``HEADER`` bytes (``n``, the observations ever added, and ``cap``, as
16-digit decimals), then ``cap`` listing digests of ``DIGEST_SIZE`` bytes, then up to ``cap``
records of ``RECORD_SIZE`` bytes. Observation number ``seq`` (from 0) sits in slot
``seq mod cap``, so slot ``s`` holds the newest one with that remainder. The scripts never
bring a whole ring into Lua (a string there costs about a microsecond per kilobyte): a write
reads the header and the digests (to skip listings the ring holds) with one ``GETRANGE`` and
patches the header, digests and records in place with ``SETRANGE``; a read returns the filled
part of the records region as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from state.prices import DIGEST_SIZE, RECORD_SIZE

HEADER = 32


def _header(n: int, cap: int) -> bytes:
    return b"%016d%016d" % (n, cap)


def header(ring: bytes) -> tuple[int, int]:
    """``(n, cap)`` of a ring (``(0, 0)`` for anything that is not one)."""
    try:
        n, cap = int(ring[:16]), int(ring[16:32])
    except ValueError:
        return 0, 0
    if n < 0 or cap <= 0 or len(ring) < HEADER + cap * DIGEST_SIZE + min(n, cap) * RECORD_SIZE:
        return 0, 0
    return n, cap


def records(ring: bytes) -> bytes:
    """The filled part of the records region."""
    n, cap = header(ring)
    start = HEADER + cap * DIGEST_SIZE
    return ring[start : start + RECORD_SIZE * min(n, cap)]


def holds(ring: bytes, cap: int, digest: bytes) -> bool:
    end = HEADER + cap * DIGEST_SIZE
    at = ring.find(digest, HEADER, end)
    while at >= 0:
        if (at - HEADER) % DIGEST_SIZE == 0:
            return True
        at = ring.find(digest, at + 1, end)
    return False


def _put(ring: bytearray, offset: int, data: bytes) -> None:
    """``SETRANGE``: zero-pads up to ``offset``."""
    if len(ring) < offset:
        ring.extend(bytes(offset - len(ring)))
    ring[offset : offset + len(data)] = data


def relayout(ring: bytes, cap: int) -> bytes:
    """The ring for another cap: its newest observations, the next one still at n mod cap."""
    n, old_cap = header(ring)
    keep = min(n, old_cap, cap)
    out = bytearray(_header(n, cap) + bytes(cap * (DIGEST_SIZE + RECORD_SIZE)))
    for seq in range(n - keep, n):
        src, dst = seq % old_cap, seq % cap
        d_src, d_dst = HEADER + src * DIGEST_SIZE, HEADER + dst * DIGEST_SIZE
        _put(out, d_dst, ring[d_src : d_src + DIGEST_SIZE])
        r_src = HEADER + old_cap * DIGEST_SIZE + src * RECORD_SIZE
        r_dst = HEADER + cap * DIGEST_SIZE + dst * RECORD_SIZE
        _put(out, r_dst, ring[r_src : r_src + RECORD_SIZE])
    return bytes(out)


def add(ring: bytes | None, rows: Sequence[tuple[bytes, bytes]], cap: int) -> tuple[bytes, int]:
    """``ring`` with the ``(digest, record)`` rows it does not hold yet: ``(ring, added)``."""
    n, old_cap = header(ring) if ring else (0, 0)
    if not ring or old_cap == 0:
        ring, n = b"", 0
    elif old_cap != cap:
        ring = relayout(ring, cap)
    seen: set[bytes] = set()
    new = []
    for digest, record in rows:
        if digest not in seen and not holds(ring, cap, digest):
            seen.add(digest)
            new.append((digest, record))
    if not new:
        return ring, 0
    out = bytearray(ring)
    _put(out, 0, _header(n + len(new), cap))
    kept = new[-cap:]
    for seq, (digest, record) in enumerate(kept, start=n + len(new) - len(kept)):
        slot = seq % cap
        _put(out, HEADER + slot * DIGEST_SIZE, digest)
        _put(out, HEADER + cap * DIGEST_SIZE + slot * RECORD_SIZE, record)
    return bytes(out), len(new)
