"""One backtest run: warm-up, feedback, then the labelled listings, through the real engine.

Listings are screened in batches of the config's ``stream.batch_size`` in file order, like the
stream agent takes them, by the real :class:`haze.engine.Screener` (detectors, decision step,
state and ledger). Time is event time: the screener's clock is the newest ``created_at`` seen
so far, so rolling windows, decay and expiry behave as they did when the listings arrived; a
listing without ``created_at`` takes the newest time seen before it (or the run's start).
Feedback is applied after the warm-up, before the labelled listings, at its ``created_at``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import orjson

from contract.listing import Listing
from contract.verdict import Decision
from detectors.offenders import apply_feedback
from haze.backtest.dataset import InputFeedback, InputListing
from haze.engine import Screened, Screener
from haze.runtime import Runtime
from state.base import StateStore


@dataclass(frozen=True, slots=True)
class Row:
    """The outcome of one labelled line."""

    line: int
    listing_id: str
    revision: int
    label: str
    decision: Decision
    score: float
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Inputs:
    labelled: Sequence[InputListing]
    warmup: Sequence[InputListing] = ()
    feedback: Sequence[InputFeedback] = ()

    @property
    def listings(self) -> int:
        """Listings one run screens (warm-up included), for progress."""
        return len(self.labelled) + len(self.warmup)


class EventClock:
    """The screener's clock: the newest event time seen, never going back."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, moment: float) -> None:
        self.now = max(self.now, moment)


def timeline(
    items: Sequence[InputListing], start: float, newest: float | None = None
) -> tuple[list[Listing], float | None]:
    """The listings with event times assigned: ``created_at`` where given, else the newest
    time before them (``start`` when none came before). Returns them and the newest time."""
    out = []
    for item in items:
        listing = item.listing
        if item.timed:
            newest = listing.event_time if newest is None else max(newest, listing.event_time)
        else:
            listing = replace(listing, event_time=start if newest is None else newest)
        out.append(listing)
    return out, newest


async def run_once(
    runtime: Runtime,
    inputs: Inputs,
    state: StateStore,
    *,
    start: float,
    batch_size: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[Row]:
    """Screen warm-up, apply feedback, screen the labelled listings; one row per labelled
    line, in file order. ``state`` must be fresh (see ``haze.backtest.isolation``); ``start``
    is the event time of listings without ``created_at`` before any with one."""
    size = batch_size or runtime.config.stream.batch_size
    warm, newest = timeline(inputs.warmup, start)
    labelled, _ = timeline(inputs.labelled, start, newest)
    clock = EventClock(float("-inf"))
    screener = Screener(runtime, state, clock=clock)
    await _screen_all(screener, clock, warm, size, on_batch)
    for item in inputs.feedback:
        moment = item.event_time if item.event_time is not None else clock.now
        if moment == float("-inf"):  # no warm-up: just before the first labelled listing
            moment = labelled[0].event_time if labelled else start
        await apply_feedback(item.feedback, state, moment)
    results = await _screen_all(screener, clock, labelled, size, on_batch)
    return [_row(item, result) for item, result in zip(inputs.labelled, results, strict=True)]


async def _screen_all(
    screener: Screener,
    clock: EventClock,
    listings: Sequence[Listing],
    size: int,
    on_batch: Callable[[int], None] | None,
) -> list[Screened]:
    results: list[Screened] = []
    for begin in range(0, len(listings), size):
        batch = listings[begin : begin + size]
        clock.advance(max(listing.event_time for listing in batch))
        results += await screener.screen(batch)
        if on_batch is not None:
            on_batch(len(batch))
    return results


def _row(item: InputListing, result: Screened) -> Row:
    verdict = orjson.loads(result.verdict)
    codes = tuple(sorted({reason["code"] for reason in verdict["reasons"]}))
    assert item.label is not None, "labelled listings carry a label"
    return Row(
        line=item.line,
        listing_id=item.listing.listing_id,
        revision=item.listing.revision,
        label=item.label,
        decision=result.decision,
        score=float(verdict["score"]),
        codes=codes,
    )
