"""`make services-up/down/status` behaviour: idempotent, healthy when it returns, stops by pid,
and hands over to external services when their variables are set."""

from __future__ import annotations

from pathlib import Path

import pytest

from haze.localstack import LocalStack
from haze.services import free_port, port_open

pytestmark = pytest.mark.integration


def test_up_is_idempotent_and_down_stops_what_it_started(tmp_path: Path) -> None:
    env = {
        "HAZE_SERVICES_DIR": str(tmp_path),
        "KAFKA_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
    }
    stack = LocalStack.from_env(env)
    assert stack.kafka is not None and stack.redis is not None
    try:
        stack.up()
        pids = (stack.kafka.pid(), stack.redis.pid())
        LocalStack.from_env(env).up()  # a second `services-up` starts nothing new
        assert (stack.kafka.pid(), stack.redis.pid()) == pids
        status = LocalStack.from_env(env).status()
        assert status["kafka"].startswith("running") and status["redis"].startswith("running")
        assert (tmp_path / "kafka" / "kafka.log").exists()
    finally:
        stopped = LocalStack.from_env(env).down()
    assert sorted(stopped) == ["kafka", "redis"]
    assert not port_open(int(env["KAFKA_PORT"])) and not port_open(int(env["REDIS_PORT"]))
    assert LocalStack.from_env(env).status() == {"kafka": "stopped", "redis": "stopped"}


def test_external_services_are_used_not_started(tmp_path: Path, redis_url: str) -> None:
    env = {
        "HAZE_SERVICES_DIR": str(tmp_path),
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
    }
    stack = LocalStack.from_env(env)
    assert stack.kafka is None and stack.redis is None
    stack.up()  # starts nothing
    status = stack.status()
    assert status["redis"].endswith("reachable") and "unreachable" not in status["redis"]
    assert status["kafka"].endswith("unreachable")
    assert stack.down() == []
