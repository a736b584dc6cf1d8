"""A backtest scenario from the labelled generator: warm-up, feedback and a labelled file.

The warm-up builds the rolling state (price baselines, fingerprints, store signals) the way
weeks of traffic would; the feedback bans the stores of some suspicious warm-up listings; the
labelled listings follow in time, with ``relist`` listings mixed in (those banned sellers back
under new store ids). Every listing carries ``created_at`` on one timeline, so rolling windows
behave as they would in production. Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from config.registry import Registry
from loadtest.generator import BACKTEST_MIX, SUSPICIOUS, ListingGenerator


@dataclass(frozen=True, slots=True)
class Scenario:
    warmup: list[dict[str, Any]]
    feedback: list[dict[str, Any]]
    labelled: list[dict[str, Any]]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_scenario(
    registry: Registry,
    *,
    count: int,
    seed: int = 7,
    warmup: int = 0,
    bans: int = 0,
    relists_per_ban: int = 2,
    mix: dict[str, float] | None = None,
    start: datetime | None = None,
    interval_s: float = 30.0,
    id_prefix: str = "bt",
) -> Scenario:
    """``warmup`` listings, then feedback banning the stores of ``bans`` suspicious warm-up
    listings, then ``count`` labelled listings plus ``relists_per_ban`` relists per ban."""
    if count < 0 or warmup < 0 or bans < 0 or relists_per_ban < 0:
        raise ValueError("counts must not be negative")
    if bans and not warmup:
        raise ValueError("bans need a warm-up: the banned stores come from it")
    generator = ListingGenerator(registry, seed=seed, mix=mix or BACKTEST_MIX, id_prefix=id_prefix)
    shuffle = random.Random(f"{seed}:scenario")
    warm = generator.take(warmup)
    labelled = generator.take(count)

    banned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for doc in warm:
        if len(banned) == bans:
            break
        if doc["label"] in SUSPICIOUS and doc["store_id"] not in seen:
            banned.append(doc)
            seen.add(doc["store_id"])
    for number, doc in enumerate(d for d in labelled if d["store_id"] in seen):
        # a random store id that happens to be banned would make its listing's label a lie
        doc["store_id"] = f"store-n{number:05d}"
        doc["seller_id"] = f"seller-n{number:05d}"
    for doc in banned:
        for _ in range(relists_per_ban):
            labelled.insert(shuffle.randrange(len(labelled) + 1), generator.relist(doc))

    moment = start or datetime(2026, 11, 1, tzinfo=UTC)
    step = timedelta(seconds=interval_s)
    for doc in warm:
        doc["created_at"] = iso(moment)
        moment += step
    feedback = [
        {
            "listing_id": doc["listing_id"],
            "store_id": doc["store_id"],
            "outcome": "store_banned",
            "source": "reviewer",
            "created_at": iso(moment),
        }
        for doc in banned
    ]
    for doc in labelled:
        moment += step
        doc["created_at"] = iso(moment)
    return Scenario(warm, feedback, labelled)
