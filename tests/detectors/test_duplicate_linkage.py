"""Identity linkage through real Redis and the real engine: a store sharing a bank account with a
banned store is caught; a chain of authorised stores sharing one is not; bursts are weak."""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis

from config.registry import load_registry
from haze.engine import Screener
from haze.runtime import Runtime
from tests.detectors.duplicate_harness import (
    NOW,
    Harness,
    codes,
    make_listing,
    reason,
    screen_config,
)

DAY = 86400.0
BANK = "6222 0210 0111 2233 445"


async def test_a_store_sharing_a_bank_account_with_a_banned_store_is_caught(
    redis_client: aioredis.Redis,
) -> None:
    harness = Harness.fresh(redis_client)
    old = make_listing(
        "l1",
        "banned",
        "vintage leather wallet brown",
        at=NOW - 5 * DAY,
        signals={"bank_account": BANK, "phone": "+86 138 0000 1111"},
    )
    await harness.screen([old], now=NOW - 5 * DAY)
    await harness.state.ban_store("banned", NOW - DAY)
    # same account, written differently; nothing else in common
    fresh = make_listing(
        "l2",
        "reborn",
        "canvas tote bag beige large",
        signals={"bank_account": BANK.replace(" ", "-")},
    )
    [found] = await harness.screen([fresh])
    assert codes(found) == {"LINKED_TO_BANNED_STORE"}
    evidence = reason(found, "LINKED_TO_BANNED_STORE").evidence
    assert evidence == {
        "banned_store": "banned",
        "signals": ["bank_account"],
        "banned_stores_linked": 1,
    }


async def test_the_link_is_decided_a_block_by_the_engine(redis_client: aioredis.Redis) -> None:
    harness = Harness.fresh(redis_client)
    runtime = Runtime.build(screen_config(), load_registry()[0])
    screener = Screener(runtime, harness.state, clock=lambda: NOW)
    await screener.screen(
        [
            make_listing(
                "a", "banned", "silk scarf red", signals={"phone": "13800001111"}, at=NOW - DAY
            )
        ]
    )
    await harness.state.ban_store("banned", NOW - 10)
    [result] = await screener.screen(
        [make_listing("b", "new", "wool scarf grey", signals={"phone": "+86 138-0000-1111"})]
    )
    assert result.decision == "block"


async def test_an_authorised_chain_sharing_one_account_is_not_flagged(
    redis_client: aioredis.Redis,
) -> None:
    """Eight established shops of one chain, one bank account, the same products: nothing."""
    harness = Harness.fresh(redis_client)
    title = "anta kt9 cushioned running shoes black 42 官方旗舰"
    for day in (20, 10):  # the chain has been selling for weeks
        history = [
            make_listing(
                f"h{day}-{i}",
                f"chain-{i}",
                f"{title} {day}",
                at=NOW - day * DAY,
                signals={"bank_account": BANK},
            )
            for i in range(8)
        ]
        await harness.screen(history, now=NOW - day * DAY)
    runtime = Runtime.build(screen_config(), load_registry()[0])
    screener = Screener(runtime, harness.state, clock=lambda: NOW)
    today = [
        make_listing(f"n{i}", f"chain-{i}", title, signals={"bank_account": BANK}) for i in range(8)
    ]
    results = await screener.screen(today)
    assert [orjson.loads(r.verdict)["reasons"] for r in results] == [[]] * 8
    assert [r.decision for r in results] == ["allow"] * 8


async def test_one_banned_shop_in_the_chain_taints_the_others(
    redis_client: aioredis.Redis,
) -> None:
    harness = Harness.fresh(redis_client)
    chain = [
        make_listing(
            f"h{i}",
            f"chain-{i}",
            "plain cotton t-shirt white l",
            at=NOW - 10 * DAY,
            signals={"bank_account": BANK},
        )
        for i in range(4)
    ]
    await harness.screen(chain, now=NOW - 10 * DAY)
    await harness.state.ban_store("chain-3", NOW - DAY)
    again = [
        make_listing(f"n{i}", f"chain-{i}", "linen shirt", signals={"bank_account": BANK})
        for i in range(4)
    ]
    results = await harness.screen(again)
    assert [codes(found) for found in results[:3]] == [{"LINKED_TO_BANNED_STORE"}] * 3
    assert codes(results[3]) == {"STORE_BANNED"}  # never linked to itself


async def test_many_fresh_stores_on_one_phone_are_a_weak_burst(
    redis_client: aioredis.Redis,
) -> None:
    harness = Harness.fresh(redis_client)
    config = screen_config()
    minimum = config.detectors.duplicate.burst_min_stores
    phone = {"phone": "+86 139 1234 0000"}
    early = [
        make_listing(f"e{i}", f"shop-{i}", f"item {i} mug", at=NOW - 3600, signals=phone)
        for i in range(minimum - 2)
    ]
    await harness.screen(early, now=NOW - 3600)
    [below] = await harness.screen(
        [make_listing("x", f"shop-{minimum - 2}", "tea pot", signals=phone)]
    )
    assert below == []
    [burst] = await harness.screen(
        [make_listing("y", f"shop-{minimum - 1}", "tea cup", signals=phone)]
    )
    assert codes(burst) == {"SHARED_SIGNAL_BURST"}
    assert reason(burst, "SHARED_SIGNAL_BURST").evidence["fresh_stores"] == minimum
    assert reason(burst, "SHARED_SIGNAL_BURST").score < config.decision.review_threshold


async def test_addresses_link_only_when_configured(redis_client: aioredis.Redis) -> None:
    """Honest shops share market halls; the address kind is off unless configured."""
    hall = {"address": "Yiwu International Trade City, District 2, Hall 5"}
    for kinds, expected in (((), set()), (("address",), {"LINKED_TO_BANNED_STORE"})):
        config = screen_config(**({"link_signals": kinds} if kinds else {}))
        harness = Harness.fresh(redis_client, config)
        banned = make_listing("a", "banned", "toy car", at=NOW - DAY, signals=hall)
        await harness.screen([banned], now=NOW - DAY)
        await harness.state.ban_store("banned", NOW - 10)
        [found] = await harness.screen([make_listing("b", "honest", "toy train", signals=hall)])
        assert codes(found) == expected
