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
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from haze.replay_io import Event, Output, file_events, topic_events

DEFAULT_INTO = "listings.verdicts.replay"
_RELATIVE = re.compile(r"^(?:now)?-(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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


async def replay(
    events: AsyncIterator[list[Event]],
    runtime: Any,
    keyer: Any,
    output: Output,
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
        events = file_events(args.file)
    else:
        now = time.time()
        start = parse_time(args.start, now=now)
        end = parse_time(args.until, now=now) if args.until else now
        warm = parse_time(args.warmup_from, now=now) if args.warmup_from else start
        if not warm <= start < end:
            raise BacktestError("times must satisfy --warmup-from <= --from < --until")
        events = topic_events(settings.kafka_bootstrap_servers, source, warm, start, end)
    output = Output(
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
