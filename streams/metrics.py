"""The screener's Prometheus metrics, as one sensor object with an injectable registry.

Labels stay low-cardinality (path, decision, reason code, detector, stage, operation, topic,
partition, outcome), never an id. Business code reports once per batch: the engine through
:meth:`ScreenMetrics.observer` (per-detector time, reasons), the state store and the producer
through wrappers fed by :meth:`ScreenMetrics.state_observer` and
:meth:`ScreenMetrics.produce_observer`. Consumer lag and Faust's own monitor are read at
scrape time (``streams.faust_metrics``), costing nothing per message.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contract.verdict import Reason

if TYPE_CHECKING:
    from haze.engine import Screened
    from state.base import StateStore

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_HTTP_BUCKETS = (
    0.0002,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
)
_BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
_STEP_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class ScreenMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.verdicts = Counter(
            "haze_verdicts",
            "Verdicts produced, by path and decision",
            ["path", "decision"],
            registry=r,
        )
        self.reasons = Counter(
            "haze_reasons",
            "Reasons attached to fresh verdicts, by detector, code and the verdict's decision",
            ["detector", "code", "decision"],
            registry=r,
        )
        self.repeats = Counter(
            "haze_repeated_verdicts", "Verdicts repeated from the ledger (redeliveries)", registry=r
        )
        self.complaints = Counter("haze_complaints", "Proactive complaints raised", registry=r)
        self.complaints_recovered = Counter(
            "haze_complaints_recovered",
            "Complaints owed by redelivered, unconfirmed listings after a crash: found already "
            "on the topic (not raised again) or raised",
            ["outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "haze_dead_letters", "Inputs refused to the dead-letter topic", ["topic"], registry=r
        )
        self.batch_size = Histogram(
            "haze_batch_size",
            "Listings per screened batch",
            ["path"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "haze_batch_seconds",
            "Time to screen one batch (state, detectors, decision)",
            ["path"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end_seconds = Histogram(
            "haze_end_to_end_seconds",
            "From a listing's append to listings.submitted to its verdict being acknowledged",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.state_errors = Counter(
            "haze_state_errors",
            "Redis calls that failed or exceeded their budget",
            ["path"],
            registry=r,
        )
        self.publish_errors = Counter(
            "haze_publish_errors", "Kafka produce attempts that failed (retried)", registry=r
        )
        self.config_info = Gauge(
            "haze_config_info",
            "The config version in force (value 1)",
            ["config_version"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "haze_http_request_seconds",
            "Server-side latency of the inline API, by endpoint",
            ["endpoint"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )
        self.outbox_depth = Gauge(
            "haze_outbox_depth", "Inline-path records not yet acknowledged by Kafka", registry=r
        )
        self.config_reloads = Counter(
            "haze_config_reloads",
            "Config file changes, applied or rejected",
            ["outcome"],
            registry=r,
        )
        self.shadow_disagreements = Counter(
            "haze_shadow_disagreements",
            "Verdicts whose shadow decision differs, by live decision",
            ["decision"],
            registry=r,
        )
        self.feedback = Counter(
            "haze_feedback", "Feedback records applied, by outcome", ["outcome"], registry=r
        )

        self.detector_seconds = Histogram(
            "haze_detector_seconds",
            "Time one detector spent on a batch, by path, detector and stage "
            "(needs: what state to read; detect: scoring; updates: what state to write)",
            ["path", "detector", "stage"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.redis_seconds = Histogram(
            "haze_redis_seconds",
            "Redis round trips that answered, by path and operation",
            ["path", "operation"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.redis_errors = Counter(
            "haze_redis_errors",
            "Redis round trips that failed or were abandoned past their budget, by path and "
            "operation",
            ["path", "operation"],
            registry=r,
        )
        self.produce_seconds = Histogram(
            "haze_produce_seconds",
            "From handing a batch of records to the producer to the last broker ack, by path",
            ["path"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.produce_failures = Counter(
            "haze_produce_failures",
            "Batches the producer could not deliver (the stream retries; the outbox keeps them)",
            ["path"],
            registry=r,
        )
        self.outbox_spooled = Gauge(
            "haze_outbox_spooled",
            "Inline-path records spilled to the on-disk spool, awaiting Kafka",
            registry=r,
        )
        self.state_held_bytes = Gauge(
            "haze_state_held_bytes",
            "Memory a path's state store holds of the shared state (the replicated LSH "
            "tables, state.inline_tables: replica), read at scrape time",
            ["path"],
            registry=r,
        )

    def watch_state(self, path: str, state: StateStore) -> None:
        """Export what ``state`` holds, read from it at every scrape."""
        self.state_held_bytes.labels(path=path).set_function(lambda: state.held_bytes)

    def observer(self, path: str) -> BatchObserver:
        """The engine's per-batch observer for one path (``stream`` or ``http``)."""
        return BatchObserver(self, path)

    def count_verdicts(self, path: str, results: Sequence[Screened]) -> None:
        """Count a batch's verdicts and shadow disagreements by decision: one labelled
        increment per decision rather than per listing."""
        decisions: Tally[str] = Tally()
        differing: Tally[str] = Tally()
        for result in results:
            decisions[result.decision] += 1
            if result.shadow_differs:
                differing[result.decision] += 1
        for decision, count in decisions.items():
            self.verdicts.labels(path=path, decision=decision).inc(count)
        for decision, count in differing.items():
            self.shadow_disagreements.labels(decision=decision).inc(count)

    def state_observer(self, path: str) -> Callable[[str, float, bool], None]:
        """Feeds ``haze_redis_seconds`` and ``haze_redis_errors`` (``state.observed``)."""
        seconds, errors = self.redis_seconds, self.redis_errors
        timers: dict[str, Any] = {}  # labelled children, looked up once per operation

        def observe(operation: str, elapsed: float, ok: bool) -> None:
            if ok:
                timer = timers.get(operation)
                if timer is None:
                    timer = timers[operation] = seconds.labels(path=path, operation=operation)
                timer.observe(elapsed)
            else:
                errors.labels(path=path, operation=operation).inc()

        return observe

    def produce_observer(self, path: str) -> Callable[[float, bool], None]:
        """Feeds ``haze_produce_seconds`` and ``haze_produce_failures``."""
        seconds = self.produce_seconds.labels(path=path)
        failures = self.produce_failures.labels(path=path)

        def observe(elapsed: float, ok: bool) -> None:
            if ok:
                seconds.observe(elapsed)
            else:
                failures.inc()

        return observe

    def set_config_version(self, version: str) -> None:
        self.config_info.clear()
        self.config_info.labels(config_version=version).set(1)


