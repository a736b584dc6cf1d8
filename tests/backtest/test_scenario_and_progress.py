"""The backtest scenario, the generator's harder classes and the progress line."""

from __future__ import annotations

import io
from collections import Counter

import orjson
import pytest

from config.registry import DEFAULT_REGISTRY_PATH, load_registry
from config.thresholds import DEFAULT_CONFIG_PATH
from contract.listing import listing_from_dict
from contract.signals import SignalKeyer
from haze.backtest.progress import Progress
from haze.engine import Screener
from haze.runtime import Runtime
from loadtest.generator import DEFAULT_MIX, EXTRA_CLASSES, ListingGenerator
from loadtest.scenario import build_scenario
from state.memory import MemoryStateStore
from state.policies import series_policies

REGISTRY, _ = load_registry()


def test_relists_share_the_signals_of_a_banned_store_and_no_one_else_uses_it() -> None:
    scenario = build_scenario(REGISTRY, count=500, warmup=400, bans=6, relists_per_ban=3)
    banned_ids = {fb["listing_id"] for fb in scenario.feedback}
    banned = {doc["store_id"]: doc for doc in scenario.warmup if doc["listing_id"] in banned_ids}
    assert len(banned) == 6 and {fb["store_id"] for fb in scenario.feedback} == set(banned)
    phones = {doc["seller_signals"]["phone"] for doc in banned.values()}
    relists = [doc for doc in scenario.labelled if doc["label"] == "relist"]
    assert len(relists) == 18
    assert all(doc["seller_signals"]["phone"] in phones for doc in relists)
    assert not any(doc["store_id"] in banned for doc in scenario.labelled)
    times = [doc["created_at"] for doc in scenario.warmup + scenario.labelled]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert scenario.feedback[0]["created_at"] > scenario.warmup[-1]["created_at"]


def test_bans_need_a_warm_up() -> None:
    with pytest.raises(ValueError, match="warm-up"):
        build_scenario(REGISTRY, count=10, bans=1)


def test_the_default_mix_never_draws_the_harder_classes() -> None:
    labels = Counter(doc["label"] for doc in ListingGenerator(REGISTRY, seed=5).take(3000))
    assert set(labels) == set(DEFAULT_MIX)
    with pytest.raises(ValueError, match="relist"):
        ListingGenerator(REGISTRY).one("relist")


EXPECTED = {
    "legit_false_friend": {"review"},
    "legit_clearance": {"allow", "review"},
    "price_fake_subtle": {"review", "block"},
}


async def test_the_harder_classes_land_in_their_band() -> None:
    runtime = Runtime.load(DEFAULT_CONFIG_PATH, DEFAULT_REGISTRY_PATH)
    screener = Screener(runtime, MemoryStateStore(series_policies(runtime.config)))
    generator = ListingGenerator(REGISTRY, seed=11)
    docs = [generator.one(label) for label in EXTRA_CLASSES if label != "relist" for _ in range(30)]
    keyer = SignalKeyer("k")
    results = await screener.screen([listing_from_dict(doc, keyer) for doc in docs])
    seen: dict[str, Counter[str]] = {}
    for doc, result in zip(docs, results, strict=True):
        decision = orjson.loads(result.verdict)["decision"]
        assert decision in EXPECTED[doc["label"]], (doc["label"], decision, doc["title"])
        seen.setdefault(doc["label"], Counter())[decision] += 1
    # the straddling classes do straddle: both bands occur
    assert len(seen["legit_clearance"]) == 2 and len(seen["price_fake_subtle"]) == 2


def test_progress_is_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(100, "x", stream=stream)
    progress.advance(50)
    progress.close()
    assert stream.getvalue() == ""


def test_progress_line() -> None:
    stream = io.StringIO()
    progress = Progress(200, "backtest", stream=stream, enabled=True)
    progress.advance(50)
    assert progress.render(2.0).startswith("backtest [#######                     ]  25%  50/200")
    assert "25/s  eta 6s" in progress.render(2.0)
    progress.advance(150)
    progress.close()
    assert stream.getvalue().endswith("\n") and "100%" in stream.getvalue()
