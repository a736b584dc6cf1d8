"""Numba kernels of the replicated inline tables (``state.replica``): records and slot tables.

A *record* is what one batch adds to one time slot of an inline table, as it travels in the
slot's log in Redis (``scripts/log_sync.lua``) and is replayed by every worker::

    u32 record length (bytes, header included), u32 rows, u16 parts, u16 0   (little-endian)
    rows x parts u32 bucket keys, part after part                            (little-endian)
    rows framed entries: u16 payload length, payload, u32 time in seconds   (big-endian)

The entries are framed as in ``state._inline_kernels`` (and ``probe_add_buckets.lua``).

A *slot table* is one slot's buckets in a worker's memory, as arrays (no Python object per
bucket or entry), one table per part (band) so that parts are replayed and probed in parallel
threads, over one arena of entries that every part shares:

- ``tt[p, i]``: part ``p``'s open-addressing hash table, whose rows are the buckets: key (the
  32-bit bucket key), first (oldest) node, last node, node count (0: an empty row, so a new
  table is zeros, which the kernel maps lazily); its size is a power of two, at most half
  full;
- ``na[p]``: part ``p``'s nodes, six 32-bit words each: the next (newer) node of its bucket
  (-1 last), its time (seconds), its payload's 64-bit hash (low half), length, hash (high
  half) and where the payload starts in the arena (the hash also names the entry to the
  detector, :func:`probe_serial`);
- ``eb``: the arena, every payload of the slot's records once, in log order (Redis copies an
  entry into every band's bucket; here the parts point at one copy, which halves what a
  replica holds and writes);
- ``used[p]``: words of ``na[p]`` in use; ``filled[p]``: buckets of ``tt[p]``; ``ends[0]``:
  bytes of ``eb`` in use.

Nodes a bucket drops (a repeat, or the oldest past the cap) are not reused, so a table grows
with what was added to its slot, as the slot's log in Redis does, and is dropped whole when
the slot leaves the window.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from state._inline_kernels import put_entry

HEADER = 12
"""Bytes of a record's header."""

T_KEY, T_FIRST, T_LAST, T_COUNT = 0, 1, 2, 3
N_NEXT, N_TIME, N_HASH, N_LENGTH, N_HASH_HIGH, N_ENTRY = 0, 1, 2, 3, 4, 5
NODE_WORDS = 6
"""Node words: next, time, the payload's 64-bit hash (low half), its length, the hash's high
half and the payload's offset in the arena."""
PARALLEL_ROWS = 64
"""From this many rows a replay or probe runs its parts in parallel threads."""

_MIX = np.uint64(0x9E3779B97F4A7C15)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)  # FNV-1a, 64 bits
_FNV_PRIME = np.uint64(0x100000001B3)
_LOW = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _byte(buf: npt.NDArray[np.uint8], at: int) -> int:
    """A byte as a signed integer (Numba's ``int`` of an unsigned one is unsigned, and mixing
    unsigned with signed integers makes floats)."""
    return int(np.int64(buf[at]))


@njit(cache=True, inline="always")
def _le32(buf: npt.NDArray[np.uint8], at: int) -> int:
    return (
        _byte(buf, at)
        | (_byte(buf, at + 1) << 8)
        | (_byte(buf, at + 2) << 16)
        | (_byte(buf, at + 3) << 24)
    )


@njit(cache=True, inline="always")
def _be32(buf: npt.NDArray[np.uint8], at: int) -> int:
    return (
        (_byte(buf, at) << 24)
        | (_byte(buf, at + 1) << 16)
        | (_byte(buf, at + 2) << 8)
        | _byte(buf, at + 3)
    )


@njit(cache=True, inline="always")
def _put_le32(out: npt.NDArray[np.uint8], at: int, value: int) -> None:
    out[at] = value & 0xFF
    out[at + 1] = (value >> 8) & 0xFF
    out[at + 2] = (value >> 16) & 0xFF
    out[at + 3] = (value >> 24) & 0xFF


