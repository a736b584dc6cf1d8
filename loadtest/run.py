"""``make loadtest`` (``python -m loadtest``): both paths under load against local services.

Starts what it needs (its own Kafka and Redis on free loopback ports, unless
``KAFKA_BOOTSTRAP_SERVERS``/``REDIS_URL`` point at running ones), ``WORKERS`` workers in one
consumer group on topics and a Redis key prefix of its own, then runs, each bounded in count
and time:

1. ``capacity``: a backlog of ``LOADTEST_STREAM_COUNT`` listings produced as fast as possible;
   the verdict rate is what the workers sustain flat out;
2. ``sustained``: listings paced at ``LOADTEST_STREAM_RATE`` for ``LOADTEST_DURATION`` seconds;
   produce-to-verdict percentiles. Without a rate it starts at 70% of the capacity just
   measured and, when the workers fall behind, tries again at 70% of what they managed (at most
   ``LOADTEST_SUSTAIN_TRIES`` runs);
3. ``http``: a locust rate ladder (``LOADTEST_HTTP_RATES``) against ``POST /v1/screen``.

It writes ``results/<timestamp>/`` (``summary.json``, CSV series, ``loadtest.png``), records the
``## loadtest`` section of ``docs/benchmarks.md`` with ``--record`` (only for a complete run),
and stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from config.registry import load_registry
from config.settings import Topics, settings_from_env
from config.thresholds import DEFAULT_CONFIG_PATH
from haze.errors import HazeError
from haze.services import ROOT, KafkaService, RedisService, free_port
from haze.workerproc import WorkerProcess
from loadtest import report
from loadtest.generator import ListingGenerator, malformed_values
from loadtest.http_steps import HttpStep, run_step, scrape
from loadtest.markdown import replace_section
from loadtest.mix import parse_mix
from loadtest.stream_harness import StreamReport, run_stream_load
from streams.topics import ensure_topics

PHASES = ("capacity", "sustained", "http")
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


class LoadtestError(HazeError):
    """A load test setting is invalid or a run could not be carried out."""


@dataclass(frozen=True)
class LoadSettings:
    """Everything a run is told, read once from the environment (``LOADTEST_*``, ``WORKERS``)."""

    duration_s: int = 20
    stream_count: int = 20_000
    stream_rate: float = 0.0  # 0: 70% of the measured capacity
    http_rates: tuple[int, ...] = (50, 100, 200, 400)
    mix: str = ""
    malformed_share: float = 0.002
    workers: int = 1
    partitions: int = 4
    phases: tuple[str, ...] = PHASES
    results_dir: Path = ROOT / "results"
    timeout_s: float = 180.0
    seed: int = 7
    sustain_tries: int = 3
    offenders: int = 2  # repeat-offender episodes per 100 single screens (inline path)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LoadSettings:
        env = os.environ if env is None else env

        def get(name: str, default: Any, kind: Any) -> Any:
            text = env.get(name, "").strip()
            if not text:
                return default
            try:
                return kind(text)
            except ValueError as exc:
                raise LoadtestError(f"{name}={text!r}: {exc}") from None

        def ints(text: str) -> tuple[int, ...]:
            return tuple(int(part) for part in text.split(",") if part.strip())

        def names(text: str) -> tuple[str, ...]:
            chosen = tuple(part.strip() for part in text.split(",") if part.strip())
            unknown = [p for p in chosen if p not in PHASES]
            if unknown:
                raise ValueError(f"unknown phase(s) {unknown}; choose from {', '.join(PHASES)}")
            return chosen

        settings = cls(
            duration_s=get("LOADTEST_DURATION", cls.duration_s, int),
            stream_count=get("LOADTEST_STREAM_COUNT", cls.stream_count, int),
            stream_rate=get("LOADTEST_STREAM_RATE", cls.stream_rate, float),
            http_rates=get("LOADTEST_HTTP_RATES", cls.http_rates, ints),
            mix=env.get("LOADTEST_MIX", ""),
            malformed_share=get("LOADTEST_MALFORMED", cls.malformed_share, float),
            workers=get("WORKERS", get("LOADTEST_WORKERS", cls.workers, int), int),
            partitions=get("LOADTEST_PARTITIONS", cls.partitions, int),
            phases=get("LOADTEST_PHASES", cls.phases, names),
            results_dir=get("LOADTEST_RESULTS", cls.results_dir, Path),
            timeout_s=get("LOADTEST_TIMEOUT", cls.timeout_s, float),
            seed=get("LOADTEST_SEED", cls.seed, int),
            sustain_tries=get("LOADTEST_SUSTAIN_TRIES", cls.sustain_tries, int),
            offenders=get("LOADTEST_OFFENDERS", cls.offenders, int),
        )
        parse_mix(settings.mix)  # refuse a bad mix before starting anything
        if settings.workers < 1 or settings.partitions < settings.workers:
            raise LoadtestError(
                f"WORKERS={settings.workers} needs 1 <= workers <= partitions "
                f"({settings.partitions}): a worker without a partition idles"
            )
        if settings.duration_s < 1 or settings.stream_count < 1 or settings.timeout_s <= 0:
            raise LoadtestError("LOADTEST_DURATION, _STREAM_COUNT and _TIMEOUT must be positive")
        if not 0 <= settings.malformed_share < 1:
            raise LoadtestError("LOADTEST_MALFORMED is a share in [0, 1)")
        return settings


class LoadStack:
    """Kafka, Redis (started here unless given) and the workers, stopped by pid at the end."""

    def __init__(self, settings: LoadSettings, folder: Path, env: Mapping[str, str]) -> None:
        self.settings = settings
        self.folder = folder  # worker logs and config; service data goes to a temporary folder
        self.scratch = Path(tempfile.mkdtemp(prefix="haze-loadtest-"))
        self.kafka: KafkaService | None = None
        self.redis: RedisService | None = None
        self.workers: list[WorkerProcess] = []
        self.bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS") or ""
        self.redis_url = env.get("REDIS_URL") or ""
        self.tag = f"lt{uuid.uuid4().hex[:8]}"
        self.topics = Topics(**{name: f"{self.tag}.{name}" for name in Topics.model_fields})
        self.base_config = Path(env.get("SCREEN_CONFIG") or DEFAULT_CONFIG_PATH)
        self.passthrough = {k: v for k, v in env.items() if k in ("SCREEN_REGISTRY",)}

    def start(self) -> LoadStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if not self.redis_url:
            self.redis = RedisService(free_port(), self.scratch / "redis")
            self.redis.start()
            self.redis_url = self.redis.url
        if not self.bootstrap:
            self.kafka = KafkaService(
                free_port(), self.scratch / "kafka", controller_port=free_port()
            )
            self.kafka.start()
            self.bootstrap = self.kafka.bootstrap
        env = self.worker_env()
        asyncio.run(ensure_topics(settings_from_env(env)))
        for index in range(self.settings.workers):
            worker_env = {
                **env,
                "SCREEN_HTTP_PORT": str(free_port()),
                "SCREEN_DATA_DIR": str(self.scratch / f"worker{index}"),
            }
            worker = WorkerProcess(worker_env, self.folder / f"worker{index}.log")
            self.workers.append(worker)
            worker.start()
        if len(self.workers) > 1:
            time.sleep(5.0)  # let the group settle its assignment before any load

    def worker_env(self) -> dict[str, str]:
        document = yaml.safe_load(self.base_config.read_text())
        document.setdefault("state", {})["key_prefix"] = self.tag
        config = self.folder / "thresholds.yaml"
        self.folder.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(document, allow_unicode=True))
        return {
            **self.passthrough,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "REDIS_URL": self.redis_url,
            "SCREEN_APP_ID": self.tag,
            "SCREEN_CONFIG": str(config),
            "SCREEN_PARTITIONS": str(self.settings.partitions),
            **{
                f"SCREEN_TOPIC_{name.upper()}": getattr(self.topics, name)
                for name in Topics.model_fields
            },
        }

    def stop(self) -> None:
        for index, worker in enumerate(self.workers):
            try:  # what the worker itself measured, for the report's breakdown
                text = scrape(worker.port)
                (self.folder / f"worker{index}_metrics.txt").write_text(text)
            except OSError:
                pass
            worker.stop()
        if self.kafka is not None:
            self.kafka.stop()
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _say(message: str) -> None:
    print(f"[loadtest] {message}", file=sys.stderr, flush=True)


def _stream_phase(
    stack: LoadStack, settings: LoadSettings, name: str, rate: float, count: int, seed: int
) -> report.StreamPhase:
    registry, _ = load_registry()
    generator = ListingGenerator(
        registry, seed=seed, mix=parse_mix(settings.mix), id_prefix=f"{stack.tag}{name[:3]}"
    )
    docs = generator.take(count)
    rng = random.Random(seed)
    bad = malformed_values(rng, docs[0])
    extra = [
        (f"bad-{i}".encode(), bad[i % len(bad)][1])
        for i in range(int(count * settings.malformed_share))
    ]
    timeout = settings.timeout_s if rate <= 0 else min(settings.timeout_s, count / rate + 60)
    _say(f"{name}: {count:,} listings at {f'{rate:g}/s' if rate else 'max rate'} ...")
    result: StreamReport = asyncio.run(
        run_stream_load(
            stack.bootstrap, stack.topics, docs, rate=rate, timeout_s=timeout, extra_values=extra
        )
    )
    phase = report.StreamPhase(name, rate, result)
    _say(f"{name}: {phase.summary()}")
    return phase


def run(settings: LoadSettings, env: Mapping[str, str], *, record: bool = False) -> Path:
    """One complete load test; returns the results folder."""
    started = datetime.now(UTC)
    folder = settings.results_dir / started.strftime("%Y%m%dT%H%M%SZ")
    load = report.LoadRun(
        started_at=started.isoformat(timespec="seconds"),
        workers=settings.workers,
        partitions=settings.partitions,
        settings={k: str(v) for k, v in asdict(settings).items()},
        machine=_machine(),
    )
    stack = LoadStack(settings, folder, env)
    _say(f"starting services and {settings.workers} worker(s) in {folder}")
    stack.start()
    try:
        capacity = None
        if "capacity" in settings.phases:
            capacity = _stream_phase(
                stack, settings, "capacity", 0.0, settings.stream_count, settings.seed
            )
            load.stream.append(capacity)
            time.sleep(2.0)
        if "sustained" in settings.phases:
            rate = settings.stream_rate
            if rate <= 0:
                measured = capacity.summary()["throughput_lps"] if capacity else 0.0
                rate = _round_rate(0.7 * measured) if measured else 500.0
            for attempt in range(settings.sustain_tries):
                phase = _stream_phase(
                    stack,
                    settings,
                    "sustained",
                    rate,
                    int(rate * settings.duration_s),
                    settings.seed + 1 + attempt,
                )
                load.stream.append(phase)
                if phase.kept_up or settings.stream_rate > 0:
                    break
                # fell behind: try again at 70% of what it did manage
                rate = _round_rate(0.7 * phase.summary()["throughput_lps"])
                time.sleep(2.0)
        if "http" in settings.phases:
            load.http = _http_ladder(stack, settings, folder)
    finally:
        stack.stop()
    metrics = folder / "worker0_metrics.txt"
    load.breakdown = report.breakdown(metrics.read_text()) if metrics.exists() else {}
    doc = report.write(folder, load)
    _say(f"report: {folder} ({orjson.dumps(doc['headline']).decode()})")
    if record:
        complete = set(settings.phases) == set(PHASES) and settings.workers == 1
        if complete:
            text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
            section = report.render_section(doc, folder.name)
            BENCHMARKS_MD.write_text(replace_section(text, report.SECTION, section))
            shutil.copyfile(folder / "loadtest.png", BENCHMARKS_MD.parent / "loadtest.png")
            _say(f"recorded in {BENCHMARKS_MD}")
        else:
            _say("not recorded: only a complete one-worker run goes into docs/benchmarks.md")
    return folder


def _round_rate(rate: float) -> float:
    return max(50.0, math.floor(rate / 50) * 50)


def _http_ladder(stack: LoadStack, settings: LoadSettings, folder: Path) -> list[HttpStep]:
    worker = stack.workers[0]
    env = {
        **os.environ,
        **worker.env,
        "LOADTEST_MIX": settings.mix,
        "LOADTEST_OFFENDERS": str(settings.offenders),
    }
    steps = []
    for rate in sorted(settings.http_rates):
        _say(f"http: {rate} requests/s for {settings.duration_s}s ...")
        step = run_step(worker.port, rate, settings.duration_s, folder / "locust", env)
        steps.append(step)
        _say(f"http: {step.summary()}")
        if step.error or step.failures or step.rps < 0.5 * rate:
            break  # past the knee: higher rates only add noise
        time.sleep(1.0)
    return steps


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__)
    parser.add_argument(
        "--record", action="store_true", help="write the ## loadtest section of docs/benchmarks.md"
    )
    args = parser.parse_args(argv)
    try:
        settings = LoadSettings.from_env()
        folder = run(settings, os.environ, record=args.record)
    except HazeError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 1
    print(folder)
    return 0
