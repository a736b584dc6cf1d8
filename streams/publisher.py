"""Producing outputs with acknowledgement: a batch of records is sent, then every ack awaited.

Offsets of the input advance only after :meth:`Publisher.publish` returns, which is what makes
the stream path at-least-once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes


class Publisher(Protocol):
    async def publish(self, records: Sequence[Record]) -> None:
        """Send all records and return once the broker acknowledged each; raise otherwise."""


class FaustPublisher:
    """Publishes through the Faust app's producer (aiokafka underneath, acks=all)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def publish(self, records: Sequence[Record]) -> None:
        producer = self._app.producer
        pending = [
            await producer.send(record.topic, record.key, record.value, None, None, None)
            for record in records
        ]
        if pending:
            await asyncio.gather(*pending)
