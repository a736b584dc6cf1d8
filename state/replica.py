"""Inline tables replicated in every worker from a log in Redis: probes without Redis's CPU.

An inline table in Redis (``scripts/probe_add_buckets.lua``) costs the single-threaded server
~40 us a listing: every listing reads and rewrites one bucket per LSH band. That caps one
Redis at ~25,000 listings/s whatever the workers do. Here Redis keeps, per time slot, only an
append-only log of what each batch added (one record per batch and slot: the rows' bucket keys
and entries, ``state._replica_kernels``), and every worker replays the log into a table of its
own, in compiled arrays, before it probes:

- a batch's fetch sends one ``log_sync`` call per table (``scripts/log_sync.lua``, a part of
  the fetch's bundle): it returns the bytes other workers appended since this replica's
  cursor and appends the batch's records after them, atomically. The replica replays those
  bytes, probes the batch, then replays its own records: the probe sees the table exactly as
  Redis's order had it when the batch was added, as the in-Redis script does, and every
  worker replays the same bytes in the same order, so their tables agree;
- Redis's work per batch is a few string commands whatever its size (the log holds each entry
  once, not once per band); the worker replays ~2-4 us and probes ~3 us a listing
  (docs/performance.md);
- a replica that starts (or fell far behind) reads the log in answers of at most
  ``READ_LIMIT`` bytes a slot before its batch's records join it; a log that is reset or lost
  (a new epoch, or no key) is read again from the start; slots that left the window are
  dropped.

The cost is memory: each worker holds the whole window of its tables (~0.6 kB a listing at 12
bands: a node per band, the entry once; see docs/capacity.md), as each held its
offender copy (``state.offender_copy``). ``state.inline_tables: redis`` in the config keeps the
tables in Redis instead.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from state import _replica_kernels as k
from state.buckets import BucketPolicy, Buckets
from state.errors import StateCorrupt
from state.inline import MAX_TIME, InlineHits, ProbeAdd, bucket_keys, probe_slots
from state.inline_codec import slot_ttl
from state.keys import kind_base

HEAD = 16
"""Bytes of a log's epoch token (the records follow it)."""
READ_LIMIT = 8 << 20
"""Bytes of one slot's log a sync answers at most (a replica catching up calls again)."""
TABLE_ROWS = 1 << 18
"""Rows of a new slot table's hash table per part (131,072 buckets before it grows)."""
NODE_WORDS = 1 << 21
"""32-bit words of a new slot table's nodes per part (8 MB: ~350,000 nodes of 24 bytes)."""
ARENA_BYTES = 1 << 25
"""Bytes of a new slot table's entry arena (32 MB: ~600,000 entries of ~50 bytes). All three
are reserved, not written: the kernel maps a page when it is first touched, so a table costs
memory for what it holds, and reserving generously spares copies while it grows."""
ARENA_LIMIT = (1 << 31) - 1
"""Nodes name their entry's offset in 32 bits: a slot's arena stays below 2 GB."""


_PARALLEL = threading.Lock()
"""Held while a kernel runs its parts in threads: Numba's default threading layer is not safe
for two such launches at once (a process serving the stream and the HTTP API from two threads
holds two replicas); a launch that finds it taken runs its parts one after another."""


def _threaded(parallel: Any, serial: Any, rows: int, *args: Any) -> Any:
    """``parallel(*args)`` for ``rows`` >= ``PARALLEL_ROWS`` when no other launch holds the
    threads, else ``serial(*args)`` (the same kernel, one part after another)."""
    if rows >= k.PARALLEL_ROWS and _PARALLEL.acquire(blocking=False):
        try:
            return parallel(*args)
        finally:
            _PARALLEL.release()
    return serial(*args)


