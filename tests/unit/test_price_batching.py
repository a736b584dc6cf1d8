"""A listing's price columns, scores and written rows do not depend on the batch around it.

The pricer takes a fast path when every price of a batch is checkable and a guarded one
otherwise (prices <= 0 or not finite, currencies without a rate, fees that overflow when
converted); one odd listing sends its whole batch down the guarded path, so a listing priced
with it must come out bit for bit as it does alone.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.listing import Listing
from detectors.batch import ListingBatch
from detectors.price import PriceDetector
from state.base import StateSnapshot
from state.prices import RECORD, pack_record, records
from tests.price_data import NOW, REGISTRY, screen_config

DETECTOR = PriceDetector(screen_config().detectors.price, REGISTRY)

prices = st.one_of(
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
    prices,
    fees,
    st.sampled_from(["CNY", "USD", "EUR", "XXX"]),
    st.sampled_from([None, "Acme", "acme", "Zenit", "nobody"]),
    st.sampled_from(["bags/handbags", "Bags/Handbags", "watches/mechanical", "toys"]),
    st.sampled_from(["store-1", "store-acme-official"]),
)
brands_found = st.sampled_from([(), ("acme",), ("zenit", "acme")])


def _columns(items: list[Listing], found: list[tuple[str, ...]]) -> list[tuple[object, ...]]:
    """Each listing's price view, with its groups by name (indices depend on the batch)."""
    batch = ListingBatch(items, NOW, annotations={"brands": found})
    priced = DETECTOR.pricer.batch(batch)
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
    together = _columns(items, found)
    alone = [_columns([listing], [hint])[0] for listing, hint in rows]
    assert repr(together) == repr(alone)  # repr: NaN fields compare equal


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(listings, brands_found), min_size=1, max_size=8))
def test_scores_and_rows_do_not_depend_on_the_batch(rows: list[tuple[Listing, tuple]]) -> None:
    items = [listing for listing, _ in rows]
    found = [hint for _, hint in rows]
    snapshot = StateSnapshot()
    batch = ListingBatch(items, NOW, annotations={"brands": found})
    reasons = DETECTOR.detect(batch, snapshot)
    updates = DETECTOR.updates(batch, snapshot, ["allow"] * len(items))
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
