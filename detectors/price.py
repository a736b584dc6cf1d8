"""The price-anomaly detector: counterfeits give themselves away by price.

Three signals, scored for the whole batch in one Numba call (``detectors/_price_kernels.py``):

- ``PRICE_BELOW_REFERENCE``: an unauthorised store asks a small fraction of the brand's
  registry reference for the category (the lowest plausible genuine price). This is also the
  cold-start baseline: it needs no history, and its evidence says ``baseline: reference``.
- ``PRICE_FAR_BELOW_MARKET``: the robust z-score of the log price against the rolling baseline
  of the (brand, category) group, or of the category while the first is not trusted yet; the
  evidence names the baseline and how many observations and stores it rests on.
- ``SHIPPING_FEE_ANOMALY``: a fee out of line with the price.

Baselines live in Redis as ``Series.PRICE`` samples (``detectors/_price_samples.py``), and only
listings that ended ``allow`` feed them, so blocked fakes never drag the market down. A store
the brand authorised is never flagged on price.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from config.price import PriceConfig
from config.registry import Registry
from config.thresholds import ScreenConfig
from contract.listing import Listing
from contract.verdict import Decision, Reason
from detectors._price_features import ListingPricer, PricedBatch, PricedListing, category_group
from detectors._price_kernels import (
    BASE_BRAND_CATEGORY,
    BASE_CATEGORY,
    BatchScores,
    KernelParams,
    score_batch,
)
from detectors._price_samples import Samples, encode_member, gather
from detectors.base import Detector
from detectors.batch import ListingBatch
from state.base import Series, StateNeeds, StateSnapshot, StateUpdates
from state.policies import DAY_S

BASELINE_NAMES = {BASE_BRAND_CATEGORY: "brand_category", BASE_CATEGORY: "category"}


def kernel_params(config: PriceConfig) -> KernelParams:
    """The kernel's view of the config: log ratios, seconds."""
    ref, market, ship = config.reference, config.market, config.shipping
    return KernelParams(
        half_life_s=market.half_life_days * DAY_S,
        trim_scales=market.trim_scales,
        min_scale=market.min_scale,
        min_observations=float(market.min_observations),
        min_stores=float(market.min_stores),
        z_start=market.start_z,
        z_review=market.review_z,
        z_block=market.block_z,
        market_max_log_ratio=math.log(market.max_ratio),
        market_review_score=market.review_score,
        market_block_score=market.block_score,
        category_max_score=market.category_max_score,
        ref_start_log=math.log(ref.start_ratio),
        ref_review_log=math.log(ref.review_ratio),
        ref_block_log=math.log(ref.block_ratio),
        ref_review_score=ref.review_score,
        ref_block_score=ref.block_score,
        ship_min_fee=ship.min_fee,
        ship_start_log=math.log(ship.start_ratio),
        ship_full_log=math.log(ship.full_ratio),
        ship_score=ship.score,
    )


def _money(log_value: float) -> float:
    return round(math.exp(min(log_value, 700.0)), 2)


