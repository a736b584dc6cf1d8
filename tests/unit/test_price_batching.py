"""A listing's price columns, scores and written rows do not depend on the batch around it.

The pricer fills a small batch's columns in plain Python and a large one's with numpy, with
guards for prices <= 0 or not finite, currencies without a rate and fees that overflow when
converted: a listing must come out bit for bit the same alone, in a small batch and in a large
one, odd neighbours or not.
"""

from __future__ import annotations

import math
import sys
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.listing import Listing
from detectors.batch import ListingBatch
from detectors.price import PriceDetector
from state import price_codec, prices
from state.base import StateSnapshot
from state.price_codec import commit_args
from state.prices import RECORD, PricePolicy, PriceRows, pack_record, records
from tests.price_data import NOW, REGISTRY, screen_config

DETECTOR = PriceDetector(screen_config().detectors.price, REGISTRY)
LARGE = PriceDetector(screen_config().detectors.price, REGISTRY)
LARGE.pricer.small_batch = 0  # every batch through the numpy columns

asked_prices = st.one_of(
    st.floats(0.01, 1e7),
    st.sampled_from([0.0, -5.0, math.inf, math.nan, sys.float_info.max, 5e-324]),
)
fees = st.one_of(st.floats(0, 1e4), st.sampled_from([0.0, sys.float_info.max, math.inf]))
listings = st.builds(
    lambda i, price, fee, currency, brand, category, store: Listing(
        f"l-{i}",
        "seller",
        store,
        "a bag",
        category,
        price,
        brand=brand,
        currency=currency,
        shipping_fee=fee,
        event_time=NOW - i,
    ),
    st.integers(0, 10**6),
    asked_prices,
    fees,
    st.sampled_from(["CNY", "USD", "EUR", "XXX"]),
    st.sampled_from([None, "Acme", "acme", "Zenit", "nobody"]),
    st.sampled_from(["bags/handbags", "Bags/Handbags", "watches/mechanical", "toys"]),
    st.sampled_from(["store-1", "store-acme-official"]),
)
brands_found = st.sampled_from([(), ("acme",), ("zenit", "acme")])


def _columns(
    items: list[Listing], found: list[tuple[str, ...]], detector: PriceDetector = DETECTOR
) -> list[tuple[object, ...]]:
    """Each listing's price view, with its groups by name (indices depend on the batch)."""
    batch = ListingBatch(items, NOW, annotations={"brands": found})
    priced = detector.pricer.batch(batch)
    out = []
    for i in range(len(items)):
        b, c = int(priced.brand_index[i]), int(priced.category_index[i])
        out.append(
            (
                priced.listing(i),
                priced.log_price[i].tobytes(),
                priced.shipping_fee[i].tobytes(),
                priced.reference_log[i].tobytes(),
                priced.groups[b] if b >= 0 else None,
                priced.groups[c],
            )
        )
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(listings, brands_found), min_size=1, max_size=12))
def test_a_listing_is_priced_alike_alone_and_in_any_batch(
    rows: list[tuple[Listing, tuple]],
) -> None:
    items = [listing for listing, _ in rows]
    found = [hint for _, hint in rows]
    alone = [_columns([listing], [hint])[0] for listing, hint in rows]
    for detector in (DETECTOR, LARGE):
        together = _columns(items, found, detector)
        assert repr(together) == repr(alone)  # repr: NaN fields compare equal


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(listings, brands_found), min_size=1, max_size=8))
def test_scores_and_rows_do_not_depend_on_the_batch(rows: list[tuple[Listing, tuple]]) -> None:
    items = [listing for listing, _ in rows]
    found = [hint for _, hint in rows]
    snapshot = StateSnapshot()
    batch = ListingBatch(items, NOW, annotations={"brands": found})
    reasons = LARGE.detect(batch, snapshot)
    updates = LARGE.updates(batch, snapshot, ["allow"] * len(items))
    written = {
        (rows_.names[g], d, r.tobytes())
        for rows_ in updates.prices
        for g, d, r in zip(rows_.group.tolist(), rows_.digests.tolist(), rows_.records, strict=True)
    }
    one_by_one = []
    alone: set[tuple[str, int, bytes]] = set()
    for listing, hint in rows:
        single = ListingBatch([listing], NOW, annotations={"brands": [hint]})
        one_by_one += DETECTOR.detect(single, snapshot)
        for rows_ in DETECTOR.updates(single, snapshot, ["allow"]).prices:
            alone |= {
                (rows_.names[g], d, r.tobytes())
                for g, d, r in zip(
                    rows_.group.tolist(), rows_.digests.tolist(), rows_.records, strict=True
                )
            }
    assert reasons == one_by_one
    assert written == alone


@given(
    st.floats(0, 2e9),
    st.floats(-750, 750, allow_nan=False),
    st.integers(0, 2**32 - 1),
)
def test_a_packed_record_is_the_numpy_record(t: float, lp: float, store: int) -> None:
    packed = pack_record(t, lp, store)
    assert packed == records([t], [lp], [store]).tobytes()
    assert np.frombuffer(packed, RECORD)["store"][0] == store


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5), st.data())
def test_rows_are_grouped_alike_by_python_and_by_numpy(names: int, data: st.DataObject) -> None:
    count = data.draw(st.integers(0, 90))
    group = np.array(data.draw(st.lists(st.integers(0, names - 1), min_size=count, max_size=count)))
    found = records(np.arange(count) + NOW, np.arange(count) / 7, np.arange(count) * 3)
    digests = np.arange(count, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    labels = [f"g{k}" for k in range(names)]

    def encoded() -> tuple[list[int], list[bytes] | None]:
        rows = PriceRows(labels, group.astype(np.int64), digests, found, 16)
        return rows.counts, commit_args([rows], [], "p", PricePolicy(86400.0))

    small = encoded()
    with (
        mock.patch.object(prices, "SMALL_ROWS", -1),
        mock.patch.object(price_codec, "SMALL_ROWS", -1),
    ):
        large = encoded()
    assert small == large
    assert small[0] == np.bincount(group.astype(np.int64), minlength=names).tolist()
