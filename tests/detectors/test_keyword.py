"""The keyword detector over the demo registry: reasons, scores, evidence, annotations."""

from __future__ import annotations

import math
import random

import numpy as np
import orjson
import pytest

from config.keyword import KeywordConfig
from config.registry import Brand, Lexicons, load_registry
from config.thresholds import ScreenConfig, load_screen_config
from contract.listing import Listing
from contract.verdict import Reason
from detectors.batch import ListingBatch
from detectors.catalog import DETECTOR_CLASSES
from detectors.decision import DecisionStep
from detectors.keyword import KeywordDetector
from detectors.keyword_evidence import new_reason
from detectors.keyword_matcher import encode_listings, listing_fields
from detectors.text.normalize import encode_fields
from haze.engine import Screener
from haze.runtime import Runtime
from state.base import StateSnapshot
from state.memory import MemoryStateStore
from state.policies import series_policies, store_policy
from tests.detectors.keyword_reference import ReferenceRules

CONFIG, _ = load_screen_config()
REGISTRY, _ = load_registry()
OTHER_STORE = "store-somebody"


@pytest.fixture(scope="module")
def detector() -> KeywordDetector:
    built = KeywordDetector.build(CONFIG, REGISTRY)
    assert built is not None
    built.warm()
    return built


def listing(
    title: str,
    *,
    description: str = "",
    brand: str | None = None,
    store: str = OTHER_STORE,
    index: int = 0,
) -> Listing:
    return Listing(
        listing_id=f"l{index}",
        seller_id="seller",
        store_id=store,
        title=title,
        category="bags/handbags",
        price=100.0,
        description=description,
        brand=brand,
    )


def screen(
    detector: KeywordDetector, listings: list[Listing]
) -> tuple[list[list[Reason]], list[tuple[str, ...]]]:
    batch = ListingBatch(listings, 0.0)
    reasons = [list(found) for found in detector.detect(batch, StateSnapshot())]
    return reasons, batch.annotations["brands"]


def decide(listing_: Listing, reasons: list[Reason]) -> str:
    return DecisionStep(CONFIG.decision, REGISTRY).decide(listing_, reasons).decision


