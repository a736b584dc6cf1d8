"""A registry reload swaps the compiled automaton whole: a batch is screened by one version.

The engine holds one :class:`~haze.runtime.Runtime` (thresholds, registry, compiled detectors)
and replaces it in one assignment; a batch reads it once, so a swap while the batch waits on
its state round trip leaves the batch on the old automaton and rules, and the next batch sees
only the new ones. Real detectors, the in-memory state store.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import orjson

from config.registry import Brand, RightsHolder, load_registry
from config.thresholds import load_screen_config
from contract.listing import Listing
from haze.engine import Screened, Screener
from haze.runtime import Runtime
from state.base import StateNeeds, StateSnapshot
from state.memory import MemoryStateStore
from state.policies import series_policies, store_policy

CONFIG, _ = load_screen_config()
OLD, _ = load_registry()
NEW = OLD.model_copy(
    update={
        "version": "with-zephyra",
        "rights_holders": (*OLD.rights_holders, RightsHolder(id="rh-zephyra", name="Zephyra")),
        "brands": (
            *OLD.brands,
            Brand(id="zephyra", name="Zephyra", aliases=("泽菲拉",), rights_holder="rh-zephyra"),
        ),
    }
)
OLD_RUNTIME = Runtime.build(CONFIG, OLD)
NEW_RUNTIME = Runtime.build(CONFIG, NEW)
TITLE = "Zephyra 泽菲拉 replica handbag"


class GatedStore(MemoryStateStore):
    """The in-memory store, whose fetch waits for a gate (the state round trip in flight)."""

    def __init__(self) -> None:
        super().__init__(series_policies(CONFIG), store_policy(CONFIG))
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(
        self, needs: StateNeeds, ledger_keys: Sequence[str], now: float
    ) -> StateSnapshot:
        self.entered.set()
        await self.gate.wait()
        await asyncio.sleep(0)
        return await super().fetch(needs, ledger_keys, now)


def _listing(index: int) -> Listing:
    return Listing(f"l{index}", "seller", "store-x", TITLE, "bags/handbags", 120.0)


def _version_and_codes(verdict: bytes) -> tuple[str, str | None, set[str]]:
    doc = orjson.loads(verdict)
    codes = {reason["code"] for reason in doc["reasons"] if reason["detector"] == "keyword"}
    return doc["config_version"], doc["brand"], codes


def test_the_two_registries_screen_the_listing_differently() -> None:
    assert OLD_RUNTIME.detectors[0].lexicon is not NEW_RUNTIME.detectors[0].lexicon  # type: ignore[attr-defined]


async def test_a_swap_during_a_batch_leaves_it_on_the_old_automaton() -> None:
    store = GatedStore()
    screener = Screener(OLD_RUNTIME, store, clock=lambda: 1_700_000_000.0)
    store.gate.clear()
    task = asyncio.create_task(screener.screen([_listing(0), _listing(1)]))
    await store.entered.wait()  # the batch has compiled its needs and waits for its state
    screener.swap(NEW_RUNTIME)
    store.gate.set()
    for result in await task:
        version, brand, codes = _version_and_codes(result.verdict)
        assert version == OLD_RUNTIME.config_version
        assert brand is None and codes == {"COUNTERFEIT_TERM"}
    (result,) = await screener.screen([_listing(2)])
    version, brand, codes = _version_and_codes(result.verdict)
    assert version == NEW_RUNTIME.config_version
    assert brand == "zephyra" and codes == {"BRAND_WITH_COUNTERFEIT_TERM"}


async def test_swaps_between_concurrent_batches_never_mix_versions() -> None:
    store = GatedStore()
    screener = Screener(OLD_RUNTIME, store, clock=lambda: 1_700_000_000.0)
    rng = random.Random(3)
    expected = {
        OLD_RUNTIME.config_version: (None, {"COUNTERFEIT_TERM"}),
        NEW_RUNTIME.config_version: ("zephyra", {"BRAND_WITH_COUNTERFEIT_TERM"}),
    }

    async def swapper() -> None:
        for _ in range(300):
            screener.swap(rng.choice([OLD_RUNTIME, NEW_RUNTIME]))
            await asyncio.sleep(0)

    async def producer() -> list[list[Screened]]:
        started = []
        for b in range(60):
            items = [_listing(10 * b + i) for i in range(rng.randint(1, 5))]
            started.append(asyncio.create_task(screener.screen(items)))
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)
        return list(await asyncio.gather(*started))

    screened, _ = await asyncio.gather(producer(), swapper())
    seen = set()
    for results in screened:
        versions = set()
        for result in results:
            version, brand, codes = _version_and_codes(result.verdict)
            assert (brand, codes) == expected[version]
            versions.add(version)
        assert len(versions) == 1  # one batch, one version
        seen |= versions
    assert seen == set(expected)  # both versions screened some batches
