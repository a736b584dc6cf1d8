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
