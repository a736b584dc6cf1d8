"""The keyword detector: registered brands, counterfeit terms, stuffing and prohibited items.

It finds the registry's brand names and aliases, the counterfeit and prohibited terms and the
benign phrases in each listing's title, description and claimed ``brand`` field, however the
seller disguised them (see :mod:`detectors.text.normalize`), with one normalisation call, one
automaton walk and one rules call per batch, whatever its size; Python then only builds the
``Reason`` objects of the listings that get one. A term found inside a longer registered term
counts as the longer one only ("Rami" in "Ribranlen Rami", "fake" in "super fake").

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

from typing import ClassVar

from config.keyword import KeywordConfig
from config.registry import Registry
from config.thresholds import ScreenConfig
from contract.listing import Listing
from contract.verdict import Reason
from detectors.base import Detector
from detectors.batch import ListingBatch
from detectors.keyword_evidence import EvidenceBuilder
from detectors.keyword_lexicon import LEXICONS
from detectors.keyword_matcher import TermMatcher
from detectors.keyword_rules import KeywordRules
from detectors.text.normalize import TextNormalizer
from state.base import StateNeeds, StateSnapshot

_Analysis = tuple[list[tuple[Reason, ...]], list[tuple[str, ...]]]


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
        self.lexicon = LEXICONS.get(registry, config, self.normalizer)
        self.matcher = TermMatcher(self.lexicon, self.normalizer)
        self.rules = KeywordRules(config, registry, self.lexicon)
        self.evidence = EvidenceBuilder(self.lexicon, config.brand_unauthorized_score)
        # Per instance: a shadow config's detector screens the same batch with its own scores.
        self._derived_key = f"keyword.analysis.{id(self)}"

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
        _, brands = batch.derived(self._derived_key, self._analyse)
        batch.annotations["brands"] = brands
        return StateNeeds()

    def detect(self, batch: ListingBatch, state: StateSnapshot) -> list[tuple[Reason, ...]]:
        reasons, brands = batch.derived(self._derived_key, self._analyse)
        batch.annotations["brands"] = brands
        return list(reasons)  # tuples inside: only the outer list could be changed

    def _analyse(self, batch: ListingBatch) -> _Analysis:
        """Every listing's reasons and brands, once per batch
        (needs and detect share it): one normalisation, one scan, one rules call, then the
        Reason objects."""
        listings = batch.listings
        if not listings:
            return [], []
        hits = self.matcher.find_listings(listings, scan_description=self.config.scan_description)
        if not len(hits):
            return [()] * len(listings), [()] * len(listings)
        return self.evidence.reasons(listings, self.rules.judge(listings, hits), hits.sources)
