"""The decision step: reasons in, allow / review / block out, with the brand it concerns.

Scores combine by noisy-OR (``1 - prod(1 - s)``) or max; hard-block and hard-review codes
override the bands. The brand named by the strongest brand-bearing reason (else the claimed
brand, when the registry knows it) decides which rights holder a hit is referred to.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

from config.registry import Registry
from config.thresholds import DecisionConfig
from contract.listing import Listing
from contract.verdict import Decision, Reason

DEGRADED_CODE = "DEGRADED"


class Outcome(NamedTuple):
    """A listing's decision and who it concerns (one per listing: a named tuple is cheaper to
    build than a frozen dataclass)."""

    decision: Decision
    score: float
    brand: str | None
    rights_holder: str | None
    refer: bool


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


class DecisionStep:
    def __init__(self, config: DecisionConfig, registry: Registry) -> None:
        self.config = config
        self._hard_block = frozenset(config.hard_block_codes)
        self._hard_review = frozenset(config.hard_review_codes)
        self._brands = {brand.id: brand for brand in registry.brands}
        self._brand_by_name: dict[str, str] = {}
        for brand in registry.brands:
            for name in (brand.id, *brand.all_names):
                self._brand_by_name.setdefault(_fold(name), brand.id)
        self._holders = {holder.id: holder for holder in registry.rights_holders}

    def combine(self, reasons: Sequence[Reason]) -> float:
        scores = [min(1.0, max(0.0, float(reason.score))) for reason in reasons]
        if not scores:
            return 0.0
        if self.config.combine == "max":
            return max(scores)
        return 1.0 - math.prod(1.0 - score for score in scores)

    def brand_of(self, listing: Listing, reasons: Sequence[Reason]) -> str | None:
        ranked = sorted(reasons, key=lambda reason: -reason.score)
        for reason in ranked:
            brand = reason.evidence.get("brand")
            if isinstance(brand, str) and brand in self._brands:
                return brand
        if listing.brand:
            return self._brand_by_name.get(_fold(listing.brand))
        return None

    def decide(self, listing: Listing, reasons: Sequence[Reason]) -> Outcome:
        score = self.combine(reasons)
        codes = {reason.code for reason in reasons}
        decision: Decision
        if codes & self._hard_block or score >= self.config.block_threshold:
            decision = "block"
        elif codes & self._hard_review or score >= self.config.review_threshold:
            decision = "review"
        else:
            decision = "allow"
        brand = self.brand_of(listing, reasons) if reasons else None
        holder_id = self._brands[brand].rights_holder if brand else None
        holder = self._holders.get(holder_id) if holder_id else None
        refer = decision == "review" and holder is not None and holder.takes_referrals
        return Outcome(decision, score, brand, holder_id, refer)

    def degraded(self, why: str) -> tuple[Outcome, Reason]:
        """The outcome when state could not be read: the configured fail-open/closed policy."""
        policy = self.config.degraded_policy
        decision: Decision = "allow" if policy == "fail_open" else "review"
        reason = Reason("engine", DEGRADED_CODE, 0.0, {"policy": policy, "cause": why})
        return Outcome(decision, 0.0, None, None, False), reason
