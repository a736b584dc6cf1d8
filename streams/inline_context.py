"""The inline API's own engine and connections, living in the web server's thread.

The HTTP API runs in its own thread and event loop (Faust's ``web_in_thread``) so that a
stream batch being screened never holds a publishing-path request behind it. Asyncio
connections belong to the loop that opened them, so this thread has its own Redis store,
its own screener (sharing the compiled, read-only runtime of the stream side, swapped together
on reload) and its own Kafka outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from haze.engine import Screener
from state.base import StateStore, StateUpdates
from streams.complaint_log import KafkaComplaintLog
from streams.observed_publisher import ObservedPublisher
from streams.outbox import Outbox
from streams.publisher import KafkaPublisher
from streams.service import ScreenService, build_state_store

log = logging.getLogger(__name__)


def _report_catch_up(task: asyncio.Task[None]) -> None:
    """A catch-up that failed (Redis away) is only a slower start: requests sync as they go."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("inline state catch-up stopped: %s (requests catch up as they go)",
                    task.exception())  # fmt: skip


@dataclass
class InlineResources:
    state: StateStore
    screener: Screener
    publisher: ObservedPublisher
    outbox: Outbox


class InlineContext:
    def __init__(self, service: ScreenService) -> None:
        self.service = service
        self._resources: InlineResources | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._catching_up: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return self._resources.outbox.depth if self._resources else 0

    @property
    def spooled(self) -> int:
        return self._resources.outbox.spooled if self._resources else 0

    def get(self) -> InlineResources:
        """This thread's resources, created on first use in the running (web) loop."""
        if self._resources is None:
            settings = self.service.settings
            live, metrics = self.service.screener, self.service.metrics
            state = build_state_store(settings, live.runtime.config, metrics.state_observer("http"))
            metrics.watch_state("http", state)
            publisher = ObservedPublisher(
                KafkaPublisher(settings.kafka_bootstrap_servers), metrics.produce_observer("http")
            )
            outbox = Outbox(
                publisher,
                settings.data_dir / "outbox.journal",
                complaints_topic=settings.topics.complaints,
                raised=KafkaComplaintLog(
                    settings.kafka_bootstrap_servers, settings.topics.complaints
                ),
                on_delivered=state.mark_emitted,
                restore_ledger=lambda writes: state.commit(StateUpdates(), writes, time.time()),
            )
            outbox.start()
            self._loop = asyncio.get_running_loop()
            # the replicated tables read the window's logs now, not in the first requests'
            # Redis budget (requests meanwhile read what has been read: all concurrent syncs
            # take their answers in log order)
            self._catching_up = self._loop.create_task(state.catch_up(time.time()))
            self._catching_up.add_done_callback(_report_catch_up)
            self._resources = InlineResources(
                state,
                Screener(
                    live.runtime, state, shadow=live.shadow, observer=metrics.observer("http")
                ),
                publisher,
                outbox,
            )
        resources = self._resources
        live = self.service.screener
        if (
            resources.screener.runtime is not live.runtime
            or resources.screener.shadow is not live.shadow
        ):
            resources.screener.swap(live.runtime, shadow=live.shadow)
        return resources

    async def _close(self) -> None:
        if self._catching_up is not None:
            self._catching_up.cancel()
        if self._resources is not None:
            await self._resources.outbox.stop()
            await self._resources.publisher.stop()
            await self._resources.state.close()

    def close(self, timeout_s: float = 15.0) -> None:
        """Flush the outbox (or spool it) from another thread, at shutdown."""
        if self._loop is None or self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout_s)
        except Exception as exc:
            log.warning("inline outbox not flushed cleanly: %s", exc)
