"""Stream load harness: produce listings to ``listings.submitted`` at a target rate (or as fast as
possible) and measure throughput and produce-to-verdict latency from ``listings.verdicts``.

Latency per listing is the verdict record's broker timestamp minus the time the listing was
handed to the producer, so it includes the broker hop both ways and the worker's batching.
Bounded: it stops after ``count`` listings or ``timeout_s``, whichever comes first.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


@dataclass
class StreamReport:
    produced: int = 0
    verdicts: int = 0
    dead_letters: int = 0
    complaints: int = 0
    elapsed_s: float = 0.0
    decisions: Counter[str] = field(default_factory=Counter)
    by_label: dict[str, Counter[str]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    verdict_times_s: list[float] = field(default_factory=list)
    """Per latency sample: its verdict's broker timestamp, in seconds since ``started_at``."""
    started_at: float = 0.0
    """Wall-clock time (epoch seconds) when producing began."""

    @property
    def throughput_lps(self) -> float:
        return self.verdicts / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "verdicts": self.verdicts,
            "dead_letters": self.dead_letters,
            "complaints": self.complaints,
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_lps": round(self.throughput_lps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p90_ms": round(self.percentile(90), 2),
            "p99_ms": round(self.percentile(99), 2),
            "decisions": dict(self.decisions),
        }


async def _assign_at_end(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> None:
    partitions = []
    for topic in topics:
        found = consumer.partitions_for_topic(topic)
        for _ in range(150):
            if found:
                break
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.2)
        partitions += [TopicPartition(topic, p) for p in sorted(found or ())]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:  # resolve positions now, before anything is produced
        await consumer.position(tp)


def pause_before_next(index: int, rate: float, elapsed_s: float, tick_s: float = 0.0) -> float:
    """How long to sleep after sending listing ``index`` (0-based) of a load paced at ``rate``
    per second, ``elapsed_s`` after it began: until the next one is due, unless that is within
    ``tick_s`` (then 0: it goes out now, early by less than a tick)."""
    ahead = (index + 1) / rate - elapsed_s
    return ahead if ahead > tick_s else 0.0


async def run_stream_load(
    bootstrap: str,
    topics: Any,
    docs: Sequence[dict[str, Any]],
    *,
    rate: float = 0.0,
    timeout_s: float = 300.0,
    extra_values: Sequence[tuple[bytes | None, bytes]] = (),
    on_progress: Callable[[StreamReport], None] | None = None,
    tick_s: float = 0.0,
) -> StreamReport:
    """Produce ``docs`` (plus ``extra_values``, e.g. malformed ones) and read their verdicts.

    ``topics`` is a ``config.settings.Topics``. A ``label`` field in a doc is reported per
    class (the screener ignores it). At a ``rate``, a listing due within ``tick_s`` is sent
    at once instead of after a sleep of its own: the load then goes out in small bursts, one
    wake-up (and about one produce request) per tick instead of per listing. Its latency
    still counts from when it was sent.
    """
    report = StreamReport()
    labels = {doc["listing_id"]: doc.get("label", "unlabelled") for doc in docs}
    sent_at: dict[str, float] = {}
    expected_dead = len(extra_values)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all")
    await producer.start()
    seen: set[str] = set()
    # The prepared listings live for the whole run: keep the collector off them. Otherwise
    # its full collections walk tens of thousands of dicts (~130 ms each, measured), pausing
    # the producer in the middle of the paced run.
    gc.collect()
    gc.freeze()
    try:
        await _assign_at_end(consumer, [topics.verdicts, topics.deadletter, topics.complaints])
        started = time.perf_counter()
        report.started_at = time.time()

        async def produce_all() -> None:
            pending = []
            for index, doc in enumerate(docs):
                sent_at[doc["listing_id"]] = time.time()
                pending.append(
                    await producer.send(
                        topics.submitted, orjson.dumps(doc), key=doc["listing_id"].encode()
                    )
                )
                report.produced += 1
                if rate > 0:
                    pause = pause_before_next(index, rate, time.perf_counter() - started, tick_s)
                    if pause > 0:
                        await asyncio.sleep(pause)
                elif index % 500 == 0:
                    await asyncio.sleep(0)
            for key, value in extra_values:
                pending.append(await producer.send(topics.submitted, value, key=key))
            await asyncio.gather(*pending)

        producing = asyncio.create_task(produce_all())
        deadline = time.monotonic() + timeout_s
        last_progress = 0.0
        while time.monotonic() < deadline:
            if len(seen) >= len(docs) and report.dead_letters >= expected_dead:
                break
            batch = await consumer.getmany(timeout_ms=100, max_records=10_000)
            for tp, messages in batch.items():
                for message in messages:
                    if tp.topic == topics.deadletter:
                        report.dead_letters += 1
                    elif tp.topic == topics.complaints:
                        report.complaints += 1
                    else:
                        _count_verdict(report, message, labels, sent_at, seen)
            report.elapsed_s = time.perf_counter() - started
            if on_progress and time.monotonic() - last_progress > 0.5:
                last_progress = time.monotonic()
                on_progress(report)
        await producing
    finally:
        await producer.stop()
        await consumer.stop()
        gc.unfreeze()
    return report


def _count_verdict(
    report: StreamReport,
    message: Any,
    labels: dict[str, str],
    sent_at: dict[str, float],
    seen: set[str],
) -> None:
    verdict = orjson.loads(message.value)
    listing_id = verdict["listing_id"]
    if listing_id not in labels or listing_id in seen:
        return  # someone else's listing, or a redelivered repeat
    seen.add(listing_id)
    report.verdicts += 1
    decision = verdict["decision"]
    report.decisions[decision] += 1
    report.by_label.setdefault(labels[listing_id], Counter())[decision] += 1
    if listing_id in sent_at:
        report.latencies_ms.append(max(0.0, message.timestamp - sent_at[listing_id] * 1000.0))
        report.verdict_times_s.append(message.timestamp / 1000.0 - report.started_at)


async def measure_drain(
    bootstrap: str, topics: Any, listing_ids: set[str], *, timeout_s: float = 300.0
) -> tuple[int, float]:
    """Read verdicts from the start of the topic until every id in ``listing_ids`` has one.

    Returns ``(verdicts, seconds)`` where seconds spans the broker timestamps of the first and
    last of those verdicts: the worker's own drain rate over a backlog, unaffected by how fast
    this process can produce or read.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    seen: set[str] = set()
    first = last = 0
    try:
        await _assign_at_end(consumer, [topics.verdicts])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        while len(seen) < len(listing_ids) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for messages in batch.values():
                for message in messages:
                    listing_id = orjson.loads(message.value)["listing_id"]
                    if listing_id in listing_ids and listing_id not in seen:
                        seen.add(listing_id)
                        first = message.timestamp if not first else min(first, message.timestamp)
                        last = max(last, message.timestamp)
    finally:
        await consumer.stop()
    return len(seen), (last - first) / 1000.0
