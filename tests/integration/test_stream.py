"""The backbone end to end: a real broker, a real Redis, the worker as a child process."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from config.registry import load_registry
from haze.workerproc import WorkerProcess
from loadtest.generator import ListingGenerator, malformed_values
from loadtest.kafka_io import collect, produce

pytestmark = pytest.mark.integration


def _stream_with_malformed(
    total: int, bad: int, seed: int
) -> tuple[list[tuple[bytes, bytes]], set[bytes]]:
    """``total`` events of which ``bad`` are malformed in different ways, evenly spread."""
    registry, _ = load_registry()
    rng = random.Random(seed)
    generator = ListingGenerator(registry, seed=seed)
    docs = generator.take(total - bad)
    kinds = malformed_values(rng, docs[0])
    bad_values = [(f"bad-{i}".encode(), kinds[i % len(kinds)][1]) for i in range(bad)]
    good = [(doc["listing_id"].encode(), orjson.dumps(doc)) for doc in docs]
    events = list(good)
    step = len(good) // bad
    for i, item in enumerate(bad_values):
        events.insert(i * (step + 1), item)
    return events, {value for _, value in bad_values}


async def _verdicts_and_dead(env: dict[str, str], good: int, bad: int, timeout_s: float):
    topics = [
        env["SCREEN_TOPIC_VERDICTS"],
        env["SCREEN_TOPIC_DEADLETTER"],
        env["SCREEN_TOPIC_COMPLAINTS"],
    ]

    def done(c) -> bool:
        ids = {orjson.loads(v)["listing_id"] for v in c.values(topics[0])}
        return len(ids) >= good and c.count(topics[1]) >= bad

    return await collect(env["KAFKA_BOOTSTRAP_SERVERS"], topics, done=done, timeout_s=timeout_s)


async def test_every_listing_gets_one_verdict_and_bad_input_is_dead_lettered(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    events, bad_values = _stream_with_malformed(2000, 50, seed=11)
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        await produce(
            worker_env["KAFKA_BOOTSTRAP_SERVERS"], worker_env["SCREEN_TOPIC_SUBMITTED"], events
        )
        got = await _verdicts_and_dead(worker_env, 1950, 50, timeout_s=120)
    finally:
        worker.stop()
    verdicts = [orjson.loads(v) for v in got.values(worker_env["SCREEN_TOPIC_VERDICTS"])]
    assert len({v["listing_id"] for v in verdicts}) == 1950
    assert len(verdicts) == 1950  # no crash, so no repeats either
    dead = [orjson.loads(v) for v in got.values(worker_env["SCREEN_TOPIC_DEADLETTER"])]
    assert len(dead) == 50
    import base64

    assert {base64.b64decode(d["raw_b64"]) for d in dead} == bad_values
    assert all(d["error"] and d["topic"] == worker_env["SCREEN_TOPIC_SUBMITTED"] for d in dead)
    for verdict in verdicts:
        assert verdict["decision"] in ("allow", "review", "block")
        assert 0.0 <= verdict["score"] <= 1.0
        assert verdict["config_version"]


async def test_sigkill_mid_stream_loses_nothing_and_raises_no_complaint_twice(
    worker_env: dict[str, str], tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    events, _ = _stream_with_malformed(2000, 50, seed=23)
    bootstrap = worker_env["KAFKA_BOOTSTRAP_SERVERS"]
    submitted = worker_env["SCREEN_TOPIC_SUBMITTED"]
    verdict_topic = worker_env["SCREEN_TOPIC_VERDICTS"]
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        await produce(bootstrap, submitted, events[:1000])
        # kill once some, but not all, verdicts are out
        await collect(
            bootstrap, [verdict_topic], done=lambda c: c.count(verdict_topic) >= 300, timeout_s=60
        )
        worker.kill()
        await produce(bootstrap, submitted, events[1000:])
        worker = WorkerProcess(worker_env, tmp_path / "worker2.log").start()
        got = await _verdicts_and_dead(worker_env, 1950, 50, timeout_s=120)
    finally:
        worker.stop()
    verdicts = [orjson.loads(v) for v in got.values(verdict_topic)]
    by_key: dict[tuple[str, int], set[str]] = {}
    for verdict in verdicts:
        by_key.setdefault((verdict["listing_id"], verdict["revision"]), set()).add(
            verdict["decision"]
        )
    assert len(by_key) == 1950
    assert all(len(decisions) == 1 for decisions in by_key.values()), (
        "a repeat changed its decision"
    )
    complaints = [orjson.loads(v) for v in got.values(worker_env["SCREEN_TOPIC_COMPLAINTS"])]
    ids = [c["complaint_id"] for c in complaints]
    assert len(ids) == len(set(ids)), "a complaint was raised twice"
    hits = {
        v["listing_id"]
        for v in verdicts
        if v["decision"] == "block" or (v["decision"] == "review" and v["referred"])
    }
    assert {c["listing_id"] for c in complaints} == hits
    # Redis counts each listing once: one ledger entry per screened listing revision
    client = aioredis.Redis.from_url(redis_url)
    try:
        ledger = [key async for key in client.scan_iter(match=f"{key_prefix}:ledger:*", count=1000)]
    finally:
        await client.aclose()
    assert len(ledger) == 1950
