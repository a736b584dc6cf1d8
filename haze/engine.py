"""The screening engine: one batch in, one verdict per listing out, state read and written once.

Both paths use it: the Kafka agent (``streams/agents.py``) and the HTTP views. Per batch:

1. ask every detector what state it needs, and read it with the ledger in one round trip;
2. listings whose ``listing_id:revision`` the ledger already holds (same content) repeat their
   stored verdict: a redelivery never double-counts state or decides differently;
3. the detectors score the rest, the decision step decides, and state plus ledger are written
   in one atomic round trip *before* anything is produced (so a crash after producing cannot
   lead to a different second verdict);
4. the caller produces verdicts and complaints, then calls :meth:`Screener.mark_emitted`; a
   complaint is only re-raised for a redelivered listing whose outputs were never confirmed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar

import orjson

from contract.listing import Listing
from contract.verdict import (
    Decision,
    Reason,
    Verdict,
    complaint_from_verdict,
    is_hit,
    utc_now_iso,
)
from detectors.base import Detector
from detectors.batch import ListingBatch
from detectors.decision import Outcome
from haze.runtime import Runtime
from state.base import (
    LedgerEntry,
    LedgerWrite,
    StateNeeds,
    StateSnapshot,
    StateStore,
    StateUpdates,
)
from state.errors import StateUnavailable

T = TypeVar("T")


class Screened(NamedTuple):
    """One listing's result: the verdict bytes to publish, and the complaint when it owes one.
    (A named tuple: one is built for every listing; change one with ``_replace``.)"""

    key: str
    listing_id: str
    decision: Decision
    verdict: bytes
    complaint: bytes | None
    fresh: bool
    """False when the verdict was repeated from the ledger (a redelivery or a resubmission)."""
    shadow_differs: bool = False
    """A shadow config is set and would have decided otherwise (it never acts)."""
    unconfirmed_since: float | None = None
    """For a repeated verdict whose complaint was never confirmed on Kafka (its worker stopped
    between producing and flagging the ledger): the screening time (epoch seconds) after which
    that complaint may have been produced. The caller checks the topic before raising it."""
    fingerprint: str | None = None
    """The content fingerprint of a fresh result, as its ledger entry holds it."""


class ScreenObserver(Protocol):
    """What the engine reports once per batch (the metrics sensor implements it)."""

    def detector_seconds(self, detector: str, stage: str, seconds: float) -> None:
        """Time one live detector spent in ``needs``, ``detect`` or ``updates`` for a batch."""

    def reasons(self, per_listing: Sequence[Sequence[Reason]], decisions: Sequence[str]) -> None:
        """The reasons of a batch's fresh verdicts, with each verdict's decision."""


@dataclass(frozen=True, slots=True)
class PendingCommit:
    """A batch's state and ledger write, made by :meth:`Screener.screen_deferred`."""

    _apply: Callable[[], Awaitable[None]]
    _forget: Callable[[], None]
    entries: int

    async def apply(self) -> None:
        """Write it (after every earlier pending commit of the screener). Retry on failure:
        the writes are idempotent."""
        await self._apply()

    def abandon(self) -> None:
        """Give it up: its listings are no longer answered from memory, and later commits no
        longer wait for it."""
        self._forget()


@dataclass(frozen=True, slots=True)
class Plan:
    """A batch ready for its state read (:meth:`Screener.plan`)."""

    runtime: Runtime
    shadow: Runtime | None
    batch: ListingBatch
    needs: StateNeeds
    keys: list[str]
    prints: list[str]
    now: float
    started: float


class _DeferredUpdates:
    """A batch's state updates, computed once, when first asked for: at the end of screening,
    or (``defer_updates``) when the commit is applied. The detectors' ``updates`` are pure
    functions of the batch, its snapshot and the decisions, and the inline path's answer does
    not wait for its state write, so it need not wait for what goes into it either (~50-100 us
    of a request)."""

    __slots__ = ("_args", "_done")

    def __init__(
        self,
        detectors: Sequence[Detector],
        batch: ListingBatch,
        snapshot: StateSnapshot,
        decisions: list[Decision],
        observer: ScreenObserver | None,
    ) -> None:
        self._args: tuple[Any, ...] | None = (detectors, batch, snapshot, decisions, observer)
        self._done: StateUpdates | None = None

    def get(self) -> StateUpdates:
        if self._done is None:
            assert self._args is not None
            detectors, batch, snapshot, decisions, observer = self._args
            updates = StateUpdates()
            for detector in detectors:
                at = time.perf_counter()
                updates.merge(detector.updates(batch, snapshot, decisions))
                if observer is not None:
                    observer.detector_seconds(detector.name, "updates", time.perf_counter() - at)
            self._done, self._args = updates, None  # the batch and snapshot can go now
        return self._done


