"""The price-anomaly detector: counterfeits give themselves away by price.

Three signals, scored for the whole batch in one Numba call (``detectors/_price_kernels.py``):

- ``PRICE_BELOW_REFERENCE``: an unauthorised store asks a small fraction of the brand's
  registry reference for the category (the lowest plausible genuine price). This is also the
  cold-start baseline: it needs no history, and its evidence says ``baseline: reference``.
- ``PRICE_FAR_BELOW_MARKET``: the robust z-score of the log price against the rolling baseline
  of the (brand, category) group, or of the category while the first is not trusted yet; the
  evidence names the baseline and how many observations and stores it rests on.
- ``SHIPPING_FEE_ANOMALY``: a fee out of line with the price.

Each group's recent observations live in Redis as a ring of binary records, with its robust
baseline kept beside it (``state.prices``): a batch reads the ready baselines, recomputes only
those that are due (``detectors/_price_baselines.py``) and writes them back with its
observations. Only listings that ended ``allow`` feed the rings, each ``listing_id:revision``
once, so blocked fakes never drag the market down and redeliveries never count twice. A store
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
from detectors._price_baselines import BaselineTable, baseline_spec, baselines_for
from detectors._price_features import ListingPricer, PricedBatch, PricedListing
from detectors._price_kernels import (
    BASE_BRAND_CATEGORY,
    BASE_CATEGORY,
    BatchScores,
    KernelParams,
    pack,
    score_batch,
)
from detectors.base import Detector
from detectors.batch import ListingBatch
from state.base import StateNeeds, StateSnapshot, StateUpdates
from state.policies import DAY_S
from state.prices import (
    RECORD,
    PriceGroup,
    PriceQuery,
    PriceRows,
    listing_digest,
    pack_record,
    records,
    store_hash,
)

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


def _new_list(_: ListingBatch) -> list[Any]:
    return []


def _money(log_value: float) -> float:
    return round(math.exp(min(log_value, 700.0)), 2)


class PriceDetector(Detector):
    name: ClassVar[str] = "price"

    def __init__(self, config: PriceConfig, registry: Registry) -> None:
        self.config = config
        self.pricer = ListingPricer(config, registry)
        self.params = kernel_params(config)
        self.packed = pack(self.params)
        """``params`` as the kernels take them."""
        self.spec = baseline_spec(config.market)
        self._baselines_key = f"price.baselines.{self.spec.digest}"

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
        groups = self.pricer.groups(batch)
        if groups:
            needs.want_prices(PriceQuery(frozenset(groups), self.spec))
        return needs

    def baselines(self, batch: ListingBatch, state: StateSnapshot) -> BaselineTable:
        """The batch's ready baselines (computed once per batch and snapshot: ``updates``
        writes back the ones ``detect`` recomputed)."""
        held: list[tuple[StateSnapshot, BaselineTable]] = batch.derived(
            self._baselines_key, _new_list
        )
        if not held or held[0][0] is not state:
            table = baselines_for(
                self.pricer.groups(batch), state, self.spec, batch.now, self.packed
            )
            held[:] = [(state, table)]
        return held[0][1]

    def detect(self, batch: ListingBatch, state: StateSnapshot) -> list[list[Reason]]:
        priced = self.pricer.batch(batch)
        table = self.baselines(batch, state)
        scores: BatchScores = score_batch(*self.kernel_args(priced, table))
        reasons: list[list[Reason]] = [[] for _ in range(len(priced))]
        for i in scores.fired.tolist():
            reasons[i] = self._reasons(priced.listing(i), priced, table, scores, i)
        return reasons

    def updates(
        self, batch: ListingBatch, state: StateSnapshot, decisions: Sequence[Decision]
    ) -> StateUpdates:
        """Allowed listings join their groups' rings (flagged ones never do), and the baselines
        recomputed for this batch are kept for the next. A row per (listing, group): its brand
        group when it has one, then its category group; each listing's record and digest are
        packed once, in Python (a few rows per batch are the usual case)."""
        updates = StateUpdates()
        priced = self.pricer.batch(batch)
        if len(decisions) != len(priced):
            raise ValueError("one decision per listing")
        isfinite = math.isfinite
        log_prices, brand_index, category_index = priced.as_lists()
        fed = [i for i, d in enumerate(decisions) if d == "allow" and isfinite(log_prices[i])]
        if fed:
            listings = batch.listings
            group: list[int] = []
            digests: list[bytes] = []
            found: list[bytes] = []
            for i in fed:
                x = listings[i]
                digest = listing_digest(x.key)
                record = pack_record(x.event_time, log_prices[i], store_hash(x.store_id))
                if brand_index[i] >= 0:
                    group.append(brand_index[i])
                    digests.append(digest)
                    found.append(record)
                group.append(category_index[i])
                digests.append(digest)
                found.append(record)
            rows = PriceRows(
                priced.groups,
                np.array(group, np.int64),
                np.frombuffer(b"".join(digests), "<u8"),
                np.frombuffer(b"".join(found), RECORD),
                self.config.market.sample_size,
            )
            updates.add_prices(rows)
        updates.keep_baselines(self.baselines(batch, state).refreshed)
        return updates

    def warm(self) -> None:
        """Compile (or load from the cache) the kernels for the argument types ``detect``
        passes, including a baseline computed from a sample."""
        batch = ListingBatch([Listing("warm", "warm", "warm", "warm", "warm", 1.0)], 0.0)
        # its group holds one observation and no baseline, so the baseline kernel runs too
        sample = records([0.0], [0.0], [0])
        group = PriceGroup(1, stale=frozenset([self.spec.digest]), sample=sample)
        state = StateSnapshot(prices={g: group for g in self.pricer.groups(batch)})
        self.detect(batch, state)

    def kernel_args(self, priced: PricedBatch, table: BaselineTable) -> tuple[Any, ...]:
        """The arguments of ``score_batch`` for a batch (the benchmark calls it too)."""
        return (
            table.median,
            table.scale,
            table.observations,
            table.stores,
            priced.log_price,
            priced.shipping_fee,
            priced.brand_index,
            priced.category_index,
            priced.reference_log,
            priced.authorised,
            self.packed,
        )

    def _reasons(
        self,
        p: PricedListing,
        priced: PricedBatch,
        table: BaselineTable,
        scores: BatchScores,
        i: int,
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
            index = priced.brand_index if base == BASE_BRAND_CATEGORY else priced.category_index
            g = int(index[i])
            median = float(table.median[g])
            evidence = {
                "category": p.category,
                "baseline": BASELINE_NAMES[base],
                "observations": int(table.observations[g]),
                "stores": int(table.stores[g]),
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
