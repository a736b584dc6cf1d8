"""A state store that reports each round trip's duration and outcome, for the metrics sensor.

It wraps the backend itself (below any worker-local cache), so what it times are real Redis
round trips: one per batch for ``fetch`` and ``commit``, one per delivered batch for
``mark_emitted``. A call that raises, or that is cancelled because the caller's budget ran out,
is reported as failed and re-raised unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from state.base import (
    LedgerWrite,
    StateNeeds,
    StateSnapshot,
    StateStore,
    StateUpdates,
    StoreStatus,
)

T = TypeVar("T")

StateObserver = Callable[[str, float, bool], None]
"""Called with ``(operation, seconds, ok)`` after every round trip."""


class ObservedStateStore(StateStore):
    def __init__(self, inner: StateStore, observe: StateObserver) -> None:
        self.inner = inner
        self._observe = observe

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            result = await call
        except (Exception, asyncio.CancelledError):
            self._observe(operation, time.perf_counter() - started, False)
            raise
        self._observe(operation, time.perf_counter() - started, True)
        return result

    async def fetch(
        self, needs: StateNeeds, ledger_keys: Sequence[str], now: float
    ) -> StateSnapshot:
        return await self._timed("fetch", self.inner.fetch(needs, ledger_keys, now))

    async def commit(
        self, updates: StateUpdates, ledger: Sequence[LedgerWrite], now: float
    ) -> None:
        await self._timed("commit", self.inner.commit(updates, ledger, now))

    async def mark_emitted(self, keys: Sequence[str]) -> None:
        await self._timed("mark_emitted", self.inner.mark_emitted(keys))

    async def ban_store(self, store_id: str, now: float) -> StoreStatus:
        return await self._timed("ban", self.inner.ban_store(store_id, now))

    async def clear_store(self, store_id: str) -> StoreStatus:
        return await self._timed("clear", self.inner.clear_store(store_id))

    async def add_strike(self, store_id: str, strike_id: str, now: float) -> StoreStatus:
        return await self._timed("strike", self.inner.add_strike(store_id, strike_id, now))

    async def ping(self) -> bool:
        started = time.perf_counter()
        ok = await self.inner.ping()  # ping reports failure as False, never raises
        self._observe("ping", time.perf_counter() - started, ok)
        return ok

    @property
    def held_bytes(self) -> int:
        return self.inner.held_bytes

    async def catch_up(self, now: float) -> None:
        await self.inner.catch_up(now)

    async def close(self) -> None:
        await self.inner.close()


def observed(inner: StateStore, observe: StateObserver | None) -> StateStore:
    """``inner`` wrapped when there is an observer, else ``inner`` itself."""
    return inner if observe is None else ObservedStateStore(inner, observe)
