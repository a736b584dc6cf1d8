"""Where ``haze replay`` reads and writes: a time range of a topic (group-less, nothing
committed), a file, and a verdicts topic or file."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haze.backtest.errors import BacktestError

_IDLE_S = 30.0


@dataclass(frozen=True, slots=True)
class Event:
    """One input to re-screen: the raw value, its arrival time, whether to emit its verdict."""

    where: str
    value: bytes
    arrival: float
    emit: bool


async def read_range(
    bootstrap: str, topic: str, start_s: float, end_s: float, *, chunk: int = 1000
) -> AsyncIterator[list[tuple[str, bytes, float]]]:
    """Events of ``topic`` timestamped in ``[start_s, end_s)``, as ``(where, value, time)``
    lists, read partition by partition with a group-less consumer (nothing committed)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    await asyncio.sleep(0)  # let the consumer's background task start, so stop() is clean
    try:
        found = consumer.partitions_for_topic(topic)
        for _ in range(25):
            if found:
                break
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(topic)
            if not found:
                await asyncio.sleep(0.2)
        if not found:
            raise BacktestError(f"topic {topic!r} does not exist on {bootstrap}")
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        start_ms, end_ms = int(start_s * 1000), int(end_s * 1000)
        firsts = await consumer.offsets_for_times(dict.fromkeys(partitions, start_ms))
        lasts = await consumer.offsets_for_times(dict.fromkeys(partitions, end_ms))
        log_ends = await consumer.end_offsets(partitions)
        ends: dict[Any, int] = {}
        seeks: dict[Any, int] = {}
        for tp in partitions:
            first, last = firsts.get(tp), lasts.get(tp)
            end = last.offset if last is not None else log_ends[tp]
            if first is not None and first.offset < end:
                ends[tp], seeks[tp] = end, first.offset
        consumer.assign(list(ends))
        for tp, offset in seeks.items():
            consumer.seek(tp, offset)
        idle_since = time.monotonic()
        while ends:
            got = await consumer.getmany(*ends, timeout_ms=500, max_records=chunk)
            out = []
            for tp, records in got.items():
                for record in records:
                    if record.offset < ends[tp] and start_ms <= record.timestamp < end_ms:
                        where = f"{tp.topic}[{tp.partition}]@{record.offset}"
                        out.append((where, record.value or b"", record.timestamp / 1000.0))
            for tp in list(ends):
                if await consumer.position(tp) >= ends[tp]:
                    del ends[tp]
            if out:
                idle_since = time.monotonic()
                yield out
            elif time.monotonic() - idle_since > _IDLE_S:
                raise BacktestError(f"{topic}: no progress for {_IDLE_S:.0f}s; stopped early")
    finally:
        await consumer.stop()


async def topic_events(
    bootstrap: str, topic: str, warm_s: float, start_s: float, end_s: float
) -> AsyncIterator[list[Event]]:
    async for chunk in read_range(bootstrap, topic, warm_s, end_s):
        yield [Event(w, v, t, t >= start_s) for w, v, t in chunk]


async def file_events(path: Path, *, chunk: int = 1000) -> AsyncIterator[list[Event]]:
    """A file's lines as events (arrival: now, for listings without ``created_at``)."""

    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BacktestError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    now, out = time.time(), []
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                out.append(Event(f"{path}:{number}", line, now, True))
            if len(out) >= chunk:
                yield out
                out = []
    if out:
        yield out


class Output:
    """Where verdicts go: a Kafka topic (idempotent producer, acks=all) or a file."""

    def __init__(
        self, bootstrap: str, into: str | None, path: Path | None, *, partitions: int = 4
    ) -> None:
        self.bootstrap, self.into, self.path = bootstrap, into, path
        self.partitions = partitions
        self._producer: Any = None
        self._file: Any = None

    async def __aenter__(self) -> Output:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
            return self
        from aiokafka import AIOKafkaProducer

        assert self.into is not None
        await _ensure_topic(self.bootstrap, self.into, self.partitions)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, linger_ms=5
        )
        await self._producer.start()
        return self

    async def write(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        if self._file is not None:
            for _, value in records:
                self._file.write(value + b"\n")
            return
        sent = [await self._producer.send(self.into, value, key=key) for key, value in records]
        await asyncio.gather(*sent)

    async def __aexit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
        if self._producer is not None:
            await self._producer.stop()


async def _ensure_topic(bootstrap: str, name: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if name not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(name, num_partitions=partitions, replication_factor=1)]
                )
    finally:
        await admin.close()
