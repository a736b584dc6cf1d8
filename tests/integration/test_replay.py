"""``haze replay`` against the real Kafka and Redis: production is left exactly as it was."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from config.registry import DEFAULT_REGISTRY_PATH, load_registry
from config.settings import settings_from_env
from contract.listing import listing_from_dict
from contract.signals import SignalKeyer
from haze.cli import main
from haze.engine import Screener
from haze.runtime import Runtime
from loadtest.generator import ListingGenerator
from loadtest.kafka_io import collect
from state.policies import series_policies
from state.redis import RedisStateStore
from streams.topics import ensure_topics, topic_names
from tests.conftest import write_config

pytestmark = pytest.mark.integration
HOUR = 3600.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


async def _produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes, float]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value, key=key, timestamp_ms=int(t * 1000))
            for key, value, t in items
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _production_state(env: dict[str, str], prefix: str, docs: list[dict[str, Any]]) -> None:
    """What a worker leaves in Redis: state and ledger under the production prefix."""
    runtime = Runtime.load(Path(env["SCREEN_CONFIG"]), DEFAULT_REGISTRY_PATH)
    store = RedisStateStore.from_url(
        env["REDIS_URL"], series_policies(runtime.config), prefix=prefix
    )
    keyer = SignalKeyer(env["SCREEN_SIGNAL_KEY"])
    try:
        await Screener(runtime, store).screen([listing_from_dict(d, keyer) for d in docs])
    finally:
        await store.close()


async def _commit_group(bootstrap: str, group: str, topic: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 2})
    finally:
        await consumer.stop()


async def _snapshot(env: dict[str, str], prefix: str, topics: list[str]) -> dict[str, Any]:
    """Production keys with their values, end offsets of the contract topics, and groups."""
    client = aioredis.Redis.from_url(env["REDIS_URL"])
    keys = sorted(await client.keys(f"{prefix}:*"))
    values = {key: await client.dump(key) for key in keys}
    everything = set(await client.keys("*"))
    await client.aclose()
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        assert len(partitions) == len(topics) * 4
        ends = {
            f"{tp.topic}/{tp.partition}": o
            for tp, o in (await consumer.end_offsets(partitions)).items()
        }
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = sorted(g[0] for g in await admin.list_consumer_groups())
        offsets = await admin.list_consumer_group_offsets(env["SCREEN_APP_ID"])
    finally:
        await admin.close()
    return {
        "values": values,
        "keys": everything,
        "ends": ends,
        "groups": groups,
        "offsets": {str(tp): meta.offset for tp, meta in offsets.items()},
    }


def test_replay_screens_the_range_into_its_own_topic_and_touches_nothing_else(
    worker_env: dict[str, str],
    tmp_path: Path,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = worker_env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_from_env(env)
    bootstrap, submitted = env["KAFKA_BOOTSTRAP_SERVERS"], env["SCREEN_TOPIC_SUBMITTED"]
    asyncio.run(ensure_topics(settings))
    registry, _ = load_registry()
    docs = ListingGenerator(registry, seed=31, id_prefix=key_prefix).take(40)
    now = time.time()
    early, inside, late = docs[:10], docs[10:35], docs[35:]
    events = [
        (d["listing_id"].encode(), orjson.dumps(d), now - 3 * HOUR + i) for i, d in enumerate(early)
    ]
    events += [
        (d["listing_id"].encode(), orjson.dumps(d), now - 2 * HOUR + i)
        for i, d in enumerate(inside)
    ]
    events.append((b"bad", b'{"listing_id": "bad", "price": "free"}', now - 2 * HOUR + 100))
    events += [
        (d["listing_id"].encode(), orjson.dumps(d), now - HOUR + i) for i, d in enumerate(late)
    ]
    asyncio.run(_produce(bootstrap, submitted, events))
    asyncio.run(_production_state(env, key_prefix, docs[:5]))
    asyncio.run(_commit_group(bootstrap, env["SCREEN_APP_ID"], submitted))
    production = topic_names(settings)
    before = asyncio.run(_snapshot(env, key_prefix, production))
    assert before["values"], "the production prefix holds state to protect"
    assert before["offsets"], "the production group has a committed offset to protect"

    candidate = write_config(
        tmp_path, state__key_prefix=key_prefix, decision__block_threshold=0.7, version="replay-cand"
    )
    into = f"{key_prefix}.replay"
    window = ["--from", _iso(now - 2.5 * HOUR), "--until", _iso(now - 1.5 * HOUR)]
    assert main(["replay", *window, "--config", str(candidate), "--into", into]) == 0
    summary = capsys.readouterr().out
    assert "read 26 events (0 warm-up), 1 invalid, 25 verdicts written" in summary
    assert f"invalid: {submitted}[" in summary and "price: must be a number" in summary
    prefix = re.search(r"prefix (hazerp-[0-9a-f]+)", summary)
    assert prefix is not None

    # and with a warm-up from before the range: the early events build state, are not written
    into_warm = f"{key_prefix}.replay2"
    args = ["replay", "--warmup-from", _iso(now - 3.5 * HOUR), *window, "--into", into_warm]
    assert main(args) == 0
    assert "read 36 events (10 warm-up), 1 invalid, 25 verdicts written" in capsys.readouterr().out

    got = asyncio.run(
        collect(bootstrap, [into, into_warm], timeout_s=30,
                done=lambda c: c.count(into) >= 25 and c.count(into_warm) >= 25)
    )  # fmt: skip
    verdicts = [orjson.loads(v) for v in got.values(into)]
    assert sorted(v["listing_id"] for v in verdicts) == sorted(d["listing_id"] for d in inside)
    assert all(v["config_version"].startswith("replay-cand/") for v in verdicts)
    assert got.count(into_warm) == 25

    after = asyncio.run(_snapshot(env, key_prefix, production))
    assert after == before  # production keys, topics (no verdict, no complaint), groups, offsets
    client = aioredis.Redis.from_url(env["REDIS_URL"])
    assert asyncio.run(client.keys(f"{prefix.group(1)}:*")) == []
