"""The keyword detector on a generated corpus against the plain-Python reference rules.

``test_keyword.py`` checks the detector against :class:`ReferenceRules` over the small demo
registry. This corpus is shaped like the benchmark's (many generated brands with Latin and Han
aliases, disguised spellings, about a quarter of the titles naming a brand, a few counterfeit
and prohibited terms, stores that are and are not authorised) and adds descriptions and claimed
brands, in batches of the stream's size, so that every path that builds reasons (the common
one-brand reason and the general rows) and every evidence field is compared, key for key and in
order, with what the reference builds one listing at a time. It pins behaviour for whoever next
changes how the reasons and their evidence are built.
"""

from __future__ import annotations

import random

import orjson
import pytest

from bench.keyword import disguise
from config.keyword import KeywordConfig
from config.registry import Brand, Lexicons, Registry
from config.thresholds import ScreenConfig
from contract.listing import Listing
from detectors.batch import ListingBatch
from detectors.keyword import KeywordDetector
from state.base import StateSnapshot
from tests.detectors.keyword_reference import ReferenceRules

SEED = 20261201
N_BRANDS = 300
BATCH = ScreenConfig(version="test").stream.batch_size
_SYLLABLES = ["ka", "lo", "ri", "ve", "na", "to", "mi", "sa", "de", "lu", "ra", "dor", "len",
              "kar", "vik", "sol", "bran", "nor", "aur", "kes"]  # fmt: skip
_WORDS = ["bag", "tote", "wallet", "shoes", "watch", "dress", "black", "white", "new", "mini",
          "vintage", "sale", "gift", "pro", "max", "for", "compatible with",
          "ivory white"]  # fmt: skip
_COUNTERFEIT = ("replica", "1:1", "high copy", "super fake", "高仿", "复刻")
_PROHIBITED = ("ivory", "rhino horn", "象牙")


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


def _registry(rng: random.Random, han: list[str]) -> Registry:
    brands: list[Brand] = []
    names: set[str] = set()
    while len(brands) < N_BRANDS:
        name = _word(rng, rng.randint(2, 3))
        if rng.random() < 0.3:
            name = f"{name} {_word(rng, 2)}"
        if name in names:
            continue
        names.add(name)
        aliases = [name]
        if rng.random() < 0.5:
            aliases.append("".join(rng.choices(han, k=rng.randint(2, 3))))
        index = len(brands)
        stores = frozenset({f"store-{index}", f"store-{index}-b"})
        brands.append(Brand(id=f"b{index}", name=name.title(), aliases=tuple(aliases),
                            authorized_stores=stores))  # fmt: skip
    lexicons = Lexicons(counterfeit_terms=_COUNTERFEIT, prohibited_terms=_PROHIBITED,
                        benign_phrases=("ivory white",))  # fmt: skip
    return Registry(version="corpus", brands=tuple(brands), lexicons=lexicons)


def _text(rng: random.Random, registry: Registry, han: list[str], words: int) -> str:
    parts = [rng.choice(_WORDS) if rng.random() < 0.6 else "".join(rng.choices(han, k=2))
             for _ in range(words)]  # fmt: skip
    for _ in range(rng.choice((0, 0, 1, 1, 2, 4))):  # none, one, or several brands (stuffing)
        alias = rng.choice(rng.choice(registry.brands).aliases)
        parts.insert(rng.randrange(len(parts) + 1),
                     disguise(rng, alias) if rng.random() < 0.2 else alias)  # fmt: skip
    if rng.random() < 0.08:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(_COUNTERFEIT))
    if rng.random() < 0.03:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(_PROHIBITED))
    return ("" if rng.random() < 0.3 else " ").join(parts)


def _listings(rng: random.Random, registry: Registry, han: list[str], n: int) -> list[Listing]:
    listings = []
    for i in range(n):
        brand = rng.choice(registry.brands)
        store = rng.choice([f"store-r{i}", f"store-{brand.id[1:]}", f"store-{brand.id[1:]}-b"])
        description = _text(rng, registry, han, rng.randint(0, 4)) if rng.random() < 0.3 else ""
        roll = rng.random()
        claimed = None if roll < 0.8 else rng.choice(brand.aliases) if roll < 0.9 else "Acme"
        listings.append(Listing(f"l{i}", f"s{i % 97}", store, _text(rng, registry, han, 6),
                                "bags/handbags", 100.0, description=description,
                                brand=claimed))  # fmt: skip
    return listings


@pytest.mark.parametrize("config", [
    KeywordConfig(),
    KeywordConfig(stuffing_min_brands=2, stuffing_max_authorized=0, max_evidence_terms=1),
])  # fmt: skip
def test_a_generated_corpus_gets_the_reference_reasons_and_evidence(config: KeywordConfig) -> None:
    rng = random.Random(SEED)
    han = [chr(cp) for cp in rng.sample(range(0x4E00, 0x9FA6), 400)]
    registry = _registry(rng, han)
    detector = KeywordDetector(config, registry)
    reference = ReferenceRules(config, registry, detector.lexicon)
    listings = _listings(rng, registry, han, 6 * BATCH)
    codes: set[str] = set()
    simple = general = 0
    for at in range(0, len(listings), BATCH):
        items = listings[at : at + BATCH]
        batch = ListingBatch(items, 0.0)
        fast = [list(found) for found in detector.detect(batch, StateSnapshot())]
        hits = detector.matcher.find_listings(items)
        expected, expected_brands = reference.judge_batch(items, hits)
        judged = detector.rules.judge(items, hits)
        simple, general = simple + len(judged.simple), general + len(judged.rows)
        assert fast == expected
        assert batch.annotations["brands"] == expected_brands
        # the verdict JSON: the same evidence key for key, in the same order
        assert [[orjson.dumps(r.to_dict()) for r in found] for found in fast] == [
            [orjson.dumps(r.to_dict()) for r in found] for found in expected
        ]
        codes |= {r.code for found in fast for r in found}
    # the corpus reaches the common path and the general rows alike
    assert simple > 100 and general > 100, (simple, general)
    assert {"BRAND_UNAUTHORIZED_STORE", "BRAND_WITH_COUNTERFEIT_TERM", "COUNTERFEIT_TERM",
            "KEYWORD_STUFFING", "BRAND_MISMATCH", "PROHIBITED_ITEM"} <= codes  # fmt: skip
