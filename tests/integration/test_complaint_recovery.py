"""A worker that stops between producing and flagging the ledger, and one that stops between the
ledger write and producing: the redelivered batch raises each complaint exactly once, against the
real broker and Redis (the two windows a SIGKILL can land in, made deterministic)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
import pytest

from config.settings import Settings, Topics
from haze.engine import Screened
from loadtest.generator import ListingGenerator
from loadtest.kafka_io import collect, produce
from streams.complaint_log import KafkaComplaintLog, OwedComplaint
from streams.pipeline import Incoming, ScreenPipeline
from streams.publisher import KafkaPublisher
from streams.service import ScreenService
from tests.conftest import write_config

pytestmark = pytest.mark.integration


class _Dies(BaseException):
    """Stands for the SIGKILL: nothing after the point it is raised runs."""


def _service(tmp_path, kafka: str, redis_url: str, prefix: str) -> ScreenService:
    settings = Settings(
        kafka_bootstrap_servers=kafka,
        redis_url=redis_url,
        config_path=write_config(tmp_path, state__key_prefix=prefix),
        topics=Topics(
            submitted=f"{prefix}.submitted",
            verdicts=f"{prefix}.verdicts",
            complaints=f"{prefix}.complaints",
            deadletter=f"{prefix}.deadletter",
        ),
    )
    return ScreenService.create(settings)


def _pipeline(service: ScreenService, publisher: KafkaPublisher) -> ScreenPipeline:
    topics = service.settings.topics
    return ScreenPipeline(
        service.screener,
        publisher,
        topics,
        service.keyer,
        service.metrics,
        raised=KafkaComplaintLog(service.settings.kafka_bootstrap_servers, topics.complaints),
        settle_s=1.0,
        retry_initial_s=0.01,
    )


def _batch(topic: str, count: int, seed: int) -> list[Incoming]:
    from config.registry import load_registry

    registry, _ = load_registry()
    docs = ListingGenerator(registry, seed=seed).take(count)
    return [
        Incoming(d["listing_id"].encode(), orjson.dumps(d), topic, 0, i) for i, d in enumerate(docs)
    ]


async def _complaints(service: ScreenService) -> list[str]:
    topic = service.settings.topics.complaints
    verdicts = service.settings.topics.verdicts
    got = await collect(
        service.settings.kafka_bootstrap_servers,
        [topic, verdicts],
        done=lambda c: False,
        timeout_s=3,
    )
    return [orjson.loads(v)["complaint_id"] for v in got.values(topic)]


@pytest.mark.parametrize("dies", ["after_publish", "before_publish"])
async def test_a_redelivered_batch_raises_each_complaint_once(
    tmp_path, kafka_bootstrap: str, redis_url: str, key_prefix: str, dies: str
) -> None:
    service = _service(tmp_path, kafka_bootstrap, redis_url, key_prefix)
    batch = _batch(service.settings.topics.submitted, 300, seed=5)
    first_publisher = KafkaPublisher(kafka_bootstrap)
    first = _pipeline(service, first_publisher)

    async def never_flags(results: Sequence[Screened]) -> None:
        raise _Dies

    async def never_publishes(records: object) -> None:
        raise _Dies

    if dies == "after_publish":
        service.screener.mark_emitted = never_flags  # type: ignore[method-assign]
    else:
        first_publisher.publish = never_publishes  # type: ignore[method-assign]
    with pytest.raises(_Dies):
        await first.handle(batch)
    await first_publisher.stop()

    # the restarted worker: new objects over the same Redis and topics
    service = _service(tmp_path, kafka_bootstrap, redis_url, key_prefix)
    publisher = KafkaPublisher(kafka_bootstrap)
    try:
        await _pipeline(service, publisher).handle(batch)
    finally:
        await publisher.stop()
        await service.state.close()

    ids = await _complaints(service)
    owed = service.metrics.complaints_recovered
    assert ids, "the batch has hits"
    assert len(ids) == len(set(ids)), "a complaint was raised twice"
    raised = owed.labels(outcome="raised")._value.get()
    found = owed.labels(outcome="already_raised")._value.get()
    if dies == "after_publish":
        assert (raised, found) == (0, len(ids))
    else:
        assert (raised, found) == (len(ids), 0)


async def test_the_read_back_finds_exactly_the_complaints_on_the_topic(
    kafka_bootstrap: str, key_prefix: str
) -> None:
    topic = f"{key_prefix}.complaints"
    on_topic = [(f"l-{i}".encode(), f"cmp-{i}") for i in range(40)]
    await produce(
        kafka_bootstrap,
        topic,
        [(key, orjson.dumps({"complaint_id": cid})) for key, cid in on_topic],
    )
    log = KafkaComplaintLog(kafka_bootstrap, topic)
    now = time.time()
    asked = [OwedComplaint(key, cid, now - 5) for key, cid in on_topic[::3]]
    asked += [OwedComplaint(f"l-x{i}".encode(), f"cmp-x{i}", now - 5) for i in range(5)]
    assert await log.already_raised(asked) == {cid for _, cid in on_topic[::3]}
    # records produced well before the ledger's screening time are not looked at
    later = [OwedComplaint(key, cid, now + 3600) for key, cid in on_topic]
    assert await log.already_raised(later) == set()
    missing_topic = KafkaComplaintLog(kafka_bootstrap, f"{key_prefix}.none")
    assert await missing_topic.already_raised(asked) == set()
