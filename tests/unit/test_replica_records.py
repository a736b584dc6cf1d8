"""The records a replica appends to its slots' logs (``LogReplica.records``, one kernel call)
against the record format written out in plain Python from ``state._replica_kernels``' docs."""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from state.buckets import BucketPolicy, Buckets
from state.inline import MAX_TIME, ProbeAdd
from state.replica import LogReplica

NOW = 1_700_000_000.0


def _reference(probe: ProbeAdd, policy: BucketPolicy, now: float) -> dict[int, bytes]:
    """One record per slot: the rows added to it, in row order (header, keys part after part,
    framed entries)."""
    by_slot: dict[int, list[int]] = {}
    for i in range(probe.rows):
        t = float(probe.times[i])
        if not probe.add[i] or math.isnan(t) or t < now - policy.window_s:
            continue
        slot = math.floor(min(t, now) / policy.slot_s)
        if slot >= 0:
            by_slot.setdefault(slot, []).append(i)
    records = {}
    for slot in sorted(by_slot):
        rows = by_slot[slot]
        keys = b"".join(
            struct.pack("<I", int(probe.fields[i, p]) >> 32)
            for p in range(probe.parts)
            for i in rows
        )
        entries = b""
        for i in rows:
            payload = probe.payload(i)
            second = int(min(max(float(probe.times[i]), 0.0), float(MAX_TIME)))  # floor
            entries += struct.pack(">H", len(payload)) + payload + struct.pack(">I", second)
        size = 12 + len(keys) + len(entries)
        records[slot] = struct.pack("<IIHH", size, len(rows), probe.parts, 0) + keys + entries
    return records


_ROW = st.tuples(
    st.binary(max_size=40),
    st.one_of(
        st.floats(NOW - 400.0, NOW + 100.0),  # in the window, some ahead of the clock
        st.floats(-50.0, 50.0),  # before slot 0
        st.sampled_from([NOW - 10_000.0, math.inf, -math.inf, math.nan]),
    ),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(_ROW, max_size=24),
    parts=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    window_s=st.sampled_from([60.0, 300.0, 3600.0]),
    slots_per_window=st.sampled_from([1, 2, 7]),
)
def test_records_match_the_format(
    rows: list[tuple[bytes, float, bool]],
    parts: int,
    seed: int,
    window_s: float,
    slots_per_window: int,
) -> None:
    rng = np.random.default_rng(seed)
    n = len(rows)
    fields = rng.integers(0, 2**64 - 1, size=(n, parts), dtype=np.uint64, endpoint=True)
    payloads = b"".join(payload for payload, _, _ in rows)
    offsets = np.zeros(n + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(payload) for payload, _, _ in rows])
    probe = ProbeAdd(
        Buckets.LSH,
        fields,
        payloads,
        offsets,
        np.array([t for _, t, _ in rows], dtype=np.float64),
        np.array([add for _, _, add in rows], dtype=np.bool_),
    )
    policy = BucketPolicy(window_s, 8, slots_per_window)
    replica = LogReplica(Buckets.LSH, "t", policy)
    assert replica.records(probe, NOW) == _reference(probe, policy, NOW)


def test_rows_of_several_slots_make_one_record_each_in_slot_order() -> None:
    policy = BucketPolicy(120.0 * 30, 8, 30)  # slots of 120 s
    times = np.array([NOW, NOW - 240.0, NOW - 1.0, NOW - 239.0], dtype=np.float64)
    probe = ProbeAdd(
        Buckets.LSH,
        np.arange(8, dtype=np.uint64).reshape(4, 2) << np.uint64(32),
        b"abcd",
        np.arange(5, dtype=np.int64),
        times,
        np.ones(4, dtype=np.bool_),
    )
    records = LogReplica(Buckets.LSH, "t", policy).records(probe, NOW)
    assert list(records) == sorted(records) and len(records) == 2
    older, newer = records.values()
    assert struct.unpack_from("<II", older) == (len(older), 2)  # rows 1 and 3
    assert older.endswith(b"d" + struct.pack(">I", int(NOW - 239.0)))
    assert struct.unpack_from("<II", newer) == (len(newer), 2)  # rows 0 and 2
    assert newer.endswith(b"c" + struct.pack(">I", int(NOW - 1.0)))
    assert records == _reference(probe, policy, NOW)
