"""The keyword rules in plain Python: the reference the rules kernel is checked against.

This is the readable statement of the rules documented in :mod:`detectors.keyword`, one
listing at a time, as the detector ran them before they moved into
:mod:`detectors._keyword_rule_kernels`. The tests feed both the same term matches and require
the same reasons, evidence and brands.
"""

from __future__ import annotations

from typing import Any

from config.keyword import KeywordConfig
from config.registry import Registry
from contract.listing import Listing
from contract.verdict import Reason
from detectors.keyword_lexicon import KIND_NAMES, Kind, Lexicon
from detectors.keyword_matcher import TermHits
from detectors.text.kinds import KIND_MASK, N_SPACE

FIELDS = ("title", "description", "brand")
TITLE, DESCRIPTION, CLAIMED = 0, 1, 2
_BRAND, _COUNTERFEIT, _PROHIBITED, _BENIGN = (
    Kind.BRAND, Kind.COUNTERFEIT, Kind.PROHIBITED, Kind.BENIGN
)  # fmt: skip
DETECTOR = "keyword"


class HitRows:
    """A batch's term matches as Python lists, with each group's claimed-brand flag."""

    def __init__(self, hits: TermHits) -> None:
        self.term: list[int] = hits.term.tolist()
        self.which: list[int] = hits.which.tolist()
        self.start: list[int] = hits.start.tolist()
        self.end: list[int] = hits.end.tolist()
        self.src_start: list[int] = hits.src_start.tolist()
        self.src_end: list[int] = hits.src_end.tolist()
        self.kinds = hits.text.kinds
        self._claims = dict(zip(hits.group_starts.tolist(), hits.claims().tolist(), strict=False))

    def claims_brand(self, first: int) -> bool:
        """Whether the listing whose matches start at ``first`` fills its brand field."""
        return self._claims[first]

    def adjacent(self, left_end: int, right_start: int) -> bool:
        """Nothing, or one space, between two matches (``end`` is inclusive)."""
        if left_end + 1 == right_start:
            return True
        return left_end + 2 == right_start and (self.kinds[left_end + 1] & KIND_MASK) == N_SPACE


