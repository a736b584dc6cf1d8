"""Shared fixtures. Integration tests get a real Redis (and Kafka) that the suite starts itself
on free ports, unless TEST_REDIS_URL / TEST_KAFKA_BOOTSTRAP point at running ones."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from haze.services import RedisService, free_port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the whole session (started here, stopped by pid)."""
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    service = RedisService(free_port(), Path(tmp_path_factory.mktemp("redis")))
    service.start()
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture
def key_prefix() -> str:
    """A fresh key prefix per test, so tests sharing one Redis never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single-node KRaft broker for the whole session (started here, stopped by pid)."""
    external = os.environ.get("TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    from haze.services import KafkaService

    service = KafkaService(
        free_port(), Path(tmp_path_factory.mktemp("kafka")), controller_port=free_port()
    )
    service.start()
    try:
        yield service.bootstrap
    finally:
        service.stop()


def write_config(directory: Path, **changes: object) -> Path:
    """A thresholds file: the defaults with dotted-path changes (``state.key_prefix="x"``)."""
    import yaml

    from config.thresholds import DEFAULT_CONFIG_PATH

    document = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = directory / f"thresholds-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


@pytest.fixture
def worker_env(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, key_prefix: str
) -> dict[str, str]:
    """Environment for one isolated worker: its own topics, consumer group and key prefix."""
    tag = key_prefix
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "REDIS_URL": redis_url,
        "SCREEN_HTTP_PORT": str(free_port()),
        "SCREEN_APP_ID": f"haze-{tag}",
        "SCREEN_DATA_DIR": str(tmp_path / "worker"),
        "SCREEN_CONFIG": str(write_config(tmp_path, state__key_prefix=tag)),
        "SCREEN_TOPIC_SUBMITTED": f"{tag}.submitted",
        "SCREEN_TOPIC_VERDICTS": f"{tag}.verdicts",
        "SCREEN_TOPIC_COMPLAINTS": f"{tag}.complaints",
        "SCREEN_TOPIC_DEADLETTER": f"{tag}.deadletter",
        "SCREEN_TOPIC_FEEDBACK": f"{tag}.feedback",
        "SCREEN_SIGNAL_KEY": "test-signal-key",
    }
