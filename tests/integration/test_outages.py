"""Kafka stopped mid-run and started again: the inline API keeps answering, and afterwards every
verdict is on its topic exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from haze.services import KafkaService, free_port
from haze.workerproc import WorkerProcess
from loadtest.kafka_io import collect
from tests.integration.test_http_api import LISTING, call

pytestmark = pytest.mark.integration


async def test_kafka_outage_spools_and_delivers_exactly_once(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    kafka = KafkaService(free_port(), tmp_path / "own-kafka", controller_port=free_port())
    kafka.start()
    env = {**worker_env, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    sent: list[str] = []
    try:

        def screen(prefix: str, count: int) -> None:
            for i in range(count):
                listing_id = f"{prefix}-{i}"
                status, verdict = call(
                    worker.port, "/v1/screen", dict(LISTING, listing_id=listing_id)
                )
                assert status == 200 and verdict["listing_id"] == listing_id
                sent.append(listing_id)

        screen("before", 20)
        kafka.stop()
        started = time.monotonic()
        screen("during", 40)  # Kafka is down: answers keep coming
        assert time.monotonic() - started < 30
        kafka.start()
        screen("after", 20)
        topic = env["SCREEN_TOPIC_VERDICTS"]
        got = await collect(
            kafka.bootstrap, [topic], done=lambda c: c.count(topic) >= len(sent), timeout_s=90
        )
        time.sleep(2)  # anything duplicated would arrive by now
        got = await collect(kafka.bootstrap, [topic], done=lambda c: False, timeout_s=3)
    finally:
        worker.stop()
        kafka.stop()
    ids = [orjson.loads(v)["listing_id"] for v in got.values(topic)]
    assert sorted(ids) == sorted(sent), "every verdict exactly once"
