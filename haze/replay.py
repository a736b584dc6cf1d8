"""``haze replay``: re-screen a time range of ``listings.submitted`` (or a file) under a
candidate config into a topic of its own, leaving production alone.

- Input is read with a consumer that has no group (``group_id=None``): it seeks with
  ``offsets_for_times`` and commits nothing, so no production consumer group moves.
- State is isolated (``haze.backtest.isolation``): a fresh Redis key prefix deleted afterwards,
  or memory. Production keys are never read or written.
- Verdicts go to ``--into`` (default ``listings.verdicts.replay``), never to a production topic
  (the configured and the contract's default names are refused); no complaint is raised and no
  dead letter is written: invalid events are counted and listed in the summary.
- ``--warmup-from`` screens the events before ``--from`` to build the rolling state first,
  without producing their verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_INTO = "listings.verdicts.replay"
_RELATIVE = re.compile(r"^(?:now)?-(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_IDLE_S = 30.0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "replay",
        help="re-screen a time range of listings.submitted (or a file) into a separate topic",
        description=(
            "Re-screen listings under a candidate config, with isolated state, into a topic of "
            "its own: production state, topics and consumer offsets are left untouched. "
            "Times are ISO 8601 (2026-11-20T08:00:00Z), epoch seconds, or relative to now "
            "(now-2h, now-30m, now-1d)."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="start", help="first event time to replay")
    source.add_argument("--file", type=Path, help="listings to replay (JSON Lines) instead")
    parser.add_argument("--until", help="replay events before this time (default: now)")
    parser.add_argument(
        "--warmup-from", help="screen events from here to --from first, to build the state"
    )
    parser.add_argument(
        "--topic", help="source topic (default: SCREEN_TOPIC_SUBMITTED or listings.submitted)"
    )
    parser.add_argument("--config", type=Path, help="candidate thresholds (default: SCREEN_CONFIG)")
    parser.add_argument("--registry", type=Path, help="brand registry (default: SCREEN_REGISTRY)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--into", default=DEFAULT_INTO, help=f"verdicts topic ({DEFAULT_INTO})")
    target.add_argument("--out-file", type=Path, help="write verdicts here (JSON Lines) instead")
    parser.add_argument("--memory", action="store_true", help="in-memory state instead of Redis")
    parser.add_argument("--redis-url", help="Redis for the isolated state (default: REDIS_URL)")
    parser.add_argument("--batch-size", type=int, help="default: the config's stream.batch_size")
    parser.set_defaults(func=run)


def parse_time(text: str, *, now: float | None = None) -> float:
    """Epoch seconds from ISO 8601 (naive means UTC), epoch seconds, or ``now-90m``-style
    (``s``, ``m``, ``h``, ``d``; ``-90m`` alone too, written ``--from=-90m``)."""
    from haze.backtest.errors import BacktestError

    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        base = time.time() if now is None else now
        return base - float(relative.group(1)) * _UNIT_S[relative.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BacktestError(
            f"{text!r}: not a time (ISO 8601, epoch seconds, or relative like now-2h)"
        ) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def refuse_production(into: str, production: Sequence[str], source: str) -> None:
    """A replay never writes into a production topic or into its own source."""
    from config.settings import Topics
    from haze.backtest.errors import BacktestError

    forbidden = {*production, *Topics().model_dump().values(), source}
    if into in forbidden:
        raise BacktestError(
            f"--into {into}: refusing to write into a production topic "
            f"({', '.join(sorted(forbidden))}); name a topic of its own"
        )


@dataclass(slots=True)
class Summary:
    source: str
    into: str
    state: str = ""
    removed_keys: int = 0
    read: int = 0
    warmup: int = 0
    produced: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    invalid: list[str] = field(default_factory=list)

    def text(self) -> str:
        d = self.decisions
        lines = [
            f"replayed {self.source} into {self.into}",
            f"  read {self.read:,} events ({self.warmup:,} warm-up), {len(self.invalid):,} invalid,"
            f" {self.produced:,} verdicts written: allow {d['allow']:,}, review {d['review']:,},"
            f" block {d['block']:,}",
            f"  state: {self.state}"
            + (f", {self.removed_keys:,} keys removed after" if self.state != "memory" else ""),
        ]
        lines += [f"  invalid: {problem}" for problem in self.invalid[:20]]
        if len(self.invalid) > 20:
            lines.append(f"  ... and {len(self.invalid) - 20} more invalid events")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Event:
    """One input to re-screen: the raw value, its arrival time, whether to emit its verdict."""

    where: str
    value: bytes
    arrival: float
    emit: bool


async def read_range(
    bootstrap: str, topic: str, start_s: float, end_s: float, *, chunk: int = 1000
) -> AsyncIterator[list[tuple[str, bytes, float]]]:
    """Events of ``topic`` timestamped in ``[start_s, end_s)``, as ``(where, value, time)``
    lists, read partition by partition with a group-less consumer (nothing committed)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from haze.backtest.errors import BacktestError

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    await asyncio.sleep(0)  # let the consumer's background task start, so stop() is clean
    try:
        found = consumer.partitions_for_topic(topic)
        for _ in range(25):
            if found:
                break
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(topic)
            if not found:
                await asyncio.sleep(0.2)
        if not found:
            raise BacktestError(f"topic {topic!r} does not exist on {bootstrap}")
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        start_ms, end_ms = int(start_s * 1000), int(end_s * 1000)
        firsts = await consumer.offsets_for_times(dict.fromkeys(partitions, start_ms))
        lasts = await consumer.offsets_for_times(dict.fromkeys(partitions, end_ms))
        log_ends = await consumer.end_offsets(partitions)
        ends: dict[Any, int] = {}
        seeks: dict[Any, int] = {}
        for tp in partitions:
            first, last = firsts.get(tp), lasts.get(tp)
            end = last.offset if last is not None else log_ends[tp]
            if first is not None and first.offset < end:
                ends[tp], seeks[tp] = end, first.offset
        consumer.assign(list(ends))
        for tp, offset in seeks.items():
            consumer.seek(tp, offset)
        idle_since = time.monotonic()
        while ends:
            got = await consumer.getmany(*ends, timeout_ms=500, max_records=chunk)
            out = []
            for tp, records in got.items():
                for record in records:
                    if record.offset < ends[tp] and start_ms <= record.timestamp < end_ms:
                        where = f"{tp.topic}[{tp.partition}]@{record.offset}"
                        out.append((where, record.value or b"", record.timestamp / 1000.0))
            for tp in list(ends):
                if await consumer.position(tp) >= ends[tp]:
                    del ends[tp]
            if out:
                idle_since = time.monotonic()
                yield out
            elif time.monotonic() - idle_since > _IDLE_S:
                raise BacktestError(f"{topic}: no progress for {_IDLE_S:.0f}s; stopped early")
    finally:
        await consumer.stop()


