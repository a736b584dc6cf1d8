"""What the price detector sees of each listing: its brand, its groups, its price in the
registry currency, the brand's reference for its category and whether the store is authorised.

Built once per batch (``ListingBatch.derived``) and shared by ``needs``, ``detect`` and
``updates``, so all three agree on which groups a listing belongs to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from config.price import PriceConfig
from config.registry import Registry
from contract.listing import Listing
from detectors._price_kernels import Floats
from detectors.batch import ListingBatch
from detectors.decision import _fold as fold

BRANDS_ANNOTATION = "brands"


def brand_group(brand: str, category: str) -> str:
    """Price group of a brand in a category (folded category)."""
    return f"bc:{brand}|{category}"


def category_group(category: str) -> str:
    """Price group of a whole category (folded category)."""
    return f"c:{category}"


@dataclass(frozen=True, slots=True)
class PricedListing:
    """One listing as the price detector sees it."""

    brand: str | None
    category: str
    """Folded (NFKC + casefold), so ``Bags/Handbags`` and ``bags/handbags`` share a baseline."""
    log_price: float
    """Natural log of the price in the registry currency; NaN when its currency has no rate."""
    shipping_fee: float
    """In the registry currency (NaN with the price)."""
    reference: float
    """The brand's registry reference for the category; NaN when there is none."""
    authorised: bool
    """The store is one the brand authorised (never flagged on price)."""
    groups: tuple[str | None, str]
    """``(brand+category group or None, category group)``."""

    @property
    def convertible(self) -> bool:
        return math.isfinite(self.log_price)


@dataclass(frozen=True, slots=True)
class PricedBatch:
    """The batch's priced listings, with the columns the kernel takes."""

    listings: tuple[PricedListing, ...]
    log_price: Floats
    shipping_fee: Floats
    reference_log: Floats


class ListingPricer:
    """Resolves brands, converts currencies and looks up references, from config + registry."""

    def __init__(self, config: PriceConfig, registry: Registry) -> None:
        self.currency = registry.currency
        base = config.rates.get(registry.currency)
        self._factor: dict[str, float] = {registry.currency: 1.0}
        if base is not None:
            self._factor.update({code: rate / base for code, rate in config.rates.items()})
        self._by_name: dict[str, str] = {}
        for brand in registry.brands:
            for name in (brand.id, *brand.all_names):
                self._by_name.setdefault(fold(name), brand.id)
        self._known = frozenset(brand.id for brand in registry.brands)
        self._authorised = {brand.id: brand.authorized_stores for brand in registry.brands}
        self._reference: dict[tuple[str, str], float] = {}
        for brand in registry.brands:
            for category, price in brand.reference_prices.items():
                self._reference.setdefault((brand.id, fold(category)), float(price))

    def batch(self, batch: ListingBatch) -> PricedBatch:
        """The batch's priced listings (cached on the batch)."""
        return batch.derived("price.listings", self._price_batch)

    def groups(self, batch: ListingBatch) -> set[str]:
        """Every group the batch's listings are judged against."""
        return {g for p in self.batch(batch).listings for g in p.groups if g is not None}

    def _annotation(self, batch: ListingBatch) -> Sequence[tuple[str, ...]] | None:
        found = batch.annotations.get(BRANDS_ANNOTATION)
        if isinstance(found, Sequence) and len(found) == len(batch.listings):
            return found
        return None

    def _price_batch(self, batch: ListingBatch) -> PricedBatch:
        found = self._annotation(batch)
        priced = tuple(
            self.price(listing, found[i] if found is not None else ())
            for i, listing in enumerate(batch.listings)
        )
        return PricedBatch(
            priced,
            np.array([p.log_price for p in priced], np.float64),
            np.array([p.shipping_fee for p in priced], np.float64),
            np.log(np.array([p.reference for p in priced], np.float64)),
        )

    def price(self, listing: Listing, found: Sequence[str] = ()) -> PricedListing:
        category = fold(listing.category)
        brand = self.resolve_brand(listing, category, found)
        factor = self._factor.get(listing.currency)
        if factor is None or not listing.price > 0:
            log_price = shipping = math.nan
        else:  # a sum of logs: no product can underflow to 0 or overflow
            log_price = math.log(listing.price) + math.log(factor)
            shipping = listing.shipping_fee * factor
        reference = math.nan
        authorised = False
        bc = None
        if brand is not None:
            reference = self._reference.get((brand, category), math.nan)
            authorised = listing.store_id in self._authorised[brand]
            bc = brand_group(brand, category)
        groups = (bc, category_group(category))
        return PricedListing(brand, category, log_price, shipping, reference, authorised, groups)

    def resolve_brand(self, listing: Listing, category: str, found: Sequence[str]) -> str | None:
        """The registry brand a listing is priced as.

        Brands found in the text (the keyword detector's annotation) come first: the claimed
        one when the text names it too, else the first with a reference for the category, else
        the first. Without any, the claimed ``brand`` field, folded, against ids, names and
        aliases.
        """
        claimed = self._by_name.get(fold(listing.brand)) if listing.brand else None
        known = [brand for brand in found if brand in self._known]
        if not known:
            return claimed
        if claimed in known:
            return claimed
        for brand in known:
            if (brand, category) in self._reference:
                return brand
        return known[0]