# title, description, claimed brand, store -> codes, brands annotation, decision
CASES = [
    # a brand from a store that is not authorised: a weak signal, below review
    ("Aurora leather handbag", "", None, OTHER_STORE,
     {"BRAND_UNAUTHORIZED_STORE"}, ("aurora",), "allow"),
    # the same from the brand's own store: nothing
    ("Aurora leather handbag", "", None, "store-aurora-official", set(), ("aurora",), "allow"),
    # brand and counterfeit term: the classic counterfeit listing
    ("AURORA replica handbag", "", None, OTHER_STORE,
     {"BRAND_WITH_COUNTERFEIT_TERM"}, ("aurora",), "block"),
    ("奥罗拉高仿包包", "", None, OTHER_STORE,
     {"BRAND_WITH_COUNTERFEIT_TERM"}, ("aurora",), "block"),
    # disguised brand, disguised term
    ("K.E.S.T.R.E.L watch SUPER-FAKE", "", None, OTHER_STORE,
     {"BRAND_WITH_COUNTERFEIT_TERM"}, ("kestrel",), "block"),
    ("Nοrdv1k jacket 1：1", "", None, OTHER_STORE,
     {"BRAND_WITH_COUNTERFEIT_TERM"}, ("nordvik",), "block"),
    # a counterfeit term in an authorised store, or with no brand: review
    ("奥罗拉 高仿", "", None, "store-aurora-outlet", {"COUNTERFEIT_TERM"}, ("aurora",), "review"),
    ("Replica watch, super fake", "", None, OTHER_STORE, {"COUNTERFEIT_TERM"}, (), "review"),
    # prohibited items block through the hard-block codes
    ("Carved ivory figurine", "", None, OTHER_STORE, {"PROHIBITED_ITEM"}, (), "block"),
    ("穿山甲 鳞片", "", None, OTHER_STORE, {"PROHIBITED_ITEM"}, (), "block"),
    # a benign phrase lowers only the term inside it
    ("Ivory white wedding dress", "", None, OTHER_STORE, {"TERM_IN_BENIGN_PHRASE"}, (), "allow"),
    ("Ivory white box with a carved ivory tusk", "", None, OTHER_STORE,
     {"PROHIBITED_ITEM", "TERM_IN_BENIGN_PHRASE"}, (), "block"),
    ("Not a replica, genuine Aurora", "", None, OTHER_STORE,
     {"BRAND_UNAUTHORIZED_STORE", "TERM_IN_BENIGN_PHRASE"}, ("aurora",), "allow"),
    # an honest accessory
    ("Charger compatible with Lumis headphones", "", None, OTHER_STORE, set(), (), "allow"),
    ("Case for Lumis earbuds", "", None, OTHER_STORE, set(), (), "allow"),
    ("鲁米斯专用充电线", "", None, OTHER_STORE, set(), (), "allow"),
    # stuffing
    ("Lumis Kestrel Aurora Nordvik style mega sale", "", None, OTHER_STORE,
     {"BRAND_UNAUTHORIZED_STORE", "KEYWORD_STUFFING"},
     ("lumis", "kestrel", "aurora", "nordvik"), "review"),
    # the claimed brand disagrees with the title
    ("Aurora handbag", "", "Nordvik", OTHER_STORE,
     {"BRAND_UNAUTHORIZED_STORE", "BRAND_MISMATCH"}, ("aurora",), "review"),
    ("Aurora handbag", "", "AURORA", "store-aurora-official", set(), ("aurora",), "allow"),
    # a claimed brand alone, from an unauthorised store
    ("Leather handbag", "", "Aurora", OTHER_STORE, {"BRAND_UNAUTHORIZED_STORE"}, (), "allow"),
    # the description counts too
    ("Leather handbag", "In the style of AURORA", None, OTHER_STORE,
     {"BRAND_UNAUTHORIZED_STORE"}, ("aurora",), "allow"),
    # a model number or a year glued to the brand is a separate word
    ("AURORA11 handbag 2024Aurora", "", None, "store-aurora-official", set(), ("aurora",), "allow"),
    # and so is a single digit (read both ways: "Aurora7" is aurora and 7, "Auror4" aurora)
    ("AURORA7 handbag", "", None, OTHER_STORE, {"BRAND_UNAUTHORIZED_STORE"}, ("aurora",), "allow"),
    ("5aurora replica", "", None, OTHER_STORE,
     {"BRAND_WITH_COUNTERFEIT_TERM"}, ("aurora",), "block"),
    ("Auror4 handbag", "", None, OTHER_STORE, {"BRAND_UNAUTHORIZED_STORE"}, ("aurora",), "allow"),
    # a brand spelled in regional indicators; flags beside a brand or alone
    ("🇦🇺🇷🇴🇷🇦 replica bag", "", None, OTHER_STORE,
     {"BRAND_WITH_COUNTERFEIT_TERM"}, ("aurora",), "block"),
    ("🇮🇹Aurora handbag 🇫🇷", "", None, OTHER_STORE,
     {"BRAND_UNAUTHORIZED_STORE"}, ("aurora",), "allow"),
    ("Leather handbag 🇮🇹🇫🇷", "", None, OTHER_STORE, set(), (), "allow"),
    # not a brand: a longer word, or nothing at all
    ("Auroral lights lamp", "", None, OTHER_STORE, set(), (), "allow"),
    ("Nordvikings saga poster", "", None, OTHER_STORE, set(), (), "allow"),
    ("Plain leather bag", "", None, OTHER_STORE, set(), (), "allow"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "description", "claimed", "store", "codes", "brands", "decision"), CASES
)
def test_reasons_annotations_and_decisions(
    detector: KeywordDetector,
    title: str,
    description: str,
    claimed: str | None,
    store: str,
    codes: set[str],
    brands: tuple[str, ...],
    decision: str,
) -> None:
    item = listing(title, description=description, brand=claimed, store=store)
    reasons, annotations = screen(detector, [item])
    assert {reason.code for reason in reasons[0]} == codes
    assert annotations[0] == brands
    assert decide(item, reasons[0]) == decision


