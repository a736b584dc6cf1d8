"""Outputs of the inline (HTTP) path: answered first, delivered to Kafka in the background.

The publishing path must not wait for Kafka, so a screened listing's verdict and complaint are
queued here and a background task delivers them in batches (then marks the ledger emitted).
When Kafka is unreachable, records stay queued, up to ``max_pending``; past that the oldest
are appended to an on-disk spool file and replayed first when Kafka returns.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import orjson

from streams.publisher import Publisher, Record

log = logging.getLogger(__name__)


class Outbox:
    def __init__(
        self,
        publisher: Publisher,
        spool_path: Path,
        *,
        on_delivered: Callable[[Sequence[str]], Awaitable[None]] | None = None,
        max_pending: int = 50_000,
        batch: int = 1000,
    ) -> None:
        self.publisher = publisher
        self.spool_path = spool_path
        self._on_delivered = on_delivered
        self._max_pending = max_pending
        self._batch = batch
        self._pending: deque[tuple[Record, str | None]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    @property
    def depth(self) -> int:
        """Records not yet acknowledged by Kafka (queued plus spooled)."""
        return len(self._pending) + self._spooled()

    @property
    def spooled(self) -> int:
        """Records spilled to the spool file (part of :attr:`depth`)."""
        return self._spooled()

    def _spooled(self) -> int:
        try:
            with open(self.spool_path, "rb") as spool:
                return sum(1 for _ in spool)
        except OSError:
            return 0

    def put(self, records: Sequence[Record], ledger_key: str | None) -> None:
        """Queue one listing's records; the last one carries its ledger key."""
        for index, record in enumerate(records):
            self._pending.append((record, ledger_key if index == len(records) - 1 else None))
        if len(self._pending) > self._max_pending:
            self._spill(len(self._pending) - self._max_pending)
        self._wake.set()

    def _spill(self, count: int) -> None:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spool_path, "ab") as spool:
            for _ in range(count):
                record, _key = self._pending.popleft()
                spool.write(_encode(record) + b"\n")
            spool.flush()
            os.fsync(spool.fileno())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Try to deliver what is queued; spool whatever could not be delivered."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            await asyncio.wait_for(self._deliver_all(), timeout_s)
        except Exception:  # Kafka down at shutdown: keep everything on disk
            if self._pending:
                self._spill(len(self._pending))

    async def _run(self) -> None:
        delay = 0.05
        while True:
            await self._wake.wait()
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
        await self._replay_spool()
        while self._pending:
            chunk = [self._pending[i] for i in range(min(self._batch, len(self._pending)))]
            await self.publisher.publish([record for record, _ in chunk])
            for _ in chunk:
                self._pending.popleft()
            keys = [key for _, key in chunk if key is not None]
            if keys and self._on_delivered is not None:
                try:
                    await self._on_delivered(keys)
                except Exception as exc:  # the ledger flag is an optimisation, not delivery
                    log.warning("could not mark %d ledger entries emitted: %s", len(keys), exc)

    async def _replay_spool(self) -> None:
        if not self.spool_path.exists():
            return
        lines = [line for line in self.spool_path.read_bytes().splitlines() if line]
        while lines:
            chunk, rest = lines[: self._batch], lines[self._batch :]
            await self.publisher.publish([_decode(line) for line in chunk])
            # rewrite what is left before the next chunk, so a failure replays nothing twice
            remaining = self.spool_path.with_suffix(".tmp")
            remaining.write_bytes(b"".join(line + b"\n" for line in rest))
            os.replace(remaining, self.spool_path)
            lines = rest
        self.spool_path.unlink(missing_ok=True)


def _encode(record: Record) -> bytes:
    return orjson.dumps(
        {
            "t": record.topic,
            "k": base64.b64encode(record.key).decode() if record.key is not None else None,
            "v": base64.b64encode(record.value).decode(),
        }
    )


def _decode(line: bytes) -> Record:
    doc = orjson.loads(line)
    key = base64.b64decode(doc["k"]) if doc["k"] is not None else None
    return Record(doc["t"], key, base64.b64decode(doc["v"]))
