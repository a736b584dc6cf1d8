"""All detectors through the engine on the labelled generator: each class lands where it must.

A regression guard for the hand-offs between detectors (the keyword detector's brands reaching
the price detector in ``needs`` and ``detect``), not a quality benchmark.
"""

from __future__ import annotations

from collections import Counter

import orjson

from config.registry import DEFAULT_REGISTRY_PATH, load_registry
from config.thresholds import DEFAULT_CONFIG_PATH
from contract.listing import listing_from_dict
from contract.signals import SignalKeyer
from haze.engine import Screener
from haze.runtime import Runtime
from loadtest.generator import CLASSES, ListingGenerator
from state.memory import MemoryStateStore
from state.policies import series_policies

EXPECTED = {
    "legit": {"allow"},
    "legit_brand": {"allow"},
    "legit_resale": {"allow"},
    "counterfeit": {"block"},
    "counterfeit_obfuscated": {"review", "block"},
    "price_fake": {"review", "block"},
    "stuffing": {"review", "block"},
    "prohibited": {"block"},
}


async def test_every_generated_class_gets_its_expected_decision() -> None:
    runtime = Runtime.load(DEFAULT_CONFIG_PATH, DEFAULT_REGISTRY_PATH)
    screener = Screener(runtime, MemoryStateStore(series_policies(runtime.config)))
    registry, _ = load_registry()
    generator = ListingGenerator(registry, seed=17)
    docs = [generator.one(label) for label in CLASSES for _ in range(25)]
    keyer = SignalKeyer("k")
    results = await screener.screen([listing_from_dict(d, keyer) for d in docs])
    wrong: Counter[str] = Counter()
    for doc, result in zip(docs, results, strict=True):
        if orjson.loads(result.verdict)["decision"] not in EXPECTED[doc["label"]]:
            wrong[doc["label"]] += 1
    assert not wrong, f"misjudged per class (of 25): {dict(wrong)}"