def fingerprint(listing: Listing) -> str:
    """Content identity of a listing revision: the same id and revision with other content is
    screened again rather than answered from the ledger."""
    material = orjson.dumps(
        [
            listing.seller_id,
            listing.store_id,
            listing.title,
            listing.description,
            listing.brand,
            listing.category,
            listing.price,
            listing.currency,
            listing.shipping_fee,
            list(listing.image_phashes),
            sorted(listing.signals.items()),
            listing.created_at,
        ]
    )
    return hashlib.blake2b(material, digest_size=8).hexdigest()


async def _within(budget_s: float | None, call: Awaitable[T]) -> T:
    if budget_s is None:
        return await call
    try:
        # a timeout scope, not wait_for: wait_for runs the call as a task of its own, two more
        # turns of a busy event loop on the inline path's critical read
        async with asyncio.timeout(budget_s):
            return await call
    except TimeoutError as exc:
        raise StateUnavailable(f"state did not answer within {budget_s * 1000:.0f} ms") from exc


class Screener:
    def __init__(
        self,
        runtime: Runtime,
        state: StateStore,
        *,
        shadow: Runtime | None = None,
        clock: Callable[[], float] = time.time,
        observer: ScreenObserver | None = None,
    ) -> None:
        self.runtime = runtime
        self.shadow = shadow
        self.state = state
        self._clock = clock
        self.observer = observer
        self._uncommitted: dict[str, LedgerEntry] = {}
        """Ledger entries of pending commits, answered from memory until they land."""
        self._last_commit: asyncio.Event | None = None

    def swap(self, runtime: Runtime, *, shadow: Runtime | None = None) -> None:
        """Replace the compiled config (and shadow); batches already running finish on the
        old one."""
        self.runtime = runtime
        self.shadow = shadow

    async def screen(
        self, listings: Sequence[Listing], *, degrade: bool = False, budget_s: float | None = None
    ) -> list[Screened]:
        """Screen a batch, its state and ledger committed when this returns. With ``degrade``,
        unreachable state yields policy verdicts instead of raising :class:`StateUnavailable`
        (the inline path must always answer); ``budget_s`` bounds each state round trip
        (slower counts as unreachable)."""
        results, pending = await self._screen(listings, degrade=degrade, budget_s=budget_s)
        if pending is not None:
            try:
                await _within(budget_s, pending.apply())
            except BaseException as exc:
                pending.abandon()  # never landed: no longer answered from memory
                if not degrade or not isinstance(exc, StateUnavailable):
                    raise
                return self._degraded(self.runtime, listings, str(exc), time.perf_counter())
        return results

    async def screen_deferred(
        self,
        listings: Sequence[Listing],
        *,
        degrade: bool = False,
        budget_s: float | None = None,
        plan: Plan | None = None,
        defer_updates: bool = False,
    ) -> tuple[list[Screened], PendingCommit | None]:
        """Screen a batch and hand back its state and ledger write instead of awaiting it.

        The stream path commits while it publishes the previous batch and screens the next:
        until a pending commit lands, this screener answers its listings from memory as the
        ledger would (a repeat gets the same verdict), and commits land in the order they were
        made. The caller must :meth:`PendingCommit.apply` it before producing the results.
        ``degrade`` and ``budget_s`` apply to the read, as in :meth:`screen`; ``plan`` is
        :meth:`plan` of these listings, made ahead (one is made here otherwise). With
        ``defer_updates`` the detectors' state updates are computed when the commit is applied
        (the inline path's answer need not wait for them); otherwise here, so that a detector
        failing on a listing fails the screening, where the stream path refuses only that
        listing."""
        return await self._screen(
            listings, degrade=degrade, budget_s=budget_s, plan=plan, defer_updates=defer_updates
        )

    def plan(self, listings: Sequence[Listing]) -> Plan:
        """The state-free first half of screening a batch: what every detector needs to read
        (the text analysis, signatures and groups behind it, kept on the batch for detection)
        and the ledger keys. The stream agent plans the next batch while this one's state read
        is in flight; a plan is screened once, by :meth:`screen_deferred`, on the config it was
        made with."""
        runtime, shadow = self.runtime, self.shadow
        started = time.perf_counter()
        now = self._clock()
        batch = ListingBatch(listings, now)
        needs = StateNeeds()
        observer = self.observer
        for detector in runtime.detectors:
            at = time.perf_counter()
            needs.merge(detector.needs(batch))
            if observer is not None:
                observer.detector_seconds(detector.name, "needs", time.perf_counter() - at)
        for detector in shadow.detectors if shadow else ():
            needs.merge(detector.needs(batch), writes=False)  # a shadow never changes state
        for listing in listings:
            needs.stores.add(listing.store_id)
        keys = [listing.key for listing in listings]
        prints = [fingerprint(listing) for listing in listings]
        return Plan(runtime, shadow, batch, needs, keys, prints, now, started)

    async def _screen(
        self,
        listings: Sequence[Listing],
        *,
        degrade: bool,
        budget_s: float | None,
        plan: Plan | None = None,
        defer_updates: bool = False,
    ) -> tuple[list[Screened], PendingCommit | None]:
        if plan is None:
            plan = self.plan(listings)
        elif plan.batch.listings is not listings:
            raise ValueError("a plan is screened with the listings it was made for")
        runtime, shadow, batch, needs = plan.runtime, plan.shadow, plan.batch, plan.needs
        keys, prints, now, started = plan.keys, plan.prints, plan.now, plan.started
        observer = self.observer
        # written by this screener, not yet landed in the state: taken before the read too,
        # since a commit that lands while the read is in flight leaves memory, and the read
        # may have been answered before it landed
        before = {key: self._uncommitted[key] for key in keys if key in self._uncommitted}
        try:
            snapshot = await _within(budget_s, self.state.fetch(needs, sorted(set(keys)), now))
        except StateUnavailable as exc:
            if not degrade:
                raise
            return self._degraded(runtime, listings, str(exc), started), None
        for key in keys:
            uncommitted = self._uncommitted.get(key) or before.get(key)
            if uncommitted is not None:
                snapshot.ledger[key] = uncommitted

        results: list[Screened | None] = [None] * len(listings)
        pending: PendingCommit | None = None
        fresh_index: list[int] = []
        first_seen: dict[str, int] = {}
        for i, (key, fp) in enumerate(zip(keys, prints, strict=True)):
            entry = snapshot.ledger.get(key)
            if entry is not None and entry.fingerprint == fp:
                results[i] = self._repeat(key, listings[i], entry.verdict, entry.emitted)
            elif key in first_seen:
                continue  # same revision twice in one batch: filled from the first below
            else:
                first_seen[key] = i
                fresh_index.append(i)

        if fresh_index:
            # one batch object for detect and updates: annotations made while detecting
            # (the brands found in the text) must reach the updates; cut from the batch the
            # state was read for, whose row-indexed state a detector maps through it
            every = len(fresh_index) == len(listings)
            fresh_batch = batch if every else batch.subset(fresh_index)
            verdicts = self._judge(runtime, fresh_batch, snapshot, started)
            if shadow is not None:
                verdicts = self._with_shadow(shadow, batch.subset(fresh_index), snapshot, verdicts)
            ledger = []
            decisions = [verdict.decision for verdict in verdicts]
            for i, verdict in zip(fresh_index, verdicts, strict=True):
                doc = verdict.to_dict()
                body = orjson.dumps(doc)
                complaint = orjson.dumps(complaint_from_verdict(doc)) if is_hit(doc) else None
                ledger.append(LedgerWrite(keys[i], prints[i], body))
                differs = (
                    verdict.shadow is not None and verdict.shadow["decision"] != verdict.decision
                )
                results[i] = Screened(
                    keys[i],
                    verdict.listing_id,
                    verdict.decision,
                    body,
                    complaint,
                    True,
                    differs,
                    fingerprint=prints[i],
                )
            updates = _DeferredUpdates(
                runtime.detectors, fresh_batch, snapshot, decisions, observer
            )
            if not defer_updates:
                updates.get()
            pending = self._pending(updates, ledger, now)

        for i, key in enumerate(keys):
            if results[i] is None:  # an in-batch repeat of a fresh listing
                first = results[first_seen[key]]
                assert first is not None
                results[i] = Screened(
                    key, first.listing_id, first.decision, first.verdict, None, False
                )
        return [result for result in results if result is not None], pending

    def _pending(
        self, updates: _DeferredUpdates, ledger: list[LedgerWrite], now: float
    ) -> PendingCommit:
        entries = {w.key: LedgerEntry(w.fingerprint, w.verdict, emitted=False) for w in ledger}
        self._uncommitted.update(entries)
        previous, self._last_commit = self._last_commit, asyncio.Event()
        done = self._last_commit

        def forget() -> None:
            for key, entry in entries.items():
                if self._uncommitted.get(key) is entry:
                    del self._uncommitted[key]
            done.set()

        async def apply() -> None:
            if previous is not None:
                await previous.wait()  # commits land in the order they were made
            await self.state.commit(updates.get(), ledger, now)
            forget()

        return PendingCommit(apply, forget, len(ledger))

    async def mark_emitted(self, results: Sequence[Screened]) -> None:
        """Record that these results reached Kafka (after the producer's acks)."""
        keys = sorted({result.key for result in results})
        await self.state.mark_emitted(keys)

    async def confirmed(self, keys: Sequence[str]) -> set[str]:
        """Which of these ledger keys are flagged emitted now (one state round trip)."""
        snapshot = await self.state.fetch(StateNeeds(), sorted(set(keys)), self._clock())
        return {key for key, entry in snapshot.ledger.items() if entry.emitted}

    @staticmethod
    def _reasons(
        runtime: Runtime,
        batch: ListingBatch,
        snapshot: StateSnapshot,
        observer: ScreenObserver | None = None,
    ) -> list[tuple[Reason, ...]]:
        per_listing: list[list[Reason]] = [[] for _ in batch.listings]
        for detector in runtime.detectors:
            at = time.perf_counter()
            for reasons, found in zip(per_listing, detector.detect(batch, snapshot), strict=True):
                reasons.extend(found)
            if observer is not None:
                observer.detector_seconds(detector.name, "detect", time.perf_counter() - at)
        return [
            tuple(sorted(reasons, key=lambda r: (-r.score, r.detector, r.code)))
            for reasons in per_listing
        ]

    def _judge(
        self, runtime: Runtime, batch: ListingBatch, snapshot: StateSnapshot, started: float
    ) -> list[Verdict]:
        per_listing = self._reasons(runtime, batch, snapshot, self.observer)
        screened_at = utc_now_iso()
        latency_ms = (time.perf_counter() - started) * 1000.0
        verdicts = []
        for listing, reasons in zip(batch.listings, per_listing, strict=True):
            outcome = runtime.decision.decide(listing, reasons)
            verdicts.append(
                self._verdict(runtime, listing, outcome, reasons, screened_at, latency_ms)
            )
        if self.observer is not None:
            self.observer.reasons(per_listing, [verdict.decision for verdict in verdicts])
        return verdicts

    def _with_shadow(
        self,
        shadow: Runtime,
        batch: ListingBatch,
        snapshot: StateSnapshot,
        verdicts: list[Verdict],
    ) -> list[Verdict]:
        """Attach the decision the shadow config would have made; it never changes the verdict."""
        annotated = []
        for listing, reasons, verdict in zip(
            batch.listings, self._reasons(shadow, batch, snapshot), verdicts, strict=True
        ):
            outcome = shadow.decision.decide(listing, reasons)
            view = {
                "decision": outcome.decision,
                "score": round(outcome.score, 4),
                "config_version": shadow.config_version,
                "codes": sorted({reason.code for reason in reasons}),
            }
            annotated.append(dataclasses.replace(verdict, shadow=view))
        return annotated

    @staticmethod
    def _verdict(
        runtime: Runtime,
        listing: Listing,
        outcome: Outcome,
        reasons: tuple[Reason, ...],
        screened_at: str,
        latency_ms: float,
    ) -> Verdict:
        return Verdict(
            listing_id=listing.listing_id,
            revision=listing.revision,
            store_id=listing.store_id,
            seller_id=listing.seller_id,
            decision=outcome.decision,
            score=outcome.score,
            reasons=reasons,
            config_version=runtime.config_version,
            screened_at=screened_at,
            brand=outcome.brand,
            rights_holder=outcome.rights_holder,
            refer=outcome.refer,
            latency_ms=latency_ms,
        )

    @staticmethod
    def _repeat(key: str, listing: Listing, stored: bytes, emitted: bool) -> Screened:
        doc = orjson.loads(stored)
        if emitted or not is_hit(doc):
            return Screened(key, listing.listing_id, doc["decision"], stored, None, False)
        complaint = orjson.dumps(complaint_from_verdict(doc))
        since = datetime.fromisoformat(doc["screened_at"]).timestamp()
        return Screened(
            key,
            listing.listing_id,
            doc["decision"],
            stored,
            complaint,
            False,
            unconfirmed_since=since,
        )

    def _degraded(
        self, runtime: Runtime, listings: Sequence[Listing], why: str, started: float
    ) -> list[Screened]:
        outcome, reason = runtime.decision.degraded(why)
        screened_at = utc_now_iso()
        latency_ms = (time.perf_counter() - started) * 1000.0
        results = []
        for listing in listings:
            verdict = self._verdict(runtime, listing, outcome, (reason,), screened_at, latency_ms)
            body = verdict.to_json()
            results.append(
                Screened(listing.key, listing.listing_id, verdict.decision, body, None, True)
            )
        if self.observer is not None:
            self.observer.reasons([(reason,)] * len(listings), [outcome.decision] * len(listings))
        return results