def test_all_cases_in_one_batch_match_one_by_one(detector: KeywordDetector) -> None:
    items = [
        listing(t, description=d, brand=b, store=s, index=i)
        for i, (t, d, b, s, *_rest) in enumerate(CASES)
    ]
    together, brands_together = screen(detector, items)
    for index, item in enumerate(items):
        alone, brands_alone = screen(detector, [item])
        assert together[index] == alone[0]
        assert brands_together[index] == brands_alone[0]


def test_evidence_points_at_the_sellers_text(detector: KeywordDetector) -> None:
    title = "Best G.U.C.C.1 bag — Ａｕｒｏｒａ 1:1 高仿"
    reasons, _ = screen(detector, [listing(title)])
    (reason,) = reasons[0]
    assert reason.code == "BRAND_WITH_COUNTERFEIT_TERM"
    assert reason.score >= 0.9
    assert reason.evidence["brand"] == "aurora"
    terms = reason.evidence["terms"]
    assert [(t["term"], t["kind"]) for t in terms] == [
        ("Aurora", "brand"), ("1:1", "counterfeit"), ("高仿", "counterfeit")
    ]  # fmt: skip
    for term in terms:
        assert term["field"] == "title"
        assert title[term["start"] : term["end"]] == term["text"]
    assert terms[0]["text"] == "Ａｕｒｏｒａ"
    assert terms[0]["brand"] == "aurora"
    orjson.dumps(reason.evidence)  # evidence is JSON


def test_evidence_of_a_spelled_out_brand_spans_the_whole_disguise(
    detector: KeywordDetector,
) -> None:
    title = "new K . e . s . t . r . e . l watch"
    reasons, _ = screen(detector, [listing(title)])
    term = reasons[0][0].evidence["terms"][0]
    assert term["text"] == "K . e . s . t . r . e . l"


def test_hard_negatives_stay_clean_under_a_strict_lexicon() -> None:
    # A stricter registry than the demo: bare "仿", "mirror" and "aaa" as counterfeit terms.
    lexicons = Lexicons(
        counterfeit_terms=(*REGISTRY.lexicons.counterfeit_terms, "仿", "mirror", "aaa"),
        prohibited_terms=REGISTRY.lexicons.prohibited_terms,
        benign_phrases=REGISTRY.lexicons.benign_phrases,
    )
    strict = KeywordDetector(KeywordConfig(), REGISTRY.model_copy(update={"lexicons": lexicons}))
    titles = [
        "仿古家具 实木雕花",  # antique-style furniture
        "AAA batteries, 24 pack",
        "Bathroom mirror with LED light",
        "Ivory white silk dress",
        "USB-C charger compatible with Lumis headphones",
        "象牙白 连衣裙",
        "Auroral borealis poster",
    ]
    items = [listing(title, index=i) for i, title in enumerate(titles)]
    reasons, _ = screen(strict, items)
    for item, found in zip(items, reasons, strict=True):
        assert decide(item, found) == "allow", (item.title, found)
    # ...while the same terms outside those phrases still count
    reasons, _ = screen(strict, [listing("aaa mirror 仿 Aurora bag")])
    assert {r.code for r in reasons[0]} == {"BRAND_WITH_COUNTERFEIT_TERM"}


def test_registry_benign_phrases_and_brand_cues() -> None:
    lexicons = REGISTRY.lexicons.model_copy(
        update={"benign_phrases": ("ivory white", "sleeve for <brand> laptops")}
    )
    registry = REGISTRY.model_copy(update={"lexicons": lexicons})
    custom = KeywordDetector(KeywordConfig(use_default_lexicon=False), registry)
    reasons, brands = screen(custom, [listing("Neoprene sleeve for Lumis laptops")])
    assert reasons[0] == [] and brands[0] == ()
    # both sides of the phrase are needed; without the built-in cues, "for <brand>" alone
    # no longer lowers anything
    reasons, brands = screen(custom, [listing("Neoprene sleeve for Lumis"),
                                      listing("Neoprene case for Lumis", index=1)])  # fmt: skip
    assert [r.code for r in reasons[0]] == ["BRAND_UNAUTHORIZED_STORE"]
    assert [r.code for r in reasons[1]] == ["BRAND_UNAUTHORIZED_STORE"]
    assert brands == [("lumis",), ("lumis",)]


