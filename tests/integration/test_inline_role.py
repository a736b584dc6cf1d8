"""An inline-only worker (``haze run --role inline``) next to a stream worker: it answers the
HTTP API and leaves its verdicts on Kafka, consumes nothing, and does not disturb the stream
worker's consumer group."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from haze.services import free_port
from haze.workerproc import WorkerProcess
from loadtest.kafka_io import collect, produce
from tests.integration.test_http_api import LISTING, call

pytestmark = pytest.mark.integration


def _listing(i: int) -> dict[str, object]:
    return {**LISTING, "listing_id": f"stream-{i}", "title": f"plain ceramic mug {i}"}


async def test_inline_role_serves_http_and_leaves_the_stream_alone(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    submitted, verdicts = worker_env["SCREEN_TOPIC_SUBMITTED"], worker_env["SCREEN_TOPIC_VERDICTS"]
    bootstrap = worker_env["KAFKA_BOOTSTRAP_SERVERS"]
    inline_env = {
        **worker_env,
        "SCREEN_HTTP_PORT": str(free_port()),
        "SCREEN_DATA_DIR": str(tmp_path / "inline"),
    }
    inline = WorkerProcess(inline_env, tmp_path / "inline.log", role="inline").start()
    try:
        status, health = call(inline.port, "/healthz")
        assert status == 200 and health["role"] == "inline" and health["kafka"] == "ok"
        await produce(bootstrap, submitted, [(b"stream-0", orjson.dumps(_listing(0)))])
        status, verdict = call(inline.port, "/v1/screen", {**LISTING, "listing_id": "http-only"})
        assert status == 200 and verdict["listing_id"] == "http-only"
        seen = await collect(
            bootstrap,
            [verdicts],
            done=lambda c: any(b"http-only" in v for v in c.values(verdicts)),
            timeout_s=30,
        )
        await asyncio.sleep(3)  # time enough for a consumer to have screened stream-0
        seen = await collect(bootstrap, [verdicts], done=lambda c: False, timeout_s=3)
        ids = [orjson.loads(v)["listing_id"] for v in seen.values(verdicts)]
        assert ids == ["http-only"]  # the inline worker screened nothing from the stream

        stream = WorkerProcess(worker_env, tmp_path / "stream.log").start()
        try:
            await produce(
                bootstrap,
                submitted,
                [(f"stream-{i}".encode(), orjson.dumps(_listing(i))) for i in range(1, 200)],
            )
            seen = await collect(
                bootstrap, [verdicts], done=lambda c: c.count(verdicts) >= 201, timeout_s=90
            )
            ids = sorted(orjson.loads(v)["listing_id"] for v in seen.values(verdicts))
            assert ids == sorted(["http-only", *(f"stream-{i}" for i in range(200))])
            assert stream.proc is not None and stream.proc.poll() is None, stream.proc
            assert call(stream.port, "/healthz")[1]["role"] == "all"
            assert inline.proc is not None and inline.proc.poll() is None
            assert call(inline.port, "/healthz")[1]["status"] == "ok"
        finally:
            stream.stop()
    finally:
        inline.stop()
