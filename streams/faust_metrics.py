"""Consumer lag and a few of Faust's own monitor figures, read when Prometheus scrapes.

Faust's default monitor (``app.monitor``) already tracks, per topic partition, the end offset
seen at each fetch and the offset last committed, plus rebalances and commit latency. Reading
those at scrape time gives consumer lag per partition without any per-message cost (Faust's
``PrometheusMonitor`` would add several metric updates to every message). Copies of the
monitor's dicts are taken with ``dict()``/``list()``, which run without releasing the GIL, so
the web thread can read them while the consumer thread writes.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

from faust.sensors import Monitor
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class LeanMonitor(Monitor):
    """Faust's monitor without its per-event stream statistics.

    For every event a stream takes, the default monitor stamps times and counts it per stream
    and per task (``events_total``, ``events_by_stream``, ``events_runtime``...): ~2% of a
    draining worker's CPU, for figures nothing here reads. Everything the collector below
    reads (offsets per partition, messages per topic, commits, rebalances) is kept: those are
    recorded per message and per commit, not per stream event.
    """

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None


def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily, Any]:
    lag = GaugeMetricFamily(
        "haze_consumer_lag",
        "Records in a consumed partition not yet committed by this worker "
        "(end offset at the last fetch minus the committed offset)",
        labels=["topic", "partition"],
    )
    received = CounterMetricFamily(
        "haze_faust_messages_received",
        "Messages this worker's consumer handed to its streams, by topic (Faust's monitor)",
        labels=["topic"],
    )
    rebalances = CounterMetricFamily(
        "haze_faust_rebalances", "Consumer group rebalances this worker went through"
    )
    commit = GaugeMetricFamily(
        "haze_faust_commit_latency_seconds",
        "Median time of the recent offset commits (Faust's monitor)",
    )
    return lag, received, rebalances, commit


class FaustCollector(Collector):
    """Collects from a Faust app's monitor and consumer at scrape time."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def describe(self) -> Iterator[Metric]:
        yield from _families()

    def collect(self) -> Iterator[Metric]:
        lag, received, rebalances, commit = _families()
        monitor = self.app.monitor
        ends = dict(monitor.tp_end_offsets)
        committed = dict(monitor.tp_committed_offsets)
        read = dict(monitor.tp_read_offsets)
        assigned = _assignment(self.app)
        for tp, end in sorted(ends.items()):
            if assigned is not None and tp not in assigned:
                continue  # revoked in a rebalance: another worker reports it now
            done = committed.get(tp)
            if done is None:
                done = read.get(tp, -1) + 1
            lag.add_metric([tp.topic, str(tp.partition)], max(0, end - done))
        for topic, count in sorted(dict(monitor.messages_received_by_topic).items()):
            received.add_metric([topic], count)
        rebalances.add_metric([], getattr(self.app, "rebalancing_count", 0))
        latencies = list(monitor.commit_latency)
        commit.add_metric([], statistics.median(latencies) / 1000.0 if latencies else 0.0)
        yield from (lag, received, rebalances, commit)


def _assignment(app: Any) -> set[Any] | None:
    """The partitions this worker holds now, or None when the consumer cannot say yet."""
    try:
        return set(app.consumer.assignment())
    except Exception:  # not started, or between generations
        return None