@njit(cache=True)
def build_records(
    fields: npt.NDArray[np.uint64],
    payloads: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    times: npt.NDArray[np.float64],
    add: npt.NDArray[np.bool_],
    now: float,
    slot_s: float,
    window_s: float,
    max_time: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Every record a probe adds, in one call: ``(slots, bounds, out)``, the record for
    ``slots[j]`` being ``out[bounds[j]:bounds[j + 1]]``, slots ascending.

    The same bytes as one record per slot of its rows (in row order), with a row's slot,
    bucket keys and time computed as ``state.inline_codec.add_slots``, ``state.inline.bucket_keys``
    and the clamp of ``entry_second`` do (rows not added, older than the window or before
    slot 0 add nothing): a batch of one listing pays one dispatch instead of a dozen array
    calls."""
    n, parts = fields.shape
    slot = np.full(n, -1, dtype=np.int64)
    oldest = now - window_s
    for i in range(n):
        t = times[i]
        if add[i] and t == t and not (t < oldest):
            s = np.int64(np.floor((t if t < now else now) / slot_s))
            if s >= 0:
                slot[i] = s
    order = np.argsort(slot, kind="mergesort")  # stable: rows ascending within a slot
    first = 0
    while first < n and slot[order[first]] < 0:
        first += 1
    count = 0
    size = 0
    previous = -1
    for j in range(first, n):
        i = order[j]
        if slot[i] != previous:
            count += 1
            previous = slot[i]
            size += HEADER
        size += 4 * parts + 6 + offsets[i + 1] - offsets[i]
    slots = np.empty(count, dtype=np.int64)
    bounds = np.empty(count + 1, dtype=np.int64)
    out = np.zeros(size, dtype=np.uint8)
    at = 0
    j = first
    for r in range(count):
        s = slot[order[j]]
        stop = j
        while stop < n and slot[order[stop]] == s:
            stop += 1
        start = at
        slots[r] = s
        bounds[r] = start
        _put_le32(out, at + 4, stop - j)
        out[at + 8] = parts & 0xFF
        out[at + 9] = (parts >> 8) & 0xFF
        at += HEADER
        for p in range(parts):
            for q in range(j, stop):
                _put_le32(out, at, int(fields[order[q], p] >> np.uint64(32)))
                at += 4
        for q in range(j, stop):
            i = order[q]
            t = times[i]
            if t >= max_time:
                second = max_time
            elif t <= 0:
                second = 0
            else:
                second = int(np.floor(t))
            at = put_entry(out, at, payloads, offsets[i], offsets[i + 1], second)
        _put_le32(out, start, at - start)  # the record's length, now that it is written
        j = stop
    bounds[count] = at
    return slots, bounds, out


@njit(cache=True, nogil=True)
def measure_records(buf: npt.NDArray[np.uint8], start: int) -> npt.NDArray[np.int64]:
    """What replaying the whole records of ``buf[start:]`` adds at most: [records, nodes
    (rows) per part, payload bytes to the arena, the most parts of a record, where they end]. A
    record cut short at the end (an answer that stopped at its byte limit) is left for the
    next read; records -1: the bytes are not well-formed records."""
    out = np.zeros(5, dtype=np.int64)
    pos, stop = start, buf.shape[0]
    out[4] = start
    while stop - pos >= HEADER:
        size, rows = _le32(buf, pos), _le32(buf, pos + 4)
        parts = _byte(buf, pos + 8) | (_byte(buf, pos + 9) << 8)
        end = pos + size
        if size < HEADER + 4 * rows * parts + 6 * rows:
            out[0] = -1
            return out
        if end > stop:
            break
        q = pos + HEADER + 4 * rows * parts
        payload = 0
        for _ in range(rows):
            if q + 6 > end:
                out[0] = -1
                return out
            length = (_byte(buf, q) << 8) | _byte(buf, q + 1)
            q += 6 + length
            payload += length
        if q != end:
            out[0] = -1
            return out
        out[0] += 1
        out[1] += rows
        out[2] += payload
        out[3] = max(out[3], parts)
        pos = end
        out[4] = pos
    return out


@njit(cache=True, inline="always")
def _slot_of(key: np.uint64, bits: int) -> int:
    return int(np.int64((key * _MIX) >> np.uint64(64 - bits)))


@njit(cache=True, inline="always")
def _bits(size: int) -> int:
    """log2 of a table size (a power of two)."""
    bits = 0
    while (1 << bits) < size:
        bits += 1
    return bits


@njit(cache=True, inline="always")
def _row(tt: npt.NDArray[np.int32], p: int, key: int, bits: int) -> int:
    """Part ``p``'s table row of ``key`` (a 32-bit value as stored): its bucket, or the empty
    row where it would go."""
    mask = tt.shape[1] - 1
    i = _slot_of(np.uint64(key & 0xFFFFFFFF), bits)
    while tt[p, i, T_COUNT] > 0:
        if tt[p, i, T_KEY] == key:
            return i
        i = (i + 1) & mask
    return i


@njit(cache=True, nogil=True)
def rehash(tt: npt.NDArray[np.int32], size: int) -> npt.NDArray[np.int32]:
    """The buckets of ``tt`` in tables of ``size`` rows (a power of two)."""
    parts = tt.shape[0]
    out = np.zeros((parts, size, 4), dtype=np.int32)
    bits = _bits(size)
    for p in range(parts):
        for i in range(tt.shape[1]):
            if tt[p, i, T_COUNT] > 0:
                j = _row(out, p, tt[p, i, T_KEY], bits)
                out[p, j, :] = tt[p, i, :]
    return out


@njit(cache=True, inline="always")
def _as_i32(value: int) -> int:
    """A 32-bit pattern as the signed value an int32 array holds."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


@njit(cache=True, nogil=True)
def _replay_part(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    hashes: npt.NDArray[np.int64],
    entries: npt.NDArray[np.int64],
    p: int,
    tt: npt.NDArray[np.int32],
    na: npt.NDArray[np.int32],
    eb: npt.NDArray[np.uint8],
    used: npt.NDArray[np.int64],
    filled: npt.NDArray[np.int64],
    cap: int,
) -> None:
    """Replay part ``p`` of the records starting at ``starts`` (in order) into its table;
    ``hashes`` and ``entries`` are their rows' payload hashes and arena offsets
    (:func:`store_entries`), record after record."""
    bits = _bits(tt.shape[1])
    base = 0
    for pos in starts:
        rows = _le32(buf, pos + 4)
        first = base
        base += rows
        parts = _byte(buf, pos + 8) | (_byte(buf, pos + 9) << 8)
        if p >= parts:
            continue
        keys_at = pos + HEADER + 4 * rows * p
        q = pos + HEADER + 4 * rows * parts
        for r in range(rows):
            length = (_byte(buf, q) << 8) | _byte(buf, q + 1)
            p0 = q + 2
            t = _be32(buf, p0 + length)
            q = p0 + length + 4
            hashed = hashes[first + r]
            low = _as_i32(int(np.int64(np.uint64(hashed) & _LOW)))
            high = _as_i32(int(np.int64(np.uint64(hashed) >> np.uint64(32))))
            key = _as_i32(_le32(buf, keys_at + 4 * r))
            i = _row(tt, p, key, bits)
            when = t
            if tt[p, i, T_COUNT] == 0:
                filled[p] += 1
                tt[p, i, T_KEY] = key
                tt[p, i, T_LAST] = -1
                tt[p, i, T_COUNT] = 0
            else:
                prev, node = -1, tt[p, i, T_FIRST]
                while node >= 0:
                    if (
                        na[p, node + N_HASH] == low
                        and na[p, node + N_HASH_HIGH] == high
                        and na[p, node + N_LENGTH] == length
                    ):
                        at = na[p, node + N_ENTRY]
                        same = True
                        for j in range(length):
                            if eb[at + j] != buf[p0 + j]:
                                same = False
                                break
                        if same:
                            when = max(when, int(na[p, node + N_TIME]) & 0xFFFFFFFF)
                            after = na[p, node + N_NEXT]
                            if prev < 0:
                                tt[p, i, T_FIRST] = after
                            else:
                                na[p, prev + N_NEXT] = after
                            if after < 0:
                                tt[p, i, T_LAST] = prev
                            tt[p, i, T_COUNT] -= 1
                            break
                    prev, node = node, na[p, node + N_NEXT]
                while tt[p, i, T_COUNT] >= cap and tt[p, i, T_FIRST] >= 0:
                    tt[p, i, T_FIRST] = na[p, tt[p, i, T_FIRST] + N_NEXT]
                    if tt[p, i, T_FIRST] < 0:
                        tt[p, i, T_LAST] = -1
                    tt[p, i, T_COUNT] -= 1
            n = used[p]
            used[p] = n + NODE_WORDS
            na[p, n + N_NEXT] = -1
            na[p, n + N_TIME] = _as_i32(when)
            na[p, n + N_HASH] = low
            na[p, n + N_HASH_HIGH] = high
            na[p, n + N_LENGTH] = length
            na[p, n + N_ENTRY] = entries[first + r]
            last = tt[p, i, T_LAST]
            if last < 0:
                tt[p, i, T_FIRST] = n
            else:
                na[p, last + N_NEXT] = n
            tt[p, i, T_LAST] = n
            tt[p, i, T_COUNT] += 1


@njit(cache=True, nogil=True)
def record_starts(buf: npt.NDArray[np.uint8], start: int, stop: int) -> npt.NDArray[np.int64]:
    """Where each record of ``buf[start:stop]`` (whole, checked records) starts."""
    n, pos = 0, start
    while pos < stop:
        pos += _le32(buf, pos)
        n += 1
    out = np.empty(n, dtype=np.int64)
    pos = start
    for j in range(n):
        out[j] = pos
        pos += _le32(buf, pos)
    return out


@njit(cache=True, nogil=True)
def store_entries(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    eb: npt.NDArray[np.uint8],
    ends: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Copy every row's payload into the arena after ``ends[0]`` (room made for them), record
    after record, and return each row's 64-bit FNV-1a hash (its bits as a signed integer) and
    offset in the arena: done once, shared by the parts."""
    n = 0
    for pos in starts:
        n += _le32(buf, pos + 4)
    hashes = np.empty(n, dtype=np.int64)
    entries = np.empty(n, dtype=np.int64)
    at = 0
    e = ends[0]
    for pos in starts:
        rows = _le32(buf, pos + 4)
        parts = _byte(buf, pos + 8) | (_byte(buf, pos + 9) << 8)
        q = pos + HEADER + 4 * rows * parts
        for _ in range(rows):
            length = (_byte(buf, q) << 8) | _byte(buf, q + 1)
            h = _FNV_OFFSET
            for j in range(q + 2, q + 2 + length):
                h = (h ^ np.uint64(buf[j])) * _FNV_PRIME
            hashes[at] = np.int64(h)
            entries[at] = e
            eb[e : e + length] = buf[q + 2 : q + 2 + length]
            e += length
            at += 1
            q += 6 + length
    ends[0] = e
    return hashes, entries


@njit(cache=True, nogil=True)
def replay_serial(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    hashes: npt.NDArray[np.int64],
    entries: npt.NDArray[np.int64],
    tt: npt.NDArray[np.int32],
    na: npt.NDArray[np.int32],
    eb: npt.NDArray[np.uint8],
    used: npt.NDArray[np.int64],
    filled: npt.NDArray[np.int64],
    cap: int,
) -> None:
    """Replay the records (checked by :func:`measure_records`, with room made for them) in
    order, as ``probe_add_buckets.lua`` adds entries: a repeat of an entry already in the
    bucket moves to the end and keeps the newer time; past ``cap`` the oldest go."""
    for p in range(tt.shape[0]):
        _replay_part(buf, starts, hashes, entries, p, tt, na, eb, used, filled, cap)


@njit(cache=True, nogil=True, parallel=True)
def replay_parallel(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    hashes: npt.NDArray[np.int64],
    entries: npt.NDArray[np.int64],
    tt: npt.NDArray[np.int32],
    na: npt.NDArray[np.int32],
    eb: npt.NDArray[np.uint8],
    used: npt.NDArray[np.int64],
    filled: npt.NDArray[np.int64],
    cap: int,
) -> None:
    """:func:`replay_serial`, a thread per part (parts share no memory they write)."""
    for p in prange(tt.shape[0]):
        _replay_part(buf, starts, hashes, entries, p, tt, na, eb, used, filled, cap)


@njit(cache=True, nogil=True)
def _probe_part(
    keys: npt.NDArray[np.uint32],
    p: int,
    tt: npt.NDArray[np.int32],
    na: npt.NDArray[np.int32],
    eb: npt.NDArray[np.uint8],
    oldest: int,
    fill: bool,
    where: npt.NDArray[np.int64],
    total: int,
    used: int,
    hits: npt.NDArray[np.int64],
    data: npt.NDArray[np.uint8],
) -> tuple[int, int]:
    """Part ``p``'s hits, counted, noting each row's bucket in ``where`` (-1: none), or, with
    ``fill``, written from ``total``/``used`` on (the buckets as noted)."""
    bits = _bits(tt.shape[1])
    for r in range(keys.shape[0]):
        if fill:
            i = where[p, r]
            if i < 0:
                continue
        else:
            i = _row(tt, p, _as_i32(int(np.int64(keys[r, p]))), bits)
            if tt[p, i, T_COUNT] == 0:
                where[p, r] = -1
                continue
            where[p, r] = i
        node = tt[p, i, T_FIRST]
        while node >= 0:
            when = int(na[p, node + N_TIME]) & 0xFFFFFFFF
            if when >= oldest:
                length = int(na[p, node + N_LENGTH])
                if fill:
                    at = na[p, node + N_ENTRY]
                    data[used : used + length] = eb[at : at + length]
                    hits[total, 0] = r
                    hits[total, 1] = p
                    hits[total, 2] = used
                    hits[total, 3] = length
                    hits[total, 4] = when
                    hits[total, 5] = (int(na[p, node + N_HASH_HIGH]) << 32) | (
                        int(na[p, node + N_HASH]) & 0xFFFFFFFF
                    )
                total += 1
                used += length
            node = na[p, node + N_NEXT]
    return total, used


@njit(cache=True, nogil=True, parallel=True)
def _probe_counts(
    keys: npt.NDArray[np.uint32],
    tt: npt.NDArray[np.int32],
    na: npt.NDArray[np.int32],
    eb: npt.NDArray[np.uint8],
    oldest: int,
    counts: npt.NDArray[np.int64],
    where: npt.NDArray[np.int64],
) -> None:
    empty_h = np.empty((0, 6), dtype=np.int64)
    empty_d = np.empty(0, dtype=np.uint8)
    for p in prange(keys.shape[1]):
        total, used = _probe_part(keys, p, tt, na, eb, oldest, False, where, 0, 0, empty_h, empty_d)
        counts[p, 0] = total
        counts[p, 1] = used


@njit(cache=True, nogil=True, parallel=True)
def _probe_fill(
    keys: npt.NDArray[np.uint32],
    tt: npt.NDArray[np.int32],
    na: npt.NDArray[np.int32],
    eb: npt.NDArray[np.uint8],
    oldest: int,
    where: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    hits: npt.NDArray[np.int64],
    data: npt.NDArray[np.uint8],
) -> None:
    for p in prange(keys.shape[1]):
        at, size = starts[p, 0], starts[p, 1]
        _probe_part(keys, p, tt, na, eb, oldest, True, where, at, size, hits, data)


@njit(cache=True, nogil=True)
def probe_serial(
    keys: npt.NDArray[np.uint32],
    tt: npt.NDArray[np.int32],
    na: npt.NDArray[np.int32],
    eb: npt.NDArray[np.uint8],
    oldest: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """The entries no older than ``oldest`` in bucket ``keys[r, p]`` of part ``p``, for every
    part and row (part after part, rows in order, each bucket oldest first): ``hits[k]`` is
    (row, part, payload start in the returned data, length, time, the payload's 64-bit
    hash)."""
    empty_h = np.empty((0, 6), dtype=np.int64)
    empty_d = np.empty(0, dtype=np.uint8)
    where = np.empty((keys.shape[1], keys.shape[0]), dtype=np.int64)
    total, used = 0, 0
    for p in range(keys.shape[1]):
        total, used = _probe_part(
            keys, p, tt, na, eb, oldest, False, where, total, used, empty_h, empty_d
        )
    hits = np.empty((total, 6), dtype=np.int64)
    data = np.empty(used, dtype=np.uint8)
    total, used = 0, 0
    for p in range(keys.shape[1]):
        total, used = _probe_part(keys, p, tt, na, eb, oldest, True, where, total, used, hits, data)
    return hits, data


def probe_parallel(
    keys: npt.NDArray[np.uint32],
    tt: npt.NDArray[np.int32],
    na: npt.NDArray[np.int32],
    eb: npt.NDArray[np.uint8],
    oldest: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """:func:`probe_serial`, a thread per part: count, then fill at each part's offsets."""
    parts = keys.shape[1]
    counts = np.zeros((parts, 2), dtype=np.int64)
    where = np.empty((parts, keys.shape[0]), dtype=np.int64)
    _probe_counts(keys, tt, na, eb, oldest, counts, where)
    starts = np.zeros((parts, 2), dtype=np.int64)
    np.cumsum(counts[:-1], axis=0, out=starts[1:])
    total, used = counts.sum(axis=0).tolist()
    hits = np.empty((total, 6), dtype=np.int64)
    data = np.empty(used, dtype=np.uint8)
    _probe_fill(keys, tt, na, eb, oldest, where, starts, hits, data)
    return hits, data
