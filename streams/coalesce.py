"""Coalescing concurrent inline requests into one engine batch.

A screening call has a fixed cost per batch (state round trips, kernel dispatch) that dwarfs
the cost of one more listing, so under load the inline path screens whatever requests are
waiting together: the first request of an idle period is screened at once, and requests that
arrive while a batch is being screened form the next batch. No request ever waits for a timer.
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

    async def submit(self, items: Sequence[In]) -> list[Out]:
        """Results for ``items``, in order, screened with whatever else is waiting."""
        future: asyncio.Future[list[Out]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                taken: list[tuple[Sequence[In], asyncio.Future[list[Out]]]] = []
                size = 0
                while self._waiting and (
                    not taken or size + len(self._waiting[0][0]) <= self._max_batch
                ):
                    entry = self._waiting.pop(0)
                    taken.append(entry)
                    size += len(entry[0])
                flat = [item for items, _ in taken for item in items]
                try:
                    results = await self._handle(flat)
                except Exception as exc:
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for items, future in taken:
                    if not future.done():
                        future.set_result(results[start : start + len(items)])
                    start += len(items)
        finally:
            self._draining = False
