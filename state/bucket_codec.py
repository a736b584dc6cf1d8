"""Arguments and answers of the bucket-table scripts (``scripts/*_buckets.lua``).

Layout, per bucket kind and time slot (``state.keys``):

- one hash per part, ``<prefix>:<kind>:<part>:<slot>``: 8-byte bucket value -> a run of
  12-character entry handles (newest last, at most the cap);
- one entry hash, ``<prefix>:<kind>:e:<slot>``: handle -> ``<store>\\x1f<ref>\\x1e<time>``.

A listing sits in several buckets (one per image-hash chunk), so buckets hold a 12-byte handle
instead of its record: the record is stored once. (Title bands, met by the thousand, are an
inline table instead: ``state.inline_codec``.) A handle is 72 bits of
BLAKE2b of ``<store>\\x1f<ref>``, so adding the same entry twice touches the same handle (one
chance collision in about 10^6 among 10^8 entries; it would drop one of the two from a bucket).

Everything a batch sends is packed into a few strings per part and slot (bucket values as
8-byte big-endian words, entry numbers as 4-byte words, records and handles concatenated once),
so the client encodes a handful of arguments per batch instead of tens of thousands, and the
script issues one command per slot key instead of one per bucket.

Store ids and refs containing the control characters U+001C..U+001F are escaped (``\\x1c``
followed by the character + 0x20); such a store id is then not found by the status lookup,
which the contract's ids never need.
"""

from __future__ import annotations

import binascii
import hashlib
import math
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from state._bucket_kernels import commit_layout
from state.buckets import (
    BucketHits,
    BucketPolicy,
    BucketQuery,
    BucketRows,
    Buckets,
    HitsBuilder,
)
from state.keys import bucket_base, bucket_entries_base, kind_base

RECORD, MEMBER, TIME, ESCAPE = "\x1d", "\x1f", "\x1e", "\x1c"
HANDLE_CHARS = 12
_CONTROL = re.compile("[\x1c-\x1f]")
_ESCAPED = re.compile("\x1c([<-?])")
GRACE_S = 86400.0
"""Keys outlive the window by a day of wall-clock time, as series keys do."""


def _escape(text: str) -> str:
    return _CONTROL.sub(lambda m: ESCAPE + chr(ord(m.group()) + 0x20), text)


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: chr(ord(m.group(1)) - 0x20), text)


def handle(store_id: str, ref: str) -> str:
    """The 12-character handle of an entry (URL-safe base64 of 9 bytes of BLAKE2b)."""
    return _handle(f"{store_id}{MEMBER}{ref}").decode("ascii")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _handle(member: str) -> bytes:
    """:func:`handle` of ``<store>\\x1f<ref>``, as bytes (what travels)."""
    digest = hashlib.blake2b(member.encode(), digest_size=9).digest()
    return binascii.b2a_base64(digest, newline=False).translate(_URL_SAFE)


def slot_of(t: float, policy: BucketPolicy) -> int:
    return math.floor(t / policy.slot_s)


def _slots(policy: BucketPolicy, now: float) -> tuple[int, int]:
    """The slots that overlap the window ending at ``now``."""
    return slot_of(now - policy.window_s, policy), slot_of(now, policy)


def _ttl(policy: BucketPolicy, slot: int, now: float) -> int:
    """Seconds until the slot has left the window, plus a day."""
    ttl = math.ceil((slot + 1) * policy.slot_s + policy.window_s - now + GRACE_S)
    return max(ttl, int(GRACE_S))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


Plan = list[tuple[Buckets, list[tuple[int, Sequence[int] | npt.NDArray[np.uint64]]]]]
"""The groups a fetch asked for, per kind in order: (part, its distinct bucket values, sorted)."""

FEW = 256
"""Up to this many rows (bucket lookups, entries to file, handles read back), arguments and
answers are handled in plain Python: array calls cost microseconds each whatever their size,
which is most of the work of a small batch. The two ways give the same bytes and hits."""


