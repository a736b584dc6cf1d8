"""Natural batching of a Faust stream: a batch is whatever has queued up, never a timer.

Faust's ``stream.take(max, within)`` waits for ``max`` events or ``within`` seconds *after* each
batch, even when events are already queued, so a fixed timer adds to every listing's latency at
moderate rates. Here a batch ends as soon as the stream's channel queue is empty (or the batch
is full): at low rates a listing is screened alone and at once, and under load the batch grows
to what arrived while the previous one was being screened, which is when batching pays.
``linger_s`` optionally waits that long for more before screening a partial batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


async def natural_batches(
    stream: Any, max_size: int, *, linger_s: float = 0.0
) -> AsyncIterator[list[Any]]:
    """Yield lists of events from ``stream`` (a Faust stream with manual acks: the caller acks
    every event it was given)."""
    queue = stream.channel.queue  # events fetched by Faust that the stream has not taken yet
    batch: list[Any] = []
    lingered = False
    async for event in stream.events():
        batch.append(event)
        if len(batch) < max_size and queue.empty() and linger_s > 0 and not lingered:
            lingered = True
            await asyncio.sleep(linger_s)
        if len(batch) >= max_size or queue.empty():
            yield batch
            batch, lingered = [], False
