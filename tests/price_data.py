"""A small fixed-seed marketplace for the price tests: honest listings whose prices follow a
known log-normal law, counterfeits at a fraction of it, all from named stores over a span of
event time."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from config.registry import Registry
from config.thresholds import ScreenConfig
from contract.listing import Listing

NOW = 1_764_000_000.0
DAY = 86400.0

REGISTRY = Registry.model_validate(
    {
        "version": "test-1",
        "currency": "CNY",
        "rights_holders": [{"id": "rh-acme", "takes_referrals": True}],
        "brands": [
            {
                "id": "acme",
                "name": "Acme",
                "rights_holder": "rh-acme",
                "aliases": ["阿克美"],
                "authorized_stores": ["store-acme-official"],
                "reference_prices": {"bags/handbags": 2800, "accessories/wallets": 900},
            },
            {"id": "zenit", "name": "Zenit", "reference_prices": {"watches/mechanical": 12000}},
        ],
    }
)


def screen_config(**price: object) -> ScreenConfig:
    """The default thresholds with ``detectors.price`` overridden by ``price``."""
    return ScreenConfig.model_validate(
        {"version": "test", "detectors": {"price": {"enabled": True, **price}}}
    )


@dataclass
class Market:
    """Listings of one (brand, category) whose honest log prices are normal(log median, sigma)."""

    brand: str | None
    category: str
    median: float
    sigma: float = 0.15
    stores: int = 30
    seed: int = 7
    start: float = NOW - 10 * DAY
    span: float = 10 * DAY
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def _listing(self, price: float, store: str, t: float, **extra: object) -> Listing:
        n = next(self._ids)
        return Listing(
            listing_id=f"{self.brand}-{self.category}-{self.seed}-{n}",
            seller_id=f"seller-{store}",
            store_id=store,
            title=f"{self.brand or 'generic'} item {n}",
            category=self.category,
            price=round(price, 2),
            brand=self.brand,
            event_time=t,
            **extra,  # type: ignore[arg-type]
        )

    def honest(self, n: int) -> list[Listing]:
        prices = np.exp(self.rng.normal(np.log(self.median), self.sigma, n))
        times = np.sort(self.rng.uniform(self.start, self.start + self.span, n))
        stores = self.rng.integers(0, self.stores, n)
        return [
            self._listing(float(p), f"store-{s}", float(t))
            for p, s, t in zip(prices, stores, times, strict=True)
        ]

    def fakes(self, n: int, fraction: float = 0.1, stores: int = 5) -> list[Listing]:
        prices = np.exp(self.rng.normal(np.log(self.median * fraction), self.sigma, n))
        times = np.sort(self.rng.uniform(self.start, self.start + self.span, n))
        picks = self.rng.integers(0, stores, n)
        return [
            self._listing(float(p), f"fake-store-{s}", float(t))
            for p, s, t in zip(prices, picks, times, strict=True)
        ]

    def mixed(self, n: int, fake_share: float) -> list[Listing]:
        """``n`` listings in event-time order, ``fake_share`` of them fakes at a tenth."""
        fakes = round(n * fake_share)
        both = self.honest(n - fakes) + self.fakes(fakes)
        return sorted(both, key=lambda listing: listing.event_time)

    def one(self, price: float, store: str = "store-reseller", **extra: object) -> Listing:
        return self._listing(price, store, NOW - 60.0, **extra)
