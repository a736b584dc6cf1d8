"""Concurrent requests share one batch; each gets its own results, in order; failures reach
every request of the failed batch only."""

from __future__ import annotations

import asyncio

import pytest

from streams.coalesce import Coalescer


async def test_concurrent_requests_share_batches_and_keep_their_results() -> None:
    batches: list[list[int]] = []

    async def handle(items: list[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    coalescer: Coalescer[int, int] = Coalescer(handle, max_batch=5)
    requests = [[i, i + 100] for i in range(6)]
    results = await asyncio.gather(*(coalescer.submit(r) for r in requests))
    assert results == [[i * 10, (i + 100) * 10] for i in range(6)]
    assert batches[0][:2] == [0, 100]  # in arrival order
    assert len(batches) < len(requests) and all(len(b) <= 5 for b in batches)


async def test_a_failed_batch_fails_its_requests_and_the_next_batch_runs() -> None:
    calls = 0

    async def handle(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise RuntimeError("boom")
        return items

    coalescer: Coalescer[int, int] = Coalescer(handle)
    first = asyncio.ensure_future(coalescer.submit([1]))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(coalescer.submit([2]))
    with pytest.raises(RuntimeError):
        await first
    assert await second == [2]


async def test_a_request_alone_is_screened_in_its_own_task() -> None:
    tasks: list[asyncio.Task[object] | None] = []

    async def handle(items: list[int]) -> list[int]:
        tasks.append(asyncio.current_task())
        return items

    coalescer: Coalescer[int, int] = Coalescer(handle)
    request = asyncio.ensure_future(coalescer.submit([7]))
    assert await request == [7]
    assert tasks == [request]  # no task of its own started for a batch of one request


async def test_requests_waiting_behind_a_cancelled_request_are_still_screened() -> None:
    release = asyncio.Event()
    batches: list[list[int]] = []

    async def handle(items: list[int]) -> list[int]:
        batches.append(list(items))
        if items == [1]:
            await release.wait()
        return [item * 2 for item in items]

    coalescer: Coalescer[int, int] = Coalescer(handle)
    first = asyncio.ensure_future(coalescer.submit([1]))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(coalescer.submit([2]))
    third = asyncio.ensure_future(coalescer.submit([3]))
    await asyncio.sleep(0)
    first.cancel()
    assert await asyncio.wait_for(asyncio.gather(second, third), 1.0) == [[4], [6]]
    assert batches == [[1], [2, 3]]
    assert first.cancelled()
    assert await coalescer.submit([5]) == [10]  # idle again