async def _topic_events(
    bootstrap: str, topic: str, warm_s: float, start_s: float, end_s: float
) -> AsyncIterator[list[Event]]:
    async for chunk in read_range(bootstrap, topic, warm_s, end_s):
        yield [Event(w, v, t, t >= start_s) for w, v, t in chunk]


class _Output:
    """Where verdicts go: a Kafka topic (idempotent producer, acks=all) or a file."""

    def __init__(
        self, bootstrap: str, into: str | None, path: Path | None, *, partitions: int = 4
    ) -> None:
        self.bootstrap, self.into, self.path = bootstrap, into, path
        self.partitions = partitions
        self._producer: Any = None
        self._file: Any = None

    async def __aenter__(self) -> _Output:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
            return self
        from aiokafka import AIOKafkaProducer

        assert self.into is not None
        await _ensure_topic(self.bootstrap, self.into, self.partitions)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, linger_ms=5
        )
        await self._producer.start()
        return self

    async def write(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        if self._file is not None:
            for _, value in records:
                self._file.write(value + b"\n")
            return
        sent = [await self._producer.send(self.into, value, key=key) for key, value in records]
        await asyncio.gather(*sent)

    async def __aexit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
        if self._producer is not None:
            await self._producer.stop()


async def _ensure_topic(bootstrap: str, name: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if name not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(name, num_partitions=partitions, replication_factor=1)]
                )
    finally:
        await admin.close()


