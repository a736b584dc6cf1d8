"""The price detector on snapshots built in memory: which listings fire, with what evidence,
what the batch asks to read and what it writes back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from config.registry import Registry
from config.thresholds import DecisionConfig
from contract.listing import Listing
from contract.verdict import Reason
from detectors._price_features import brand_group, category_group
from detectors.batch import ListingBatch
from detectors.catalog import build_detectors
from detectors.price import PriceDetector
from state.base import StateSnapshot
from state.prices import Baseline, PriceGroup, listing_digest, records, store_hash
from tests.price_data import DAY, NOW, REGISTRY, screen_config

BLOCK = DecisionConfig().block_threshold
REVIEW = DecisionConfig().review_threshold


def listing(price: float, **fields: object) -> Listing:
    doc: dict[str, object] = {
        "listing_id": "l-1",
        "seller_id": "seller",
        "store_id": "store-reseller",
        "title": "leather bag",
        "category": "bags/handbags",
        "price": price,
        "brand": "Acme",
        "event_time": NOW - 60,
    }
    doc.update(fields)
    return Listing(**doc)  # type: ignore[arg-type]


def detector(registry: Registry = REGISTRY, **price: object) -> PriceDetector:
    built = PriceDetector.build(screen_config(**price), registry)
    assert built is not None
    return built


def run(items: list[Listing], snapshot: StateSnapshot | None = None, **annotations: object):
    batch = ListingBatch(items, NOW, annotations=dict(annotations))
    return detector().detect(batch, snapshot or StateSnapshot())


def codes(reasons: list[Reason]) -> dict[str, Reason]:
    return {reason.code: reason for reason in reasons}


SPEC = detector().spec


def sample(group: str, median: float, n: int = 60, stores: int = 30, seed: int = 0):
    """A group holding ``n`` allowed prices around ``median`` (sigma 0.1 in log) whose stored
    baseline is stale, so the detector computes it from the sample."""
    rng = np.random.default_rng(seed)
    found = records(
        np.sort(NOW - rng.uniform(0, 10 * DAY, n)),
        rng.normal(math.log(median), 0.1, n),
        [store_hash(f"s{i % stores}") for i in range(n)],
    )
    return group, PriceGroup(n, {}, frozenset({SPEC.digest}), found)


def ready(group: str, baseline: Baseline, digest: str = SPEC.digest):
    """A group whose stored baseline is fresh: no sample comes with it."""
    return group, PriceGroup(baseline.version, {digest: baseline})


def snapshot(*groups: tuple[str, PriceGroup]) -> StateSnapshot:
    return StateSnapshot(prices=dict(groups))


@pytest.mark.parametrize(
    ("ratio", "code", "at_least", "below"),
    [
        (0.7, None, 0.0, 0.0),  # an honest 30% discount: nothing
        (0.6, None, 0.0, 0.0),  # at the start knot: still nothing
        (0.3, "PRICE_BELOW_REFERENCE", REVIEW, BLOCK),  # review band
        (0.1, "PRICE_BELOW_REFERENCE", BLOCK, 1.01),  # a tenth: block-level
    ],
)
def test_reference_ratio_scores(
    ratio: float, code: str | None, at_least: float, below: float
) -> None:
    (reasons,) = run([listing(2800 * ratio)])
    if code is None:
        assert reasons == []
        return
    (reason,) = reasons
    assert reason.code == code and at_least <= reason.score < below
    assert reason.evidence["brand"] == "acme"
    assert reason.evidence["baseline"] == "reference"
    assert reason.evidence["reference"] == 2800
    assert reason.evidence["ratio"] == pytest.approx(ratio, abs=1e-3)


def test_an_authorised_store_is_never_flagged_on_price() -> None:
    cheap = listing(28, store_id="store-acme-official", shipping_fee=500)
    market = snapshot(sample(brand_group("acme", "bags/handbags"), 3000))
    assert run([cheap], market) == [[]]


def test_prices_are_converted_into_the_registry_currency() -> None:
    usd_tenth, eur_honest, unknown = run(
        [
            listing(40, currency="USD"),  # 284 CNY: about a tenth of 2800
            listing(300, currency="EUR"),  # 2340 CNY
            listing(1, currency="CHF"),  # no rate: not price-checked
        ]
    )
    assert codes(usd_tenth)["PRICE_BELOW_REFERENCE"].evidence["price"] == pytest.approx(284.0)
    assert eur_honest == [] and unknown == []


def test_a_registry_in_another_currency_gets_prices_in_its_own() -> None:
    usd_registry = REGISTRY.model_copy(update={"currency": "USD"})
    # the same brand data now reads 2800 USD; a 2800 CNY listing is about a seventh of it
    found = detector(usd_registry).detect(ListingBatch([listing(2800)], NOW), StateSnapshot())
    reason = codes(found[0])["PRICE_BELOW_REFERENCE"]
    assert reason.evidence["currency"] == "USD"
    assert reason.evidence["price"] == pytest.approx(2800 / 7.1, rel=1e-3)


@pytest.mark.parametrize(
    ("claimed", "annotated", "category"),
    [
        ("ACME", None, "bags/handbags"),  # claimed, case-folded
        ("阿克美", None, "bags/handbags"),  # claimed by alias
        ("ａｃｍｅ", None, "Bags/Handbags"),  # full-width letters, category case
        (None, ("acme",), "bags/handbags"),  # found in the text only
        ("no-such-brand", ("acme",), "bags/handbags"),  # text wins over an unknown claim
        ("Acme", ("zenit", "acme"), "bags/handbags"),  # claimed and found: the claim
        (None, ("zenit", "acme"), "bags/handbags"),  # the brand with a reference here
    ],
)
def test_brand_resolution(
    claimed: str | None, annotated: tuple[str, ...] | None, category: str
) -> None:
    annotations = {} if annotated is None else {"brands": [annotated]}
    (reasons,) = run([listing(280, brand=claimed, category=category)], **annotations)
    assert codes(reasons)["PRICE_BELOW_REFERENCE"].evidence["brand"] == "acme"


def test_no_brand_no_brand_checks() -> None:
    generic = listing(5, brand=None)
    assert run([generic], brands=[()]) == [[]]
    assert run([listing(5, brand="some other label")]) == [[]]


def test_market_baseline_falls_back_and_says_which_it_used() -> None:
    bc = brand_group("acme", "bags/backpacks")  # no registry reference here
    c = category_group("bags/backpacks")
    cheap = listing(300, category="bags/backpacks")
    thin = sample(bc, 3000, n=5)  # too few observations to trust yet

    (cold,) = run([cheap], snapshot(thin))
    assert cold == []  # no reference, no trusted market: nothing to compare with

    (by_category,) = run([cheap], snapshot(thin, sample(c, 3000)))
    reason = codes(by_category)["PRICE_FAR_BELOW_MARKET"]
    assert reason.evidence["baseline"] == "category"
    assert REVIEW <= reason.score < BLOCK  # a category alone never blocks

    (by_brand,) = run([cheap], snapshot(sample(bc, 3000, n=80), sample(c, 3000)))
    reason = codes(by_brand)["PRICE_FAR_BELOW_MARKET"]
    assert reason.score >= BLOCK
    assert reason.evidence["baseline"] == "brand_category"
    assert reason.evidence["observations"] == 80 and reason.evidence["stores"] == 30
    assert reason.evidence["median"] == pytest.approx(3000, rel=0.05)
    assert reason.evidence["brand"] == "acme" and reason.evidence["z"] < -8


def test_shipping_fee_anomaly() -> None:
    bait, ordinary = run(
        [listing(1, brand=None, shipping_fee=200), listing(100, brand=None, shipping_fee=20)]
    )
    reason = codes(bait)["SHIPPING_FEE_ANOMALY"]
    assert reason.score == pytest.approx(0.6)
    assert reason.evidence["shipping_fee"] == 200 and reason.evidence["ratio"] == 200
    assert ordinary == []


def test_needs_read_the_groups_detect_uses() -> None:
    items = [listing(100), listing(100, brand=None, category="Toys")]
    batch = ListingBatch(items, NOW)
    (query,) = detector().needs(batch).prices
    assert query.spec == SPEC
    assert query.groups == {
        brand_group("acme", "bags/handbags"),
        category_group("bags/handbags"),
        category_group("toys"),
    }
    # once the keyword detector annotated the batch, the brands found in the text count
    found = ListingBatch(items, NOW, annotations={"brands": [(), ("zenit",)]})
    (query,) = detector().needs(found).prices
    assert query.groups == {
        brand_group("acme", "bags/handbags"),
        category_group("bags/handbags"),
        brand_group("zenit", "toys"),
        category_group("toys"),
    }


def test_only_allowed_convertible_listings_feed_the_baselines() -> None:
    items = [
        listing(3000, listing_id="a"),
        listing(300, listing_id="b"),
        listing(3000, listing_id="c", currency="CHF"),
        listing(50, listing_id="d", brand=None, store_id="store-2"),
    ]
    batch = ListingBatch(items, NOW)
    updates = detector().updates(batch, StateSnapshot(), ["allow", "block", "allow", "allow"])
    (rows,) = updates.prices
    assert [rows.names[g] for g in rows.group] == [
        brand_group("acme", "bags/handbags"),
        category_group("bags/handbags"),
        category_group("bags/handbags"),
    ]
    assert rows.digests.tobytes() == listing_digest("a:0") * 2 + listing_digest("d:0")
    assert rows.records["lp"] == pytest.approx([math.log(3000)] * 2 + [math.log(50)])
    assert rows.records["t"].tolist() == [NOW - 60] * 3
    assert rows.records["store"].tolist() == [store_hash("store-reseller")] * 2 + [
        store_hash("store-2")
    ]
    assert rows.cap == 256
    assert updates.baselines == []  # nothing was read, nothing recomputed to keep
    again = detector().updates(ListingBatch(items, NOW), StateSnapshot(), ["allow"] * 4)
    assert again.prices[0].digests[0] == rows.digests[0]  # a revision is always one digest


def test_a_fresh_stored_baseline_is_used_as_it_is() -> None:
    bc = brand_group("acme", "bags/backpacks")
    stored = Baseline(80, NOW - 10, math.log(3000), 0.1, 80, 30)
    state = snapshot(ready(bc, stored))
    batch = ListingBatch([listing(300, category="bags/backpacks")], NOW)
    (found,) = detector().detect(batch, state)
    reason = codes(found)["PRICE_FAR_BELOW_MARKET"]
    assert reason.evidence["baseline"] == "brand_category"
    assert reason.evidence["observations"] == 80 and reason.evidence["stores"] == 30
    assert reason.evidence["median"] == pytest.approx(3000, rel=1e-6)
    assert detector().updates(batch, state, ["block"]).baselines == []


def test_stale_baselines_are_recomputed_and_kept() -> None:
    bc = brand_group("acme", "bags/backpacks")
    c = category_group("bags/backpacks")
    elsewhere = Baseline(80, NOW, math.log(10.0), 0.1, 80, 30)  # another config's baseline
    group, held = sample(bc, 3000, n=80)
    held = PriceGroup(held.version, {"other": elsewhere}, held.stale, held.sample)
    state = snapshot((group, held))
    batch = ListingBatch([listing(300, category="bags/backpacks")], NOW)
    (found,) = detector().detect(batch, state)
    assert codes(found)["PRICE_FAR_BELOW_MARKET"].evidence["median"] == pytest.approx(
        3000, rel=0.05
    )
    updates = detector().updates(batch, state, ["block"])
    (kept,) = updates.baselines  # the category group was never written: nothing to keep
    assert (kept.group, kept.digest) == (bc, SPEC.digest)
    assert kept.baseline.version == 80 and kept.baseline.computed_at == NOW
    assert kept.baseline.observations == 80 and kept.baseline.stores == 30
    assert math.exp(kept.baseline.median) == pytest.approx(3000, rel=0.05)
    assert updates.prices == []  # a blocked listing feeds nothing
    assert c not in {w.group for w in updates.baselines}


def test_the_shared_checks_determinism_bounds_and_sizes() -> None:
    rng = np.random.default_rng(9)
    items = [
        listing(
            float(np.exp(rng.normal(7, 1.5))),
            listing_id=f"l{i}",
            brand=str(rng.choice(["Acme", "Zenit", "unknown", "ＡＣＭＥ"])),
            category=str(rng.choice(["bags/handbags", "watches/mechanical", "Toys", "ü/ß"])),
            currency=str(rng.choice(["CNY", "USD", "JPY", "CHF"])),
            shipping_fee=float(rng.choice([0, 10, 500])),
            store_id=str(rng.choice(["store-acme-official", "s1", "s2"])),
        )
        for i in range(2000)
    ]
    state = snapshot(
        sample(brand_group("acme", "bags/handbags"), 3000), sample(category_group("toys"), 80)
    )
    items += [  # extreme but valid prices and fees: no overflow, no crash
        listing(5e-324, listing_id="tiny", shipping_fee=1e308),
        listing(1.7e308, listing_id="huge", currency="USD", shipping_fee=1e308),
    ]
    first = run(items, state)
    assert first == run(items, state)
    assert len(first) == len(items)
    scores = [r.score for reasons in first for r in reasons]
    assert scores and all(0.0 < s <= 1.0 for s in scores)
    assert run([], state) == []


def test_disabled_sample_size_and_catalog() -> None:
    assert PriceDetector.build(screen_config(enabled=False), REGISTRY) is None
    config = screen_config(market={"sample_size": 128})
    small = PriceDetector.build(config, REGISTRY)
    assert small is not None
    batch = ListingBatch([listing(3000)], NOW)
    assert small.updates(batch, StateSnapshot(), ["allow"]).prices[0].cap == 128
    assert small.spec == SPEC  # the ring size is no parameter of the estimator
    other = PriceDetector.build(screen_config(market={"trim_scales": 3.0}), REGISTRY)
    assert other is not None and other.spec.digest != SPEC.digest
    assert PriceDetector in [type(d) for d in build_detectors(config, REGISTRY)]
    detector().warm()