def test_config_knobs(detector: KeywordDetector) -> None:
    quiet = KeywordDetector(KeywordConfig(scan_description=False), REGISTRY)
    item = listing("Leather handbag", description="Aurora replica")
    assert screen(quiet, [item]) == ([[]], [()])
    strict = KeywordDetector(KeywordConfig(stuffing_min_brands=2, stuffing_score=0.7), REGISTRY)
    reasons, _ = screen(strict, [listing("Lumis Kestrel headphones")])
    stuffing = [r for r in reasons[0] if r.code == "KEYWORD_STUFFING"]
    assert stuffing and stuffing[0].score == 0.7
    off = CONFIG.model_copy(
        update={"detectors": CONFIG.detectors.model_copy(
            update={"keyword": KeywordConfig(enabled=False)})}
    )  # fmt: skip
    assert KeywordDetector.build(off, REGISTRY) is None


def test_each_build_compiles_its_own_registry(detector: KeywordDetector) -> None:
    extra = Brand(id="zephyra", name="Zephyra", aliases=("zephyra", "泽菲拉"))
    newer = REGISTRY.model_copy(update={"brands": (*REGISTRY.brands, extra), "version": "v2"})
    reloaded = KeywordDetector.build(CONFIG, newer)
    assert reloaded is not None and reloaded.lexicon is not detector.lexicon
    item = listing("泽菲拉 handbag")
    assert screen(reloaded, [item])[1] == [("zephyra",)]
    assert screen(detector, [item])[1] == [()]


def test_one_compiled_lexicon_per_registry_and_lexicon_settings(detector: KeywordDetector) -> None:
    # new thresholds (a reload of the thresholds file, a shadow config): the same automaton
    rescored = KeywordDetector(KeywordConfig(brand_unauthorized_score=0.2), REGISTRY)
    assert rescored.lexicon is detector.lexicon
    stores = REGISTRY.brands[0].model_copy(update={"authorized_stores": frozenset({"s-new"})})
    moved = REGISTRY.model_copy(update={"brands": (stores, *REGISTRY.brands[1:]), "version": "v3"})
    relocated = KeywordDetector(KeywordConfig(), moved)
    assert relocated.lexicon is detector.lexicon
    item = listing(f"{REGISTRY.brands[0].name} bag", store="s-new")
    assert screen(relocated, [item])[0] == [[]]  # ...with the new registry's stores
    assert [r.code for r in screen(detector, [item])[0][0]] == ["BRAND_UNAUTHORIZED_STORE"]
    # other names, other terms: compiled anew, and the old one still screens as before
    renamed = REGISTRY.brands[0].model_copy(update={"aliases": ("zephyra",)})
    other = REGISTRY.model_copy(update={"brands": (renamed, *REGISTRY.brands[1:])})
    assert KeywordDetector(KeywordConfig(), other).lexicon is not detector.lexicon
    extra = KeywordDetector(KeywordConfig(counterfeit_terms=("zzfake",)), REGISTRY)
    assert extra.lexicon is not detector.lexicon
    assert [r.code for r in screen(extra, [listing("zzfake bag")])[0][0]] == ["COUNTERFEIT_TERM"]
    assert screen(detector, [listing("zzfake bag")])[0][0] == []


def test_the_catalog_runs_keyword_first() -> None:
    assert DETECTOR_CLASSES[0] is KeywordDetector
    assert KeywordDetector.name == "keyword"


# The shared checks every detector passes.


def _soup(rng: random.Random, size: int) -> str:
    pools = [
        "abcxyz ", "ＡＢＣ", "高仿奥罗拉象牙", "\u200b\u200d\ufeff", "@$!|1034",
        ".-_:,;/()", "😀🇨🇳", "\u0301\u0308", "ßﬁ™", "\U000e0041\U00030001", "\ud800",
    ]  # fmt: skip
    return "".join(rng.choice(rng.choice(pools)) for _ in range(size))