async def replay(
    events: AsyncIterator[list[Event]],
    runtime: Any,
    keyer: Any,
    output: _Output,
    summary: Summary,
    *,
    redis_url: str | None,
    batch_size: int | None = None,
) -> Summary:
    """Screen ``events`` under ``runtime`` in isolated state; write the emitted verdicts."""
    from contract.errors import ContractError
    from contract.listing import parse_listing
    from haze.backtest.isolation import isolated_state
    from haze.backtest.runner import EventClock
    from haze.engine import Screener

    size = batch_size or runtime.config.stream.batch_size
    async with isolated_state(runtime.config, redis_url, tag="rp") as isolated, output:
        summary.state = isolated.where
        clock = EventClock(0.0)
        screener = Screener(runtime, isolated.state, clock=clock)
        pending: list[tuple[Any, bool]] = []

        async def flush() -> None:
            if not pending:
                return
            listings = [listing for listing, _ in pending]
            clock.advance(max(listing.event_time for listing in listings))
            results = await screener.screen(listings)
            records = []
            for (_, emit), result in zip(pending, results, strict=True):
                if emit:
                    summary.decisions[result.decision] += 1
                    records.append((result.listing_id.encode(), result.verdict))
            await output.write(records)
            summary.produced += len(records)
            pending.clear()

        async for chunk in events:
            for event in chunk:
                summary.read += 1
                summary.warmup += not event.emit
                try:
                    listing = parse_listing(event.value, keyer, arrival=event.arrival)
                except ContractError as exc:
                    summary.invalid.append(f"{event.where}: {exc}")
                    continue
                pending.append((listing, event.emit))
                if len(pending) >= size:
                    await flush()
        await flush()
    summary.removed_keys = isolated.removed
    return summary


async def _file_events(path: Path, *, chunk: int = 1000) -> AsyncIterator[list[Event]]:
    """A file's lines as events (arrival: now, for listings without ``created_at``)."""
    from haze.backtest.errors import BacktestError

    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BacktestError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    now, out = time.time(), []
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                out.append(Event(f"{path}:{number}", line, now, True))
            if len(out) >= chunk:
                yield out
                out = []
    if out:
        yield out


def run(args: argparse.Namespace) -> int:
    from config.registry import load_registry
    from config.settings import settings_from_env
    from config.thresholds import load_screen_config
    from contract.signals import SignalKeyer
    from haze.backtest.errors import BacktestError
    from haze.runtime import Runtime
    from streams.topics import topic_names

    settings = settings_from_env()
    source = args.topic or settings.topics.submitted
    into = None if args.out_file else args.into
    if into is not None:
        refuse_production(into, topic_names(settings), source)
    if args.batch_size is not None and args.batch_size < 1:
        raise BacktestError("--batch-size must be at least 1")
    config, config_digest = load_screen_config(args.config or settings.config_path)
    registry, registry_digest = load_registry(args.registry or settings.registry_path)
    runtime = Runtime.build(config, registry, digest=f"{config_digest[:6]}{registry_digest[:6]}")
    keyer = SignalKeyer(settings.signal_key)
    summary = Summary(str(args.file) if args.file else source, str(args.out_file or into))
    if args.file:
        events = _file_events(args.file)
    else:
        now = time.time()
        start = parse_time(args.start, now=now)
        end = parse_time(args.until, now=now) if args.until else now
        warm = parse_time(args.warmup_from, now=now) if args.warmup_from else start
        if not warm <= start < end:
            raise BacktestError("times must satisfy --warmup-from <= --from < --until")
        events = _topic_events(settings.kafka_bootstrap_servers, source, warm, start, end)
    output = _Output(
        settings.kafka_bootstrap_servers, into, args.out_file, partitions=settings.partitions
    )
    redis_url = None if args.memory else (args.redis_url or settings.redis_url)
    try:
        asyncio.run(
            replay(events, runtime, keyer, output, summary, redis_url=redis_url,
                   batch_size=args.batch_size)
        )  # fmt: skip
    except KeyboardInterrupt:
        print("\nhaze replay: interrupted; the isolated state was removed", file=sys.stderr)
        return 130
    print(summary.text())
    return 0
