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
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

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


class Profile(NamedTuple):
    """What a listing's category, claimed brand, found brands and currency resolve to
    (memoised: they repeat)."""

    category: str
    brand: str | None
    brand_group: str | None
    category_group: str
    reference: float
    reference_log: float
    factor: float
    """Into the registry currency (NaN: the currency has no rate)."""
    log_factor: float
    authorised: frozenset[str]
    """The stores the brand authorised (empty without a brand)."""


ProfileKey = tuple[str, str | None, tuple[str, ...], str]


def _log(value: float) -> float:
    """Natural log of a reference or a currency factor (positive when there is one; NaN is
    none)."""
    return math.log(value) if value > 0 else math.nan


@dataclass(slots=True)
class PricedBatch:
    """The batch's listings as columns, and its groups (sorted, each once)."""

    profiles: list[Profile]
    """The distinct profiles of the batch; listing ``i`` has ``profiles[profile_ids[i]]``."""
    profile_ids: list[int]
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
    lists: tuple[list[float], list[int], list[int]] | None = None
    """``log_price``, ``brand_index`` and ``category_index`` as lists, when they were built
    from lists (see :meth:`as_lists`)."""

    def __len__(self) -> int:
        return len(self.profile_ids)

    def as_lists(self) -> tuple[list[float], list[int], list[int]]:
        """``(log prices, brand indices, category indices)`` as Python lists."""
        if self.lists is None:
            self.lists = (
                self.log_price.tolist(),
                self.brand_index.tolist(),
                self.category_index.tolist(),
            )
        return self.lists

    def listing(self, i: int) -> PricedListing:
        p = self.profiles[self.profile_ids[i]]
        return PricedListing(
            p.brand,
            p.category,
            float(self.log_price[i]),
            float(self.shipping_fee[i]),
            p.reference,
            bool(self.authorised[i]),
            (p.brand_group, p.category_group),
        )


