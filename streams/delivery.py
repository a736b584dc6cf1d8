"""Delivering screened batches in the background while the next batch is screened.

Producing a batch's verdicts and waiting for every broker ack takes a few milliseconds that the
worker would otherwise spend idle. The stream agent hands each prepared batch to a
:class:`DeliveryLine` and goes on to screen the next one; at most ``depth`` batches are in
delivery at once (backpressure), and each batch's input events are acknowledged only after its
own outputs *and* those of every earlier batch are acknowledged, so the committed offset never
passes an unpublished verdict.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
B = TypeVar("B")
E = TypeVar("E")


class DeliveryLine(Generic[B, E]):
    def __init__(
        self,
        deliver: Callable[[B], Awaitable[None]],
        ack: Callable[[E], Awaitable[None]],
        *,
        depth: int = 2,
    ) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._deliver = deliver
        self._ack = ack
        self._depth = depth
        self._tasks: deque[asyncio.Task[None]] = deque()

    @property
    def pending(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    async def submit(self, batch: B, events: E) -> None:
        """Start delivering ``batch``; returns once fewer than ``depth`` batches are in flight
        (waiting for the oldest when the line is full)."""
        while self._tasks and self._tasks[0].done():
            self._tasks.popleft().result()  # surfaces a failed delivery
        while len(self._tasks) >= self._depth:
            await self._tasks.popleft()
        previous = self._tasks[-1] if self._tasks else None
        self._tasks.append(asyncio.create_task(self._run(batch, events, previous)))

    async def _run(self, batch: B, events: E, previous: asyncio.Task[None] | None) -> None:
        await self._deliver(batch)
        if previous is not None:
            await asyncio.shield(previous)  # acks follow batch order
        await self._ack(events)

    async def drain(self) -> None:
        """Wait until every submitted batch is delivered and acknowledged."""
        while self._tasks:
            await self._tasks.popleft()
