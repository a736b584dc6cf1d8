"""A real Prometheus server (Debian's package, installed by the project when missing) scrapes a
real worker; its HTTP API must show the screener's metrics with the values of what was sent, and
must accept every expression of the dashboard and the alert rules."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.registry import load_registry
from config.settings import settings_from_env
from haze.prometheus import ALERTS, SCRAPE_CONFIG, PrometheusService, promtool_binary
from haze.services import free_port
from haze.workerproc import WorkerProcess
from loadtest.generator import ListingGenerator
from loadtest.stream_harness import run_stream_load
from streams.topics import ensure_topics
from tests.promql import alert_exprs, dashboard_exprs, runnable

pytestmark = pytest.mark.integration

STREAM_COUNT = 300
HTTP_COUNT = 20


@pytest.fixture
def scraped(worker_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[PrometheusService, Any]]:
    """A worker that screened listings by both paths, and a Prometheus scraping it every second."""
    env = {**worker_env, "SCREEN_PARTITIONS": "4"}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    server = PrometheusService(
        free_port(), tmp_path / "prometheus", [f"127.0.0.1:{worker.port}"], interval_s=1.0
    )
    try:
        asyncio.run(ensure_topics(settings_from_env(env)))
        worker.start()
        server.start()
        registry, _ = load_registry()
        docs = ListingGenerator(registry, seed=11, id_prefix="prom").take(STREAM_COUNT + HTTP_COUNT)
        settings = settings_from_env(env)
        report = asyncio.run(
            run_stream_load(
                settings.kafka_bootstrap_servers,
                settings.topics,
                docs[:STREAM_COUNT],
                timeout_s=90,
                extra_values=[(b"bad", b"{not json")],
            )
        )
        assert report.verdicts == STREAM_COUNT and report.dead_letters == 1
        for doc in docs[STREAM_COUNT:]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{worker.port}/v1/screen", data=orjson.dumps(doc)
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        health = worker.health() or {}
        yield server, {**health, "submitted_topic": settings.topics.submitted}
    finally:
        server.stop()
        worker.stop()


def _eventually(server: PrometheusService, expr: str, check: Callable[[Any], bool]) -> Any:
    """Query until ``check(result)`` holds (scrapes come every second), at most 30 s."""
    deadline = time.monotonic() + 30
    while True:
        result = server.query(expr)
        if check(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def _by(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


def test_prometheus_scrapes_the_screeners_metrics(
    scraped: tuple[PrometheusService, Any],
) -> None:
    server, health = scraped
    verdicts = _eventually(
        server,
        "sum by (path) (haze_verdicts_total)",
        lambda r: _by(r, "path") == {"stream": STREAM_COUNT, "http": HTTP_COUNT},
    )
    assert _by(verdicts, "path") == {"stream": STREAM_COUNT, "http": HTTP_COUNT}
    (target,) = server.targets_health()
    assert target["health"] == "up" and target["labels"]["job"] == "haze"

    dead = server.query("sum(haze_dead_letters_total)")
    assert float(dead[0]["value"][1]) == 1
    config = server.query("haze_config_info")
    assert [r["metric"]["config_version"] for r in config] == [health["config_version"]]

    # every live detector timed in every stage, on both paths
    timed = server.query("sum by (path, detector, stage) (haze_detector_seconds_count)")
    stages = {(r["metric"]["path"], r["metric"]["detector"], r["metric"]["stage"]) for r in timed}
    for detector in health["detectors"]:
        for stage in ("needs", "detect", "updates"):
            assert ("stream", detector, stage) in stages
            assert ("http", detector, stage) in stages
    # Redis round trips by operation; produce acks by path
    redis = _by(
        server.query('sum by (operation) (haze_redis_seconds_count{path="stream"})'), "operation"
    )
    assert redis["fetch"] >= 1 and redis["commit"] >= 1 and redis["mark_emitted"] >= 1
    assert _by(server.query("sum by (path) (haze_produce_seconds_count)"), "path").keys() >= {
        "stream"
    }
    # reasons: the generator's suspicious listings raise some, each with the verdict's decision
    reasons = server.query("sum by (decision) (haze_reasons_total)")
    assert sum(_by(reasons, "decision").values()) > 0

    # end-to-end latency: one observation per event (the dead letter's too), a sane median
    count = server.query("sum(haze_end_to_end_seconds_count)")
    assert float(count[0]["value"][1]) == STREAM_COUNT + 1
    p50 = float(
        server.query("histogram_quantile(0.5, sum by (le) (haze_end_to_end_seconds_bucket))")[0][
            "value"
        ][1]
    )
    assert 0 < p50 < 30

    # consumer lag: one series per partition of the submitted topic, drained to zero
    submitted = health["submitted_topic"]
    lag = _eventually(
        server,
        f'haze_consumer_lag{{topic="{submitted}"}}',
        lambda r: len(r) == 4 and all(float(x["value"][1]) == 0 for x in r),
    )
    assert sorted(int(r["metric"]["partition"]) for r in lag) == [0, 1, 2, 3]
    assert all(float(r["value"][1]) == 0 for r in lag)
    assert float(server.query("haze_outbox_spooled")[0]["value"][1]) == 0
    # the lean monitor still counts every message consumed (the dead letter's too)
    received = server.query(f'haze_faust_messages_received_total{{topic="{submitted}"}}')
    assert float(received[0]["value"][1]) == STREAM_COUNT + 1


def test_every_dashboard_and_alert_expression_runs_on_prometheus(
    scraped: tuple[PrometheusService, Any],
) -> None:
    server, _ = scraped
    _eventually(server, "rate(haze_verdicts_total[1m])", bool)  # two scrapes since traffic
    empty: list[str] = []
    for where, expr in dashboard_exprs() + alert_exprs():
        if expr.startswith("label_values("):
            metric = expr.removeprefix("label_values(").split(",")[0].strip()
            expr = f"count by (instance) ({metric})"
        result = server.query(runnable(expr))  # a parse error raises
        if not result and "errors" not in expr and "failures" not in expr:
            empty.append(where)
    # alert conditions are false on a healthy worker and many panels need rates over time; the
    # panels reading plain counters, gauges and histograms of what was sent must have data
    assert "panel 'Consumer lag per partition' A" not in empty
    assert "panel 'Verdicts per second' A" not in empty


def test_promtool_accepts_the_deployment_files() -> None:
    promtool = promtool_binary()
    for argv in (["check", "config", str(SCRAPE_CONFIG)], ["check", "rules", str(ALERTS)]):
        result = subprocess.run([promtool, *argv], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
