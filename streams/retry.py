"""Retrying infrastructure calls on the stream path: the partition waits, nothing is dropped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def retry_forever(
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    transient: Callable[[Exception], bool],
    on_retry: Callable[[Exception], None] | None = None,
    initial_s: float = 0.1,
    max_s: float = 5.0,
) -> T:
    """Await ``call`` until it succeeds, backing off exponentially on exceptions ``transient``
    accepts; any other exception (and cancellation) propagates at once."""
    delay = initial_s
    while True:
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not transient(exc):
                raise
            if on_retry is not None:
                on_retry(exc)
            log.warning(
                "%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(max_s, delay * 2)
