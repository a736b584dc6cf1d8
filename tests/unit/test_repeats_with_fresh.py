"""A batch that mixes repeats with fresh listings judges the fresh ones as if they came alone.

The engine reads state once for the whole batch (one round trip), then judges only the
listings the ledger does not already answer. Row-indexed state (the LSH probe's hits, one row
per probed title) must be narrowed to those listings: a regression guard for a crash (Numba
reading past the probe's rows) after a worker restart replayed a batch.
"""

from __future__ import annotations

import orjson

from config.registry import DEFAULT_REGISTRY_PATH
from config.thresholds import DEFAULT_CONFIG_PATH
from haze.engine import Screener
from haze.runtime import Runtime
from state.memory import MemoryStateStore
from state.policies import bucket_policies, series_policies, store_policy
from tests.detectors.duplicate_harness import NOW, make_listing

TITLES = [
    "vintage walnut writing desk with brass drawer pulls and leather top",
    "hand thrown stoneware teapot glazed in deep celadon green",
    "children's wooden balance bike with adjustable saddle and rubber tyres",
    "cast iron skillet pre seasoned twelve inch with helper handle",
    "merino wool hiking socks cushioned heel breathable pack of three",
]
COPIED = TITLES[-1]


def _screener() -> Screener:
    runtime = Runtime.load(DEFAULT_CONFIG_PATH, DEFAULT_REGISTRY_PATH)
    config = runtime.config
    state = MemoryStateStore(
        series_policies(config),
        store_policy=store_policy(config),
        bucket_policies=bucket_policies(config),
    )
    return Screener(runtime, state)


def _codes(verdict: bytes) -> list[str]:
    return sorted(reason["code"] for reason in orjson.loads(verdict)["reasons"])


async def _copy_after(repeats: bool) -> list[str]:
    screener = _screener()
    originals = [make_listing(f"orig-{i}", "store-a", t, at=NOW) for i, t in enumerate(TITLES)]
    await screener.screen(originals)
    await screener.state.ban_store("store-a", NOW + 30)
    copy = make_listing("copy-0", "store-b", COPIED, at=NOW + 60)
    batch = [*originals, copy] if repeats else [copy]
    results = await screener.screen(batch)
    assert [r.fresh for r in results] == [False] * (len(batch) - 1) + [True]
    return _codes(results[-1].verdict)


async def test_a_fresh_listing_among_repeats_is_judged_as_alone() -> None:
    alone = await _copy_after(repeats=False)
    assert "DUPLICATE_OF_BANNED_LISTING" in alone
    assert await _copy_after(repeats=True) == alone
