"""Producing outputs with acknowledgement: a batch of records is sent, then every ack awaited.

Offsets of the input advance only after :meth:`Publisher.publish` returns, which is what makes
the stream path at-least-once. :class:`KafkaPublisher` appends records straight into per-
partition batches (aiokafka's ``create_batch``/``send_batch``) instead of one ``send`` and one
future per record: the per-record cost of the produce path drops several-fold, which matters
because a verdict is produced for every listing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from streams.partitioning import partition_for

MAX_BATCH_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes


class Publisher(Protocol):
    async def publish(self, records: Sequence[Record]) -> None:
        """Send all records and return once the broker acknowledged each; raise otherwise."""


class KafkaPublisher:
    """An idempotent aiokafka producer (acks=all), keyed records partitioned like Kafka's
    default partitioner (murmur2 of the key), so consumers find a listing's records together."""

    def __init__(self, bootstrap_servers: str, *, linger_ms: int = 1) -> None:
        self._bootstrap = bootstrap_servers
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        partition_for(b"", [0])  # load (or compile) the partitioner before the first batch

    async def start(self) -> AIOKafkaProducer:
        """Create and start the producer on first use (it binds to the running loop)."""
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=self._linger_ms,
                max_batch_size=MAX_BATCH_BYTES,
                max_request_size=4 * MAX_BATCH_BYTES,
            )
            await producer.start()
            self._producer = producer
        return self._producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        producer = await self.start()
        grouped: dict[tuple[str, int], list[Record]] = defaultdict(list)
        partitions: dict[str, list[int]] = {}
        for record in records:
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            partition = partition_for(record.key, partitions[record.topic])
            grouped[(record.topic, partition)].append(record)
        pending: list[Any] = []
        for (topic, partition), group in grouped.items():
            batch = producer.create_batch()
            for record in group:
                if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                    pending.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=record.key, value=record.value, timestamp=None)
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