def fetch_args(
    queries: Sequence[BucketQuery],
    policies: Mapping[Buckets, BucketPolicy],
    prefix: str,
    now: float,
) -> tuple[list[Any], Plan]:
    """ARGV for ``fetch_buckets.lua`` and the plan to read its answer with."""
    by_kind: dict[Buckets, list[BucketQuery]] = {}
    for query in queries:
        by_kind.setdefault(query.kind, []).append(query)
    args: list[Any] = [prefix, len(by_kind)]
    plan: Plan = []
    for kind, found in by_kind.items():
        few = sum(len(q.parts) for q in found) <= FEW
        groups: list[tuple[int, Any]] = _groups_few(found) if few else _groups(found)
        lo, hi = _slots(policies[kind], now)
        args += [bucket_entries_base(prefix, kind), lo, hi, len(groups)]
        for part, values in groups:
            args += [bucket_base(prefix, kind, part), _u64s(values)]
        plan.append((kind, groups))
    return args, plan


def _groups(found: Sequence[BucketQuery]) -> list[tuple[int, npt.NDArray[np.uint64]]]:
    """Each part asked for, with its distinct bucket values (sorted)."""
    parts = np.concatenate([q.parts for q in found]).astype(np.int64, copy=False)
    fields = np.concatenate([q.fields for q in found]).astype(np.uint64, copy=False)
    return [(part, np.unique(fields[parts == part])) for part in np.unique(parts).tolist()]


def _groups_few(found: Sequence[BucketQuery]) -> list[tuple[int, list[int]]]:
    """:func:`_groups` for a few lookups, in plain Python."""
    values: dict[int, set[int]] = {}
    for q in found:
        parts = q.parts.astype(np.int64, copy=False).tolist()
        fields = q.fields.astype(np.uint64, copy=False).tolist()
        for part, field in zip(parts, fields, strict=True):
            known = values.get(part)
            if known is None:
                values[part] = {field}
            else:
                known.add(field)
    return [(part, sorted(values[part])) for part in sorted(values)]


def _u64s(values: Sequence[int] | npt.NDArray[np.uint64]) -> bytes:
    """Bucket values as 8-byte big-endian words."""
    if isinstance(values, np.ndarray):
        return values.astype(">u8").tobytes()
    return struct.pack(f">{len(values)}Q", *values)


def read_fetch(
    rows: Sequence[Any],
    plan: Plan,
    policies: Mapping[Buckets, BucketPolicy],
    now: float,
) -> tuple[dict[Buckets, BucketHits], list[Any]]:
    """The buckets found (window and cap applied) and the flat store-status list.

    Records are parsed once per distinct entry; the handles of all buckets are resolved as
    arrays (a batch can meet tens of thousands of them in hot buckets), or one by one when
    there are a few.
    """
    hits: dict[Buckets, BucketHits] = {}
    at = 0
    for kind, groups in plan:
        flats = rows[at : at + len(groups)]
        records = rows[at + len(groups)]
        at += len(groups) + 1
        policy = policies[kind]
        builder = HitsBuilder(now - policy.window_s, policy.max_entries)
        entries = _parse_records([_raw(r) for r in records[1::2]], builder)
        index = {_raw(h): e for h, e in zip(records[0::2], entries, strict=True) if e >= 0}
        for (part, values), flat in zip(groups, flats, strict=True):
            if not flat:
                continue
            runs = [_raw(flat[j + 1]) for j in range(0, len(flat), 2)]
            fields = [int(flat[j]) - 1 for j in range(0, len(flat), 2)]
            if sum(map(len, runs)) <= FEW * HANDLE_CHARS and all(
                len(run) % HANDLE_CHARS == 0 for run in runs
            ):
                _resolve_few(builder, part, values, fields, runs, index)
            else:
                _resolve(builder, part, values, fields, runs, index)
        built = builder.build()
        if len(built.entry):
            hits[kind] = built
    return hits, list(rows[at]) if len(rows) > at else []


