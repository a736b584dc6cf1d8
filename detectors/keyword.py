"""The keyword detector: registered brands, counterfeit terms, stuffing and prohibited items.

It finds the registry's brand names and aliases, the counterfeit and prohibited terms and the
benign phrases in each listing's title, description and claimed ``brand`` field, however the
seller disguised them (see :mod:`detectors.text.normalize`), with one normalisation call and
one automaton walk per batch. A term found inside a longer registered term counts as the
longer one only ("Rami" in "Ribranlen Rami", "fake" in "super fake").

It sets ``batch.annotations["brands"]``: for each listing, the registry brand ids found in
its title and description (in order of appearance; brands found only inside a benign phrase,
such as ``compatible with <brand>``, left out).

Reason codes (stable):

``BRAND_UNAUTHORIZED_STORE``
    A registered brand (in the text or the claimed brand) from a store the registry does not
    authorise for it. A weak signal on its own (default 0.3, below review): honest resellers
    exist; it adds up with price and linkage signals.
``BRAND_WITH_COUNTERFEIT_TERM``
    That brand together with a counterfeit term: the classic counterfeit listing (default
    0.92, block).
``COUNTERFEIT_TERM``
    A counterfeit term without an unauthorised brand (default 0.6, review).
``KEYWORD_STUFFING``
    Several distinct registered brands in one title from a store authorised for none or few
    of them (default 3 brands, at most 1 authorised; 0.6).
``BRAND_MISMATCH``
    The claimed ``brand`` field names a brand other than the one(s) in the title (0.4).
``PROHIBITED_ITEM``
    A prohibited term (0.95; listed in ``decision.hard_block_codes`` by default).
``TERM_IN_BENIGN_PHRASE``
    Terms found only inside a benign phrase (``ivory white``, ``仿古``, ``AAA batteries``,
    ``compatible with <brand>``): their usual score times ``benign_factor``, reported when it
    reaches ``benign_min_score``. A benign phrase lowers the terms it contains, nothing else.

Evidence: ``brand`` (the registry brand id, when the reason concerns one, which is how the
decision step picks the rights holder), ``terms`` (each matched term as registered, its
``kind`` -- brand, counterfeit, prohibited -- its ``brand``, the ``field`` it was found in --
title, description, brand -- its ``start``/``end`` code-point offsets in that field and the
``text`` found there), ``term_count`` (``terms`` lists at most ``max_evidence_terms``), and
per code: ``brands`` (the brands concerned), ``authorized`` (stuffing: those the store may
sell), ``claimed`` / ``claimed_brand`` (the brand field as written, and its registry id),
``benign`` (the phrases that lowered a term).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from config.keyword import KeywordConfig
from config.registry import Registry
from config.thresholds import ScreenConfig
from contract.listing import Listing
from contract.verdict import Reason
from detectors._keyword_kernels import group_by_listing
from detectors.base import Detector
from detectors.batch import ListingBatch
from detectors.keyword_lexicon import Kind, compile_lexicon
from detectors.keyword_matcher import TermHits, TermMatcher
from detectors.keyword_rules import HitRows, KeywordRules
from detectors.text.normalize import TextNormalizer
from state.base import StateNeeds, StateSnapshot


class KeywordDetector(Detector):
    name: ClassVar[str] = "keyword"

    def __init__(
        self,
        config: KeywordConfig,
        registry: Registry,
        normalizer: TextNormalizer | None = None,
    ) -> None:
        self.config = config
        self.normalizer = normalizer if normalizer is not None else TextNormalizer()
        self.lexicon = compile_lexicon(registry, config, self.normalizer)
        self.matcher = TermMatcher(self.lexicon, self.normalizer)
        self.rules = KeywordRules(config, registry, self.lexicon)
        self._brand_kind = np.asarray(
            [term.kind == Kind.BRAND for term in self.lexicon.terms], dtype=np.bool_
        )

    @classmethod
    def build(cls, config: ScreenConfig, registry: Registry) -> KeywordDetector | None:
        own = config.detectors.keyword
        return cls(own, registry) if own.enabled else None

    def warm(self) -> None:
        """Compile (or load from the cache) every kernel: one listing through ``detect``,
        naming a registered term so the matches take the whole path."""
        self.matcher.warm()
        sample = self.lexicon.terms[0].text if self.lexicon.terms else "warm-up"
        listing = Listing("warm-up", "warm-up", "warm-up", sample, "warm-up", 1.0)
        self.detect(ListingBatch([listing], 0.0), StateSnapshot())

    def needs(self, batch: ListingBatch) -> StateNeeds:
        """No state; but the brands found in the text are annotated here already, so that the
        detectors after this one know them when they say what state they need (the price
        detector reads the brand's price group)."""
        _, brands = batch.derived("keyword.analysis", self._analyse)
        batch.annotations["brands"] = brands
        return StateNeeds()

    def detect(self, batch: ListingBatch, state: StateSnapshot) -> list[list[Reason]]:
        reasons, brands = batch.derived("keyword.analysis", self._analyse)
        batch.annotations["brands"] = brands
        return [list(found) for found in reasons]

    def _analyse(self, batch: ListingBatch) -> tuple[list[list[Reason]], list[tuple[str, ...]]]:
        """Reasons and brands found, once per batch (needs and detect share it)."""
        listings = batch.listings
        n = len(listings)
        reasons: list[list[Reason]] = [[] for _ in range(n)]
        brands: list[tuple[str, ...]] = [()] * n
        if n:
            # Three fields per listing, interleaved: title, description, claimed brand.
            texts = [""] * (3 * n)
            texts[0::3] = [x.title for x in listings]
            if self.config.scan_description:
                texts[1::3] = [x.description for x in listings]
            texts[2::3] = [x.brand or "" for x in listings]
            hits = self.matcher.find(texts)
            if len(hits):
                self._judge_all(listings, hits, reasons, brands)
        return reasons, brands

    def _judge_all(
        self,
        listings: Sequence[Listing],
        hits: TermHits,
        reasons: list[list[Reason]],
        brands: list[tuple[str, ...]],
    ) -> None:
        # Fields are (title, description, claimed brand) per listing. Listings whose matches
        # are all brand names in the title or description, with no claimed brand, take short
        # paths (the common case): one match, or a few; anything else, the general rules.
        starts, owners, sizes, plain = group_by_listing(
            hits.field, self._brand_kind, hits.term, hits.text.offsets
        )
        rows = HitRows(hits)
        rules = self.rules
        one = plain & (sizes == 1)
        rules.judge_single_brands(listings, hits, owners[one], starts[one], reasons, brands)
        for group in np.flatnonzero(~one).tolist():
            index, first = int(owners[group]), int(starts[group])
            judge = rules.judge_brands if plain[group] else rules.judge
            reasons[index], brands[index] = judge(
                listings[index], rows, first, first + int(sizes[group])
            )
