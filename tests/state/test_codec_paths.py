"""The bucket codecs' small-batch paths give exactly what their general paths give.

A batch of a few listings is encoded and decoded in plain Python (or one kernel call) rather
than with a dozen array calls; these property tests hold every such path to the general one,
byte for byte: the commit layout kernel to the array implementation it replaced (kept here as
the reference), and each plain-Python path to its array path (forced with ``FEW = 0``).
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state import bucket_codec, buckets, inline_codec
from state.bucket_codec import MEMBER, RECORD, TIME, commit_args, fetch_args, read_fetch
from state.buckets import BucketHits, BucketPolicy, BucketQuery, BucketRows, Buckets, HitsBuilder
from state.inline import InlineHits, ProbeAdd
from state.keys import bucket_base, bucket_entries_base

NOW = 1_800_000_000.0
POLICIES = {kind: BucketPolicy(window_s=100.0, max_entries=3) for kind in Buckets}
BIG = (1 << 64) - 1
FIELDS = st.sampled_from([0, 1, 7, 65535, 1 << 40, BIG - 1, BIG])
TIMES = st.sampled_from([NOW, NOW - 1, NOW - 49.9, NOW - 50, NOW - 99, NOW - 100, NOW - 101])
TIMES_ANY = st.one_of(TIMES, st.floats(NOW - 300, NOW + 300), st.just(math.inf))
IDS = st.sampled_from(["s", "s2", "store|:ünï 店", "a\x1fb", "\x1c", ""])


# --- the array implementation that commit_layout replaced: the reference ---


def _reference_records(rows: BucketRows) -> tuple[str, str]:
    times = rows.times.tolist()
    blob = "".join(
        f"{RECORD}{bucket_codec._escape(store)}{MEMBER}{bucket_codec._escape(ref)}{TIME}{t:.3f}"
        for store, ref, t in zip(rows.stores, rows.refs, times, strict=True)
    )
    handles = "".join(
        base64.urlsafe_b64encode(
            hashlib.blake2b(f"{store}{MEMBER}{ref}".encode(), digest_size=9).digest()
        ).decode("ascii")
        for store, ref in zip(rows.stores, rows.refs, strict=True)
    )
    return blob, handles


def _runs(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return starts, np.diff(np.concatenate((starts, [len(values)])))


def _reference_commit_args(
    writes: Sequence[BucketRows], prefix: str, now: float
) -> list[Any] | None:
    args: list[Any] = [0]
    for rows in writes:
        if len(rows.entries) == 0:
            continue
        policy = POLICIES[rows.kind]
        times = rows.times[rows.entries]
        keep = times >= now - policy.window_s
        if not keep.any():
            continue
        slots = np.floor(np.minimum(times, now) / policy.slot_s).astype(np.int64)[keep]
        parts = rows.parts[keep].astype(np.int64, copy=False)
        fields = rows.fields[keep].astype(np.uint64, copy=False)
        numbers = rows.entries[keep].astype(np.int64, copy=False)
        blob, handles = _reference_records(rows)
        args[0] += 1
        args += [blob, handles.encode()]
        slot_entries = np.unique(np.stack((slots, numbers)), axis=1)
        slot_starts, slot_counts = _runs(slot_entries[0])
        args.append(len(slot_starts))
        for start, count in zip(slot_starts.tolist(), slot_counts.tolist(), strict=True):
            slot = int(slot_entries[0, start])
            args += [
                f"{bucket_entries_base(prefix, rows.kind)}:{slot}",
                bucket_codec._ttl(policy, slot, now),
                slot_entries[1, start : start + count].astype(">u4").tobytes(),
            ]
        order = np.lexsort((numbers, fields, slots, parts))
        parts, slots, fields, numbers = parts[order], slots[order], fields[order], numbers[order]
        group_key = parts * (1 << 32) + (slots - slots.min())
        group_starts, group_counts = _runs(group_key)
        args.append(len(group_starts))
        for start, count in zip(group_starts.tolist(), group_counts.tolist(), strict=True):
            stop = start + count
            part, slot = int(parts[start]), int(slots[start])
            field_starts, field_counts = _runs(fields[start:stop])
            args += [
                f"{bucket_base(prefix, rows.kind, part)}:{slot}",
                policy.max_entries,
                bucket_codec._ttl(policy, slot, now),
                fields[start:stop][field_starts].astype(">u8").tobytes(),
                numbers[start:stop].astype(">u4").tobytes(),
                b"" if len(field_starts) == count else field_counts.astype(">u4").tobytes(),
            ]
    return args if args[0] else None


@st.composite
def bucket_rows(draw: st.DrawFn) -> BucketRows:
    """Entries (some old, some ahead of the clock) filed in a few parts and bucket values,
    some taking several entries, some entries in several buckets."""
    entries = draw(st.lists(st.tuples(IDS, IDS, TIMES_ANY), min_size=1, max_size=8))
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, 3), FIELDS, st.integers(0, len(entries) - 1)),
            max_size=40,
        )
    )
    return BucketRows(
        draw(st.sampled_from([Buckets.PHASH, Buckets.SIGNAL])),
        np.array([p for p, _, _ in rows], dtype=np.int64),
        np.array([f for _, f, _ in rows], dtype=np.uint64),
        np.array([e for _, _, e in rows], dtype=np.int64),
        [s for s, _, _ in entries],
        [r for _, r, _ in entries],
        np.array([t for _, _, t in entries], dtype=np.float64),
    )


def _unpacked(args: list[Any] | None) -> list[Any] | None:
    """Commit arguments laid out as the reference lays them out (every slot and group as
    its own arguments, which the packed form carries in a header and one string)."""
    if args is None:
        return None
    out: list[Any] = [args[0]]
    at = 1
    for _ in range(args[0]):
        blob, handles, entries_base, buckets_base, cap, header, packed = args[at : at + 7]
        at += 7
        meta = [int(v) for v in header.split(",")]
        out += [blob, handles, meta[0]]
        m, p = 1, 0
        for _ in range(meta[0]):
            slot, ttl, n = meta[m : m + 3]
            m += 3
            out += [f"{entries_base}:{slot}", ttl, packed[p : p + 4 * n]]
            p += 4 * n
        out.append(meta[m])
        groups, m = meta[m], m + 1
        for _ in range(groups):
            part, slot, ttl, distinct, n, counted = meta[m : m + 6]
            m += 6
            values, numbers = packed[p : p + 8 * distinct], packed[p + 8 * distinct :][: 4 * n]
            p += 8 * distinct + 4 * n
            counts = packed[p : p + 4 * distinct] if counted else b""
            p += len(counts)
            out += [f"{buckets_base}{part}:{slot}", cap, ttl, values, numbers, counts]
        assert p == len(packed)
    return out


@settings(max_examples=300, deadline=None, derandomize=True)
@given(writes=st.lists(bucket_rows(), max_size=3))
def test_commit_args_are_those_of_the_array_implementation(writes: list[BucketRows]) -> None:
    found = _unpacked(commit_args(writes, POLICIES, "p", NOW))
    assert found == _reference_commit_args(writes, "p", NOW)


def test_a_commit_row_naming_a_missing_entry_is_refused() -> None:
    rows = BucketRows(
        Buckets.PHASH,
        np.zeros(1, dtype=np.int64),
        np.zeros(1, dtype=np.uint64),
        np.array([3], dtype=np.int64),
        ["s"],
        ["r"],
        np.array([NOW]),
    )
    with pytest.raises(IndexError):
        commit_args([rows], POLICIES, "p", NOW)


# --- plain-Python paths against the array paths ---


@contextmanager
def _general() -> Iterator[None]:
    """Send every size down the array paths."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bucket_codec, "FEW", 0)
        patch.setattr(buckets, "FEW_HITS", 0)
        patch.setattr(inline_codec, "FEW_ROWS", 0)
        yield


