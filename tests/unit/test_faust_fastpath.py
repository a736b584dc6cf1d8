"""The fetch-loop delivery fast path behaves like Faust's ``wait_first`` delivery."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport import consumer as faust_consumer
from mode import Service

from streams import faust_fastpath
from streams.faust_fastpath import deliver


class _Consumer(Service):
    """Just what ``deliver`` uses of Faust's consumer: ``wait_first`` and ``suspend_flow``."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()
        self.guarded = 0

    async def wait_first(self, *coros: Any, **kwargs: Any) -> Any:
        self.guarded += 1
        return await super().wait_first(*coros, **kwargs)


def _putter(queue: asyncio.Queue[int]) -> Any:
    async def callback(message: int) -> None:
        await queue.put(message)

    return callback


async def test_a_delivery_with_room_needs_no_guard() -> None:
    consumer, queue = _Consumer(), asyncio.Queue[int](maxsize=10)
    for message in range(5):
        await deliver(consumer, _putter(queue), message)
    assert [queue.get_nowait() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert consumer.guarded == 0


async def test_a_blocked_delivery_completes_under_the_guard_once_there_is_room() -> None:
    consumer, queue = _Consumer(), asyncio.Queue[int](maxsize=1)
    queue.put_nowait(-1)
    delivering = asyncio.create_task(deliver(consumer, _putter(queue), 7))
    await asyncio.sleep(0.01)
    assert not delivering.done() and consumer.guarded == 1
    assert queue.get_nowait() == -1  # the stream takes one: room for the blocked delivery
    await asyncio.wait_for(delivering, 1)
    assert queue.get_nowait() == 7 and queue.empty()


async def test_a_suspended_flow_abandons_a_blocked_delivery_like_faust() -> None:
    consumer, queue = _Consumer(), asyncio.Queue[int](maxsize=1)
    queue.put_nowait(-1)
    delivering = asyncio.create_task(deliver(consumer, _putter(queue), 7))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()  # a rebalance starts
    await asyncio.wait_for(delivering, 1)
    assert queue.get_nowait() == -1
    await asyncio.sleep(0.01)
    assert queue.empty(), "the abandoned delivery must not land after the rebalance"


async def test_a_suspended_flow_takes_fausts_own_path() -> None:
    consumer, queue = _Consumer(), asyncio.Queue[int](maxsize=10)
    consumer.suspend_flow.set()
    await deliver(consumer, _putter(queue), 1)
    assert consumer.guarded == 1


async def test_an_error_in_the_delivery_propagates() -> None:
    consumer = _Consumer()

    async def broken(message: int) -> None:
        raise ValueError(message)

    try:
        await deliver(consumer, broken, 3)
    except ValueError as exc:
        assert exc.args == (3,)
    else:
        raise AssertionError("the error was swallowed")


def test_installs_only_over_the_release_it_was_written_for() -> None:
    assert faust.__version__ == faust_fastpath.FAUST_VERSION
    assert faust_fastpath.install() and faust_fastpath.install()
    assert faust_consumer.Consumer._drain_messages is faust_fastpath._drain_messages


async def test_the_worker_consumer_asks_the_broker_to_gather_a_few_records() -> None:
    from faust.transport.drivers import aiokafka as driver

    faust_fastpath.tune_fetch(4096, 7)
    app = faust.App("haze-test-fetch", broker="kafka://127.0.0.1:1", autodiscover=False)
    thread = driver.AIOKafkaConsumerThread(app.consumer)
    consumer = thread._create_worker_consumer(app.transport)
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (4096, 7)
    faust_fastpath.tune_fetch(1, 1500)  # idempotent: one wrapper, the newest values
    assert thread._create_worker_consumer(app.transport)._fetch_min_bytes == 1


class _Fetcher:
    """Just what the adaptive wrapper touches of aiokafka's fetcher."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self._fetch_min_bytes, self._fetch_max_wait_ms = 1, 1500

    async def _proc_fetch_request(self, assignment: Any, node_id: Any, request: Any) -> bool:
        return self.answers.pop(0)


async def test_fetches_gather_while_records_flow_and_long_poll_when_idle() -> None:
    faust_fastpath._adapt_fetches(_Fetcher)
    faust_fastpath._adapt_fetches(_Fetcher)  # once per class
    fetcher = _Fetcher([True, True, False, True])
    fetcher._haze_adaptive = (1, 1500, 16384, 10)  # type: ignore[attr-defined]
    seen = []
    for _ in range(4):
        assert await fetcher._proc_fetch_request(None, 0, None) in (True, False)
        seen.append((fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms))
    assert seen == [(16384, 10), (16384, 10), (1, 1500), (16384, 10)]
    unmarked = _Fetcher([True])  # another consumer's fetcher keeps its own settings
    await unmarked._proc_fetch_request(None, 0, None)
    assert (unmarked._fetch_min_bytes, unmarked._fetch_max_wait_ms) == (1, 1500)


async def test_an_adaptive_worker_consumer_is_marked_when_it_starts() -> None:
    from faust.transport.drivers import aiokafka as driver

    faust_fastpath.tune_fetch(1, 1500, 16384, 10)
    try:
        app = faust.App("haze-test-adapt", broker="kafka://127.0.0.1:1", autodiscover=False)
        thread = driver.AIOKafkaConsumerThread(app.consumer)
        consumer = thread._create_worker_consumer(app.transport)
        assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (1, 1500)
        assert consumer.start.__name__ == "start_adaptive"
    finally:
        faust_fastpath.tune_fetch(1, 1500)
    assert thread._create_worker_consumer(app.transport).start.__name__ == "start"
