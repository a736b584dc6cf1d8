"""The keyword detector: registered brands, counterfeit terms, stuffing and prohibited items.

It finds the registry's brand names and aliases, the counterfeit and prohibited terms and the
benign phrases in each listing's title, description and claimed ``brand`` field, however the
seller disguised them (see :mod:`detectors.text.normalize`), with one normalisation call and
one automaton walk per batch. It sets ``batch.annotations["brands"]``: for each listing, the
registry brand ids found in its title and description (in order of appearance, brands found
only inside a benign phrase, such as ``compatible with <brand>``, left out).

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
``text`` found there), ``term_count``, and per code ``brands``, ``claimed``, ``benign``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from config.keyword import KeywordConfig
from config.registry import Registry
from config.thresholds import ScreenConfig
from contract.listing import Listing
from contract.verdict import Reason
from detectors.base import Detector
from detectors.batch import ListingBatch
from detectors.keyword_lexicon import KIND_NAMES, Kind, compile_lexicon
from detectors.keyword_matcher import TermHits, TermMatcher
from detectors.text.kinds import KIND_MASK, N_SPACE
from detectors.text.normalize import TextNormalizer
from state.base import StateSnapshot

FIELDS = ("title", "description", "brand")
_TITLE, _DESCRIPTION, _CLAIMED = 0, 1, 2
_BRAND, _COUNTERFEIT, _PROHIBITED, _BENIGN = (
    Kind.BRAND, Kind.COUNTERFEIT, Kind.PROHIBITED, Kind.BENIGN
)  # fmt: skip


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
        terms = self.lexicon.terms
        self._kind = [int(term.kind) for term in terms]
        self._kind_array = np.asarray(self._kind, dtype=np.int8)
        self._brand = [term.brand for term in terms]
        self._brand_ids = self.lexicon.brand_ids
        self._authorized = tuple(brand.authorized_stores for brand in registry.brands)

    @classmethod
    def build(cls, config: ScreenConfig, registry: Registry) -> KeywordDetector | None:
        own = config.detectors.keyword
        return cls(own, registry) if own.enabled else None

    def warm(self) -> None:
        self.matcher.warm()

    def detect(self, batch: ListingBatch, state: StateSnapshot) -> list[list[Reason]]:
        listings = batch.listings
        n = len(listings)
        reasons: list[list[Reason]] = [[] for _ in range(n)]
        brands: list[tuple[str, ...]] = [()] * n
        if n:
            # Fields grouped by kind (all titles, then descriptions, then claimed brands):
            # three cheap comprehensions; field f is listing f % n.
            descriptions = [x.description for x in listings] if self.config.scan_description else []
            texts = [x.title for x in listings]
            texts += descriptions or [""] * n
            texts += [x.brand or "" for x in listings]
            hits = self.matcher.find(texts)
            if len(hits):
                self._judge_all(listings, hits, reasons, brands)
        batch.annotations["brands"] = brands
        return reasons

    def _judge_all(
        self,
        listings: Sequence[Listing],
        hits: TermHits,
        reasons: list[list[Reason]],
        brands: list[tuple[str, ...]],
    ) -> None:
        n = len(listings)
        owner = hits.field % n
        order = np.argsort(owner, kind="stable")  # by listing; titles before descriptions
        owner = owner[order]
        rows = _Rows(hits, order, n)
        kinds = self._kind_array[rows.term_array]
        # Listings whose hits are all brand names in the title or description take the short
        # path (the common case); anything else goes through the general rules.
        plain = (kinds == _BRAND) & (rows.which_array != _CLAIMED)
        cuts = np.flatnonzero(np.diff(owner)) + 1
        starts = np.concatenate(([0], cuts))
        stops = np.concatenate((cuts, [len(owner)]))
        simple = np.logical_and.reduceat(plain, starts).tolist()
        for first, stop, easy, index in zip(
            starts.tolist(), stops.tolist(), simple, owner[starts].tolist(), strict=True
        ):
            listing = listings[index]
            if easy and not listing.brand:
                found = self._judge_brands(listing, rows, first, stop)
            else:
                found = self._judge(listing, rows, first, stop)
            if found is not None:
                reasons[index], brands[index] = found

    def _judge_brands(
        self, listing: Listing, rows: _Rows, first: int, stop: int
    ) -> tuple[list[Reason], tuple[str, ...]] | None:
        """Only brand names in the text, no claimed brand: annotation, maybe one reason.

        Returns ``None`` when the general rules are needed after all (possible stuffing)."""
        brand_of = self._brand
        named: list[int] = []
        for k in range(first, stop):
            brand = brand_of[rows.term[k]]
            if brand not in named:
                named.append(brand)
        if len(named) >= self.config.stuffing_min_brands:
            return self._judge(listing, rows, first, stop)
        store = listing.store_id
        unauthorized = [b for b in named if store not in self._authorized[b]]
        ids = self._brand_ids
        annotation = tuple(ids[b] for b in named)
        if not unauthorized:
            return [], annotation
        terms = [k for k in range(first, stop) if brand_of[rows.term[k]] in unauthorized]
        doc = _Evidence(self, listing, rows).terms(terms, brand=ids[unauthorized[0]])
        doc["brands"] = [ids[b] for b in unauthorized]
        reason = self._reason("BRAND_UNAUTHORIZED_STORE", self.config.brand_unauthorized_score, doc)
        return [reason], annotation

    def _judge(
        self, listing: Listing, rows: _Rows, first: int, stop: int
    ) -> tuple[list[Reason], tuple[str, ...]]:
        kind_of, brand_of = self._kind, self._brand
        brand_hits: list[int] = []
        counterfeit: list[int] = []
        prohibited: list[int] = []
        context: list[int] = []
        claimed: list[int] = []
        for k in range(first, stop):
            kind = kind_of[rows.term[k]]
            if rows.which[k] == _CLAIMED:
                if kind == _BRAND:
                    claimed.append(brand_of[rows.term[k]])
            elif kind == _BRAND:
                brand_hits.append(k)
            elif kind == _COUNTERFEIT:
                counterfeit.append(k)
            elif kind == _PROHIBITED:
                prohibited.append(k)
            else:
                context.append(k)
        benign = (
            self._benign(rows, brand_hits + counterfeit + prohibited, context) if context else {}
        )
        store = listing.store_id
        text_brands: list[int] = []  # title first, in order of appearance
        title_brands: list[int] = []
        for k in brand_hits:
            if k in benign:
                continue
            brand = brand_of[rows.term[k]]
            if brand not in text_brands:
                text_brands.append(brand)
            if rows.which[k] == _TITLE and brand not in title_brands:
                title_brands.append(brand)
        claimed_brands = [b for b in dict.fromkeys(claimed) if b not in text_brands]
        unauthorized = [
            b for b in (*text_brands, *claimed_brands) if store not in self._authorized[b]
        ]
        counterfeit = [k for k in counterfeit if k not in benign]
        prohibited = [k for k in prohibited if k not in benign]
        evidence = _Evidence(self, listing, rows)
        config = self.config
        found: list[Reason] = []
        if prohibited:
            found.append(self._reason("PROHIBITED_ITEM", config.prohibited_score,
                                      evidence.terms(prohibited)))  # fmt: skip
        if counterfeit and unauthorized:
            brand = unauthorized[0]
            terms = [k for k in brand_hits if brand_of[rows.term[k]] == brand] + counterfeit
            doc = evidence.terms(terms, brand=self._brand_ids[brand])
            found.append(
                self._reason("BRAND_WITH_COUNTERFEIT_TERM", config.brand_with_counterfeit_score,
                             doc)
            )  # fmt: skip
        elif counterfeit:
            brand_id = self._brand_ids[text_brands[0]] if text_brands else None
            doc = evidence.terms(counterfeit, brand=brand_id)
            found.append(self._reason("COUNTERFEIT_TERM", config.counterfeit_term_score, doc))
        elif unauthorized:
            brand = unauthorized[0]
            terms = [k for k in brand_hits if brand_of[rows.term[k]] in unauthorized]
            doc = evidence.terms(terms, brand=self._brand_ids[brand])
            doc["brands"] = [self._brand_ids[b] for b in unauthorized]
            if brand in claimed_brands:
                doc["claimed"] = listing.brand
            found.append(
                self._reason("BRAND_UNAUTHORIZED_STORE", config.brand_unauthorized_score, doc)
            )
        if len(title_brands) >= config.stuffing_min_brands:
            allowed = [b for b in title_brands if store in self._authorized[b]]
            if len(allowed) <= config.stuffing_max_authorized:
                terms = [k for k in brand_hits if rows.which[k] == _TITLE and k not in benign]
                doc = evidence.terms(terms, brand=self._brand_ids[title_brands[0]])
                doc["brands"] = [self._brand_ids[b] for b in title_brands]
                doc["authorized"] = [self._brand_ids[b] for b in allowed]
                found.append(self._reason("KEYWORD_STUFFING", config.stuffing_score, doc))
        claims = bool(listing.brand and listing.brand.strip())
        if claims and title_brands and not set(claimed) & set(title_brands):
            found.append(self._mismatch(listing, claimed, title_brands, brand_hits, evidence))
        if benign:
            softened = self._softened(listing, rows, benign, unauthorized, evidence)
            if softened is not None:
                found.append(softened)
        return found, tuple(self._brand_ids[b] for b in text_brands)

    def _mismatch(
        self,
        listing: Listing,
        claimed: list[int],
        title_brands: list[int],
        brand_hits: list[int],
        evidence: _Evidence,
    ) -> Reason:
        rows = evidence.rows
        terms = [k for k in brand_hits if rows.which[k] == _TITLE
                 and self._brand[rows.term[k]] in title_brands]  # fmt: skip
        doc = evidence.terms(terms, brand=self._brand_ids[title_brands[0]])
        doc["claimed"] = listing.brand
        doc["claimed_brand"] = self._brand_ids[claimed[0]] if claimed else None
        doc["brands"] = [self._brand_ids[b] for b in title_brands]
        return self._reason("BRAND_MISMATCH", self.config.brand_mismatch_score, doc)

    def _softened(
        self,
        listing: Listing,
        rows: _Rows,
        benign: dict[int, str],
        unauthorized: list[int],
        evidence: _Evidence,
    ) -> Reason | None:
        config = self.config
        score = 0.0
        for k in benign:
            kind = self._kind[rows.term[k]]
            if kind == _PROHIBITED:
                base = config.prohibited_score
            elif kind == _COUNTERFEIT:
                base = config.counterfeit_term_score
            else:
                brand = self._brand[rows.term[k]]
                authorized = listing.store_id in self._authorized[brand]
                base = 0.0 if authorized else config.brand_unauthorized_score
            score = max(score, base * config.benign_factor)
        if score < config.benign_min_score or score == 0.0:
            return None
        doc = evidence.terms(list(benign))
        doc["benign"] = list(dict.fromkeys(benign.values()))
        return self._reason("TERM_IN_BENIGN_PHRASE", score, doc)

    def _benign(self, rows: _Rows, targets: list[int], context: list[int]) -> dict[int, str]:
        """Targets found inside a benign phrase or next to a brand cue -> the phrase."""
        terms = self.lexicon.terms
        templates = self.lexicon.templates
        phrases = [j for j in context if self._kind[rows.term[j]] == _BENIGN]
        cues = [j for j in context if self._kind[rows.term[j]] != _BENIGN]
        softened: dict[int, str] = {}
        for k in targets:
            which, start, end = rows.which[k], rows.start[k], rows.end[k]
            for j in phrases:
                if rows.which[j] == which and rows.start[j] <= start and end <= rows.end[j]:
                    softened[k] = terms[rows.term[j]].text
                    break
            if k in softened or not cues or self._kind[rows.term[k]] != _BRAND:
                continue
            for template in dict.fromkeys(terms[rows.term[j]].template for j in cues):
                shape = templates[template]
                ok_before = not shape.before or any(
                    terms[rows.term[j]].template == template
                    and self._kind[rows.term[j]] == Kind.CUE_BEFORE
                    and rows.which[j] == which
                    and rows.adjacent(rows.end[j], start)
                    for j in cues
                )
                ok_after = not shape.after or any(
                    terms[rows.term[j]].template == template
                    and self._kind[rows.term[j]] == Kind.CUE_AFTER
                    and rows.which[j] == which
                    and rows.adjacent(end, rows.start[j])
                    for j in cues
                )
                if ok_before and ok_after:
                    softened[k] = shape.phrase
                    break
        return softened

    def _reason(self, code: str, score: float, evidence: dict[str, Any]) -> Reason:
        return Reason(self.name, code, score, evidence)


class _Rows:
    """The batch's hits, sorted by listing, as Python lists (indexing lists is much cheaper
    than indexing numpy arrays one scalar at a time)."""

    __slots__ = (
        "end", "kinds", "src_end", "src_start", "start", "term", "term_array", "which",
        "which_array",
    )  # fmt: skip

    def __init__(self, hits: TermHits, order: npt.NDArray[np.intp], n_listings: int) -> None:
        self.term_array = hits.term[order]
        self.which_array = hits.field[order] // n_listings
        self.term: list[int] = self.term_array.tolist()
        self.which: list[int] = self.which_array.tolist()
        self.start: list[int] = hits.start[order].tolist()
        self.end: list[int] = hits.end[order].tolist()
        self.src_start: list[int] = hits.src_start[order].tolist()
        self.src_end: list[int] = hits.src_end[order].tolist()
        self.kinds = hits.text.kinds

    def adjacent(self, left_end: int, right_start: int) -> bool:
        """Nothing, or one space, between two matches (``end`` is inclusive)."""
        if left_end + 1 == right_start:
            return True
        return left_end + 2 == right_start and (self.kinds[left_end + 1] & KIND_MASK) == N_SPACE


class _Evidence:
    def __init__(self, detector: KeywordDetector, listing: Listing, rows: _Rows) -> None:
        self.detector = detector
        self.listing = listing
        self.rows = rows

    def terms(self, hits: list[int], *, brand: str | None = None) -> dict[str, Any]:
        rows, lexicon = self.rows, self.detector.lexicon
        sources = (self.listing.title, self.listing.description, self.listing.brand or "")
        docs: list[dict[str, Any]] = []
        seen: set[tuple[int, int, int, int, int]] = set()
        for k in hits:
            term = lexicon.terms[rows.term[k]]
            which, start, end = rows.which[k], rows.src_start[k], rows.src_end[k]
            key = (int(term.kind), term.brand, which, start, end)
            if key in seen:
                continue
            seen.add(key)
            doc: dict[str, Any] = {
                "term": term.text,
                "kind": KIND_NAMES[term.kind],
                "field": FIELDS[which],
                "start": start,
                "end": end,
                "text": sources[which][start:end],
            }
            if term.brand >= 0:
                doc["brand"] = lexicon.brand_ids[term.brand]
            docs.append(doc)
        limit = self.detector.config.max_evidence_terms
        evidence: dict[str, Any] = {"terms": docs[:limit], "term_count": len(docs)}
        if brand is not None:
            evidence = {"brand": brand, **evidence}
        return evidence
