"""What the price detector sees of each listing: its brand, its groups, its price in the
registry currency, the brand's reference for its category and whether the store is authorised.

Built once per batch (``ListingBatch.derived``) and shared by ``needs``, ``detect`` and
``updates``, so all three agree on which groups a listing belongs to. Columns, not objects: a
batch of a thousand listings is priced in under a millisecond (what a category and brand
spelling resolve to is memoised, since they repeat), and a :class:`PricedListing` is built
only for the listings that need evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from config.price import PriceConfig
from config.registry import Registry
from contract.listing import Listing
from detectors._price_kernels import Bools, Floats, Ints
from detectors.batch import ListingBatch
from detectors.decision import _fold as fold

BRANDS_ANNOTATION = "brands"
_MEMO_LIMIT = 65_536


def brand_group(brand: str, category: str) -> str:
    """Price group of a brand in a category (folded category)."""
    return f"bc:{brand}|{category}"


def category_group(category: str) -> str:
    """Price group of a whole category (folded category)."""
    return f"c:{category}"


@dataclass(frozen=True, slots=True)
class PricedListing:
    """One listing as the price detector sees it (built for evidence)."""

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
    """The batch's listings as columns, and its groups (sorted, each once)."""

    brands: list[str | None]
    categories: list[str]
    brand_groups: list[str | None]
    category_groups: list[str]
    log_price: Floats
    shipping_fee: Floats
    reference: Floats
    reference_log: Floats
    authorised: Bools
    groups: list[str]
    """Every group the batch's listings are judged against, sorted."""
    brand_index: Ints
    """Per listing, the index in ``groups`` of its (brand, category) group; -1 without one."""
    category_index: Ints

    def __len__(self) -> int:
        return len(self.categories)

    def listing(self, i: int) -> PricedListing:
        return PricedListing(
            self.brands[i],
            self.categories[i],
            float(self.log_price[i]),
            float(self.shipping_fee[i]),
            float(self.reference[i]),
            bool(self.authorised[i]),
            (self.brand_groups[i], self.category_groups[i]),
        )


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
        self._profiles: dict[
            tuple[str, str | None, tuple[str, ...]],
            tuple[str, str | None, str | None, str, float],
        ] = {}

    def batch(self, batch: ListingBatch) -> PricedBatch:
        """The batch's priced listings (cached on the batch)."""
        return batch.derived("price.listings", self._price_batch)

    def groups(self, batch: ListingBatch) -> list[str]:
        """Every group the batch's listings are judged against, sorted."""
        return self.batch(batch).groups

    def _annotation(self, batch: ListingBatch) -> Sequence[tuple[str, ...]] | None:
        found = batch.annotations.get(BRANDS_ANNOTATION)
        if isinstance(found, Sequence) and len(found) == len(batch.listings):
            return found
        return None

    def _profile(
        self, category: str, claimed: str | None, found: tuple[str, ...]
    ) -> tuple[str, str | None, str | None, str, float]:
        """``(folded category, brand, brand group, category group, reference)`` of a listing's
        category, claimed brand and brands found in its text (memoised: they repeat)."""
        key = (category, claimed, found)
        profile = self._profiles.get(key)
        if profile is None:
            if len(self._profiles) >= _MEMO_LIMIT:
                self._profiles.clear()
            folded = fold(category)
            brand = self.resolve_names(claimed, folded, found)
            bc = brand_group(brand, folded) if brand is not None else None
            reference = self._reference.get((brand, folded), math.nan) if brand else math.nan
            profile = (folded, brand, bc, category_group(folded), reference)
            self._profiles[key] = profile
        return profile

    def _price_batch(self, batch: ListingBatch) -> PricedBatch:
        listings = batch.listings
        n = len(listings)
        found = self._annotation(batch)
        hints: Sequence[tuple[str, ...]] = found if found is not None else [()] * n
        profile = self._profile
        profiles = [
            profile(x.category, x.brand, tuple(hint))
            for x, hint in zip(listings, hints, strict=True)
        ]
        authorised_by = self._authorised
        authorised = np.array(
            [
                p[1] is not None and x.store_id in authorised_by[p[1]]
                for x, p in zip(listings, profiles, strict=True)
            ],
            np.bool_,
        )
        rate = self._factor.get
        factor = np.array([rate(x.currency, math.nan) for x in listings], np.float64)
        price = np.array([x.price for x in listings], np.float64)
        fee = np.array([x.shipping_fee for x in listings], np.float64)
        categories, brands, brand_groups, category_groups, references = (
            (list(column) for column in zip(*profiles, strict=True))
            if profiles
            else ([] for _ in range(5))
        )
        reference = np.array(references, np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # a sum of logs: no product can underflow to 0 or overflow
            log_price = np.where(price > 0, np.log(price) + np.log(factor), math.nan)
            reference_log = np.log(reference)
            shipping = np.where(np.isfinite(log_price), fee * factor, math.nan)
        groups = sorted({*category_groups, *(g for g in brand_groups if g is not None)})
        index = {g: k for k, g in enumerate(groups)}
        brand_index = np.fromiter(
            (index[bc] if bc is not None else -1 for bc in brand_groups), np.int64, n
        )
        category_index = np.fromiter((index[c] for c in category_groups), np.int64, n)
        return PricedBatch(
            brands,
            categories,
            brand_groups,
            category_groups,
            log_price,
            shipping,
            reference,
            reference_log,
            authorised,
            groups,
            brand_index,
            category_index,
        )

    def price(self, listing: Listing, found: Sequence[str] = ()) -> PricedListing:
        """One listing on its own (tests and tools; batches go through :meth:`batch`)."""
        batch = ListingBatch([listing], 0.0, annotations={BRANDS_ANNOTATION: [tuple(found)]})
        return self._price_batch(batch).listing(0)

    def resolve_names(
        self, claimed_brand: str | None, category: str, found: Sequence[str]
    ) -> str | None:
        """The registry brand a listing is priced as.

        Brands found in the text (the keyword detector's annotation) come first: the claimed
        one when the text names it too, else the first with a reference for the category, else
        the first. Without any, the claimed ``brand`` field, folded, against ids, names and
        aliases.
        """
        claimed = self._by_name.get(fold(claimed_brand)) if claimed_brand else None
        known = [brand for brand in found if brand in self._known]
        if not known:
            return claimed
        if claimed in known:
            return claimed
        for brand in known:
            if (brand, category) in self._reference:
                return brand
        return known[0]
