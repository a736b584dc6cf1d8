"""Inline-path benchmark: locust at a fixed rate against ``POST /v1/screen`` while the same
worker consumes a stream load, with latency read from the service's own histogram.

Everything runs on this machine: the worker, its own Kafka and Redis, locust (a subprocess,
its users paced at one request per second each) and the stream producer.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench._stack import BenchStack
from config.registry import load_registry
from haze.services import ROOT
from haze.workerproc import WorkerProcess
from loadtest.generator import ListingGenerator
from loadtest.promtext import difference, histogram_buckets, quantile
from loadtest.stream_harness import StreamReport, run_stream_load

RATE = 200
SECONDS = 30
WARMUP_SECONDS = 15
STREAM_RATE = 500.0


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def _load(
    stack: BenchStack, docs: list[dict[str, Any]], seconds: int, out: Path
) -> tuple[StreamReport, subprocess.CompletedProcess[bytes]]:
    """Locust at ``RATE`` against ``POST /v1/screen`` and ``docs`` produced at ``STREAM_RATE``
    for ``seconds``, together; locust's summary in ``out.json``."""
    locust = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "loadtest" / "locustfile.py"),
            "--headless",
            "-u",
            str(RATE),
            "-r",
            str(RATE),
            "-t",
            f"{seconds}s",
            "--host",
            f"http://127.0.0.1:{stack.port}",
            "--json-file",
            str(out),
            "--only-summary",
            "--stop-timeout",
            "5",
        ],
        cwd=ROOT,
        env={**stack.env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    stream = asyncio.run(
        run_stream_load(
            stack.kafka.bootstrap, stack.topics, docs, rate=STREAM_RATE, timeout_s=seconds + 60
        )
    )
    _, stderr = locust.communicate(timeout=seconds + 120)
    return stream, subprocess.CompletedProcess(locust.args, locust.returncode, b"", stderr)


def run() -> dict[str, Any]:
    stack = BenchStack.start("inline")
    port, workdir = stack.port, stack.workdir
    worker = WorkerProcess(stack.env, workdir / "worker.log")
    registry, _ = load_registry()
    try:
        worker.start()
        generator = ListingGenerator(registry, seed=8, id_prefix=f"s{stack.env['SCREEN_APP_ID']}")
        # a fresh broker's JVM compiles its hot paths during its first seconds under load (and
        # takes a core doing it): a warm-up run at the same rates, not counted
        _load(
            stack,
            generator.take(int(STREAM_RATE * WARMUP_SECONDS)),
            WARMUP_SECONDS,
            workdir / "warmup",
        )
        before = histogram_buckets(_metrics(port), "haze_http_request_seconds", endpoint="screen")
        stream, locust = _load(
            stack, generator.take(int(STREAM_RATE * SECONDS)), SECONDS, workdir / "locust"
        )
        after = histogram_buckets(_metrics(port), "haze_http_request_seconds", endpoint="screen")
        stderr = locust.stderr
    finally:
        worker.stop()
        stack.stop()
    stats = orjson.loads((workdir / "locust.json").read_bytes())
    total = next(s for s in stats if s["name"] == "/v1/screen")
    window = difference(after, before)
    return {
        "rps": round(total["num_requests"] / SECONDS, 1),
        "p50_ms": round(quantile(window, 0.50) * 1000, 3),
        "p99_ms": round(quantile(window, 0.99) * 1000, 3),
        "errors": total["num_failures"],
        "requests": total["num_requests"],
        "client_p50_ms": None if not total.get("response_times") else _client_quantile(total, 0.5),
        "client_p99_ms": None if not total.get("response_times") else _client_quantile(total, 0.99),
        "stream_verdicts_during": stream.verdicts,
        "targets": {
            "p50_ms": "< 2 ms server-side",
            "p99_ms": "< 10 ms server-side",
            "errors": "0",
        },
        "notes": (
            f"locust: {RATE} users at one request/s each for {SECONDS}s against POST /v1/screen; "
            f"the same worker consumed a {STREAM_RATE:.0f} listings/s stream meanwhile. p50/p99 "
            "from the service's haze_http_request_seconds histogram (interpolated within buckets); "
            "client_* from locust (includes its own scheduling on the shared 2 cores)."
            + f" Measured after a {WARMUP_SECONDS}s warm-up at the same rates (not counted)."
            + (f" locust stderr tail: {stderr.decode()[-300:]}" if locust.returncode else "")
        ),
    }


def _client_quantile(stats: dict[str, Any], q: float) -> float:
    times = sorted((float(ms), count) for ms, count in stats["response_times"].items())
    total = sum(count for _, count in times)
    seen = 0
    for ms, count in times:
        seen += count
        if seen >= q * total:
            return ms
    return times[-1][0]
