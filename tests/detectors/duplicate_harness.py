"""Run the duplicate detector the way the engine does (one read, detect, one write per batch)
against a real Redis, with listings built through the contract parser."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from config.duplicate import DuplicateConfig
from config.registry import Registry
from config.thresholds import ScreenConfig, load_screen_config
from contract.listing import Listing, listing_from_dict
from contract.signals import SignalKeyer
from contract.verdict import Reason
from detectors.batch import ListingBatch
from detectors.duplicate import DuplicateDetector
from state.policies import bucket_policies, series_policies, store_policy
from state.redis import RedisStateStore

NOW = 1_800_000_000.0
KEYER = SignalKeyer("duplicate-test-key")
REGISTRY = Registry(version="test")


def screen_config(**duplicate: Any) -> ScreenConfig:
    """The default thresholds with some duplicate-detector knobs changed."""
    config, _ = load_screen_config()
    changed = config.detectors.duplicate.model_copy(update=duplicate)
    DuplicateConfig.model_validate(changed.model_dump())  # the changes must be valid
    detectors = config.detectors.model_copy(update={"duplicate": changed})
    return config.model_copy(update={"detectors": detectors})


def make_listing(
    listing_id: str,
    store_id: str,
    title: str,
    *,
    at: float = NOW,
    signals: dict[str, str] | None = None,
    phashes: Sequence[int] = (),
    category: str = "shoes",
) -> Listing:
    doc: dict[str, Any] = {
        "listing_id": listing_id,
        "seller_id": f"seller-{store_id}",
        "store_id": store_id,
        "title": title,
        "category": category,
        "price": 199.0,
        "image_phashes": [f"{h:016x}" for h in phashes],
        "seller_signals": signals or {},
    }
    return listing_from_dict(doc, KEYER, arrival=at)


class Harness:
    """One detector over one Redis key prefix."""

    def __init__(self, client: aioredis.Redis, config: ScreenConfig, prefix: str) -> None:
        detector = DuplicateDetector.build(config, REGISTRY)
        assert detector is not None
        self.detector = detector
        self.state = RedisStateStore(
            client,
            series_policies(config),
            prefix=prefix,
            store_policy=store_policy(config),
            bucket_policies=bucket_policies(config),
        )

    @classmethod
    def fresh(cls, client: aioredis.Redis, config: ScreenConfig | None = None) -> Harness:
        return cls(client, config or screen_config(), f"t{uuid.uuid4().hex[:10]}")

    async def screen(self, listings: Sequence[Listing], now: float = NOW) -> list[list[Reason]]:
        batch = ListingBatch(listings, now)
        snapshot = await self.state.fetch(self.detector.needs(batch), [], now)
        reasons = self.detector.detect(batch, snapshot)
        updates = self.detector.updates(batch, snapshot, ["allow"] * len(listings))
        await self.state.commit(updates, [], now)
        return reasons


def codes(reasons: Sequence[Reason]) -> set[str]:
    return {reason.code for reason in reasons}


def reason(reasons: Sequence[Reason], code: str) -> Reason:
    found = [r for r in reasons if r.code == code]
    assert found, f"no {code} among {[r.code for r in reasons]}"
    return found[0]
