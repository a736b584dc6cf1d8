"""One batch of ``listings.submitted`` events, from raw bytes to acknowledged outputs.

Independent of Faust so it can be tested with the in-memory state and a recording publisher.
Order per batch: parse (bad input becomes a dead letter), screen (state read once), then in
delivery: write state and ledger once, publish verdicts + complaints + dead letters and await
every ack, mark the ledger emitted. Only then does the caller ack the input events, so offsets
never pass an unpublished verdict, and a verdict is never produced before its ledger entry.
Infrastructure failures are retried with backoff (the partition waits: no policy verdicts into
the complaint pipeline); a listing that makes a detector fail becomes a dead letter instead of
blocking the partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import orjson

from config.settings import Topics
from contract.deadletter import dead_letter
from contract.errors import ContractError
from contract.listing import Listing, parse_listing
from contract.signals import SignalKeyer
from haze.engine import PendingCommit, Plan, Screened, Screener
from state.errors import StateUnavailable
from streams.complaint_log import SETTLE_S, OwedComplaint, RaisedComplaints
from streams.metrics import ScreenMetrics
from streams.publisher import Publisher, Record
from streams.retry import retry_forever

log = logging.getLogger(__name__)
T = TypeVar("T")


class Incoming(NamedTuple):
    """One consumed event, as the pipeline needs it (a named tuple: built for every event,
    at a third of a frozen dataclass's cost)."""

    key: bytes | None
    value: bytes
    topic: str
    partition: int
    offset: int
    timestamp: float | None = None
    """Broker append time (epoch seconds), for end-to-end latency."""


@dataclass(frozen=True, slots=True)
class Planned:
    """A parsed batch whose screening is planned (:meth:`ScreenPipeline.plan`)."""

    batch: Sequence[Incoming]
    accepted: list[tuple[Incoming, Listing]]
    records: list[Record]
    """Dead letters of the input that did not parse; the screen adds the rest."""
    started: float
    plan: Plan | None
    """``None`` when nothing parsed or planning failed."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A screened batch waiting for delivery."""

    batch: Sequence[Incoming]
    results: list[Screened]
    records: list[Record]
    owed: list[str]
    """Ledger keys of the complaints among ``records``."""
    started: float
    commit: PendingCommit | None = None
    """The batch's state and ledger write, applied first when it is delivered."""


class ScreenPipeline:
    def __init__(
        self,
        screener: Screener,
        publisher: Publisher,
        topics: Topics,
        keyer: SignalKeyer,
        metrics: ScreenMetrics,
        *,
        raised: RaisedComplaints | None = None,
        settle_s: float = SETTLE_S,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
    ) -> None:
        self.screener = screener
        self.publisher = publisher
        self.topics = topics
        self.keyer = keyer
        self.metrics = metrics
        self.raised = raised
        self._settle_s = settle_s
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._in_flight: Counter[str] = Counter()
        """Ledger keys whose complaint a prepared batch is delivering."""

    async def handle(self, batch: Sequence[Incoming]) -> None:
        """Screen and publish one batch; returns only when every output is acknowledged."""
        await self.deliver(await self.prepare(batch))

    async def prepare(self, batch: Sequence[Incoming]) -> Prepared:
        """Parse and screen a batch and build its output records: :meth:`plan`, then
        :meth:`screen`."""
        return await self.screen(self.plan(batch))

    def plan(self, batch: Sequence[Incoming]) -> Planned:
        """Parse a batch (bad input becomes a dead letter) and plan its screening, without
        touching state: the stream agent plans the next batch while this one's state read is
        in flight. A listing that makes planning fail is isolated when the batch is screened."""
        started = time.perf_counter()
        arrival = time.time()
        accepted: list[tuple[Incoming, Listing]] = []
        records: list[Record] = []
        for message in batch:
            try:
                accepted.append(
                    (message, parse_listing(message.value, self.keyer, arrival=arrival))
                )
            except ContractError as exc:
                records.append(self._dead_letter(message, exc.reason, exc.field))
        plan = None
        if accepted:
            try:
                plan = self.screener.plan([listing for _, listing in accepted])
            except Exception:
                log.exception("planning a batch raised; its listings are screened one by one")
        return Planned(batch, accepted, records, started, plan)

    async def screen(self, planned: Planned) -> Prepared:
        """Screen a planned batch and build its output records; its state and ledger write is
        handed to :meth:`deliver`, which applies it before producing. The stream agent screens
        the next batch while this one is delivered: the screener answers listings of pending
        writes from memory, and writes land in batch order."""
        batch, records, started = planned.batch, planned.records, planned.started
        screened, commit = await self._screen(planned.accepted, records, planned.plan)
        results = self._drop_in_flight(screened)
        if self.raised is not None:
            results = await self._drop_raised(results)
        owed = []
        for result in results:
            key = result.listing_id.encode()
            records.append(Record(self.topics.verdicts, key, result.verdict))
            if result.complaint is not None:
                records.append(Record(self.topics.complaints, key, result.complaint))
                owed.append(result.key)
        self._in_flight.update(owed)
        return Prepared(batch, results, records, owed, started, commit)

    async def deliver(self, prepared: Prepared) -> None:
        """Publish a prepared batch and await every ack, then flag its ledger entries."""
        try:
            records, results, commit = prepared.records, prepared.results, prepared.commit
            if commit is not None:  # state and ledger land before anything is produced
                await self._retry("commit", commit.apply)
            await self._retry("publish", lambda: self.publisher.publish(records))
            if results:
                await self._retry("mark emitted", lambda: self.screener.mark_emitted(results))
        finally:
            self._in_flight.subtract(prepared.owed)
            self._in_flight += Counter()  # drop the keys that reached zero
        self._observe(prepared.batch, prepared.results, prepared.records, prepared.started)

    def _drop_in_flight(self, results: list[Screened]) -> list[Screened]:
        """A repeat of a listing whose complaint an earlier batch is still delivering owes none:
        its ledger entry is not flagged yet only because that delivery has not finished."""
        if not self._in_flight:
            return results
        return [
            r._replace(complaint=None, unconfirmed_since=None)
            if r.complaint is not None and not r.fresh and r.key in self._in_flight
            else r
            for r in results
        ]

    async def _screen(
        self, accepted: list[tuple[Incoming, Listing]], records: list[Record], plan: Plan | None
    ) -> tuple[list[Screened], PendingCommit | None]:
        """The batch's results and its pending state write (committed by :meth:`deliver`);
        without a plan (planning failed), the listings are screened one by one."""
        if not accepted:
            return [], None
        if plan is not None:
            listings = plan.batch.listings
            try:
                return await self._retry(
                    "screen", lambda: self.screener.screen_deferred(listings, plan=plan)
                )
            except _DetectorFailure:
                pass
        # A listing made a detector fail: screen one by one so only the culprit is refused.
        results: list[Screened] = []
        for message, listing in accepted:
            try:
                results += await self._retry("screen", self._screen_one(listing))
            except _DetectorFailure as failure:
                records.append(self._dead_letter(message, f"screening failed: {failure}", None))
        return results, None

    async def _drop_raised(self, results: list[Screened]) -> list[Screened]:
        """Complaints owed by unconfirmed ledger entries are raised only when they are not on
        the topic already (``streams.complaint_log``). An entry younger than the settle time
        may belong to a delivery still under way elsewhere: wait that long, then drop the
        entries flagged meanwhile and read back the rest."""
        owed: dict[int, OwedComplaint] = {}
        for i, r in enumerate(results):
            if r.complaint is not None and r.unconfirmed_since is not None:
                cid = orjson.loads(r.complaint)["complaint_id"]
                owed[i] = OwedComplaint(r.listing_id.encode(), cid, r.unconfirmed_since)
        if not owed:
            return results
        raised = self.raised
        assert raised is not None
        settle = max(o.since_s for o in owed.values()) + self._settle_s - time.time()
        if settle > 0:
            await asyncio.sleep(settle)
            keys = [results[i].key for i in owed]
            flagged = await self._retry("ledger", lambda: self.screener.confirmed(keys))
            owed = {i: o for i, o in owed.items() if results[i].key not in flagged}
        items = list(owed.values())
        present = await self._retry("complaint read-back", lambda: raised.already_raised(items))
        recovered = self.metrics.complaints_recovered
        recovered.labels(outcome="already_raised").inc(len(present))
        recovered.labels(outcome="raised").inc(len(owed) - len(present))
        return [
            r._replace(complaint=None)
            if r.unconfirmed_since is not None
            and (i not in owed or owed[i].complaint_id in present)
            else r
            for i, r in enumerate(results)
        ]

    def _screen_one(self, listing: Listing) -> Callable[[], Awaitable[list[Screened]]]:
        return lambda: self.screener.screen([listing])

    async def _retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retry infrastructure failures with backoff, forever (the partition waits);
        surface any other exception while screening as :class:`_DetectorFailure`."""
        screening = what == "screen"

        def count(exc: Exception) -> None:
            if what == "publish":
                self.metrics.publish_errors.inc()
            else:
                self.metrics.state_errors.labels(path="stream").inc()

        try:
            return await retry_forever(
                what,
                call,
                transient=_is_infrastructure if screening else lambda exc: True,
                on_retry=count,
                initial_s=self._retry_initial,
                max_s=self._retry_max,
            )
        except Exception as exc:  # only non-transient screening failures get here
            log.exception("screening raised; isolating the listing")
            raise _DetectorFailure(f"{type(exc).__name__}: {exc}") from exc

    def _dead_letter(self, message: Incoming, error: str, field: str | None) -> Record:
        self.metrics.dead_letters.labels(topic=message.topic).inc()
        return dead_letter_record(message, error, field, self.topics.deadletter)

    def _observe(
        self,
        batch: Sequence[Incoming],
        results: list[Screened],
        records: list[Record],
        started: float,
    ) -> None:
        m = self.metrics
        m.batch_size.labels(path="stream").observe(len(batch))
        m.batch_seconds.labels(path="stream").observe(time.perf_counter() - started)
        m.count_verdicts("stream", results)
        repeats = sum(not result.fresh for result in results)
        if repeats:
            m.repeats.inc(repeats)
        m.complaints.inc(sum(1 for r in records if r.topic == self.topics.complaints))
        now = time.time()
        for message in batch:
            if message.timestamp:
                m.end_to_end_seconds.observe(max(0.0, now - message.timestamp))


def dead_letter_record(
    message: Incoming, error: str, field: str | None, deadletter_topic: str
) -> Record:
    """The dead-letter record for a refused event: its original key and bytes, and why."""
    value = dead_letter(
        error=error,
        field=field,
        raw=message.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )
    return Record(deadletter_topic, message.key, value)


class _DetectorFailure(Exception):
    """A non-infrastructure exception while screening (a bug or a poison listing)."""


def _is_infrastructure(exc: BaseException) -> bool:
    return isinstance(exc, StateUnavailable | ConnectionError | OSError | TimeoutError)
