"""Which owed complaints already reached Kafka: read back after a crash, never raised twice.

The ledger (state + verdict) is committed *before* producing and flagged emitted *after* the
producer's acks. A worker killed between those two steps leaves entries that are written but
not flagged: their events come again, and the complaint they owe may or may not be on the topic.
Guessing either way is wrong (raising it again duplicates it; skipping it may lose it), so the
pipeline asks the topic itself. The stored verdict's ``screened_at`` bounds where to look: the
complaint was produced after it, so the read starts at the first record of the key's partition
timestamped no earlier than that (``offsets_for_times``, minus a margin for clock steps) and ends
at the partition's end. This happens only for redelivered, unconfirmed hits: after a crash, a
few hundred at most, and nothing at all in steady state.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.partitioning import partition_for

log = logging.getLogger(__name__)

SETTLE_S = 10.0
"""How long a healthy worker may take from committing a ledger entry to flagging it emitted
(producing plus one Redis call, with room for a slow broker). An unflagged entry younger than
this may belong to a delivery still under way in another worker or path: it is looked at again
once it is this old, and only then read back from the topic."""

CLOCK_MARGIN_S = 60.0
"""How far before the earliest ``screened_at`` the read starts (producer clock steps)."""


@dataclass(frozen=True, slots=True)
class OwedComplaint:
    key: bytes
    """The record key it is produced with (the listing id): it decides the partition."""
    complaint_id: str
    since_s: float
    """Epoch seconds before which it cannot have been produced (its verdict's screening time)."""


class RaisedComplaints(Protocol):
    async def already_raised(self, owed: Sequence[OwedComplaint]) -> set[str]:
        """The complaint ids among ``owed`` that are already on the complaints topic."""


class KafkaComplaintLog:
    """Reads the complaints topic back with a group-less consumer (no offsets committed)."""

    def __init__(self, bootstrap_servers: str, topic: str, *, timeout_s: float = 30.0) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._timeout_ms = int(timeout_s * 1000)

    async def already_raised(self, owed: Sequence[OwedComplaint]) -> set[str]:
        if not owed:
            return set()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=self._timeout_ms,
        )
        await consumer.start()
        try:
            return await self._scan(consumer, owed)
        finally:
            await consumer.stop()

    async def _scan(self, consumer: AIOKafkaConsumer, owed: Sequence[OwedComplaint]) -> set[str]:
        await consumer._client.force_metadata_update()
        known = consumer.partitions_for_topic(self._topic)
        if not known:
            return set()  # the topic does not exist yet: nothing was ever raised
        partitions = sorted(known)
        since: dict[TopicPartition, float] = defaultdict(lambda: float("inf"))
        wanted: set[bytes] = set()
        for item in owed:
            tp = TopicPartition(self._topic, partition_for(item.key, partitions))
            since[tp] = min(since[tp], item.since_s)
            wanted.add(item.complaint_id.encode())
        starts = await consumer.offsets_for_times(
            {tp: max(0, int((t - CLOCK_MARGIN_S) * 1000)) for tp, t in since.items()}
        )
        ends = await consumer.end_offsets(list(since))
        todo = {tp: ends[tp] for tp, found in starts.items() if found is not None}
        if not todo:
            return set()
        consumer.assign(list(todo))
        for tp in todo:
            found = starts[tp]
            assert found is not None
            consumer.seek(tp, found.offset)
        seen: set[str] = set()
        read = 0
        deadline = time.monotonic() + self._timeout_ms / 1000.0
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading back {self._topic} took too long")
            batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=5000)
            for messages in batch.values():
                for message in messages:
                    read += 1
                    found_id = _complaint_id(message.value)
                    if found_id is not None and found_id in wanted:
                        seen.add(found_id.decode())
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]
        log.warning(
            "complaint read-back: %d of %d owed complaints already on %s (%d records read)",
            len(seen),
            len(owed),
            self._topic,
            read,
        )
        return seen


def _complaint_id(value: bytes | None) -> bytes | None:
    if not value:
        return None
    try:
        found = orjson.loads(value).get("complaint_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return found.encode() if isinstance(found, str) else None
