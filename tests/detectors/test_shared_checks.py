"""One check suite over every registered detector (River-style): whatever a detector does, it
must be deterministic, keep scores in [0, 1], answer one list per listing for any batch size,
survive hostile text, and produce JSON evidence that never carries a raw seller signal."""

from __future__ import annotations

import random
import time

import orjson
import pytest

from config.registry import load_registry
from config.thresholds import load_screen_config
from contract.listing import Listing, listing_from_dict
from contract.signals import SignalKeyer
from detectors.base import Detector
from detectors.batch import ListingBatch
from detectors.catalog import DETECTOR_CLASSES
from loadtest.generator import ListingGenerator
from state.base import StateSnapshot
from state.memory import MemoryStateStore
from state.policies import series_policies

CONFIG, _ = load_screen_config()
REGISTRY, _ = load_registry()
KEYER = SignalKeyer("shared-check-key")
RAW_PHONE = "+86 139-8765-4321"


def _listings(count: int, seed: int = 3) -> list[Listing]:
    docs = ListingGenerator(REGISTRY, seed=seed).take(count)
    for doc in docs:
        doc["seller_signals"]["phone"] = RAW_PHONE
    return [listing_from_dict(doc, KEYER, arrival=1_800_000_000.0) for doc in docs]


def _soup(rng: random.Random, length: int) -> str:
    ranges = [
        (0x20, 0x7E),
        (0xA0, 0x24F),
        (0x370, 0x4FF),
        (0x3000, 0x30FF),
        (0x4E00, 0x9FFF),
        (0xFF01, 0xFF5E),
        (0x1F300, 0x1F64F),
        (0x200B, 0x200F),
        (0x0300, 0x036F),
    ]
    chars = []
    for _ in range(length):
        low, high = rng.choice(ranges)
        chars.append(chr(rng.randint(low, high)))
    return "".join(chars)


def _unicode_listings(count: int, length: int) -> list[Listing]:
    rng = random.Random(length)
    listings = []
    for i, listing in enumerate(_listings(count, seed=length)):
        doc = {
            "listing_id": listing.listing_id,
            "seller_id": listing.seller_id,
            "store_id": listing.store_id,
            "title": _soup(rng, length)[:512] or "x",
            "description": _soup(rng, 2 * length),
            "category": listing.category,
            "price": listing.price,
            "brand": _soup(rng, 8) if i % 3 == 0 else None,
        }
        listings.append(listing_from_dict(doc, KEYER, arrival=1_800_000_000.0))
    return listings


async def _run(
    detector: Detector, listings: list[Listing]
) -> tuple[list[list[object]], StateSnapshot]:
    store = MemoryStateStore(series_policies(CONFIG))
    batch = ListingBatch(listings, now=1_800_000_000.0)
    snapshot = await store.fetch(detector.needs(batch), [], batch.now)
    reasons = detector.detect(batch, snapshot)
    detector.updates(batch, snapshot, ["allow"] * len(listings))
    return reasons, snapshot


@pytest.fixture(params=DETECTOR_CLASSES, ids=lambda cls: cls.name)
def detector(request: pytest.FixtureRequest) -> Detector:
    built = request.param.build(CONFIG, REGISTRY)
    assert built is not None, "enabled in the default config"
    built.warm()
    return built


def _check(reasons: list[list[object]], listings: list[Listing], name: str) -> None:
    assert len(reasons) == len(listings)
    for found in reasons:
        for reason in found:
            assert reason.detector == name  # type: ignore[attr-defined]
            assert 0.0 <= reason.score <= 1.0  # type: ignore[attr-defined]
            assert reason.code and reason.code.upper() == reason.code  # type: ignore[attr-defined]
            encoded = orjson.dumps(reason.to_dict())  # type: ignore[attr-defined]
            assert RAW_PHONE.encode() not in encoded and b"98765432" not in encoded


async def test_empty_batch(detector: Detector) -> None:
    reasons, _ = await _run(detector, [])
    assert reasons == []


@pytest.mark.parametrize("size", [1, 10, 10_000])
async def test_batch_sizes(detector: Detector, size: int) -> None:
    listings = _listings(size)
    reasons, _ = await _run(detector, listings)
    _check(reasons, listings, detector.name)


async def test_deterministic(detector: Detector) -> None:
    listings = _listings(300, seed=9)
    first, _ = await _run(detector, listings)
    second, _ = await _run(detector, listings)
    assert [[r.to_dict() for r in found] for found in first] == [  # type: ignore[attr-defined]
        [r.to_dict() for r in found]
        for found in second  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("length", [1, 40, 512])
async def test_unicode_soup_and_long_titles(detector: Detector, length: int) -> None:
    listings = _unicode_listings(200, length)
    reasons, _ = await _run(detector, listings)
    _check(reasons, listings, detector.name)


def test_registered_names_are_unique() -> None:
    names = [cls.name for cls in DETECTOR_CLASSES]
    assert len(names) == len(set(names))


def test_batch_of_10000_is_one_call(detector: Detector) -> None:
    """Not a timing test: only that a large batch completes (kernels take batches)."""
    listings = _listings(10_000, seed=5)
    batch = ListingBatch(listings, now=time.time())
    assert len(detector.detect(batch, StateSnapshot())) == 10_000
