"""A synthetic marketplace for the price benchmark, from one seed: brands selling in a few
categories each at their own price level, listings drawn with Zipf popularity over (brand,
category) pairs, 5% of them fakes at a tenth of the price, and full price rings per group."""

from __future__ import annotations

import math

import numpy as np

from config.registry import Registry
from contract.listing import Listing
from detectors._price_features import brand_group, category_group
from detectors.price import PriceDetector
from state.prices import PriceRows, listing_digest, records, store_hash

SEED = 20261123
NOW = 1_764_000_000.0
DAY = 86400.0
BATCH = 1000
BRANDS, CATEGORIES, CATEGORIES_PER_BRAND = 60, 40, 3
BRANDED_SHARE = 0.6


class Marketplace:
    """Brands, categories, their price levels and a registry, from one seed."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.categories = [f"cat-{k:02d}" for k in range(CATEGORIES)]
        self.category_median = np.exp(rng.uniform(math.log(30), math.log(3000), CATEGORIES))
        pairs = []
        brands = []
        for b in range(BRANDS):
            cats = rng.choice(CATEGORIES, CATEGORIES_PER_BRAND, replace=False)
            premium = math.exp(rng.normal(1.0, 0.5))
            refs = {}
            for c in cats:
                median = float(self.category_median[c] * premium)
                pairs.append((f"brand-{b:02d}", int(c), median))
                refs[self.categories[c]] = round(median * 0.7, 2)
            brands.append(
                {
                    "id": f"brand-{b:02d}",
                    "name": f"Brand {b:02d}",
                    "authorized_stores": [f"official-{b:02d}"],
                    "reference_prices": refs,
                }
            )
        self.pairs = pairs
        zipf = 1.0 / np.arange(1, len(pairs) + 1) ** 1.1
        self.pair_weights = zipf / zipf.sum()
        self.registry = Registry.model_validate(
            {"version": "bench", "currency": "CNY", "brands": brands}
        )
        self._ids = 0

    def listings(self, n: int, top: int | None = None) -> list[Listing]:
        """``n`` new listings; with ``top``, only from the ``top`` most popular pairs (and, when
        unbranded, their categories): a batch that touches few groups."""
        rng = self.rng
        pairs = len(self.pairs) if top is None else top
        weights = self.pair_weights[:pairs] / self.pair_weights[:pairs].sum()
        categories = sorted({c for _, c, _ in self.pairs[:pairs]})
        out = []
        for _ in range(n):
            self._ids += 1
            if rng.random() < BRANDED_SHARE:
                brand, c, median = self.pairs[rng.choice(pairs, p=weights)]
            else:
                brand, c = None, int(rng.choice(categories))
                median = float(self.category_median[c])
            fake = rng.random() < 0.05
            price = median * math.exp(rng.normal(0, 0.3)) * (0.1 if fake else 1.0)
            out.append(
                Listing(
                    listing_id=f"b-{self._ids}",
                    seller_id="seller",
                    store_id=f"store-{rng.integers(500)}",
                    title="item",
                    category=self.categories[c],
                    price=round(price, 2),
                    brand=brand,
                    shipping_fee=float(rng.choice([0.0, 10.0, 25.0])),
                    event_time=NOW - float(rng.uniform(0, 20 * DAY)),
                )
            )
        return out

    def history(self, groups: set[str], detector: PriceDetector) -> PriceRows:
        """A full ring (``sample_size`` allowed prices) for every group, at its price level."""
        size = detector.config.market.sample_size
        level = {brand_group(b, self.categories[c]): m for b, c, m in self.pairs}
        for k, category in enumerate(self.categories):
            level[category_group(category)] = float(self.category_median[k])
        names: list[str] = []
        digests: list[bytes] = []
        columns: list[np.ndarray] = []
        store_ids = np.array([store_hash(f"store-{k}") for k in range(500)], np.uint32)
        for group in sorted(groups):
            prices = self.rng.normal(math.log(level[group]), 0.3, size)
            stores = store_ids[self.rng.integers(0, 500, size)]
            times = NOW - self.rng.uniform(0, 20 * DAY, size)
            names += [group] * size
            digests += [listing_digest(f"h-{group}-{k}:0") for k in range(size)]
            columns.append(records(times, prices, stores))
        found = np.concatenate(columns) if columns else records([], [], [])
        return PriceRows.of(names, digests, found, size)