class ListingPricer:
    """Resolves brands, converts currencies and looks up references, from config + registry."""

    def __init__(self, config: PriceConfig, registry: Registry) -> None:
        self.currency = registry.currency
        base = config.rates.get(registry.currency)
        self._factor: dict[str, float] = {registry.currency: 1.0}
        if base is not None:
            self._factor.update({code: rate / base for code, rate in config.rates.items()})
        self._safe_fee = sys.float_info.max / max(1.0, *self._factor.values()) / 2
        """No fee up to this overflows when converted."""
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
        self._profiles: dict[ProfileKey, Profile] = {}

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

    def _profile(self, key: ProfileKey) -> Profile:
        """The profile of ``(category, claimed brand, brands found in the text, currency)``,
        memoised."""
        profile = self._profiles.get(key)
        if profile is None:
            if len(self._profiles) >= _MEMO_LIMIT:
                self._profiles.clear()
            category, claimed, found, currency = key
            folded = fold(category)
            brand = self.resolve_names(claimed, folded, found)
            bc = brand_group(brand, folded) if brand is not None else None
            reference = self._reference.get((brand, folded), math.nan) if brand else math.nan
            authorised = self._authorised[brand] if brand is not None else frozenset()
            factor = self._factor.get(currency, math.nan)
            profile = Profile(
                folded,
                brand,
                bc,
                category_group(folded),
                reference,
                _log(reference),
                factor,
                _log(factor),
                authorised,
            )
            self._profiles[key] = profile
        return profile

    def _price_batch(self, batch: ListingBatch) -> PricedBatch:
        """Each listing's columns come from its profile (memoised per category, brands and
        currency), its price through ``math.log`` (libm's, the same on every machine) and one
        IEEE addition, its fee through one multiplication.

        Two ways to fill them, with that same arithmetic (so both give the same bits): a small
        batch in one plain-Python loop and three numpy calls (on a worker whose caches the rest
        of the batch has evicted, every distinct routine touched costs microseconds), a large
        one with numpy over columns taken from a table of the batch's distinct profiles."""
        found = self._annotation(batch)
        if len(batch.listings) <= self.small_batch:
            return self._small(batch.listings, found)
        return self._large(batch.listings, found)

    small_batch = 48
    """Batches up to this size are priced in plain Python."""

    def _small(
        self, listings: Sequence[Listing], found: Sequence[tuple[str, ...]] | None
    ) -> PricedBatch:
        get, profile_of = self._profiles.get, self._profile
        log, isfinite, nan = math.log, math.isfinite, math.nan
        profiles: list[Profile] = []
        log_prices: list[float] = []
        fees: list[float] = []
        references: list[float] = []
        reference_logs: list[float] = []
        authorised: list[bool] = []
        names: set[str] = set()
        for i, x in enumerate(listings):
            key = (x.category, x.brand, tuple(found[i]) if found is not None else (), x.currency)
            p = get(key) or profile_of(key)
            profiles.append(p)
            names.add(p.category_group)
            if p.brand_group is not None:
                names.add(p.brand_group)
            price = x.price
            lp = log(price) + p.log_factor if price > 0 else nan
            log_prices.append(lp)
            # a Python product overflows to inf, as numpy's does
            fees.append(x.shipping_fee * p.factor if isfinite(lp) else nan)
            references.append(p.reference)
            reference_logs.append(p.reference_log)
            authorised.append(x.store_id in p.authorised)
        groups = sorted(names)
        index = dict(zip(groups, range(len(groups)), strict=True))
        brand: list[int] = []
        category: list[int] = []
        for p in profiles:
            brand.append(index[p.brand_group] if p.brand_group is not None else -1)
            category.append(index[p.category_group])
        floats = np.array([log_prices, fees, references, reference_logs], np.float64)
        ints = np.array([brand, category], np.int64)
        return PricedBatch(
            profiles,
            list(range(len(profiles))),
            floats[0],
            floats[1],
            floats[2],
            floats[3],
            np.array(authorised, np.bool_),
            groups,
            ints[0],
            ints[1],
            (log_prices, brand, category),
        )

    def _large(
        self, listings: Sequence[Listing], found: Sequence[tuple[str, ...]] | None
    ) -> PricedBatch:
        hints: Iterable[tuple[str, ...]] = map(tuple, found) if found is not None else repeat(())
        numbered: dict[ProfileKey, int] = {}
        number = numbered.setdefault
        ids = [
            number((x.category, x.brand, hint, x.currency), len(numbered))
            for x, hint in zip(listings, hints)  # noqa: B905 - hints may be endless
        ]
        profile_of = self._profile
        profiles = [profile_of(key) for key in numbered]
        groups = sorted(
            {p.category_group for p in profiles}
            | {p.brand_group for p in profiles if p.brand_group is not None}
        )
        index = {g: k for k, g in enumerate(groups)}
        pairs = [
            (index[p.brand_group] if p.brand_group is not None else -1, index[p.category_group])
            for p in profiles
        ]
        # per profile: brand group, category group, reference, its log, factor, its log
        table = np.array(
            [
                (b, c, p.reference, p.reference_log, p.factor, p.log_factor)
                for (b, c), p in zip(pairs, profiles, strict=True)
            ],
            np.float64,
        ).reshape(len(profiles), 6)
        columns = table.T.take(ids, axis=1)  # (6, n), each row contiguous
        group_index = columns[:2].astype(np.int64)
        log, nan = math.log, math.nan
        logs = np.array([log(x.price) if x.price > 0 else nan for x in listings], np.float64)
        fees = [x.shipping_fee for x in listings]
        log_price = logs + columns[5]  # a sum of logs: no product under- or overflows
        finite = np.isfinite(log_price)
        if max(fees) <= self._safe_fee:
            shipping = np.array(fees, np.float64) * columns[4]
        else:
            with np.errstate(over="ignore"):  # inf, as a Python product would be
                shipping = np.array(fees, np.float64) * columns[4]
        if not finite.all():
            shipping[~finite] = nan
        if any(p.authorised for p in profiles):
            authorised = np.array(
                [x.store_id in profiles[k].authorised for x, k in zip(listings, ids, strict=True)],
                np.bool_,
            )
        else:
            authorised = np.zeros(len(listings), np.bool_)
        return PricedBatch(
            profiles,
            ids,
            log_price,
            shipping,
            columns[2],
            columns[3],
            authorised,
            groups,
            group_index[0],
            group_index[1],
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
