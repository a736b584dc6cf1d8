"""``screening.feedback`` events: parsed, applied to the offender state, bad ones dead-lettered."""

from __future__ import annotations

import time

from aiokafka.errors import KafkaError

from config.settings import Topics
from contract.errors import ContractError
from contract.feedback import parse_feedback
from detectors.offenders import apply_feedback
from state.errors import StateUnavailable
from streams.pipeline import Incoming, dead_letter_record
from streams.publisher import Publisher
from streams.retry import retry_forever
from streams.service import ScreenService


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
            self.service.metrics.dead_letters.labels(topic=message.topic).inc()
            record = dead_letter_record(message, exc.reason, exc.field, self.topics.deadletter)
            await retry_forever(
                "dead letter", lambda: self.publisher.publish([record]), transient=_transient
            )
            return
        await retry_forever(
            "feedback",
            lambda: apply_feedback(feedback, self.service.state, time.time()),
            transient=_transient,
        )
        self.service.metrics.feedback.labels(outcome=feedback.outcome).inc()


def _transient(exc: Exception) -> bool:
    return isinstance(exc, StateUnavailable | KafkaError | OSError)