class PriceDetector(Detector):
    name: ClassVar[str] = "price"

    def __init__(self, config: PriceConfig, registry: Registry) -> None:
        self.config = config
        self.pricer = ListingPricer(config, registry)
        self.params = kernel_params(config)

    @classmethod
    def build(cls, config: ScreenConfig, registry: Registry) -> PriceDetector | None:
        price = config.detectors.price
        return cls(price, registry) if price.enabled else None

    def needs(self, batch: ListingBatch) -> StateNeeds:
        """The batch's groups. The brands found in the text are known here only if the keyword
        detector annotated the batch already; otherwise the claimed brand decides, and a
        listing whose text names another brand is judged on that brand's reference and on its
        category's baseline (its brand's group was not read)."""
        needs = StateNeeds()
        needs.want(Series.PRICE, self.pricer.groups(batch))
        return needs

    def detect(self, batch: ListingBatch, state: StateSnapshot) -> list[list[Reason]]:
        priced = self.pricer.batch(batch)
        samples = gather(state, sorted(self.pricer.groups(batch)))
        scores: BatchScores = score_batch(*self.kernel_args(priced, samples, batch.now))
        reasons: list[list[Reason]] = [[] for _ in priced.listings]
        fired = (
            (scores.reference_score > 0) | (scores.market_score > 0) | (scores.shipping_score > 0)
        )
        for i in np.flatnonzero(fired).tolist():
            reasons[i] = self._reasons(priced.listings[i], samples, scores, i)
        return reasons

    def updates(
        self, batch: ListingBatch, state: StateSnapshot, decisions: Sequence[Decision]
    ) -> StateUpdates:
        """Allowed listings join their groups' samples; flagged ones never do."""
        updates = StateUpdates()
        priced = self.pricer.batch(batch)
        for listing, p, decision in zip(batch.listings, priced.listings, decisions, strict=True):
            if decision != "allow" or not p.convertible:
                continue
            member = encode_member(listing.key, listing.store_id, p.log_price)
            for group in p.groups:
                if group is not None:
                    updates.add(Series.PRICE, group, member, listing.event_time)
        return updates

    def warm(self) -> None:
        """Compile (or load from the cache) the kernel for the argument types ``detect`` passes:
        member buffers of bytes (ASCII) and of UTF-32 code points."""
        batch = ListingBatch([Listing("warm", "warm", "warm", "warm", "warm", 1.0)], 0.0)
        group = category_group("warm")
        for key in ("warm:0", "wärm:0"):
            member = encode_member(key, "warm", 0.0)
            self.detect(batch, StateSnapshot(series={Series.PRICE: {group: [(member, 0.0)]}}))

    def kernel_args(self, priced: PricedBatch, samples: Samples, now: float) -> tuple[Any, ...]:
        """The arguments of ``score_batch`` for a batch (the benchmark calls it too)."""
        index = samples.index
        bc = np.array([index[g] if (g := p.groups[0]) else -1 for p in priced.listings], np.int64)
        c = np.array([index[p.groups[1]] for p in priced.listings], np.int64)
        authorised = np.array([p.authorised for p in priced.listings], np.bool_)
        return (
            samples.text,
            samples.starts,
            samples.times,
            samples.offsets,
            now,
            priced.log_price,
            priced.shipping_fee,
            bc,
            c,
            priced.reference_log,
            authorised,
            self.params,
        )

    def _reasons(
        self, p: PricedListing, samples: Samples, scores: BatchScores, i: int
    ) -> list[Reason]:
        """The reasons of listing ``i`` (one that fired), with the evidence a reviewer needs."""
        common: dict[str, Any] = {"brand": p.brand} if p.brand is not None else {}
        common |= {"price": _money(p.log_price), "currency": self.pricer.currency}
        found: list[Reason] = []
        if scores.reference_score[i] > 0:
            evidence = {
                "category": p.category,
                "baseline": "reference",
                "reference": p.reference,
                "ratio": round(math.exp(p.log_price) / p.reference, 4),
            }
            found.append(
                self._reason("PRICE_BELOW_REFERENCE", scores.reference_score[i], common, evidence)
            )
        if scores.market_score[i] > 0:
            base = int(scores.market_base[i])
            bc, c = p.groups
            g = samples.index[bc if base == BASE_BRAND_CATEGORY and bc is not None else c]
            median = float(scores.median[g])
            evidence = {
                "category": p.category,
                "baseline": BASELINE_NAMES[base],
                "observations": int(scores.observations[g]),
                "stores": int(scores.stores[g]),
                "median": _money(median),
                "ratio": round(math.exp(p.log_price - median), 4),
                "z": round(float(scores.market_z[i]), 2),
            }
            found.append(
                self._reason("PRICE_FAR_BELOW_MARKET", scores.market_score[i], common, evidence)
            )
        if scores.shipping_score[i] > 0:
            evidence = {
                "shipping_fee": round(p.shipping_fee, 2),
                "ratio": _money(math.log(p.shipping_fee) - p.log_price),
            }
            found.append(
                self._reason("SHIPPING_FEE_ANOMALY", scores.shipping_score[i], common, evidence)
            )
        return found

    def _reason(
        self, code: str, score: float, common: dict[str, Any], evidence: dict[str, Any]
    ) -> Reason:
        return Reason(self.name, code, float(score), {**common, **evidence})
