"""The metrics sensor: what the engine, the state wrapper, the producer wrapper and the Faust
collector report, checked against what actually happened (in-memory state, fakes for Faust)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
import pytest
from prometheus_client import generate_latest

from config.registry import DEFAULT_REGISTRY_PATH, load_registry
from config.thresholds import DEFAULT_CONFIG_PATH
from contract.listing import listing_from_dict
from contract.signals import SignalKeyer
from haze.engine import Screener
from haze.runtime import Runtime
from loadtest.generator import CLASSES, ListingGenerator
from state.base import StateSnapshot
from state.errors import StateUnavailable
from state.memory import MemoryStateStore
from state.observed import ObservedStateStore
from state.policies import series_policies
from streams.faust_metrics import FaustCollector
from streams.metrics import ScreenMetrics
from streams.observed_publisher import ObservedPublisher
from streams.publisher import Record

KEYER = SignalKeyer("k")


def _value(metrics: ScreenMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime.load(DEFAULT_CONFIG_PATH, DEFAULT_REGISTRY_PATH)


def _docs(count_per_class: int) -> list[dict[str, Any]]:
    registry, _ = load_registry()
    generator = ListingGenerator(registry, seed=5)
    return [generator.one(label) for label in CLASSES for _ in range(count_per_class)]


async def test_engine_reports_each_detector_stage_once_per_batch_and_every_reason(
    runtime: Runtime,
) -> None:
    metrics = ScreenMetrics()
    state = MemoryStateStore(series_policies(runtime.config))
    screener = Screener(runtime, state, observer=metrics.observer("stream"))
    docs = _docs(10)
    for half in (docs[::2], docs[1::2]):  # two batches
        await screener.screen([listing_from_dict(d, KEYER) for d in half])
    for detector in runtime.detectors:
        for stage in ("needs", "detect", "updates"):
            count = _value(
                metrics,
                "haze_detector_seconds_count",
                path="stream",
                detector=detector.name,
                stage=stage,
            )
            assert count == 2, (detector.name, stage)
    # the reasons counted are exactly the reasons in the verdicts, with their decisions
    screened = await screener.screen([listing_from_dict(d, KEYER) for d in docs])  # repeats
    assert not any(result.fresh for result in screened)
    expected: Counter[tuple[str, str, str]] = Counter()
    for result in screened:
        verdict = orjson.loads(result.verdict)
        for reason in verdict["reasons"]:
            expected[(reason["detector"], reason["code"], verdict["decision"])] += 1
    assert expected, "the generator's suspicious classes must raise reasons"
    for (detector, code, decision), count in expected.items():
        got = _value(metrics, "haze_reasons_total", detector=detector, code=code, decision=decision)
        assert got == count, (detector, code, decision)
    # repeated verdicts (from the ledger) add no reasons and no detector time
    assert (
        _value(
            metrics,
            "haze_detector_seconds_count",
            path="stream",
            detector=runtime.detectors[0].name,
            stage="detect",
        )
        == 2
    )


class DownState(MemoryStateStore):
    async def fetch(self, *args: Any, **kwargs: Any) -> StateSnapshot:
        raise StateUnavailable("redis: down")


async def test_degraded_verdicts_count_their_reason(runtime: Runtime) -> None:
    metrics = ScreenMetrics()
    screener = Screener(
        runtime, DownState(series_policies(runtime.config)), observer=metrics.observer("http")
    )
    results = await screener.screen([listing_from_dict(d, KEYER) for d in _docs(1)], degrade=True)
    verdict = orjson.loads(results[0].verdict)
    (reason,) = verdict["reasons"]
    assert _value(
        metrics,
        "haze_reasons_total",
        detector=reason["detector"],
        code=reason["code"],
        decision=verdict["decision"],
    ) == len(results)


class FlakyMemory(MemoryStateStore):
    def __init__(self, policies: Any, failures: int = 0, stall_s: float = 0.0) -> None:
        super().__init__(policies)
        self.failures, self.stall_s = failures, stall_s

    async def fetch(self, *args: Any, **kwargs: Any) -> StateSnapshot:
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        if self.failures:
            self.failures -= 1
            raise StateUnavailable("redis: timeout")
        return await super().fetch(*args, **kwargs)


async def test_state_wrapper_times_answers_and_counts_failures_and_abandoned_calls(
    runtime: Runtime,
) -> None:
    metrics = ScreenMetrics()
    policies = series_policies(runtime.config)
    inner = FlakyMemory(policies, failures=1)
    state = ObservedStateStore(inner, metrics.state_observer("stream"))
    screener = Screener(runtime, state)
    listings = [listing_from_dict(d, KEYER) for d in _docs(1)]
    with pytest.raises(StateUnavailable):
        await screener.screen(listings)
    results = await screener.screen(listings)
    await screener.mark_emitted(results)
    assert await state.ping()
    await state.ban_store("store-1", 1.0)

    def seconds(op: str) -> float:
        return _value(metrics, "haze_redis_seconds_count", path="stream", operation=op)

    def errors(op: str) -> float:
        return _value(metrics, "haze_redis_errors_total", path="stream", operation=op)

    assert (seconds("fetch"), errors("fetch")) == (1, 1)
    assert (seconds("commit"), seconds("mark_emitted"), seconds("ping"), seconds("ban")) == (
        1,
        1,
        1,
        1,
    )
    # a call abandoned past the engine's budget counts as an error, and the error propagates
    slow = ObservedStateStore(FlakyMemory(policies, stall_s=1.0), metrics.state_observer("http"))
    degraded = await Screener(runtime, slow).screen(listings[:1], degrade=True, budget_s=0.01)
    assert orjson.loads(degraded[0].verdict)["reasons"][0]["code"] == "DEGRADED"
    assert _value(metrics, "haze_redis_errors_total", path="http", operation="fetch") == 1


class RecordingPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.records, self.stopped = fail, [], False

    async def publish(self, records: Sequence[Record]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.records.extend(records)

    async def stop(self) -> None:
        self.stopped = True


async def test_publisher_wrapper_observes_one_batch_per_call() -> None:
    metrics = ScreenMetrics()
    inner = RecordingPublisher()
    publisher = ObservedPublisher(inner, metrics.produce_observer("stream"))  # type: ignore[arg-type]
    await publisher.publish([Record("t", b"k", b"v")] * 3)
    await publisher.publish([])  # nothing to send: nothing observed
    assert len(inner.records) == 3
    assert _value(metrics, "haze_produce_seconds_count", path="stream") == 1
    failing = ObservedPublisher(RecordingPublisher(fail=True), metrics.produce_observer("http"))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await failing.publish([Record("t", b"k", b"v")])
    assert _value(metrics, "haze_produce_failures_total", path="http") == 1
    await publisher.stop()
    assert inner.stopped


class TP(NamedTuple):
    topic: str
    partition: int


class FakeMonitor:
    def __init__(self) -> None:
        self.tp_end_offsets = {TP("in", 0): 120, TP("in", 1): 50, TP("in", 2): 9, TP("in", 3): 7}
        self.tp_committed_offsets = {TP("in", 0): 100, TP("in", 1): 50, TP("in", 3): 1}
        self.tp_read_offsets = {TP("in", 2): 4}
        self.messages_received_by_topic = Counter({"in": 171})
        self.commit_latency = [4.0, 6.0, 100.0]


class FakeConsumer:
    def __init__(self, assigned: set[TP] | None) -> None:
        self.assigned = assigned

    def assignment(self) -> set[TP]:
        if self.assigned is None:
            raise RuntimeError("not started")
        return self.assigned


class FakeApp:
    def __init__(self, assigned: set[TP] | None) -> None:
        self.monitor = FakeMonitor()
        self.consumer = FakeConsumer(assigned)
        self.rebalancing_count = 2


def test_consumer_lag_per_assigned_partition() -> None:
    metrics = ScreenMetrics()
    metrics.registry.register(FaustCollector(FakeApp({TP("in", 0), TP("in", 1), TP("in", 2)})))
    lag = {
        p: metrics.registry.get_sample_value(
            "haze_consumer_lag", {"topic": "in", "partition": str(p)}
        )
        for p in range(4)
    }
    # end - committed; without a commit yet, end - (last read + 1); revoked partition 3 absent
    assert lag == {0: 20, 1: 0, 2: 4, 3: None}
    assert metrics.registry.get_sample_value("haze_faust_rebalances_total") == 2
    assert (
        metrics.registry.get_sample_value("haze_faust_messages_received_total", {"topic": "in"})
        == 171
    )
    assert metrics.registry.get_sample_value("haze_faust_commit_latency_seconds") == 0.006


def test_consumer_lag_before_the_consumer_has_an_assignment_reports_every_partition() -> None:
    metrics = ScreenMetrics()
    metrics.registry.register(FaustCollector(FakeApp(None)))
    text = generate_latest(metrics.registry).decode()
    assert text.count("haze_consumer_lag{") == 4


def test_count_verdicts_tallies_decisions_and_shadow_disagreements_per_path() -> None:
    from haze.engine import Screened

    metrics = ScreenMetrics()

    def screened(decision: Any, differs: bool = False) -> Screened:
        return Screened("k", "l", decision, b"{}", None, True, shadow_differs=differs)

    metrics.count_verdicts(
        "stream", [screened("allow"), screened("block", True), screened("allow")]
    )
    metrics.count_verdicts("http", [screened("review", True)])
    metrics.count_verdicts("stream", [screened("allow")])
    assert _value(metrics, "haze_verdicts_total", path="stream", decision="allow") == 3
    assert _value(metrics, "haze_verdicts_total", path="stream", decision="block") == 1
    assert _value(metrics, "haze_verdicts_total", path="http", decision="review") == 1
    assert _value(metrics, "haze_verdicts_total", path="http", decision="allow") == 0
    assert _value(metrics, "haze_shadow_disagreements_total", decision="block") == 1
    assert _value(metrics, "haze_shadow_disagreements_total", decision="review") == 1
    assert _value(metrics, "haze_shadow_disagreements_total", decision="allow") == 0