class SlotTable:
    """One time slot of a replicated table: its log's epoch, how much of it has been
    replayed, and the buckets (arrays laid out in ``state._replica_kernels``)."""

    def __init__(self, epoch: bytes) -> None:
        self.epoch = epoch
        self.cursor = HEAD
        self.tt = np.zeros((0, TABLE_ROWS, 4), dtype=np.int32)
        self.na = np.empty((0, NODE_WORDS), dtype=np.int32)
        self.eb = np.empty(ARENA_BYTES, dtype=np.uint8)
        self.used = np.zeros(0, dtype=np.int64)
        self.filled = np.zeros(0, dtype=np.int64)
        self.ends = np.zeros(1, dtype=np.int64)

    @property
    def parts(self) -> int:
        return int(self.tt.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes the table holds (what it has reserved beyond that is not mapped)."""
        return int(self.filled.sum()) * 16 * 2 + int(self.used.sum()) * 4 + int(self.ends[0])

    def _make_room(self, parts: int, rows: int, payload: int) -> None:
        """Room for ``parts`` parts, ``rows`` more buckets and nodes in each (a node may open
        a bucket; tables at most half full) and ``payload`` more bytes of entries. New arrays
        are reserved (zeros or empty), so only the parts copied into them are written."""
        top = int(self.used.max(initial=0))
        size, width = self.tt.shape[1], self.na.shape[1]
        buckets = int(self.filled.max(initial=0)) + rows
        while 2 * buckets > size:
            size *= 2
        while top + rows * k.NODE_WORDS > width:
            width *= 2
        if parts > self.parts or width > self.na.shape[1]:
            na = np.empty((max(parts, self.parts), width), dtype=np.int32)
            na[: self.parts, :top] = self.na[:, :top]
            self.na = na
        end = int(self.ends[0])
        if end + payload > len(self.eb):
            if end + payload > ARENA_LIMIT:
                raise StateCorrupt("an inline table's slot holds more than 2 GB of entries")
            eb = np.empty(min(max(2 * len(self.eb), end + payload), ARENA_LIMIT), np.uint8)
            eb[:end] = self.eb[:end]
            self.eb = eb
        if size > self.tt.shape[1]:
            self.tt = k.rehash(self.tt, size)
        if parts > self.parts:
            tt = np.zeros((parts, size, 4), dtype=np.int32)
            tt[: self.parts] = self.tt
            self.tt = tt
            more = parts - len(self.used)
            self.used = np.concatenate([self.used, np.zeros(more, dtype=np.int64)])
            self.filled = np.concatenate([self.filled, np.zeros(more, dtype=np.int64)])

    def replay(self, data: npt.NDArray[np.uint8], start: int, cap: int) -> int:
        """Replay the whole records of ``data[start:]``; returns where they end."""
        records, rows, payload, parts, end = k.measure_records(data, start).tolist()
        if records < 0:
            raise StateCorrupt("an inline table's log holds bytes that are not records")
        if records == 0:
            return int(end)
        self._make_room(parts, rows, payload)
        starts = k.record_starts(data, start, end)
        hashes, entries = k.store_entries(data, starts, self.eb, self.ends)
        args = (
            data,
            starts,
            hashes,
            entries,
            self.tt,
            self.na,
            self.eb,
            self.used,
            self.filled,
            cap,
        )
        _threaded(k.replay_parallel, k.replay_serial, rows, *args)
        return int(end)


@dataclass(slots=True)
class SyncPlan:
    """One table's ``log_sync`` call of a fetch: its slots and each probe's records."""

    first_slot: int
    last_slot: int
    records: list[dict[int, bytes]]
    """Per probe of the fetch (in order), the record it adds to each slot."""
    positions: dict[int, tuple[bytes, int]]
    """Where the batch's records start in each slot's log (its epoch, offset), once
    appended."""
    pending: set[int]
    """Slots not read to the end yet (their records, if any, not appended): the replica was
    further behind than ``READ_LIMIT``."""


class LogReplica:
    """A worker's replica of one inline table: every slot of the window it has read."""

    def __init__(self, kind: Buckets, base: str, policy: BucketPolicy) -> None:
        self.kind = kind
        self.base = base
        self.policy = policy
        self.slots: dict[int, SlotTable] = {}
        self.full_reads = 0
        """Slots read from the start of their log (a new replica, or a reset log)."""

    @property
    def nbytes(self) -> int:
        return sum(table.nbytes for table in list(self.slots.values()))

    def plan(self, probes: Sequence[ProbeAdd], now: float) -> SyncPlan:
        lo, hi = probe_slots(self.policy, now)
        records = [self.records(probe, now) for probe in probes]
        return SyncPlan(lo, hi, records, {}, set(range(lo, hi + 1)))

    def records(self, probe: ProbeAdd, now: float) -> dict[int, bytes]:
        """The record ``probe`` adds to each slot (rows too old, or not asked, add nothing)."""
        policy = self.policy
        slots, bounds, out = k.build_records(
            probe.fields,
            np.frombuffer(probe.payloads, dtype=np.uint8),
            probe.offsets,
            probe.times,
            probe.add,
            now,
            policy.slot_s,
            policy.window_s,
            MAX_TIME,
        )
        if len(slots) == 1:  # the common batch: every row filed in the current slot
            return {int(slots[0]): out.tobytes()}
        data = out.tobytes()
        at = bounds.tolist()
        return {slot: data[at[j] : at[j + 1]] for j, slot in enumerate(slots.tolist())}

    def sync_args(self, plan: SyncPlan, now: float) -> list[Any]:
        """ARGV for ``log_sync.lua``: the slots' cursors and the records still to append."""
        args: list[Any] = [
            self.base, plan.first_slot, plan.last_slot, secrets.token_hex(8), READ_LIMIT
        ]  # fmt: skip
        for slot in range(plan.first_slot, plan.last_slot + 1):
            table = self.slots.get(slot)
            if slot not in plan.pending:  # read to its end (and added to) by an earlier call
                args += [b"", -1, 0, b""]
                continue
            add = b"".join(found.get(slot, b"") for found in plan.records)
            args += [
                table.epoch if table is not None else b"",
                table.cursor if table is not None else HEAD,
                slot_ttl(self.policy, slot, now),
                add,
            ]
        return args

    def take(self, plan: SyncPlan, reply: Sequence[Any]) -> None:
        """Replay what the sync answered; note where the batch's records went."""
        lo, hi = plan.first_slot, plan.last_slot
        for slot in [s for s in self.slots if s < lo or s > hi]:
            del self.slots[slot]
        if len(reply) != hi - lo + 1:
            raise StateCorrupt(f"log_sync answered {len(reply)} slots for {hi - lo + 1}")
        cap = self.policy.max_entries
        for slot, (epoch, start, data, done) in zip(range(lo, hi + 1), reply, strict=True):
            if slot not in plan.pending:
                continue
            start = int(start)
            table = self.slots.get(slot)
            if not epoch:  # no log (expired, or never written): nothing to hold
                self.slots.pop(slot, None)
                table = None
            elif table is None or table.epoch != epoch:
                if start == HEAD:
                    table = self.slots[slot] = SlotTable(bytes(epoch))
                    self.full_reads += 1
                else:  # an answer meant for an older copy of the log
                    table = None
            if table is not None:
                stop = start + len(data)
                if start <= table.cursor < stop:
                    buffer = np.frombuffer(data, dtype=np.uint8)
                    table.cursor = start + table.replay(buffer, table.cursor - start, cap)
                elif table.cursor < start:  # cannot happen with one log; read it again
                    del self.slots[slot]
            if int(done):
                plan.pending.discard(slot)
                if any(slot in found for found in plan.records):
                    plan.positions[slot] = (bytes(epoch), start + len(data))

    def probe(self, probe: ProbeAdd, now: float) -> InlineHits:
        """What the replica's buckets hold for ``probe``'s rows, inside the window (slot
        after slot, part after part, rows in order, each bucket oldest first)."""
        lo, hi = probe_slots(self.policy, now)
        oldest = math.floor(now - self.policy.window_s)
        keys = bucket_keys(probe.fields)
        found = []
        for slot in range(lo, hi + 1):
            t = self.slots.get(slot)
            if t is None or not t.parts:
                continue
            mine = keys if keys.shape[1] <= t.parts else np.ascontiguousarray(keys[:, : t.parts])
            args = (mine, t.tt, t.na, t.eb, oldest)
            hits, data = _threaded(k.probe_parallel, k.probe_serial, len(keys), *args)
            if len(hits):
                found.append((hits, data))
        if not found:
            return InlineHits()
        if len(found) == 1:
            hits, data = found[0]
        else:
            shift = np.cumsum([0] + [len(data) for _, data in found[:-1]])
            for (hits, _), by in zip(found, shift.tolist(), strict=True):
                hits[:, 2] += by
            hits = np.concatenate([hits for hits, _ in found])
            data = np.concatenate([data for _, data in found])
        row, part, start, length, time, digest = np.ascontiguousarray(hits.T)
        return InlineHits(data.tobytes(), row, part, start, length, time, digest)

    def add_own(self, plan: SyncPlan, index: int) -> None:
        """Replay probe ``index``'s records where the sync appended them (skipped when the
        replica already replayed them as another call's answer, or lost the slot)."""
        cap = self.policy.max_entries
        for slot, record in plan.records[index].items():
            placed = plan.positions.get(slot)
            if placed is None:
                continue
            epoch, at = placed
            plan.positions[slot] = (epoch, at + len(record))
            table = self.slots.get(slot)
            if table is not None and table.epoch == epoch and table.cursor == at:
                buffer = np.frombuffer(record, dtype=np.uint8)
                table.cursor = at + table.replay(buffer, 0, cap)


def replicas_for(
    policies: Mapping[Buckets, BucketPolicy], prefix: str, kinds: Sequence[Buckets]
) -> dict[Buckets, LogReplica]:
    return {kind: LogReplica(kind, kind_base(prefix, kind), policies[kind]) for kind in kinds}


def warm() -> None:
    """Compile (or load cached) the kernels, serial and parallel, before a batch needs them."""
    policy = BucketPolicy(window_s=100.0, max_entries=2)
    replica = LogReplica(Buckets.LSH, "warm", policy)
    for rows in (1, k.PARALLEL_ROWS):
        probe = ProbeAdd(
            Buckets.LSH,
            np.zeros((rows, 2), dtype=np.uint64),
            b"xy" * rows,
            np.arange(0, 2 * rows + 1, 2, dtype=np.int64),
            np.full(rows, 50.0),
            np.ones(rows, dtype=np.bool_),
        )
        plan = replica.plan([probe], 60.0)
        table = replica.slots[0] = SlotTable(b"0" * HEAD)
        for record in plan.records[0].values():
            table.replay(np.frombuffer(record, dtype=np.uint8), 0, policy.max_entries)
        replica.probe(probe, 60.0)
