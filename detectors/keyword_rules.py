"""The keyword detector's rules: from one listing's term matches to reasons and evidence.

:class:`KeywordRules` holds what the rules need from the registry and the thresholds (who is
authorised for which brand, the scores) and turns the matches of one listing into its reasons
and the brands it names. The reason codes are documented in :mod:`detectors.keyword`.

Three paths, from the hottest: :meth:`KeywordRules.judge_single_brands` for the listings
whose only match is one brand name in the title or description (most listings that match
anything; one plain loop over all of them), :meth:`KeywordRules.judge_brands` when all the
matches are brand names, and :meth:`KeywordRules.judge`, the general rules, for the rest. The
three agree: the short paths are the general rules with the branches that cannot apply cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

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
    """A batch's term matches as Python lists (cheaper to index one at a time than numpy).

    Fields are interleaved per listing (title, description, claimed brand), so the matches
    of one listing are contiguous and in order: title first, then description.
    """

    __slots__ = ("_offsets", "end", "field", "kinds", "offsets", "src_end", "src_start", "start",
                 "term", "which")  # fmt: skip

    def __init__(self, hits: TermHits) -> None:
        self.term: list[int] = hits.term.tolist()
        self.field: list[int] = hits.field.tolist()
        self.which: list[int] = (hits.field % 3).tolist()
        self.start: list[int] = hits.start.tolist()
        self.end: list[int] = hits.end.tolist()
        self.src_start: list[int] = hits.src_start.tolist()
        self.src_end: list[int] = hits.src_end.tolist()
        self.kinds: npt.NDArray[np.uint8] = hits.text.kinds
        self.offsets: npt.NDArray[np.int64] = hits.text.offsets
        self._offsets: list[int] | None = None

    def claims_brand(self, k: int) -> bool:
        """Whether the listing of match ``k`` fills its brand field (with anything that
        normalises to text: a brand of only spaces or symbols claims nothing)."""
        if self._offsets is None:
            self._offsets = self.offsets.tolist()
        claimed = self.field[k] - self.field[k] % 3 + CLAIMED
        return self._offsets[claimed + 1] - self._offsets[claimed] > 1

    def adjacent(self, left_end: int, right_start: int) -> bool:
        """Nothing, or one space, between two matches (``end`` is inclusive)."""
        if left_end + 1 == right_start:
            return True
        return left_end + 2 == right_start and (self.kinds[left_end + 1] & KIND_MASK) == N_SPACE


class KeywordRules:
    def __init__(self, config: KeywordConfig, registry: Registry, lexicon: Lexicon) -> None:
        self.config = config
        self.lexicon = lexicon
        terms = lexicon.terms
        self.kind = [int(term.kind) for term in terms]
        self.brand = [term.brand for term in terms]
        self.brand_ids = lexicon.brand_ids
        self.authorized = tuple(brand.authorized_stores for brand in registry.brands)
        self._one_brand = tuple((brand_id,) for brand_id in self.brand_ids)
        self._brand_array = np.asarray(self.brand, dtype=np.int64)
        self._term_text = [term.text for term in terms]
        # The fixed part of each term's evidence, built once.
        self._term_docs: list[dict[str, Any]] = []
        for term in terms:
            doc: dict[str, Any] = {"term": term.text, "kind": KIND_NAMES[term.kind]}
            if term.brand >= 0:
                doc["brand"] = lexicon.brand_ids[term.brand]
            self._term_docs.append(doc)

    # Evidence.

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

    # The common path.

    def judge_single_brands(
        self,
        listings: Sequence[Listing],
        hits: TermHits,
        owners: npt.NDArray[np.int64],
        matches: npt.NDArray[np.int64],
        reasons: list[list[Reason]],
        brands: list[tuple[str, ...]],
    ) -> None:
        """Listings whose one match is a brand name in the title or description, with no
        claimed brand: the hot path of the detector, one plain loop over all of them, with the
        evidence written out in full (same as :meth:`evidence` gives, only cheaper)."""
        authorized, ids, one_brand, text_of = (
            self.authorized, self.brand_ids, self._one_brand, self._term_text
        )  # fmt: skip
        score = self.config.brand_unauthorized_score
        terms = hits.term[matches]
        for index, term, brand, field, start, end in zip(
            owners.tolist(),
            terms.tolist(),
            self._brand_array[terms].tolist(),
            (hits.field[matches] % 3).tolist(),
            hits.src_start[matches].tolist(),
            hits.src_end[matches].tolist(),
            strict=True,
        ):
            listing = listings[index]
            brands[index] = one_brand[brand]
            if listing.store_id in authorized[brand]:
                continue
            source = listing.title if field == TITLE else listing.description
            brand_id = ids[brand]
            doc = {
                "brand": brand_id,
                "terms": [{"term": text_of[term], "kind": "brand", "brand": brand_id,
                           "field": FIELDS[field], "start": start, "end": end,
                           "text": source[start:end]}],
                "term_count": 1,
                "brands": [brand_id],
            }  # fmt: skip
            reasons[index] = [Reason(DETECTOR, "BRAND_UNAUTHORIZED_STORE", score, doc)]

    def judge_brands(
        self, listing: Listing, rows: HitRows, first: int, stop: int
    ) -> tuple[list[Reason], tuple[str, ...]]:
        """Matches that are all brand names in the title or description, no claimed brand."""
        brand_of, term = self.brand, rows.term
        named = [brand_of[term[first]]]
        for k in range(first + 1, stop):
            brand = brand_of[term[k]]
            if brand not in named:
                named.append(brand)
        if len(named) >= self.config.stuffing_min_brands:
            return self.judge(listing, rows, first, stop)
        ids = self.brand_ids
        annotation = tuple([ids[b] for b in named])
        store = listing.store_id
        unauthorized = [b for b in named if store not in self.authorized[b]]
        if not unauthorized:
            return [], annotation
        hits = [k for k in range(first, stop) if brand_of[term[k]] in unauthorized]
        doc = self.evidence(listing, rows, hits, unauthorized[0])
        doc["brands"] = [ids[b] for b in unauthorized]
        score = self.config.brand_unauthorized_score
        return [Reason(DETECTOR, "BRAND_UNAUTHORIZED_STORE", score, doc)], annotation

    # The general path.

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
