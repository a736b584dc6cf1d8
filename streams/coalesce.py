"""Coalescing concurrent inline requests into one engine batch.

A screening call has a fixed cost per batch (state round trips, kernel dispatch) that dwarfs
the cost of one more listing, so under load the inline path screens whatever requests are
waiting together: the first request of an idle period is screened at once, in its own task,
and requests that arrive while a batch is being screened form the next batch, screened by a
task started for them. No request ever waits for a timer, and the common request of a lightly
loaded API (alone in its batch) waits for no task to be scheduled either: on an event loop
busy with other requests and the outbox, every task started is one more turn in its queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Coalescer(Generic[In, Out]):
    def __init__(
        self, handle: Callable[[list[In]], Awaitable[list[Out]]], *, max_batch: int = 1000
    ) -> None:
        self._handle = handle
        self._max_batch = max_batch
        self._waiting: list[tuple[Sequence[In], asyncio.Future[list[Out]]]] = []
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[In]) -> list[Out]:
        """Results for ``items``, in order, screened with whatever else is waiting."""
        loop = asyncio.get_running_loop()
        if self._draining:
            future: asyncio.Future[list[Out]] = loop.create_future()
            self._waiting.append((items, future))
            return await future
        # idle: nothing waits, so this request is the batch, screened here
        self._draining = True
        try:
            return await self._handle(list(items))
        finally:
            if self._waiting:
                # still draining: that task ends it (held here: the loop keeps only a weak one)
                self._drainer = loop.create_task(self._drain())
            else:
                self._draining = False

    def _take(self) -> list[tuple[Sequence[In], asyncio.Future[list[Out]]]]:
        """The next batch: waiting requests in arrival order, up to ``max_batch`` items (a
        request larger than that, when first in line, alone)."""
        taken: list[tuple[Sequence[In], asyncio.Future[list[Out]]]] = []
        size = 0
        while self._waiting and (not taken or size + len(self._waiting[0][0]) <= self._max_batch):
            entry = self._waiting.pop(0)
            taken.append(entry)
            size += len(entry[0])
        return taken

    async def _screen(self, taken: list[tuple[Sequence[In], asyncio.Future[list[Out]]]]) -> None:
        """Screen one batch and hand each request its slice (or the batch's error)."""
        flat = [item for items, _ in taken for item in items]
        try:
            results = await self._handle(flat)
        except Exception as exc:
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for items, future in taken:
            if not future.done():
                future.set_result(results[start : start + len(items)])
            start += len(items)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._screen(self._take())
        finally:
            self._draining = False
