"""A publisher that reports how long each batch took to be acknowledged, for the metrics sensor.

One observation per ``publish`` call (a batch of records), so the per-record cost is nil.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from streams.publisher import KafkaPublisher, Record


class ObservedPublisher:
    """Wraps a :class:`KafkaPublisher`: ``publish`` is timed, everything else passes through."""

    def __init__(self, inner: KafkaPublisher, observe: Callable[[float, bool], None]) -> None:
        self.inner = inner
        self._observe = observe

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        started = time.perf_counter()
        try:
            await self.inner.publish(records)
        except Exception:
            self._observe(time.perf_counter() - started, False)
            raise
        self._observe(time.perf_counter() - started, True)

    async def stop(self) -> None:
        await self.inner.stop()
