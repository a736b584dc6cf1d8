"""Plain aiokafka producing and collecting, for the load harness, the demo and the tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


@dataclass
class Collected:
    """Messages read per topic, with their broker timestamps (ms) and read time (s)."""

    messages: dict[str, list[tuple[bytes | None, bytes, int, float]]] = field(default_factory=dict)

    def values(self, topic: str) -> list[bytes]:
        return [value for _, value, _, _ in self.messages.get(topic, [])]

    def count(self, topic: str) -> int:
        return len(self.messages.get(topic, []))


async def produce(
    bootstrap: str,
    topic: str,
    items: Sequence[tuple[bytes | None, bytes]],
    *,
    rate: float = 0.0,
    on_progress: Callable[[int], None] | None = None,
) -> float:
    """Produce ``(key, value)`` pairs, paced at ``rate`` per second (0: as fast as possible).
    Returns the time taken."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for index, (key, value) in enumerate(items):
            pending.append(await producer.send(topic, value, key=key))
            if rate > 0:
                ahead = (index + 1) / rate - (time.perf_counter() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if on_progress and index % 200 == 0:
                on_progress(index)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def collect(
    bootstrap: str,
    topics: Sequence[str],
    *,
    done: Callable[[Collected], bool],
    timeout_s: float,
    on_batch: Callable[[Collected], None] | None = None,
) -> Collected:
    """Read ``topics`` from the beginning (no consumer group) until ``done`` or the timeout."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    result = Collected({topic: [] for topic in topics})
    try:
        partitions = []
        for topic in topics:
            deadline = time.monotonic() + 30
            found = consumer.partitions_for_topic(topic)
            while not found and time.monotonic() < deadline:
                await consumer._client.force_metadata_update()
                found = consumer.partitions_for_topic(topic)
                if not found:
                    await asyncio.sleep(0.2)
            partitions += [TopicPartition(topic, p) for p in sorted(found or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while not done(result) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.time()
            for tp, messages in batch.items():
                bucket = result.messages[tp.topic]
                bucket.extend((m.key, m.value, m.timestamp, now) for m in messages)
            if on_batch and batch:
                on_batch(result)
    finally:
        await consumer.stop()
    return result