class BatchObserver:
    """The engine's once-per-batch reports (``haze.engine.ScreenObserver``) for one path."""

    def __init__(self, metrics: ScreenMetrics, path: str) -> None:
        self._detector = metrics.detector_seconds
        self._reasons = metrics.reasons
        self._path = path
        # Labelled children, looked up once: ``labels()`` validates and joins its arguments on
        # every call, and a batch of one reports nine detector stages (~5% of its CPU).
        self._stages: dict[tuple[str, str], Any] = {}
        self._codes: dict[tuple[str, str, str], Any] = {}

    def detector_seconds(self, detector: str, stage: str, seconds: float) -> None:
        child = self._stages.get((detector, stage))
        if child is None:
            child = self._detector.labels(path=self._path, detector=detector, stage=stage)
            self._stages[(detector, stage)] = child
        child.observe(seconds)

    def reasons(self, per_listing: Sequence[Sequence[Reason]], decisions: Sequence[str]) -> None:
        tally: Tally[tuple[str, str, str]] = Tally()
        for reasons, decision in zip(per_listing, decisions, strict=True):
            for reason in reasons:
                tally[(reason.detector, reason.code, decision)] += 1
        for key, count in tally.items():
            child = self._codes.get(key)
            if child is None:
                detector, code, decision = key
                child = self._reasons.labels(detector=detector, code=code, decision=decision)
                self._codes[key] = child
            child.inc(count)
