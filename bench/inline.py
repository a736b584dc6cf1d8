"""Inline-path benchmark: locust at a fixed rate against ``POST /v1/screen`` while a stream
worker consumes a stream load, with latency read from the service's own histogram: first
against an inline-only worker beside the stream worker, then against the stream worker's own
API, then against an inline-only worker again with the stream worker, the broker and locust at
the lowest CPU priority (``prioritised``), side by side.

Everything runs on this machine: the workers, their own Kafka and Redis, locust (a subprocess,
its users paced at one request per second each, on random phases: ``loadtest/pacing.py``) and
the stream producer.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench._cpu import busy_share, cpu_seconds, machine_ticks
from bench._lowered import lower, stream_load_lowered
from bench._stack import BenchStack
from config.registry import load_registry
from config.settings import Topics
from haze.services import ROOT, free_port
from haze.workerproc import WorkerProcess
from loadtest.generator import ListingGenerator
from loadtest.promtext import difference, histogram_buckets, quantile
from loadtest.stream_harness import StreamReport, run_stream_load

RATE = 200
SECONDS = 30
WARMUP_SECONDS = 15
BROKER_WARMUP_SECONDS = 45
"""Added to the first layout's warm-up: a fresh broker's JIT compilers take ~25% of a core for
its first ~20 s under this load and still ~5% at 40 s (its request threads ~30% more than in
steady state meanwhile), which only the first layout measured would otherwise pay."""
STREAM_RATE = 500.0
STREAM_TICK_S = 0.005
"""The stream load goes out in 5 ms ticks (``run_stream_load``'s ``tick_s``): measured here at
500 listings/s, the generator took 23-24% of a core against 30-31% sending each listing after
a sleep of its own, and the broker 21-23% against 25-32%, for the same stream (its verdicts
only are counted here, so its latency does not matter). The cores it leaves are the ones the
API under test shares."""


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def _load(
    stack: BenchStack,
    port: int,
    docs: list[dict[str, Any]],
    seconds: int,
    out: Path,
    *,
    lowered: list[str] | None = None,
) -> tuple[StreamReport, subprocess.CompletedProcess[bytes]]:
    """Locust at ``RATE`` against ``POST /v1/screen`` on ``port`` and ``docs`` produced at
    ``STREAM_RATE`` for ``seconds``, together; locust's summary in ``out.json``. With
    ``lowered`` (a list that collects what was set), locust and the stream producer run in
    sessions of their own at the lowest CPU priority."""
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
            f"http://127.0.0.1:{port}",
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
        start_new_session=lowered is not None,
    )
    if lowered is None:
        stream = _stream(stack.kafka.bootstrap, stack.topics, docs, seconds)
    else:
        lowered.append(lower("locust", locust.pid))
        stream = _stream_lowered(stack, docs, seconds, lowered)
    _, stderr = locust.communicate(timeout=seconds + 120)
    return stream, subprocess.CompletedProcess(locust.args, locust.returncode, b"", stderr)


def _stream(
    bootstrap: str, topics: Topics, docs: list[dict[str, Any]], seconds: int
) -> StreamReport:
    return asyncio.run(
        run_stream_load(
            bootstrap, topics, docs, rate=STREAM_RATE, timeout_s=seconds + 60, tick_s=STREAM_TICK_S
        )
    )


def _stream_lowered(
    stack: BenchStack, docs: list[dict[str, Any]], seconds: int, lowered: list[str]
) -> StreamReport:
    report, note = stream_load_lowered(
        stack.kafka.bootstrap,
        stack.topics,
        docs,
        rate=STREAM_RATE,
        timeout_s=seconds + 60,
        tick_s=STREAM_TICK_S,
    )
    lowered.append(note)
    return report


def _measure(
    stack: BenchStack,
    port: int,
    generator: ListingGenerator,
    workdir: Path,
    name: str,
    *,
    lowered: list[str] | None = None,
    warmup_s: int = WARMUP_SECONDS,
    pid: int | None = None,
) -> dict[str, Any]:
    """One layout: a warm-up run of ``warmup_s`` at the same rates (the worker's caches and
    connections; for the first layout, the fresh broker's JIT too), then the measured run,
    read from the histogram of the worker serving ``port`` (process ``pid``, whose CPU time is
    reported with the machine's busy share over the same run)."""
    warmup = generator.take(int(STREAM_RATE * warmup_s))
    _load(stack, port, warmup, warmup_s, workdir / f"{name}-warmup", lowered=lowered)
    before = histogram_buckets(_metrics(port), "haze_http_request_seconds", endpoint="screen")
    ticks, cpu = machine_ticks(), cpu_seconds(pid)
    stream, locust = _load(
        stack,
        port,
        generator.take(int(STREAM_RATE * SECONDS)),
        SECONDS,
        workdir / name,
        lowered=lowered,
    )
    cpu = cpu_seconds(pid) - cpu
    busy, steal = busy_share(ticks, machine_ticks())
    after = histogram_buckets(_metrics(port), "haze_http_request_seconds", endpoint="screen")
    stats = orjson.loads((workdir / f"{name}.json").read_bytes())
    total = next(s for s in stats if s["name"] == "/v1/screen")
    window = difference(after, before)
    screened = total["num_requests"]
    return {
        "rps": round(screened / SECONDS, 1),
        "p50_ms": round(quantile(window, 0.50) * 1000, 3),
        "p99_ms": round(quantile(window, 0.99) * 1000, 3),
        "errors": total["num_failures"],
        "requests": screened,
        "client_p50_ms": None if not total.get("response_times") else _client_quantile(total, 0.5),
        "client_p99_ms": None if not total.get("response_times") else _client_quantile(total, 0.99),
        "stream_verdicts_during": stream.verdicts,
        "server_cpu_ms_per_request": round(cpu * 1000 / screened, 3) if pid and screened else None,
        "machine_busy_pct": round(busy * 100, 1),
        "machine_steal_pct": round(steal * 100, 1),
        "locust_stderr": locust.stderr.decode()[-300:] if locust.returncode else "",
    }


def run() -> dict[str, Any]:
    stack = BenchStack.start("inline")
    workdir = stack.workdir
    stream_worker = WorkerProcess(stack.env, workdir / "worker.log")
    inline_env = {
        **stack.env,
        "SCREEN_HTTP_PORT": str(free_port()),
        "SCREEN_DATA_DIR": str(workdir / "inline-worker"),
    }
    inline_worker = WorkerProcess(inline_env, workdir / "inline-worker.log", role="inline")
    prioritised_worker = WorkerProcess(
        {**inline_env, "SCREEN_HTTP_PORT": str(free_port()), "SCREEN_DATA_DIR": str(workdir / "p")},
        workdir / "prioritised-worker.log",
        role="inline",
    )
    lowered: list[str] = []
    registry, _ = load_registry()
    generator = ListingGenerator(registry, seed=8, id_prefix=f"s{stack.env['SCREEN_APP_ID']}")
    try:
        stream_worker.start()
        inline_worker.start()
        dedicated = _measure(
            stack,
            inline_worker.port,
            generator,
            workdir,
            "dedicated",
            warmup_s=WARMUP_SECONDS + BROKER_WARMUP_SECONDS,
            pid=inline_worker.pid,
        )
        inline_worker.stop()
        shared = _measure(
            stack, stream_worker.port, generator, workdir, "shared", pid=stream_worker.pid
        )
        # last: the stream worker and the broker stay at the lowest priority until they stop
        prioritised_worker.start()
        lowered += [
            lower("stream worker", stream_worker.pid),
            lower("broker", stack.kafka.pid()),
        ]
        prioritised = _measure(
            stack,
            prioritised_worker.port,
            generator,
            workdir,
            "prioritised",
            lowered=lowered,
            pid=prioritised_worker.pid,
        )
    finally:
        prioritised_worker.stop()
        inline_worker.stop()
        stream_worker.stop()
        stack.stop()
    stderr = "".join(d.pop("locust_stderr") for d in (dedicated, shared, prioritised))
    return {
        **dedicated,
        **{f"shared_{key}": value for key, value in shared.items()},
        **{f"prioritised_{key}": value for key, value in prioritised.items()},
        "targets": {
            "p50_ms": "< 2 ms server-side",
            "p99_ms": "< 10 ms server-side",
            "errors": "0",
        },
        "notes": (
            f"locust: {RATE} users at one request/s each for {SECONDS}s against POST /v1/screen "
            "(each user on a timetable of its own with a random phase, loadtest/pacing.py: "
            "arrivals spread over the second) "
            f"while a stream worker consumed a {STREAM_RATE:.0f} listings/s stream (sent in "
            f"{STREAM_TICK_S * 1000:.0f} ms ticks). rps, p50_ms, "
            "p99_ms, errors: the API served by an inline-only worker (haze run --role inline) "
            "beside the stream worker; shared_*: the same load against the stream worker's own "
            "API (one process for both); prioritised_*: the first layout again (a fresh "
            "inline-only worker) with the throughput work and the load generators at the lowest "
            "CPU priority, as a shared host would run them (haze/priority.py; set: "
            + "; ".join(sorted(set(lowered)))
            + "), the inline worker and Redis at the default. p50/p99 from the serving worker's "
            "haze_http_request_seconds histogram (interpolated within buckets); client_* from "
            "locust (includes its own scheduling on the shared 2 cores); "
            "server_cpu_ms_per_request: the serving worker's CPU time over the measured run "
            "per /v1/screen request (its few feedback requests included); machine_busy_pct / "
            "machine_steal_pct: both cores' busy and stolen shares over the same run "
            "(/proc/stat). Each measured after a "
            f"{WARMUP_SECONDS}s warm-up at the same rates (not counted), the first after "
            f"{WARMUP_SECONDS + BROKER_WARMUP_SECONDS}s (the fresh broker's JIT compiles "
            "meanwhile)." + (f" locust stderr tail: {stderr}" if stderr else "")
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