def test_deterministic_bounded_and_json(detector: KeywordDetector) -> None:
    rng = random.Random(7)
    items = [
        listing(_soup(rng, rng.randint(1, 80)), description=_soup(rng, rng.randint(0, 200)),
                brand=_soup(rng, 5) if i % 3 == 0 else None, index=i)
        for i in range(300)
    ]  # fmt: skip
    first, brands_first = screen(detector, items)
    second, brands_second = screen(detector, items)
    assert first == second and brands_first == brands_second
    for found in first:
        for reason in found:
            assert reason.detector == "keyword"
            assert 0.0 <= reason.score <= 1.0 and not math.isnan(reason.score)
            orjson.dumps(reason.to_dict())


def test_empty_batch(detector: KeywordDetector) -> None:
    assert screen(detector, []) == ([], [])


def test_huge_input(detector: KeywordDetector) -> None:
    description = ("lorem ipsum " * 1600) + " aurora replica"
    reasons, brands = screen(detector, [listing("x" * 512, description=description)])
    assert brands[0] == ("aurora",)
    assert {r.code for r in reasons[0]} == {"BRAND_WITH_COUNTERFEIT_TERM"}
    term = reasons[0][0].evidence["terms"][0]
    assert term["field"] == "description"
    assert description[term["start"] : term["end"]] == "aurora"


async def test_through_the_engine() -> None:
    config: ScreenConfig = CONFIG
    runtime = Runtime.build(config, REGISTRY)
    state = MemoryStateStore(series_policies(config), store_policy(config))
    screener = Screener(runtime, state, clock=lambda: 1_700_000_000.0)
    results = await screener.screen([listing("Aurora replica bag"), listing("Plain bag", index=1)])
    verdict = orjson.loads(results[0].verdict)
    assert verdict["decision"] == "block"
    assert verdict["brand"] == "aurora" and verdict["rights_holder"] == "rh-aurora"
    assert verdict["reasons"][0]["code"] == "BRAND_WITH_COUNTERFEIT_TERM"
    assert results[0].complaint is not None
    assert orjson.loads(results[1].verdict)["decision"] == "allow"


def _random_listings(rng: random.Random, count: int) -> list[Listing]:
    words = ["Aurora", "奥罗拉", "nordvik", "L.u.m.i.s", "kestrel", "bag", "new", "replica",
             "ivory white", "ivory", "for", "compatible with", "凯斯特", "sale", "2024", "高仿",
             "Lumis", "Nordvik", "headphones", "not a replica", "专用", "鲁米斯", "AURORA",
             "象牙", "象牙白", "1:1", "scale"]  # fmt: skip
    stores = [OTHER_STORE, "store-aurora-official", "store-timehouse", "store-aurora-outlet"]
    return [
        listing(" ".join(rng.choices(words, k=rng.randint(1, 7))),
                description=" ".join(rng.choices(words, k=rng.randint(0, 3))),
                brand=rng.choice([None, None, "Aurora", "!!", "Kestrel", "奥罗拉", "Acme"]),
                store=rng.choice(stores), index=i)
        for i in range(count)
    ]  # fmt: skip


@pytest.mark.parametrize("config", [
    KeywordConfig(),
    KeywordConfig(stuffing_min_brands=2, stuffing_max_authorized=0, max_evidence_terms=1),
    KeywordConfig(benign_factor=1.0, benign_min_score=0.0, brand_unauthorized_score=0.0),
])  # fmt: skip
def test_the_rules_kernel_agrees_with_the_reference_rules(config: KeywordConfig) -> None:
    custom = KeywordDetector(config, REGISTRY)
    reference = ReferenceRules(config, REGISTRY, custom.lexicon)
    for seed in range(5):
        items = _random_listings(random.Random(seed), 300)
        batch = ListingBatch(items, 0.0)
        fast = [list(found) for found in custom.detect(batch, StateSnapshot())]
        hits = custom.matcher.find_listings(items)
        expected, expected_brands = reference.judge_batch(items, hits)
        assert fast == expected
        assert batch.annotations["brands"] == expected_brands
        # the same evidence, key for key and in the same order (the verdict JSON)
        assert [[orjson.dumps(r.to_dict()) for r in found] for found in fast] == [
            [orjson.dumps(r.to_dict()) for r in found] for found in expected
        ]
    assert any(found for found in fast)


