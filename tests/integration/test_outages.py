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


async def test_a_previous_runs_journal_is_delivered_at_start_without_traffic(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    """A worker killed with inline records still journaled: the next start delivers them, with
    no request needed to wake the outbox."""
    from streams.outbox import Outbox
    from streams.publisher import Record

    class _Down:
        async def publish(self, records: object) -> None:
            raise ConnectionError("the previous run never got to deliver")

    journal = Path(worker_env["SCREEN_DATA_DIR"]) / "outbox.journal"
    box = Outbox(_Down(), journal, complaints_topic=worker_env["SCREEN_TOPIC_COMPLAINTS"])
    for i in range(3):
        verdict = orjson.dumps({"listing_id": f"left-{i}", "revision": 0})
        box.put([Record(worker_env["SCREEN_TOPIC_VERDICTS"], f"left-{i}".encode(), verdict)], None)
    box.journal.close()
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        topic = worker_env["SCREEN_TOPIC_VERDICTS"]
        got = await collect(
            worker_env["KAFKA_BOOTSTRAP_SERVERS"],
            [topic],
            done=lambda c: c.count(topic) >= 3,
            timeout_s=30,
        )
    finally:
        worker.stop()
    ids = sorted(orjson.loads(v)["listing_id"] for v in got.values(topic))
    assert ids == ["left-0", "left-1", "left-2"]
