"""``screening.feedback`` events: parsed, applied to the offender state, bad ones dead-lettered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError

from config.settings import Topics
from contract.deadletter import dead_letter
from contract.errors import ContractError
from contract.feedback import parse_feedback
from detectors.offenders import apply_feedback
from state.errors import StateUnavailable
from streams.pipeline import Incoming
from streams.publisher import Publisher, Record
from streams.service import ScreenService

log = logging.getLogger(__name__)


class FeedbackPipeline:
    def __init__(self, service: ScreenService, publisher: Publisher, topics: Topics) -> None:
        self.service = service
        self.publisher = publisher
        self.topics = topics

    async def handle(self, message: Incoming) -> None:
        """Apply one feedback event; retries while Redis is away (the partition waits)."""
        try:
            feedback = parse_feedback(message.value)
        except ContractError as exc:
            value = dead_letter(
                error=exc.reason,
                field=exc.field,
                raw=message.value,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
            self.service.metrics.dead_letters.labels(topic=message.topic).inc()
            record = Record(self.topics.deadletter, message.key, value)
            await _retrying("dead letter", lambda: self.publisher.publish([record]))
            return
        await _retrying(
            "feedback", lambda: apply_feedback(feedback, self.service.state, time.time())
        )
        self.service.metrics.feedback.labels(outcome=feedback.outcome).inc()


async def _retrying(what: str, call: Callable[[], Awaitable[object]]) -> None:
    """Retry infrastructure failures with backoff; the partition waits, nothing is dropped."""
    delay = 0.1
    while True:
        try:
            await call()
            return
        except asyncio.CancelledError:
            raise
        except (StateUnavailable, KafkaError, OSError) as exc:
            log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)