def _resolve(
    builder: HitsBuilder,
    part: int,
    values: Sequence[int] | npt.NDArray[np.uint64],
    fields: list[int],
    runs: list[bytes],
    index: dict[bytes, int],
) -> None:
    """File the handles of one part's buckets (``runs[k]`` is bucket ``values[fields[k]]``)."""
    counts = np.array([len(run) // HANDLE_CHARS for run in runs], dtype=np.int64)
    handles = np.frombuffer(b"".join(runs), dtype=f"S{HANDLE_CHARS}")
    distinct, inverse = np.unique(handles, return_inverse=True)
    resolved = np.array([index.get(bytes(h), -1) for h in distinct], dtype=np.int64)
    entry_of = resolved[inverse]
    found = entry_of >= 0
    bucket_values = np.repeat(
        np.asarray(values, dtype=np.uint64)[np.array(fields, dtype=np.int64)], counts
    )
    builder.add(
        np.full(int(found.sum()), part, dtype=np.int64),
        bucket_values[found],
        entry_of[found],
    )


def _resolve_few(
    builder: HitsBuilder,
    part: int,
    values: Sequence[int] | npt.NDArray[np.uint64],
    fields: list[int],
    runs: list[bytes],
    index: dict[bytes, int],
) -> None:
    """:func:`_resolve` for a few handles (whole ones), one by one. A handle is looked up
    without trailing NUL bytes, as the array path's fixed-width strings do."""
    found: list[tuple[int, int, int]] = []
    for field, run in zip(fields, runs, strict=True):
        value = int(values[field])
        for o in range(0, len(run), HANDLE_CHARS):
            e = index.get(run[o : o + HANDLE_CHARS].rstrip(b"\x00"), -1)
            if e >= 0:
                found.append((part, value, e))
    builder.add_few(found)


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


_SEPARATORS = re.compile("[\x1d\x1e\x1f]")


def _parse_records(raw: list[bytes], builder: HitsBuilder) -> list[int]:
    """Add ``<store>\\x1f<ref>\\x1e<time>`` records to ``builder``; their indexes (-1 for a
    malformed one). Well-formed batches are decoded, split and their times parsed in bulk."""
    if not raw:
        return []
    joined = RECORD.encode().join(raw).decode()
    fields = _SEPARATORS.split(joined)
    records = joined.split(RECORD)
    if len(fields) != 3 * len(records) or len(records) != len(raw):
        return [_parse(record, builder) for record in (r.decode() for r in raw)]
    stores, refs, whens = fields[0::3], fields[1::3], fields[2::3]
    try:
        times = _floats(whens)
    except ValueError:
        return [_parse(record, builder) for record in records]
    if ESCAPE in joined:
        stores, refs = [_unescape(x) for x in stores], [_unescape(x) for x in refs]
    entry = builder.entry
    return [entry(s, r, t) for s, r, t in zip(stores, refs, times, strict=True)]


def _floats(texts: list[str]) -> list[float]:
    """The numbers ``np.array(texts).astype(np.float64)`` reads (it parses each as ``float``
    does, once trailing NULs are gone); a few are read directly."""
    if len(texts) <= FEW:
        try:
            return [float(text) for text in texts]
        except ValueError:
            pass  # e.g. a trailing NUL, which the array path drops
    values: list[float] = np.array(texts).astype(np.float64).tolist()
    return values


def _parse(record: str, builder: HitsBuilder) -> int:
    """Add one ``<store>\\x1f<ref>\\x1e<time>`` record to ``builder``; -1 when malformed."""
    member, _, when = record.rpartition(TIME)
    store, _, ref = member.partition(MEMBER)
    if ESCAPE in member:
        store, ref = _unescape(store), _unescape(ref)
    try:
        return builder.entry(store, ref, float(when))
    except ValueError:
        return -1


def _records(rows: BucketRows) -> tuple[str, bytes]:
    """Every entry's record (joined, each led by ``\\x1d``) and handle (concatenated)."""
    times = rows.times.tolist()
    records = [
        f"{RECORD}{store}{MEMBER}{ref}{TIME}{t:.3f}"
        for store, ref, t in zip(rows.stores, rows.refs, times, strict=True)
    ]
    blob = "".join(records)
    n = len(records)
    clean = (
        blob.count(RECORD) == n
        and blob.count(MEMBER) == n
        and blob.count(TIME) == n
        and ESCAPE not in blob
    )
    if not clean:
        blob = "".join(
            f"{RECORD}{_escape(store)}{MEMBER}{_escape(ref)}{TIME}{t:.3f}"
            for store, ref, t in zip(rows.stores, rows.refs, times, strict=True)
        )
    handles = b"".join(
        _handle(f"{store}{MEMBER}{ref}") for store, ref in zip(rows.stores, rows.refs, strict=True)
    )
    return blob, handles


def commit_args(
    writes: Sequence[BucketRows],
    policies: Mapping[Buckets, BucketPolicy],
    prefix: str,
    now: float,
) -> list[Any] | None:
    """ARGV for ``commit_buckets.lua``; ``None`` when nothing is left to write.

    Entries older than the window are dropped (they would never be read); an entry is filed
    in the slot of its event time, or of ``now`` when its clock runs ahead. Each bucket group
    sends its distinct bucket values once, with the entries each one takes in arrival order.
    The layout is one kernel call per ``BucketRows`` (``commit_layout``), whatever its size.
    """
    args: list[Any] = [0]
    for rows in writes:
        if len(rows.entries) == 0:
            continue
        section = _section(rows, policies[rows.kind], prefix, now)
        if section is not None:
            args[0] += 1
            args += section
    return args if args[0] else None


def _section(rows: BucketRows, policy: BucketPolicy, prefix: str, now: float) -> list[Any] | None:
    """One ``BucketRows``' part of the ARGV (seven strings, whatever its size: each
    argument costs the client an encode); ``None`` when it writes nothing."""
    layout, packed = commit_layout(
        rows.parts.astype(np.int64, copy=False),
        rows.fields.astype(np.uint64, copy=False),
        rows.entries.astype(np.int64, copy=False),
        rows.times.astype(np.float64, copy=False),
        now - policy.window_s,
        now,
        policy.slot_s,
    )
    if len(layout) == 0:
        return None
    found = layout.tolist()
    meta: list[int] = []
    slots, i = found[0], 1
    meta.append(slots)
    for _ in range(slots):  # slot, n -> slot, ttl, n
        meta += [found[i], _ttl(policy, found[i], now), found[i + 1]]
        i += 2
    groups = found[i]
    i += 1
    meta.append(groups)
    for _ in range(groups):  # part, slot, nvalues, n, counted -> part, slot, ttl, ...
        part, slot, distinct, count, counted = found[i : i + 5]
        meta += [part, slot, _ttl(policy, slot, now), distinct, count, counted]
        i += 5
    blob, handles = _records(rows)
    return [
        blob,
        handles,
        bucket_entries_base(prefix, rows.kind),
        f"{kind_base(prefix, rows.kind)}:",
        policy.max_entries,
        ",".join(map(str, meta)),
        packed.tobytes(),
    ]


def warm() -> None:
    """Compile (or load cached) the codec's kernel before the first batch needs it."""
    rows = BucketRows(
        Buckets.PHASH,
        np.zeros(2, dtype=np.int64),
        np.zeros(2, dtype=np.uint64),
        np.array([0, 1], dtype=np.int64),
        ["s", "t"],
        ["r", "r"],
        np.ones(2, dtype=np.float64),
    )
    commit_args([rows], {Buckets.PHASH: BucketPolicy(window_s=1.0, max_entries=1)}, "warm", 1.0)
