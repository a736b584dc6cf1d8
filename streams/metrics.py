"""The screener's Prometheus metrics, as one sensor object with an injectable registry.

Labels stay low-cardinality (decision, reason code, detector, topic, outcome), never an id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
    0.25,
    1.0,
)
_BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


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
            "Reasons attached to fresh verdicts, by detector and code",
            ["detector", "code"],
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

    def set_config_version(self, version: str) -> None:
        self.config_info.clear()
        self.config_info.labels(config_version=version).set(1)
