"""Assembles one Faust worker: app settings, topics, the screening agent and web views."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from config.settings import WORKER_ROLES, Settings
from config.thresholds import StreamConfig
from streams import faust_fastpath
from streams.batching import natural_batches
from streams.complaint_log import KafkaComplaintLog
from streams.delivery import DeliveryLine
from streams.faust_metrics import FaustCollector, LeanMonitor
from streams.feedback import FeedbackPipeline
from streams.http_api import InlineApi, register_inline_api
from streams.inline_context import InlineContext
from streams.observed_publisher import ObservedPublisher
from streams.pipeline import Incoming, Planned, Prepared, ScreenPipeline
from streams.publisher import KafkaPublisher
from streams.reload import ConfigWatcher
from streams.service import ScreenService
from streams.views import register_views

log = logging.getLogger(__name__)


def build_app(
    settings: Settings, service: ScreenService | None = None, *, role: str = "all"
) -> faust.App:
    """A Faust app wired to the engine. Loading the config (and warming kernels) happens here,
    before the worker starts consuming, so the first listing does not pay for it."""
    if role not in WORKER_ROLES:
        raise ValueError(f"role must be one of {', '.join(WORKER_ROLES)}, not {role!r}")
    service = service or ScreenService.create(settings)
    stream_config = service.runtime.config.stream
    faust_fastpath.install()
    faust_fastpath.tune_fetch(
        stream_config.fetch_min_bytes,
        stream_config.fetch_max_wait_ms,
        stream_config.fetch_busy_min_bytes,
        stream_config.fetch_busy_wait_ms,
    )
    app = faust.App(
        settings.app_id if role == "all" else f"{settings.app_id}-inline",
        broker=settings.kafka_broker_url,
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        autodiscover=False,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.002,
        stream_buffer_maxsize=max(4096, 2 * stream_config.batch_size),
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        web_enabled=True,
        web_bind=settings.http_host,
        web_host=settings.http_host,
        web_port=settings.http_port,
        web_application_options={"client_max_size": 64 * 1024 * 1024},
        web_in_thread=True,  # the inline API never waits behind a stream batch
        Monitor=LeanMonitor,
    )
    topics = settings.topics
    submitted = app.topic(topics.submitted, key_type=bytes, value_type=bytes)
    outputs = [
        app.topic(name, key_type=bytes, value_type=bytes)
        for name in (topics.verdicts, topics.complaints, topics.deadletter)
    ]
    metrics = service.metrics
    publisher = ObservedPublisher(
        KafkaPublisher(settings.kafka_bootstrap_servers), metrics.produce_observer("stream")
    )
    pipeline = ScreenPipeline(
        service.screener,
        publisher,
        topics,
        service.keyer,
        service.metrics,
        raised=KafkaComplaintLog(settings.kafka_bootstrap_servers, topics.complaints),
    )

    inline = InlineContext(service)
    metrics.outbox_depth.set_function(lambda: inline.depth)
    metrics.outbox_spooled.set_function(lambda: inline.spooled)
    metrics.registry.register(FaustCollector(app))
    feedback_topic = app.topic(topics.feedback, key_type=bytes, value_type=bytes)
    watcher = ConfigWatcher(service)

    @app.timer(interval=1.0)
    async def watch_config() -> None:
        if watcher.changed():
            await asyncio.get_running_loop().run_in_executor(None, watcher.reload)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's signal stubs are narrow
    async def _flush_outputs(app: Any, **kwargs: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, inline.close)
        await publisher.stop()

    @app.task
    async def declare_outputs() -> None:
        for topic in outputs:
            await topic.maybe_declare()

    feedback_pipeline = FeedbackPipeline(service, publisher, topics)
    if role == "all":
        _stream_agents(app, submitted, feedback_topic, pipeline, feedback_pipeline, stream_config)
    else:
        # aiokafka refuses an empty subscription, so the inline role follows the low-volume
        # feedback topic in its own group and ignores it (the stream workers apply feedback)
        @app.agent(feedback_topic, name="feedback-ignored")
        async def ignore_feedback(stream: Any) -> None:
            async for _ in stream:
                pass

    register_views(app, service, inline, role=role)

    async def _inline_ready(web_app: Any) -> None:
        # the inline resources (and the outbox, with whatever journal a previous run left)
        # start with the web server, not with the first request
        inline.get()

    app.web.web_app.on_startup.append(_inline_ready)  # type: ignore[attr-defined]  # aiohttp driver
    register_inline_api(app, InlineApi(service, inline))
    app.haze_service = service  # type: ignore[attr-defined]  # for the CLI and tests
    return app


def _stream_agents(
    app: faust.App,
    submitted: Any,
    feedback_topic: Any,
    pipeline: ScreenPipeline,
    feedback_pipeline: FeedbackPipeline,
    stream_config: StreamConfig,
) -> None:
    """The agents of the ``all`` role: screening ``listings.submitted`` and applying
    ``screening.feedback``."""

    @app.agent(feedback_topic, name="feedback")
    async def feedback(stream: Any) -> None:
        async for event in stream.events():
            await feedback_pipeline.handle(_incoming(event.message))

    @app.agent(submitted, name="screen")
    async def screen(stream: Any) -> None:
        manual = stream.noack()  # events are acked by the delivery line, after their outputs

        async def ack(events: list[Any]) -> None:
            for event in events:
                await manual.ack(event)

        line: DeliveryLine[Prepared, list[Any]] = DeliveryLine(
            pipeline.deliver, ack, depth=stream_config.delivery_depth
        )
        linger = stream_config.batch_timeout_ms / 1000.0

        async def screen_and_submit(planned: Planned, events: list[Any]) -> None:
            await line.submit(await pipeline.screen(planned), events)

        # While one batch is screened (and waits for its state read), the next is parsed and
        # planned: state-free CPU work that used to wait for the read to come back. Batches are
        # still screened one after another, in order.
        screening: asyncio.Future[None] | None = None
        try:
            async for events in natural_batches(manual, stream_config.batch_size, linger_s=linger):
                planned = pipeline.plan([_incoming(event.message) for event in events])
                if screening is not None:
                    await screening
                screening = asyncio.ensure_future(screen_and_submit(planned, events))
                screening.add_done_callback(_log_failure)
                await asyncio.sleep(0)  # the screen sends its state read before we plan on
        finally:
            if screening is not None:
                await screening
            await line.drain()


def _log_failure(task: asyncio.Future[None]) -> None:
    """A screening task that fails is re-raised by the agent when it next awaits it (at the
    next batch); say so at once, in case none comes."""
    if not task.cancelled() and task.exception() is not None:
        log.error("screening a batch failed", exc_info=task.exception())


def _incoming(message: Any) -> Incoming:
    value = message.value
    return Incoming(  # positional: a named tuple's keywords cost more than its fields
        message.key,
        value if isinstance(value, bytes) else b"" if value is None else bytes(value),
        message.topic,
        message.partition,
        message.offset,
        message.timestamp,
    )
