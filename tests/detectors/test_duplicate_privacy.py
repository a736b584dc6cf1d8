"""Raw seller signals never leave the parser: not into Redis (every key and value is scanned),
not into logs, not into the verdicts and complaints that go to Kafka."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from config.registry import load_registry
from contract.feedback import Feedback
from contract.listing import parse_listing
from detectors.offenders import apply_feedback
from haze.engine import Screener
from haze.runtime import Runtime
from tests.detectors.duplicate_harness import KEYER, NOW, Harness, screen_config

RAW = {
    "id_number": "11010519491231002X",
    "phone": "+86 138-1234-5678",
    "bank_account": "6222 0210 0111 2233 445",
    "device_id": "A1B2-C3D4-E5F6-0789",
    "address": "Room 1204, Building 7, 88 Jianguo Road, Chaoyang, Beijing",
}
# the raw values, their normalised forms and distinctive fragments of them
NEEDLES = [
    *RAW.values(),
    "11010519491231002x",
    "13812345678",
    "1234-5678",
    "6222021001112233445",
    "0111 2233",
    "a1b2c3d4e5f60789",
    "Jianguo",
    "jianguo",
]


def _doc(listing_id: str, store_id: str, title: str) -> bytes:
    return orjson.dumps(
        {
            "listing_id": listing_id,
            "seller_id": f"seller-{store_id}",
            "store_id": store_id,
            "title": title,
            "category": "bags/handbags",
            "price": 120.0,
            "image_phashes": ["5a5aa5a53c3cc3c3"],
            "seller_signals": RAW,
        }
    )


async def _every_value(client: aioredis.Redis) -> list[bytes]:
    """Every key of the database, and everything stored under it."""
    found: list[bytes] = []
    async for key in client.scan_iter(count=1000):
        found.append(key)
        kind = (await client.type(key)).decode()
        values: Any
        if kind == "string":
            values = [await client.get(key)]
        elif kind == "hash":
            values = [x for pair in (await client.hgetall(key)).items() for x in pair]
        elif kind == "zset":
            values = [m for m, _ in await client.zrange(key, 0, -1, withscores=True)]
        elif kind == "set":
            values = list(await client.smembers(key))
        elif kind == "list":
            values = await client.lrange(key, 0, -1)
        else:
            pytest.fail(f"unexpected key type {kind} for {key!r}")
        found += [v if isinstance(v, bytes) else str(v).encode() for v in values]
    return found


async def test_raw_signals_reach_neither_redis_nor_logs_nor_verdicts(
    redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = Harness.fresh(redis_client)
    screener = Screener(
        Runtime.build(screen_config(), load_registry()[0]), harness.state, clock=lambda: NOW
    )
    first = [
        parse_listing(
            _doc(f"l{i}", f"store-{i}", f"aurora classic handbag {i}"), KEYER, arrival=NOW
        )
        for i in range(3)
    ]
    screened = await screener.screen(first)
    await apply_feedback(Feedback("l0", "store-0", "store_banned"), harness.state, NOW)
    await apply_feedback(Feedback("l1", "store-1", "confirmed_counterfeit"), harness.state, NOW)
    later = [parse_listing(_doc("l9", "store-9", "aurora classic handbag 0"), KEYER, arrival=NOW)]
    screened += await screener.screen(later)
    await screener.mark_emitted(screened)

    outputs = [s.verdict for s in screened] + [s.complaint for s in screened if s.complaint]
    last = orjson.loads(screened[-1].verdict)
    assert {r["code"] for r in last["reasons"]} >= {"LINKED_TO_BANNED_STORE"}  # it did run
    stored = await _every_value(redis_client)
    assert any(harness.state.prefix.encode() in value for value in stored)
    logged = caplog.text
    digests = list(first[0].signals.values())
    for needle in NEEDLES:
        raw = needle.encode()
        assert not any(raw in value for value in stored), f"{needle!r} reached Redis"
        assert not any(raw in out for out in outputs), f"{needle!r} reached a verdict"
        assert needle not in logged, f"{needle!r} reached the logs"
    for digest in digests:  # evidence names signal kinds, not even their keyed digests
        assert not any(digest.encode() in out for out in outputs)
