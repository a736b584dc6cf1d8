"""Background delivery keeps acks in batch order and bounded; natural batches follow the queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streams.batching import natural_batches
from streams.delivery import DeliveryLine


class _Gates:
    """Deliveries that finish only when the test opens their gate."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.started: list[int] = []
        self.acked: list[int] = []

    async def deliver(self, batch: int) -> None:
        self.started.append(batch)
        await self.gates.setdefault(batch, asyncio.Event()).wait()

    async def ack(self, batch: int) -> None:
        self.acked.append(batch)

    def open(self, batch: int) -> None:
        self.gates.setdefault(batch, asyncio.Event()).set()


async def test_a_later_batch_delivered_first_is_acked_after_the_earlier_one() -> None:
    gates = _Gates()
    line: DeliveryLine[int, int] = DeliveryLine(gates.deliver, gates.ack, depth=3)
    for batch in (1, 2, 3):
        await line.submit(batch, batch)
    gates.open(3)
    gates.open(2)
    await asyncio.sleep(0.01)
    assert gates.acked == [], "nothing may be acked before batch 1 is delivered"
    gates.open(1)
    await line.drain()
    assert gates.acked == [1, 2, 3]


async def test_submit_waits_while_the_line_is_full() -> None:
    gates = _Gates()
    line: DeliveryLine[int, int] = DeliveryLine(gates.deliver, gates.ack, depth=2)
    await line.submit(1, 1)
    await line.submit(2, 2)
    third = asyncio.create_task(line.submit(3, 3))
    await asyncio.sleep(0.01)
    assert not third.done() and gates.started == [1, 2]
    gates.open(1)
    await asyncio.wait_for(third, 1)
    assert gates.started == [1, 2, 3]
    gates.open(2)
    gates.open(3)
    await line.drain()
    assert gates.acked == [1, 2, 3] and line.pending == 0


async def test_a_failed_delivery_surfaces_on_the_next_submit() -> None:
    async def broken(batch: int) -> None:
        raise RuntimeError("boom")

    async def ack(batch: int) -> None:
        raise AssertionError("a failed batch must not be acked")

    line: DeliveryLine[int, int] = DeliveryLine(broken, ack, depth=2)
    await line.submit(1, 1)
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError):
        await line.submit(2, 2)


class _Stream:
    """A stream whose channel queue holds what is still to come, released in steps."""

    def __init__(self, arrivals: list[list[int]]) -> None:
        self.arrivals = arrivals
        self.channel = self
        self.queue: asyncio.Queue[int] = asyncio.Queue()

    async def events(self) -> AsyncIterator[int]:
        for burst in self.arrivals:
            for item in burst:
                self.queue.put_nowait(item)
            while not self.queue.empty():
                yield self.queue.get_nowait()


async def _collect(stream: Any, max_size: int) -> list[list[int]]:
    return [batch async for batch in natural_batches(stream, max_size)]


async def test_a_batch_is_what_has_queued_up() -> None:
    stream = _Stream([[1], [2, 3, 4], [5, 6]])
    assert await _collect(stream, 10) == [[1], [2, 3, 4], [5, 6]]


async def test_a_batch_never_exceeds_its_size() -> None:
    stream = _Stream([list(range(7))])
    assert await _collect(stream, 3) == [[0, 1, 2], [3, 4, 5], [6]]
