"""Adaptive fetches against the real broker: fewer fetches while records flow, a long poll
while idle, and every record still consumed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.consumer.fetcher import Fetcher

from streams import faust_fastpath

pytestmark = pytest.mark.integration


async def _run(bootstrap: str, adaptive: bool, count: int = 1500) -> tuple[int, int, set[int]]:
    """Fetch requests while ``count`` records arrive at ~1,000/s, those in the second after,
    and the records read."""
    topic = f"adapt-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    await producer.start()
    await producer.send_and_wait(topic, b"first")
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    fetcher: Any = consumer._fetcher
    if adaptive:
        fetcher._haze_adaptive = (1, 1500, 16384, 10)
        faust_fastpath._adapt_fetches(Fetcher)
    fetches = [0]
    original = fetcher._proc_fetch_request

    async def counted(*args: Any) -> Any:
        fetches[0] += 1
        return await original(*args)

    fetcher._proc_fetch_request = counted
    seen: set[int] = set()
    try:

        async def read() -> None:
            while len(seen) < count:
                for messages in (await consumer.getmany(timeout_ms=200)).values():
                    seen.update(int(m.value) for m in messages if m.value != b"first")

        reading = asyncio.create_task(read())
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(count):
            await producer.send(topic, str(i).encode())
            ahead = (i + 1) / 1000 - (loop.time() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await asyncio.wait_for(reading, 60)
        busy = fetches[0]
        await asyncio.sleep(1.0)
        idle = fetches[0] - busy
    finally:
        await consumer.stop()
        await producer.stop()
    return busy, idle, seen


async def test_fetches_gather_under_load_and_long_poll_when_idle(kafka_bootstrap: str) -> None:
    static_busy, _, static_seen = await _run(kafka_bootstrap, adaptive=False)
    busy, idle, seen = await _run(kafka_bootstrap, adaptive=True)
    assert seen == static_seen == set(range(1500))
    assert busy < 0.8 * static_busy, (busy, static_busy)  # measured about half
    assert idle <= 3  # a long poll, not a fetch every 10 ms
