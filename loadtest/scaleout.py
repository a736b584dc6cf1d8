"""``make loadtest-scaleout``: the stream capacity of 1 and of 2 workers in one consumer group,
measured in the same run, alternating (1, 2, 1, 2 ...) on one Kafka and one Redis, so the ratio
is fair on a shared machine even when the absolute numbers drift.

Each round starts fresh topics, a fresh consumer group and key prefix, then the workers, and
drains a backlog of ``LOADTEST_STREAM_COUNT`` listings (``loadtest.run``'s capacity phase).
Writes ``results/<UTC time>-scaleout/summary.json`` and prints a table.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from haze.errors import HazeError
from haze.services import KafkaService, RedisService, free_port
from loadtest.run import LoadSettings, LoadStack, _machine, _say, _stream_phase


def measure(settings: LoadSettings, counts: tuple[int, ...], rounds: int) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="haze-scaleout-"))
    started = datetime.now(UTC)
    folder = settings.results_dir / (started.strftime("%Y%m%dT%H%M%SZ") + "-scaleout")
    env = dict(os.environ)
    kafka = redis = None
    runs: list[dict[str, Any]] = []
    try:
        if not env.get("REDIS_URL"):
            redis = RedisService(free_port(), scratch / "redis")
            redis.start()
            env["REDIS_URL"] = redis.url
        if not env.get("KAFKA_BOOTSTRAP_SERVERS"):
            kafka = KafkaService(free_port(), scratch / "kafka", controller_port=free_port())
            kafka.start()
            env["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap
        for round_ in range(rounds):
            for workers in counts:
                chosen = replace(settings, workers=workers)
                stack = LoadStack(chosen, folder / f"r{round_}w{workers}", env).start()
                try:
                    phase = _stream_phase(
                        stack, chosen, "capacity", 0.0, chosen.stream_count, chosen.seed + round_
                    )
                finally:
                    stack.stop()
                runs.append({"round": round_, "workers": workers, **phase.summary()})
                time.sleep(2.0)
    finally:
        if kafka is not None:
            kafka.stop()
        if redis is not None:
            redis.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {
        n: statistics.median(r["throughput_lps"] for r in runs if r["workers"] == n) for n in counts
    }
    doc = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": _machine(),
        "partitions": settings.partitions,
        "listings_per_run": settings.stream_count,
        "runs": runs,
        "median_lps": {str(n): round(v, 1) for n, v in medians.items()},
        "ratio": {
            f"{n}/{counts[0]}": round(medians[n] / medians[counts[0]], 2)
            for n in counts[1:]
            if medians[counts[0]]
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    doc["folder"] = str(folder)
    return doc


def main(argv: list[str] | None = None) -> int:
    try:
        settings = LoadSettings.from_env()
        rounds = int(os.environ.get("LOADTEST_ROUNDS") or 2)
        doc = measure(settings, (1, 2), rounds)
    except (HazeError, ValueError) as exc:
        print(f"loadtest-scaleout: {exc}", file=sys.stderr)
        return 1
    _say(f"report: {doc['folder']}")
    print("| round | workers | listings/s | p99 ms (backlog) |")
    print("|---|---|---|---|")
    for r in doc["runs"]:
        print(
            f"| {r['round']} | {r['workers']} | {r['throughput_lps']:,.0f} | {r['p99_ms']:,.0f} |"
        )
    print(f"median listings/s: {doc['median_lps']}; ratio: {doc['ratio']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