class ReferenceRules:
    def __init__(self, config: KeywordConfig, registry: Registry, lexicon: Lexicon) -> None:
        self.config = config
        self.lexicon = lexicon
        terms = lexicon.terms
        self.kind = [int(term.kind) for term in terms]
        self.brand = [term.brand for term in terms]
        self.brand_ids = lexicon.brand_ids
        self.authorized = tuple(brand.authorized_stores for brand in registry.brands)
        self._term_docs: list[dict[str, Any]] = []
        for term in terms:
            doc: dict[str, Any] = {"term": term.text, "kind": KIND_NAMES[term.kind]}
            if term.brand >= 0:
                doc["brand"] = lexicon.brand_ids[term.brand]
            self._term_docs.append(doc)

    def judge_batch(
        self, listings: list[Listing], hits: TermHits
    ) -> tuple[list[list[Reason]], list[tuple[str, ...]]]:
        """Every listing's reasons and brands."""
        rows = HitRows(hits)
        reasons: list[list[Reason]] = [[] for _ in listings]
        brands: list[tuple[str, ...]] = [()] * len(listings)
        starts = hits.group_starts.tolist()
        for g, owner in enumerate(hits.owners.tolist()):
            reasons[owner], brands[owner] = self.judge(listings[owner], rows, starts[g],
                                                       starts[g + 1])  # fmt: skip
        return reasons, brands

    def term_docs(self, listing: Listing, rows: HitRows, hits: list[int]) -> list[dict[str, Any]]:
        """Each match once: the term as registered, its kind and brand, where the seller wrote
        it (field, code-point span) and what exactly was written there."""
        sources = (listing.title, listing.description, listing.brand or "")
        docs: list[dict[str, Any]] = []
        seen: set[tuple[int, int, int, int]] = set()
        for k in hits:
            term, which = rows.term[k], rows.which[k]
            start, end = rows.src_start[k], rows.src_end[k]
            key = (term, which, start, end)
            if key in seen:
                continue
            seen.add(key)
            docs.append({**self._term_docs[term], "field": FIELDS[which], "start": start,
                         "end": end, "text": sources[which][start:end]})  # fmt: skip
        return docs

    def evidence(
        self, listing: Listing, rows: HitRows, hits: list[int], brand: int = -1
    ) -> dict[str, Any]:
        docs = self.term_docs(listing, rows, hits)
        doc: dict[str, Any] = {"brand": self.brand_ids[brand]} if brand >= 0 else {}
        doc["terms"] = docs[: self.config.max_evidence_terms]
        doc["term_count"] = len(docs)
        return doc

    def judge(
        self, listing: Listing, rows: HitRows, first: int, stop: int
    ) -> tuple[list[Reason], tuple[str, ...]]:
        kind_of, brand_of, config, ids = self.kind, self.brand, self.config, self.brand_ids
        brand_hits: list[int] = []
        counterfeit: list[int] = []
        prohibited: list[int] = []
        context: list[int] = []
        claimed: list[int] = []
        for k in range(first, stop):
            kind = kind_of[rows.term[k]]
            if rows.which[k] == CLAIMED:
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
        benign = self.benign(rows, brand_hits + counterfeit + prohibited, context)
        store = listing.store_id
        text_brands: list[int] = []  # title first, in order of appearance
        title_brands: list[int] = []
        for k in brand_hits:
            if k in benign:
                continue
            brand = brand_of[rows.term[k]]
            if brand not in text_brands:
                text_brands.append(brand)
            if rows.which[k] == TITLE and brand not in title_brands:
                title_brands.append(brand)
        claimed_brands = [b for b in dict.fromkeys(claimed) if b not in text_brands]
        unauthorized = [
            b for b in (*text_brands, *claimed_brands) if store not in self.authorized[b]
        ]
        counterfeit = [k for k in counterfeit if k not in benign]
        prohibited = [k for k in prohibited if k not in benign]
        found: list[Reason] = []
        if prohibited:
            doc = self.evidence(listing, rows, prohibited)
            found.append(Reason(DETECTOR, "PROHIBITED_ITEM", config.prohibited_score, doc))
        if counterfeit and unauthorized:
            brand = unauthorized[0]
            hits = [k for k in brand_hits if brand_of[rows.term[k]] == brand] + counterfeit
            doc = self.evidence(listing, rows, hits, brand)
            score = config.brand_with_counterfeit_score
            found.append(Reason(DETECTOR, "BRAND_WITH_COUNTERFEIT_TERM", score, doc))
        elif counterfeit:
            doc = self.evidence(listing, rows, counterfeit, text_brands[0] if text_brands else -1)
            found.append(Reason(DETECTOR, "COUNTERFEIT_TERM", config.counterfeit_term_score, doc))
        elif unauthorized:
            hits = [k for k in brand_hits if brand_of[rows.term[k]] in unauthorized]
            doc = self.evidence(listing, rows, hits, unauthorized[0])
            doc["brands"] = [ids[b] for b in unauthorized]
            if unauthorized[0] in claimed_brands:
                doc["claimed"] = listing.brand
            score = config.brand_unauthorized_score
            found.append(Reason(DETECTOR, "BRAND_UNAUTHORIZED_STORE", score, doc))
        if len(title_brands) >= config.stuffing_min_brands:
            allowed = [b for b in title_brands if store in self.authorized[b]]
            if len(allowed) <= config.stuffing_max_authorized:
                hits = [k for k in brand_hits if rows.which[k] == TITLE and k not in benign]
                doc = self.evidence(listing, rows, hits, title_brands[0])
                doc["brands"] = [ids[b] for b in title_brands]
                doc["authorized"] = [ids[b] for b in allowed]
                found.append(Reason(DETECTOR, "KEYWORD_STUFFING", config.stuffing_score, doc))
        if title_brands and not set(claimed) & set(title_brands) and rows.claims_brand(first):
            hits = [k for k in brand_hits if rows.which[k] == TITLE and k not in benign]
            doc = self.evidence(listing, rows, hits, title_brands[0])
            doc["claimed"] = listing.brand
            doc["claimed_brand"] = ids[claimed[0]] if claimed else None
            doc["brands"] = [ids[b] for b in title_brands]
            found.append(Reason(DETECTOR, "BRAND_MISMATCH", config.brand_mismatch_score, doc))
        if benign:
            softened = self.softened(listing, rows, benign)
            if softened is not None:
                found.append(softened)
        return found, tuple([ids[b] for b in text_brands])

    def softened(self, listing: Listing, rows: HitRows, benign: dict[int, str]) -> Reason | None:
        """TERM_IN_BENIGN_PHRASE: the terms a benign phrase lowered, at their lowered score."""
        config = self.config
        score = 0.0
        for k in benign:
            kind = self.kind[rows.term[k]]
            if kind == _PROHIBITED:
                base = config.prohibited_score
            elif kind == _COUNTERFEIT:
                base = config.counterfeit_term_score
            else:
                authorized = listing.store_id in self.authorized[self.brand[rows.term[k]]]
                base = 0.0 if authorized else config.brand_unauthorized_score
            score = max(score, base * config.benign_factor)
        if score == 0.0 or score < config.benign_min_score:
            return None
        doc = self.evidence(listing, rows, list(benign))
        doc["benign"] = list(dict.fromkeys(benign.values()))
        return Reason(DETECTOR, "TERM_IN_BENIGN_PHRASE", score, doc)

    def benign(self, rows: HitRows, targets: list[int], context: list[int]) -> dict[int, str]:
        """Targets inside a benign phrase, or next to a ``<brand>`` cue -> that phrase."""
        if not context:
            return {}
        terms, templates, kind_of = self.lexicon.terms, self.lexicon.templates, self.kind
        phrases = [j for j in context if kind_of[rows.term[j]] == _BENIGN]
        cues = [j for j in context if kind_of[rows.term[j]] != _BENIGN]
        softened: dict[int, str] = {}
        for k in targets:
            which, start, end = rows.which[k], rows.start[k], rows.end[k]
            for j in phrases:
                if rows.which[j] == which and rows.start[j] <= start and end <= rows.end[j]:
                    softened[k] = terms[rows.term[j]].text
                    break
            if k in softened or not cues or kind_of[rows.term[k]] != _BRAND:
                continue
            near = [j for j in cues if rows.which[j] == which]
            before = {terms[rows.term[j]].template for j in near
                      if kind_of[rows.term[j]] == Kind.CUE_BEFORE
                      and rows.adjacent(rows.end[j], start)}  # fmt: skip
            after = {terms[rows.term[j]].template for j in near
                     if kind_of[rows.term[j]] == Kind.CUE_AFTER
                     and rows.adjacent(end, rows.start[j])}  # fmt: skip
            for template in sorted(before | after):
                shape = templates[template]
                if (not shape.before or template in before) and (
                    not shape.after or template in after
                ):
                    softened[k] = shape.phrase
                    break
        return softened
