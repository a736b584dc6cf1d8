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


def _hits(verdicts: list[dict]) -> set[str]:
    """The listings that owe a complaint: every block, and every review referred onwards."""
    return {
        v["listing_id"]
        for v in verdicts
        if v["decision"] == "block" or (v["decision"] == "review" and v["referred"])
    }


async def _verdicts_and_dead(env: dict[str, str], good: int, bad: int, timeout_s: float):
    topics = [
        env["SCREEN_TOPIC_VERDICTS"],
        env["SCREEN_TOPIC_DEADLETTER"],
        env["SCREEN_TOPIC_COMPLAINTS"],
    ]

    def done(c) -> bool:
        verdicts = [orjson.loads(v) for v in c.values(topics[0])]
        if len({v["listing_id"] for v in verdicts}) < good or c.count(topics[1]) < bad:
            return False
        # a verdict and its complaint go to different topics and can arrive in either order:
        # wait for the complaint of every hit too (one that never comes fails the test there)
        hits = _hits(verdicts)
        raised = {orjson.loads(v)["listing_id"] for v in c.values(topics[2])}
        return hits <= raised

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
    hits = _hits(verdicts)
    assert {c["listing_id"] for c in complaints} == hits
    # Redis counts each listing once: one ledger entry per screened listing revision
    client = aioredis.Redis.from_url(redis_url)
    try:
        ledger = [key async for key in client.scan_iter(match=f"{key_prefix}:ledger:*", count=1000)]
    finally:
        await client.aclose()
    assert len(ledger) == 1950


def _arbitrary_values(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """Random bytes, random JSON documents and listings with random fields swapped in."""
    registry, _ = load_registry()
    rng = random.Random(seed)
    docs = ListingGenerator(registry, seed=seed, id_prefix=f"arb{seed}").take(count)

    def junk(depth: int = 0) -> object:
        kind = rng.randrange(7 if depth < 3 else 5)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice([True, False])
        if kind == 2:
            return rng.choice([0, -1, 2**63, rng.uniform(-1e12, 1e12), 1e308])
        if kind == 3:
            points = (rng.randrange(1, 0x2FFFF) for _ in range(rng.randrange(40)))
            return "".join(chr(p) for p in points if not 0xD800 <= p <= 0xDFFF)
        if kind == 4:
            return "x" * rng.choice([0, 1, 129, 513, 20_001])
        if kind == 5:
            return [junk(depth + 1) for _ in range(rng.randrange(4))]
        return {str(junk(depth + 1))[:8]: junk(depth + 1) for _ in range(rng.randrange(4))}

    values = []
    for i, doc in enumerate(docs):
        shape = i % 4
        if shape == 0:
            value = bytes(rng.getrandbits(8) for _ in range(rng.randrange(200)))
        elif shape == 1:
            value = orjson.dumps(junk())
        else:
            mutated = {k: v for k, v in doc.items() if k != "label"}
            for _ in range(rng.randrange(1, 4)):
                field = rng.choice([*mutated, "seller_signals", "image_phashes", "revision"])
                mutated[field] = junk()
            value = orjson.dumps(mutated)
        values.append((f"arb-{i}".encode(), value))
    return values


async def test_arbitrary_input_ends_as_a_verdict_or_a_dead_letter(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    """A thousand hostile values through the real worker: none crashes it or disappears."""
    events = _arbitrary_values(1000, seed=31)
    topics = [worker_env["SCREEN_TOPIC_VERDICTS"], worker_env["SCREEN_TOPIC_DEADLETTER"]]
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        await produce(
            worker_env["KAFKA_BOOTSTRAP_SERVERS"], worker_env["SCREEN_TOPIC_SUBMITTED"], events
        )
        got = await collect(
            worker_env["KAFKA_BOOTSTRAP_SERVERS"],
            topics,
            done=lambda c: c.count(topics[0]) + c.count(topics[1]) >= len(events),
            timeout_s=120,
        )
        assert worker.health() is not None, "the worker must still be up"
    finally:
        worker.stop()
    verdicts = [orjson.loads(v) for v in got.values(topics[0])]
    dead = [orjson.loads(v) for v in got.values(topics[1])]
    assert len(verdicts) + len(dead) == len(events)
    # each dead letter keeps its original bytes and names what was wrong
    import base64

    originals = {value for _, value in events}
    assert all(base64.b64decode(d["raw_b64"]) in originals and d["error"] for d in dead)
    assert len(dead) >= len(events) // 2  # the random bytes and random documents at least
