"""Repeat-offender traffic for the load tests: a store lists, is banned by feedback, and comes
back, which the generator's one-listing classes cannot show (the duplicate detector needs a
banned store in the state).

An episode is a sequence of actions to send in order, each ``("listing", doc)`` or
``("feedback", doc)``:

1. ``offender_seed``: an ordinary-looking listing from store A (phone P, title T, image H);
2. feedback ``store_banned`` for store A;
3. ``store_banned_again``: store A lists again;
4. ``linked_to_banned``: a new store B with the same phone P, written differently;
5. ``duplicate_of_banned``: a new store C with T lightly edited and H with two bits flipped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from config.registry import Registry
from loadtest.generator import ListingGenerator

OFFENDER_CLASSES = (
    "offender_seed",
    "store_banned_again",
    "linked_to_banned",
    "duplicate_of_banned",
)
Action = tuple[str, dict[str, Any]]


@dataclass
class OffenderEpisodes:
    registry: Registry
    seed: int = 7
    id_prefix: str = "off"
    _count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._generator = ListingGenerator(
            self.registry, seed=self.seed, mix={"legit": 1.0}, id_prefix=f"{self.id_prefix}g"
        )

    def episode(self) -> list[Action]:
        rng = self._rng
        self._count += 1
        tag = f"{self.id_prefix}-{self.seed}-{self._count:06d}"
        phone = f"13{rng.randrange(10**9):09d}"
        image = rng.getrandbits(64)
        base = self._generator.one("legit")
        base.update(
            listing_id=f"{tag}-seed",
            store_id=f"{tag}-a",
            seller_id=f"{tag}-sa",
            image_phashes=[f"{image:016x}"],
            seller_signals={"phone": phone},
            label="offender_seed",
        )
        again = dict(base, listing_id=f"{tag}-again", label="store_banned_again")
        again["title"] = f"{base['title']} restock"
        linked = self._generator.one("legit")
        linked.update(
            listing_id=f"{tag}-linked",
            store_id=f"{tag}-b",
            seller_id=f"{tag}-sb",
            seller_signals={"phone": f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"},
            label="linked_to_banned",
        )
        words = base["title"].split()
        words[rng.randrange(len(words))] = rng.choice(["new", "hot", "sale", "2026"])
        flipped = image ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64))
        duplicate = dict(
            base,
            listing_id=f"{tag}-dup",
            store_id=f"{tag}-c",
            seller_id=f"{tag}-sc",
            title=" ".join(words),
            image_phashes=[f"{flipped:016x}"],
            seller_signals={"phone": f"13{rng.randrange(10**9):09d}"},
            label="duplicate_of_banned",
        )
        ban = {
            "listing_id": base["listing_id"],
            "store_id": base["store_id"],
            "outcome": "store_banned",
            "source": "loadtest",
        }
        return [
            ("listing", base),
            ("feedback", ban),
            ("listing", again),
            ("listing", linked),
            ("listing", duplicate),
        ]
