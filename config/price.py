"""Thresholds of the price-anomaly detector (``detectors/price.py``).

Three signals, each with its own section: the registry reference (``reference``), the rolling
market baseline (``market``) and the shipping fee (``shipping``). Scores rise piecewise-linearly
between the knots named here, so an analyst reads the file as "at 35% of the reference price a
listing goes to review, at 15% it is blocked". Amounts are in the registry's currency; ``rates``
converts listing prices into it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_RATES: dict[str, float] = {
    "CNY": 1.0,
    "USD": 7.1,
    "EUR": 7.8,
    "GBP": 9.1,
    "HKD": 0.91,
    "JPY": 0.048,
    "KRW": 0.0052,
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _check_scores(review: float, block: float, where: str) -> None:
    if review > block:
        raise ValueError(f"{where}: review_score must not exceed block_score")


class ReferenceRule(_Section):
    """``PRICE_BELOW_REFERENCE``: the price as a fraction of the brand's registry reference for
    the category, for stores the brand did not authorise. The reference is the lowest plausible
    genuine price, so an honest discount stays above ``start_ratio``."""

    start_ratio: float = Field(default=0.6, gt=0.0, lt=1.0)
    """At or above this fraction of the reference: no signal."""
    review_ratio: float = Field(default=0.35, gt=0.0, lt=1.0)
    """The score reaches ``review_score`` here."""
    block_ratio: float = Field(default=0.15, gt=0.0, lt=1.0)
    """The score reaches ``block_score`` here and stays there below it."""
    review_score: float = Field(default=0.6, ge=0.0, le=1.0)
    block_score: float = Field(default=0.9, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> ReferenceRule:
        if not self.start_ratio > self.review_ratio > self.block_ratio:
            raise ValueError("need start_ratio > review_ratio > block_ratio")
        _check_scores(self.review_score, self.block_score, "reference")
        return self


class MarketRule(_Section):
    """``PRICE_FAR_BELOW_MARKET``: the robust z-score of the log price against the rolling
    baseline of its (brand, category) group, else of its category.

    The baseline is a time-decayed weighted median and MAD of the recent allowed prices, with
    each store's weight shrunk by the square root of its number of listings (one store cannot
    define the market), and a second pass without the observations beyond ``trim_scales``
    robust scales (a cluster of fakes that slipped through does not shift it).
    """

    half_life_days: float = Field(default=7.0, gt=0.0)
    """An observation this old counts half as much as a fresh one."""
    sample_size: int = Field(default=256, ge=16, le=4096)
    """Most recent observations kept per group in Redis (the capacity of its ring)."""
    min_observations: int = Field(default=20, ge=1)
    """A group's baseline is used only once it holds this many observations..."""
    min_stores: int = Field(default=3, ge=1)
    """...from at least this many stores."""
    refresh_share: float = Field(default=0.1, gt=0.0, le=1.0)
    """A group's baseline is computed once and kept in Redis beside its sample; it is
    recomputed once this share of its observations is new (every new one while the group
    holds fewer than ``1 / refresh_share``)..."""
    refresh_max_age_s: float = Field(default=600.0, gt=0.0)
    """...or once it is this many seconds old (observations leave the window, weights decay)."""
    trim_scales: float = Field(default=4.0, gt=0.0)
    min_scale: float = Field(default=0.1, gt=0.0)
    """Floor of the robust scale of log prices (a group of identical prices has MAD 0)."""
    start_z: float = Field(default=-3.0, lt=0.0)
    """At or above this z-score: no signal."""
    review_z: float = Field(default=-5.0, lt=0.0)
    block_z: float = Field(default=-8.0, lt=0.0)
    max_ratio: float = Field(default=0.5, gt=0.0, lt=1.0)
    """The price must also be at most this fraction of the baseline median: a tight group does
    not turn a modest discount into a large z-score."""
    review_score: float = Field(default=0.6, ge=0.0, le=1.0)
    block_score: float = Field(default=0.9, ge=0.0, le=1.0)
    category_max_score: float = Field(default=0.6, ge=0.0, le=1.0)
    """Cap when the baseline is the whole category (it mixes brands and tiers)."""

    @model_validator(mode="after")
    def _ordered(self) -> MarketRule:
        if not self.start_z > self.review_z > self.block_z:
            raise ValueError("need start_z > review_z > block_z")
        if self.min_observations > self.sample_size:
            raise ValueError("min_observations must not exceed sample_size")
        _check_scores(self.review_score, self.block_score, "market")
        return self


class ShippingRule(_Section):
    """``SHIPPING_FEE_ANOMALY``: a shipping fee out of line with the price (a 1-yuan item with
    200 yuan shipping moves the price into the fee)."""

    min_fee: float = Field(default=30.0, ge=0.0)
    """Fees below this amount never fire, whatever the ratio."""
    start_ratio: float = Field(default=3.0, gt=0.0)
    """At or below this fee-to-price ratio: no signal."""
    full_ratio: float = Field(default=30.0, gt=0.0)
    """The score reaches ``score`` here."""
    score: float = Field(default=0.6, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> ShippingRule:
        if not self.full_ratio > self.start_ratio:
            raise ValueError("need full_ratio > start_ratio")
        return self


class PriceConfig(BaseModel):
    """Scores and switches of the price detector; see detectors/price.py."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    enabled: bool = True
    rates: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_RATES))
    """Value of one unit of each currency in a common base (any base: only ratios are used).
    A listing is converted into the registry currency with ``rates[its] / rates[registry's]``;
    a listing in a currency missing here is not price-checked."""
    reference: ReferenceRule = ReferenceRule()
    market: MarketRule = MarketRule()
    shipping: ShippingRule = ShippingRule()

    @field_validator("rates")
    @classmethod
    def _valid_rates(cls, rates: dict[str, float]) -> dict[str, float]:
        for code, rate in rates.items():
            if len(code) != 3 or not code.isascii() or not code.isupper():
                raise ValueError(f"{code!r} is not a 3-letter upper-case currency code")
            if not rate > 0:
                raise ValueError(f"rate for {code} must be positive")
        return rates
