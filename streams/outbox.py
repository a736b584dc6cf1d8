"""Outputs of the inline (HTTP) path: journaled before the answer, delivered in the background.

The publishing path must not wait for Kafka, so a screened listing's verdict and complaint are
appended to a :class:`~streams.journal.Journal` (one write per request, before the HTTP answer)
and a background task delivers them in order, in chunks, then flags their ledger entries and
moves the journal's checkpoint. While Kafka is down the journal simply grows (up to its bound);
after a crash the next start delivers what lies after the checkpoint. Nothing is lost, and
nothing is raised twice: complaints that may already have reached Kafka (those of a recovered
journal, and those owed by repeats of unconfirmed ledger entries) are checked against the
complaints topic first (``streams.complaint_log``). Verdicts may repeat after a crash, as the
contract allows (consumers dedupe on ``listing_id`` + ``revision``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from haze.engine import PendingCommit
from state.base import LedgerWrite
from streams.complaint_log import SETTLE_S, OwedComplaint, RaisedComplaints
from streams.journal import Journal, JournalFull
from streams.publisher import Publisher, Record

log = logging.getLogger(__name__)

SPOOL_AGE_S = 1.0
"""A record still undelivered this long after it was journaled counts as spooled."""


@dataclass(frozen=True, slots=True)
class _Entry:
    record: Record
    ledger_key: str | None
    verify_since: float | None
    """Set on a complaint that may already be on Kafka: checked before it is produced."""
    fingerprint: str | None = None


class Outbox:
    def __init__(
        self,
        publisher: Publisher,
        journal_path: Path,
        *,
        complaints_topic: str,
        raised: RaisedComplaints | None = None,
        on_delivered: Callable[[Sequence[str]], Awaitable[None]] | None = None,
        restore_ledger: Callable[[Sequence[LedgerWrite]], Awaitable[None]] | None = None,
        batch: int = 1000,
        max_bytes: int = 1 << 30,
        settle_s: float = SETTLE_S,
        linger_s: float = 0.005,
    ) -> None:
        self.publisher = publisher
        self.journal = Journal(journal_path, max_bytes=max_bytes)
        self._complaints = complaints_topic
        self._raised = raised
        self._on_delivered = on_delivered
        self._restore_ledger = restore_ledger
        self._commits: deque[PendingCommit] = deque()
        """State writes of screened batches, applied before their records are produced."""
        self.commits_abandoned = 0
        self._batch = batch
        self._settle_s = settle_s
        self._linger_s = linger_s
        """Wait this long after a wake-up before delivering: one produce request for the
        requests of a few milliseconds instead of one each (delivery is in the background)."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.dropped = 0
        """Records refused because the journal was full (logged; ``/healthz`` degrades)."""
        self._owed: Counter[str] = Counter()
        self._pending = 0
        self._waiting: deque[tuple[float, int]] = deque()
        """(journaled at, records) per put, oldest first, for :attr:`spooled`."""
        # what a previous run left undelivered: its complaints are checked before producing
        self._recovered_end = self.journal.size
        self._recovered_ledger: list[LedgerWrite] = []
        verdict: bytes | None = None
        for line, _ in self.journal.read(1 << 62):
            entry = _decode(line)
            self._pending += 1
            if entry.record.topic == self._complaints and entry.ledger_key:
                self._owed[entry.ledger_key] += 1
            if entry.record.topic != self._complaints:
                verdict = entry.record.value
            if entry.ledger_key and entry.fingerprint and verdict is not None:
                # its state write may have died with the process: the ledger is restored
                self._recovered_ledger.append(
                    LedgerWrite(entry.ledger_key, entry.fingerprint, verdict)
                )
        if self._pending:
            self._waiting.append((0.0, self._pending))
            log.warning("outbox: %d records from a previous run to deliver", self._pending)

    @property
    def depth(self) -> int:
        """Records not yet acknowledged by Kafka."""
        return self._pending

    @property
    def spooled(self) -> int:
        """Records waiting in the journal for more than :data:`SPOOL_AGE_S` (part of
        :attr:`depth`): above zero only while Kafka is slow or away."""
        cutoff = time.time() - SPOOL_AGE_S
        return sum(count for at, count in self._waiting if at < cutoff)

    def owes_complaint(self, ledger_key: str) -> bool:
        """A complaint of this listing revision is journaled and not yet delivered."""
        return self._owed.get(ledger_key, 0) > 0

    def put(
        self,
        records: Sequence[Record],
        ledger_key: str | None,
        *,
        verify_since: float | None = None,
        fingerprint: str | None = None,
    ) -> bool:
        """Journal one listing's records, its verdict first (the last carries its ledger key
        and, for a fresh result, its fingerprint, so a restart can restore the ledger entry);
        ``verify_since`` marks its complaint as possibly on Kafka already. False when the
        journal is full."""
        lines = []
        complaint = False
        for index, record in enumerate(records):
            is_complaint = record.topic == self._complaints
            complaint = complaint or is_complaint
            last = index == len(records) - 1
            since = verify_since if is_complaint else None
            lines.append(
                _encode(
                    record,
                    ledger_key if last else None,
                    since,
                    fingerprint if last else None,
                )
            )
        try:
            self.journal.append(lines)
        except JournalFull as exc:
            self.dropped += len(records)
            log.error("outbox journal full, %d records not kept: %s", len(records), exc)
            return False
        self._pending += len(records)
        self._waiting.append((time.time(), len(records)))
        if complaint and ledger_key:
            self._owed[ledger_key] += 1
        self._wake.set()
        return True

    def after(self, commit: PendingCommit) -> None:
        """The state write of records just put: applied before they are produced."""
        self._commits.append(commit)
        self._wake.set()

    async def _apply_commits(self) -> None:
        """Land the pending state writes, in order. One that fails is given up (logged and
        counted): the verdicts are already answered and must reach Kafka even while Redis is
        away; only those listings' history and ledger entries are lost."""
        if self._recovered_ledger and self._restore_ledger is not None:
            writes, self._recovered_ledger = self._recovered_ledger, []
            try:
                await self._restore_ledger(writes)
            except Exception as exc:
                log.warning("outbox: %d ledger entries not restored: %s", len(writes), exc)
        while self._commits:
            commit = self._commits[0]
            try:
                await commit.apply()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                commit.abandon()
                self.commits_abandoned += 1
                log.warning(
                    "outbox: a state write of %d listings given up: %s", commit.entries, exc
                )
            self._commits.popleft()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
            self._wake.set()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Try to deliver what is journaled; whatever is left stays for the next start."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            await asyncio.wait_for(self._deliver_all(), timeout_s)
        except Exception as exc:  # Kafka down at shutdown: the journal keeps everything
            log.warning("outbox: %d records left for the next start (%s)", self._pending, exc)
        self.journal.close()

    async def _run(self) -> None:
        delay = 0.05
        while True:
            await self._wake.wait()
            if self._linger_s > 0:
                await asyncio.sleep(self._linger_s)
            self._wake.clear()
            try:
                await self._deliver_all()
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                log.warning("outbox delivery failed (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
                self._wake.set()

    async def _deliver_all(self) -> None:
        while True:
            await self._apply_commits()  # no await between this and the read below
            chunk = list(self.journal.read(self._batch))
            if not chunk:
                return
            entries = [_decode(line) for line, _ in chunk]
            starts = [self.journal.confirmed] + [end for _, end in chunk[:-1]]
            records = await self._unraised(entries, starts)
            await self.publisher.publish(records)
            keys = [entry.ledger_key for entry in entries if entry.ledger_key]
            if keys and self._on_delivered is not None:
                try:
                    await self._on_delivered(keys)
                except Exception as exc:  # the ledger flag is an optimisation, not delivery
                    log.warning("could not mark %d ledger entries emitted: %s", len(keys), exc)
            self.journal.confirm(chunk[-1][1])
            self._pending -= len(entries)
            self._forget_waiting(len(entries))
            for entry in entries:
                if entry.record.topic == self._complaints and entry.ledger_key:
                    self._owed[entry.ledger_key] -= 1
                    if self._owed[entry.ledger_key] <= 0:
                        del self._owed[entry.ledger_key]

    def _forget_waiting(self, delivered: int) -> None:
        while delivered > 0 and self._waiting:
            at, count = self._waiting[0]
            if count <= delivered:
                self._waiting.popleft()
                delivered -= count
            else:
                self._waiting[0] = (at, count - delivered)
                delivered = 0

    async def _unraised(self, entries: list[_Entry], starts: list[int]) -> list[Record]:
        """The chunk's records without the complaints the topic already holds."""
        owed: dict[int, OwedComplaint] = {}
        for index, (entry, start) in enumerate(zip(entries, starts, strict=True)):
            record = entry.record
            if record.topic != self._complaints:
                continue
            since = entry.verify_since
            if since is None and start < self._recovered_end:
                since = _put_time(record)
            if since is not None and self._raised is not None:
                cid = orjson.loads(record.value)["complaint_id"]
                owed[index] = OwedComplaint(record.key or b"", cid, since)
        if not owed:
            return [entry.record for entry in entries]
        assert self._raised is not None
        # a complaint another worker may still be delivering lands within the settle time
        settle = max(o.since_s for o in owed.values()) + self._settle_s - time.time()
        if settle > 0:
            await asyncio.sleep(settle)
        present = await self._raised.already_raised(list(owed.values()))
        return [
            entry.record
            for index, entry in enumerate(entries)
            if index not in owed or owed[index].complaint_id not in present
        ]


def _put_time(record: Record) -> float:
    """When a recovered complaint was journaled at the earliest: its verdict's screening."""
    from datetime import datetime

    created = orjson.loads(record.value).get("created_at")
    try:
        return datetime.fromisoformat(created).timestamp() if created else 0.0
    except ValueError:
        return 0.0


def _encode(
    record: Record, ledger_key: str | None, since: float | None, fingerprint: str | None
) -> bytes:
    doc: dict[str, Any] = {
        "t": record.topic,
        "k": base64.b64encode(record.key).decode() if record.key is not None else None,
        "v": base64.b64encode(record.value).decode(),
    }
    if ledger_key:
        doc["l"] = ledger_key
    if since is not None:
        doc["s"] = since
    if fingerprint is not None:
        doc["f"] = fingerprint
    return orjson.dumps(doc)


def _decode(line: bytes) -> _Entry:
    doc = orjson.loads(line)
    key = base64.b64decode(doc["k"]) if doc["k"] is not None else None
    record = Record(doc["t"], key, base64.b64decode(doc["v"]))
    return _Entry(record, doc.get("l"), doc.get("s"), doc.get("f"))