def test_a_shadow_detector_screens_the_same_batch_with_its_own_scores() -> None:
    live = KeywordDetector(KeywordConfig(), REGISTRY)
    shadow = KeywordDetector(KeywordConfig(brand_with_counterfeit_score=0.5), REGISTRY)
    batch = ListingBatch([listing("Aurora replica bag")], 0.0)
    live.needs(batch)
    shadow.needs(batch)
    assert live.detect(batch, StateSnapshot())[0][0].score == 0.92
    assert shadow.detect(batch, StateSnapshot())[0][0].score == 0.5


def test_detect_hands_out_what_the_caller_cannot_spoil(detector: KeywordDetector) -> None:
    batch = ListingBatch([listing("Aurora replica bag"), listing("Plain bag", index=1)], 0.0)
    first = detector.detect(batch, StateSnapshot())
    assert all(isinstance(found, tuple) for found in first)
    assert first[1] == ()
    first[0] = ()
    again = detector.detect(batch, StateSnapshot())
    assert [r.code for r in again[0]] == ["BRAND_WITH_COUNTERFEIT_TERM"] and again[1] == ()


def test_encoded_batches_skip_empty_blocks_and_equal_the_plain_encoding() -> None:
    batches = [
        [listing("Aurora bag"), listing("高仿", index=1)],
        [listing("Aurora bag", description="in the style of Lumis"), listing("x", index=1)],
        [listing("Aurora bag", brand="Nordvik"), listing("x", description="a\x00b", index=1)],
        [listing("a\x00b", brand=""), listing("", index=1)],
    ]
    for items in batches:
        for scan_description in (True, False):
            sources, cps, offsets = encode_listings(items, scan_description=scan_description)
            fields = listing_fields(items, scan_description=scan_description)
            assert fields[: len(sources)] == sources
            plain_cps, plain_offsets = encode_fields(fields)
            assert np.array_equal(cps, plain_cps), items
            assert np.array_equal(offsets, plain_offsets), items


def test_reasons_are_made_like_the_constructor_makes_them() -> None:
    from dataclasses import FrozenInstanceError

    made = new_reason("BRAND_MISMATCH", 0.4, {"brand": "aurora"})
    plain = Reason("keyword", "BRAND_MISMATCH", 0.4, {"brand": "aurora"})
    assert type(made) is Reason and made == plain and repr(made) == repr(plain)
    assert made.to_dict() == plain.to_dict()
    with pytest.raises(FrozenInstanceError):
        made.score = 1.0  # type: ignore[misc]


def test_warm_compiles_every_kernel(detector: KeywordDetector) -> None:
    from detectors import _keyword_kernels as kernels
    from detectors import _keyword_rule_kernels as rule_kernels
    from detectors.text import _normalize_kernels as normalize

    detector.warm()
    for kernel in (normalize.normalize_batch, kernels.find_terms, kernels.scan_raw,
                   rule_kernels.judge_batch):  # fmt: skip
        assert kernel.signatures, kernel


def test_a_match_inside_a_longer_one_names_the_longer_only() -> None:
    brands = (
        Brand(id="lv", name="Louis Vuitton", aliases=("louis vuitton",)),
        Brand(id="louis", name="Louis", aliases=("louis",)),
        Brand(id="naze", name="Naze"),
        Brand(id="nazelen", name="Nazelen"),
        Brand(id="zelen", name="Zelen"),
        Brand(id="mirror", name="Mirror"),
    )
    registry = REGISTRY.model_copy(update={"brands": brands})
    custom = KeywordDetector(KeywordConfig(), registry)
    items = [
        listing("Louis Vuitton bag"),
        listing("Louis bag", index=1),
        listing("n.a.z.e.l.e.n sneakers", index=2),  # not three brands: one, spelled out
        listing("mirror quality watch", index=3),  # a brand word inside a counterfeit term
        listing("super fake bag", index=4),
    ]
    reasons, found = screen(custom, items)
    assert found == [("lv",), ("louis",), ("nazelen",), (), ()]
    assert [r.code for r in reasons[2]] == ["BRAND_UNAUTHORIZED_STORE"]
    assert [r.code for r in reasons[3]] == ["COUNTERFEIT_TERM"]
    assert [t["term"] for t in reasons[4][0].evidence["terms"]] == ["super fake"]