def _plain(value: Any) -> Any:
    """Arrays as lists, for comparing plans and hits made either way."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _hits(hits: BucketHits) -> tuple[Any, ...]:
    return (
        hits.entries,
        hits.parts.dtype,
        hits.parts.tolist(),
        hits.values.dtype,
        hits.values.tolist(),
        hits.entry.dtype,
        hits.entry.tolist(),
    )


queries = st.lists(
    st.tuples(
        st.sampled_from([Buckets.PHASH, Buckets.SIGNAL]),
        st.lists(st.tuples(st.integers(0, 3), FIELDS), max_size=12),
    ),
    min_size=1,
    max_size=3,
)


def _queries(drawn: list[tuple[Buckets, list[tuple[int, int]]]]) -> list[BucketQuery]:
    return [
        BucketQuery(
            kind,
            np.array([p for p, _ in pairs], dtype=np.int64),
            np.array([f for _, f in pairs], dtype=np.uint64),
        )
        for kind, pairs in drawn
    ]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(drawn=queries)
def test_fetch_args_are_the_same_either_way(
    drawn: list[tuple[Buckets, list[tuple[int, int]]]],
) -> None:
    few_args, few_plan = fetch_args(_queries(drawn), POLICIES, "p", NOW)
    with _general():
        args, plan = fetch_args(_queries(drawn), POLICIES, "p", NOW)
    assert few_args == args
    assert _plain(few_plan) == _plain(plan)


def _handle(store: str, ref: str) -> bytes:
    return bucket_codec.handle(store, ref).encode()


@st.composite
def fetch_replies(draw: st.DrawFn) -> tuple[list[Any], Any]:
    """A plan and the answer fetch_buckets.lua could give to it: buckets holding handles
    (some unknown, some repeated, some with trailing NULs), records (some malformed, some
    outside the window, some with escapes) and store statuses."""
    drawn = draw(queries)
    _, plan = fetch_args(_queries(drawn), POLICIES, "p", NOW)
    known = draw(
        st.lists(
            st.tuples(IDS, st.sampled_from(["1", "2", "x\x1cy"]), TIMES), min_size=1, max_size=6
        )
    )
    reply: list[Any] = []
    for _kind, groups in plan:
        for _part, values in groups:
            flat: list[Any] = []
            for j in range(len(values)):
                if not draw(st.booleans()):
                    continue
                picks = draw(st.lists(st.integers(-1, len(known) - 1), min_size=1, max_size=5))
                run = b"".join(b"unknownhandl" if k < 0 else _handle(*known[k][:2]) for k in picks)
                flat += [str(j + 1).encode(), run]
            reply.append(flat)
        records: list[Any] = []
        for store, ref, t in known:
            escaped = bucket_codec._escape(store) + MEMBER + bucket_codec._escape(ref)
            when = draw(st.sampled_from([f"{t:.3f}", f"{t:.3f}", "x", f"{t:.3f}\x00"]))
            records += [_handle(store, ref), f"{escaped}{TIME}{when}".encode()]
        reply.append(records)
    reply.append([b"s", b"1", b"0", b"0"])
    return reply, plan


@settings(max_examples=200, deadline=None, derandomize=True)
@given(case=fetch_replies())
def test_fetch_replies_read_the_same_either_way(case: tuple[list[Any], Any]) -> None:
    reply, plan = case
    few, statuses = read_fetch(reply, plan, POLICIES, NOW)
    with _general():
        general, general_statuses = read_fetch(reply, plan, POLICIES, NOW)
    assert statuses == general_statuses
    assert {k: _hits(v) for k, v in few.items()} == {k: _hits(v) for k, v in general.items()}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    entries=st.lists(st.tuples(IDS, IDS, TIMES), min_size=1, max_size=8),
    rows=st.lists(st.tuples(st.integers(0, 2), FIELDS, st.integers(0, 7)), max_size=40),
    split=st.integers(0, 40),
    cap=st.integers(1, 4),
)
def test_hits_are_built_the_same_either_way(
    entries: list[tuple[str, str, float]],
    rows: list[tuple[int, int, int]],
    split: int,
    cap: int,
) -> None:
    def build() -> BucketHits:
        builder = HitsBuilder(NOW - 100, cap)
        numbers = [builder.entry(*entry) for entry in entries]
        found = [(p, v, numbers[e % len(numbers)]) for p, v, e in rows]
        arrays, few = found[:split], found[split:]
        builder.add(
            np.array([r[0] for r in arrays], dtype=np.int64),
            np.array([r[1] for r in arrays], dtype=np.uint64),
            np.array([r[2] for r in arrays], dtype=np.int64),
        )
        builder.add_few(few)
        return builder.build()

    few = build()
    with _general():
        general = build()
    assert _hits(few) == _hits(general)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    rows=st.lists(
        st.tuples(
            st.lists(FIELDS, min_size=3, max_size=3),
            st.binary(max_size=6),
            st.one_of(TIMES_ANY, st.sampled_from([-5.0, 0.5, 4294967295.5, 1e12, -math.inf])),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
    now=st.sampled_from([NOW, NOW + 0.5, 10.0, 5e9]),
)
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # -inf, array path
def test_probe_args_are_the_same_either_way(
    rows: list[tuple[list[int], bytes, float, bool]],
    now: float,
) -> None:
    sizes = [len(payload) for _, payload, _, _ in rows]
    probe = ProbeAdd(
        Buckets.LSH,
        np.array([fields for fields, _, _, _ in rows], dtype=np.uint64),
        b"".join(payload for _, payload, _, _ in rows),
        np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
        np.array([t for _, _, t, _ in rows], dtype=np.float64),
        np.array([added for *_, added in rows], dtype=np.bool_),
    )
    policy = POLICIES[Buckets.LSH]
    few = inline_codec.probe_args(probe, policy, "p", now)
    with _general():
        assert inline_codec.probe_args(probe, policy, "p", now) == few


def _bucket(entries: list[tuple[bytes, int]]) -> bytes:
    body = b"".join(len(p).to_bytes(2, "big") + p + t.to_bytes(4, "big") for p, t in entries)
    return len(entries).to_bytes(2, "big") + body


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    blobs=st.lists(
        st.one_of(
            st.just([]),  # a slot that was not read
            st.lists(  # every row's bucket, and a fourth value that was not asked for
                st.one_of(
                    st.none(),
                    st.lists(st.tuples(st.binary(max_size=4), st.integers(0, 200)), max_size=3),
                ),
                min_size=3,
                max_size=4,
            ),
        ),
        max_size=7,  # the plan answers 6: a seventh is ignored
    ),
    window=st.sampled_from([10.0, 100.0, 1000.0]),
)
def test_probe_answers_keep_what_the_window_keeps(
    blobs: list[list[list[tuple[bytes, int]] | None]], window: float
) -> None:
    """The window is applied while parsing: the same hits as parsing everything, then
    ``InlineHits.within``; and every entry of every row asked for is found."""
    reply = [[None if entries is None else _bucket(entries) for entries in blob] for blob in blobs]
    plan = inline_codec.ProbePlan(first_slot=0, last_slot=1, parts=3, rows=3)
    now = 150.0
    found = inline_codec.read_probe(reply, plan, BucketPolicy(window, 3), now)
    everything = inline_codec.read_probe(reply, plan, BucketPolicy(1e9, 3), now)
    expected = everything.within(now - window)

    def rows(hits: InlineHits) -> list[tuple[int, int, bytes, int]]:
        return [
            (int(hits.row[k]), int(hits.part[k]), hits.payload(k), int(hits.time[k]))
            for k in range(len(hits))
        ]

    assert rows(found) == rows(expected)
    written = [
        (row, b % 3, payload, t)
        for b, blob in enumerate(blobs[:6])
        for row, entries in enumerate(blob[:3])
        for payload, t in entries or ()
    ]
    assert sorted(rows(everything)) == sorted(written)
