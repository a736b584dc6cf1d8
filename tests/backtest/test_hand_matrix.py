"""A small labelled file through the real engine gives the confusion matrix computed by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config.registry import DEFAULT_REGISTRY_PATH
from config.thresholds import DEFAULT_CONFIG_PATH
from contract.signals import SignalKeyer
from haze.backtest.dataset import read_feedback, read_listings
from haze.backtest.isolation import isolated_state
from haze.backtest.metrics import by_class, by_code, confusion
from haze.backtest.runner import Inputs, Row, run_once
from haze.runtime import Runtime
from tests.backtest.data import LABELLED, MATRIX, write_hand_files

KEYER = SignalKeyer("test-key")


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime.load(DEFAULT_CONFIG_PATH, DEFAULT_REGISTRY_PATH)


def _inputs(tmp_path: Path) -> Inputs:
    labelled, warmup, feedback = write_hand_files(tmp_path)
    return Inputs(
        read_listings(labelled, KEYER, labelled=True).listings,
        read_listings(warmup, KEYER, labelled=False).listings,
        read_feedback(feedback).feedback,
    )


async def _rows(runtime: Runtime, inputs: Inputs, redis_url: str | None) -> list[Row]:
    async with isolated_state(runtime.config, redis_url) as isolated:
        return await run_once(runtime, inputs, isolated.state, start=1.8e9, batch_size=4)


async def test_each_listing_gets_the_decision_its_rule_gives(
    runtime: Runtime, tmp_path: Path
) -> None:
    rows = await _rows(runtime, _inputs(tmp_path), None)
    assert [row.decision for row in rows] == [decision for _, decision in LABELLED]
    assert [row.line for row in rows] == list(range(1, len(LABELLED) + 1))


async def test_confusion_matrix_and_rates_match_the_hand_count(
    runtime: Runtime, tmp_path: Path
) -> None:
    rows = await _rows(runtime, _inputs(tmp_path), None)
    block = confusion(rows, "block")
    assert block.matrix == MATRIX
    assert (block.tp, block.fp, block.fn, block.tn) == (3, 1, 2, 5)
    assert block.precision == pytest.approx(3 / 4)
    assert block.recall == pytest.approx(3 / 5)
    assert block.false_positive_rate == pytest.approx(1 / 6)
    assert block.review_share == pytest.approx(2 / 11)
    assert block.automation_rate == pytest.approx(9 / 11)
    flagged = confusion(rows, "flagged")  # review counts as positive: 7 and 4 move over
    assert (flagged.tp, flagged.fp, flagged.fn, flagged.tn) == (4, 2, 1, 4)


async def test_per_class_and_per_code(runtime: Runtime, tmp_path: Path) -> None:
    rows = await _rows(runtime, _inputs(tmp_path), None)
    classes = by_class(rows, "block")
    assert classes["relist"].n == 2 and classes["relist"].recall == pytest.approx(0.5)
    assert classes["legit"].false_positive_rate == pytest.approx(1 / 3)
    assert classes["legit"].recall is None
    assert classes["legit_false_friend"].review_share == 1.0
    codes = by_code(rows, "block")
    assert (codes["LINKED_TO_BANNED_STORE"].n, codes["LINKED_TO_BANNED_STORE"].tp) == (1, 1)
    banned = codes["STORE_BANNED"]
    assert (banned.n, banned.tp, banned.fp, banned.precision) == (1, 0, 1, 0.0)
    assert banned.false_positive_rate == pytest.approx(1 / 6)


async def test_without_the_feedback_the_linked_relist_is_missed(
    runtime: Runtime, tmp_path: Path
) -> None:
    inputs = _inputs(tmp_path)
    rows = await _rows(runtime, Inputs(inputs.labelled, inputs.warmup), None)
    decisions = {row.listing_id: row.decision for row in rows}
    assert decisions["hand-09"] == "allow" and decisions["hand-11"] == "allow"


@pytest.mark.integration
async def test_through_redis_same_matrix_and_the_prefix_is_removed(
    runtime: Runtime, tmp_path: Path, redis_url: str, redis_client: aioredis.Redis
) -> None:
    inputs = _inputs(tmp_path)
    before = set(await redis_client.keys("*"))
    async with isolated_state(runtime.config, redis_url) as isolated:
        rows = await run_once(runtime, inputs, isolated.state, start=1.8e9, batch_size=4)
        prefix = isolated.prefix
        assert prefix is not None
        assert await redis_client.keys(f"{prefix}:*"), "the run wrote its state under its prefix"
    assert confusion(rows, "block").matrix == MATRIX
    assert isolated.removed > 0
    assert await redis_client.keys(f"{prefix}:*") == []
    assert set(await redis_client.keys("*")) == before


@pytest.mark.integration
async def test_the_prefix_is_removed_when_the_run_fails(
    runtime: Runtime, tmp_path: Path, redis_url: str, redis_client: aioredis.Redis
) -> None:
    inputs = _inputs(tmp_path)
    prefix = None
    with pytest.raises(RuntimeError, match="half way"):
        async with isolated_state(runtime.config, redis_url) as isolated:
            prefix = isolated.prefix
            await run_once(runtime, Inputs((), inputs.warmup), isolated.state, start=1.8e9)
            assert await redis_client.keys(f"{prefix}:*")
            raise RuntimeError("half way")
    assert await redis_client.keys(f"{prefix}:*") == []


@pytest.mark.integration
async def test_the_prefix_is_removed_when_the_run_is_cancelled(
    runtime: Runtime, tmp_path: Path, redis_url: str, redis_client: aioredis.Redis
) -> None:
    """Ctrl-C under ``asyncio.run`` cancels the main task: the cleanup must still run."""
    inputs = _inputs(tmp_path)
    written = asyncio.Event()
    prefixes: list[str | None] = []

    async def job() -> None:
        async with isolated_state(runtime.config, redis_url) as isolated:
            prefixes.append(isolated.prefix)
            await run_once(runtime, Inputs((), inputs.warmup), isolated.state, start=1.8e9)
            written.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(job())
    await written.wait()
    assert await redis_client.keys(f"{prefixes[0]}:*")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await redis_client.keys(f"{prefixes[0]}:*") == []
