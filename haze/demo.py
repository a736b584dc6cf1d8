"""``make demo``: the whole system on this machine, one command.

Starts what is missing (Redis, Kafka), a worker, streams a few thousand labelled synthetic
listings through Kafka with live progress, prints a summary by class and decision with the
produce-to-verdict latency percentiles, then stops what it started.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from config.registry import load_registry
from config.settings import Topics, settings_from_env
from haze.localstack import LocalStack
from haze.services import ROOT, free_port
from haze.workerproc import WorkerProcess
from loadtest.generator import CLASSES, SUSPICIOUS, ListingGenerator
from loadtest.stream_harness import StreamReport, run_stream_load


def _progress(report: StreamReport) -> None:
    d = report.decisions
    line = (
        f"  {report.elapsed_s:6.1f}s  produced {report.produced:6d}  verdicts {report.verdicts:6d}"
        f"  ({report.throughput_lps:7.0f}/s)   allow {d['allow']:6d}  review {d['review']:5d}"
        f"  block {d['block']:5d}"
    )
    if sys.stdout.isatty():
        print("\r" + line, end="", flush=True)
    else:
        print(line, flush=True)


def _summary(report: StreamReport) -> str:
    rows = [
        f"\n{'class':24} {'n':>6} {'allow':>7} {'review':>7} {'block':>7}  expected",
        "-" * 66,
    ]
    for label in CLASSES:
        counts = report.by_label.get(label)
        if not counts:
            continue
        expected = "hold/block" if label in SUSPICIOUS else "allow"
        rows.append(
            f"{label:24} {sum(counts.values()):6d} {counts['allow']:7d} {counts['review']:7d}"
            f" {counts['block']:7d}  {expected}"
        )
    s = report.summary()
    rows += [
        "-" * 66,
        f"verdicts {s['verdicts']}  complaints {s['complaints']}  dead letters {s['dead_letters']}"
        f"  in {s['elapsed_s']}s  ({s['throughput_lps']} listings/s)",
        f"produce-to-verdict latency: p50 {s['p50_ms']} ms  p90 {s['p90_ms']} ms"
        f"  p99 {s['p99_ms']} ms",
    ]
    return "\n".join(rows)


def run_demo(*, count: int, rate: float, seed: int) -> int:
    stack = LocalStack.from_env()
    already = {
        name: service is not None and service.running()
        for name, service in (("kafka", stack.kafka), ("redis", stack.redis))
    }
    print("[demo] starting services (Kafka KRaft from Maven Central jars, redis-server) ...")
    stack.up()
    settings = settings_from_env()
    topics: Topics = settings.topics
    workdir = Path(tempfile.mkdtemp(prefix="haze-demo-"))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "REDIS_URL": stack.redis_url,
        "SCREEN_HTTP_PORT": str(free_port()),
        "SCREEN_DATA_DIR": str(workdir / "worker"),
    }
    worker = WorkerProcess(env, ROOT / ".services" / "demo-worker.log")
    try:
        print("[demo] starting a worker (config load, kernel warm-up) ...")
        t0 = time.perf_counter()
        worker.start()
        print(f"[demo] worker healthy in {time.perf_counter() - t0:.1f}s: {worker.health()}")
        registry, _ = load_registry(settings.registry_path)
        docs = ListingGenerator(registry, seed=seed, id_prefix=f"demo{uuid.uuid4().hex[:6]}").take(
            count
        )
        print(f"[demo] streaming {count} listings at {rate or 'max'}/s to '{topics.submitted}' ...")
        report = asyncio.run(
            run_stream_load(
                stack.kafka_bootstrap, topics, docs, rate=rate, timeout_s=120, on_progress=_progress
            )
        )
        print()
        print(_summary(report))
        missing = count - report.verdicts
        if missing:
            print(f"[demo] WARNING: {missing} listings had no verdict within the time limit")
            return 1
        return 0
    finally:
        worker.stop()
        for name, service in (("kafka", stack.kafka), ("redis", stack.redis)):
            if service is not None and not already[name]:
                service.stop()
                print(f"[demo] stopped {name}")
