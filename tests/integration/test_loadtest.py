"""The load tools against the real Kafka and Redis of the suite: a short bounded
``python -m loadtest`` run (both paths, locust as a subprocess) writes a sane report, and the
stream harness stops by itself when verdicts never come."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import orjson
import pytest

from config.registry import load_registry
from config.settings import Topics, settings_from_env
from loadtest.generator import ListingGenerator
from loadtest.run import LoadSettings, run
from loadtest.stream_harness import run_stream_load
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_a_short_loadtest_run_reports_both_paths(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = LoadSettings(
        duration_s=3,
        stream_count=600,
        stream_rate=100.0,
        http_rates=(5,),
        mix="legit=4,counterfeit=1,prohibited=1",
        malformed_share=0.01,
        results_dir=tmp_path,
        timeout_s=90,
        offenders=100,  # as many repeat-offender episodes as single screens
    )
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "REDIS_URL": redis_url}
    folder = run(settings, env)
    doc = orjson.loads((folder / "summary.json").read_bytes())
    capacity, sustained = doc["stream"]
    assert capacity["phase"] == "capacity" and capacity["verdicts"] == capacity["produced"] == 600
    assert capacity["dead_letters"] == 6  # 1% malformed, every one dead-lettered
    assert capacity["throughput_lps"] > 0
    assert set(capacity["decisions"]) <= {"allow", "review", "block"}
    assert capacity["decisions"].get("block", 0) > 0  # the mix's counterfeits and prohibited
    assert sustained["target_lps"] == 100 and sustained["verdicts"] == sustained["produced"] == 300
    assert 0 < sustained["p50_ms"] <= sustained["p90_ms"] <= sustained["p99_ms"] < 60_000
    (step,) = doc["http"]
    assert step["requests"] > 0 and step["errors"] == 0
    assert 0 < step["server_p50_ms"] <= step["server_p99_ms"]
    rows = list(csv.DictReader((folder / "stream_timeseries.csv").read_text().splitlines()))
    assert sum(int(r["verdicts"]) for r in rows if r["phase"] == "sustained") == 300
    assert (folder / "loadtest.png").read_bytes()[:4] == b"\x89PNG"
    locust = orjson.loads((folder / "locust" / "locust_5.json").read_bytes())
    feedback = next(s for s in locust if s["name"] == "/v1/feedback")
    assert feedback["num_requests"] > 0 and feedback["num_failures"] == 0
    assert not (folder / "kafka").exists()  # service data lives elsewhere and is removed
    assert doc["headline"]["inline_best_rps"] is not None


def test_the_stream_harness_stops_at_its_timeout_without_verdicts(kafka_bootstrap: str) -> None:
    """No worker consumes these topics: the harness gives up at its bound, reporting zero."""
    tag = "lt-idle"
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    env.update({f"SCREEN_TOPIC_{name.upper()}": f"{tag}.{name}" for name in Topics.model_fields})
    topics = settings_from_env(env).topics
    asyncio.run(ensure_topics(settings_from_env(env)))
    registry, _ = load_registry()
    docs = ListingGenerator(registry, seed=1, id_prefix=tag).take(50)
    report = asyncio.run(run_stream_load(kafka_bootstrap, topics, docs, timeout_s=3.0))
    assert report.produced == 50 and report.verdicts == 0
    assert report.elapsed_s >= 3.0 - 0.5
