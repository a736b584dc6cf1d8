"""Reasons with evidence, from the rules kernel's rows: the only per-listing Python work left.

The kernel (:mod:`detectors._keyword_rule_kernels`) has decided everything: which reasons, their
scores, which matches each lists. :class:`EvidenceBuilder` turns each row into a
:class:`~contract.verdict.Reason` whose evidence is plain JSON (the layout is documented in
:mod:`detectors.keyword`), and the annotation rows into each listing's brands. Everything that
depends only on the registry (brand ids, term texts, phrase texts, one-brand tuples) is looked
up once, when the detector is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from contract.listing import Listing
from contract.verdict import Reason
from detectors import _keyword_rule_kernels as k
from detectors.keyword_lexicon import KIND_NAMES, Lexicon
from detectors.keyword_rules import CODES, Judged

FIELDS = ("title", "description", "brand")
DETECTOR = "keyword"
_TITLE, _DESCRIPTION = k.TITLE, k.DESCRIPTION
_UNAUTHORIZED, _STUFFING, _MISMATCH, _BENIGN = (
    k.C_UNAUTHORIZED, k.C_STUFFING, k.C_MISMATCH, k.C_BENIGN
)  # fmt: skip


def _reason_factory() -> Callable[[str, float, dict[str, Any]], Reason]:
    """``Reason(DETECTOR, code, score, evidence)`` at half the cost.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, the
    largest single cost of a keyword reason; the slots' own setters do the same directly. The
    object is a plain ``Reason`` (equal, frozen, hashable alike). Should the contract ever add
    a field, this falls back to the constructor.
    """
    names = tuple(field.name for field in dataclasses.fields(Reason))
    if names != ("detector", "code", "score", "evidence"):
        return lambda code, score, evidence: Reason(DETECTOR, code, score, evidence)
    slots = vars(Reason)
    set_detector, set_code = slots["detector"].__set__, slots["code"].__set__
    set_score, set_evidence = slots["score"].__set__, slots["evidence"].__set__
    new = object.__new__

    def make(code: str, score: float, evidence: dict[str, Any]) -> Reason:
        reason: Reason = new(Reason)
        set_detector(reason, DETECTOR)
        set_code(reason, code)
        set_score(reason, score)
        set_evidence(reason, evidence)
        return reason

    return make


new_reason = _reason_factory()


class EvidenceBuilder:
    def __init__(self, lexicon: Lexicon) -> None:
        ids = lexicon.brand_ids
        self.brand_ids = ids
        self.one_brand = tuple((brand_id,) for brand_id in ids)
        self.term_text = [term.text for term in lexicon.terms]
        self.term_kind = [KIND_NAMES[term.kind] for term in lexicon.terms]
        self.term_brand: list[str | None] = [
            ids[term.brand] if term.brand >= 0 else None for term in lexicon.terms
        ]
        self.phrase_text = self.term_text + [template.phrase for template in lexicon.templates]
        """Benign phrase ids (a term id, or the number of terms plus a template) -> text."""

    def term(self, listing: Listing, term: int, which: int, start: int, end: int) -> dict[str, Any]:
        """One match: the term as registered, its kind and brand, where the seller wrote it
        (field, code-point span) and what exactly was written there."""
        if which == _TITLE:
            source = listing.title
        elif which == _DESCRIPTION:
            source = listing.description
        else:
            source = listing.brand or ""
        brand = self.term_brand[term]
        if brand is None:
            return {"term": self.term_text[term], "kind": self.term_kind[term],
                    "field": FIELDS[which], "start": start, "end": end,
                    "text": source[start:end]}  # fmt: skip
        return {"term": self.term_text[term], "kind": self.term_kind[term], "brand": brand,
                "field": FIELDS[which], "start": start, "end": end,
                "text": source[start:end]}  # fmt: skip

    def reasons(
        self, listings: Sequence[Listing], judged: Judged
    ) -> tuple[list[tuple[Reason, ...]], list[tuple[str, ...]]]:
        """Every listing's reasons (one shared empty tuple for most) and brands (the batch
        annotation)."""
        ids, text_of, term, reason = self.brand_ids, self.term_text, self.term, new_reason
        evidence = judged.evidence.tolist()
        lists = judged.lists.tolist()
        found: list[tuple[Reason, ...]] = [()] * len(listings)
        for (owner, code, brand, e0, e1, count, l0, l1, l2, extra), score in zip(
            judged.rows.tolist(), judged.scores.tolist(), strict=True
        ):
            listing = listings[owner]
            if code == _UNAUTHORIZED and e1 - e0 == 1 and l1 - l0 == 1 and not extra:
                # The common reason: one brand, from an unauthorised store, written once.
                term_id, which, start, end = evidence[e0]
                source = listing.title if which == _TITLE else listing.description
                brand_id = ids[brand]
                doc: dict[str, Any] = {
                    "brand": brand_id,
                    "terms": [{"term": text_of[term_id], "kind": "brand", "brand": brand_id,
                               "field": FIELDS[which], "start": start, "end": end,
                               "text": source[start:end]}],
                    "term_count": count,
                    "brands": [brand_id],
                }  # fmt: skip
            else:
                doc = {"brand": ids[brand]} if brand >= 0 else {}
                doc["terms"] = [term(listing, *evidence[i]) for i in range(e0, e1)]
                doc["term_count"] = count
                if code == _UNAUTHORIZED:
                    doc["brands"] = [ids[b] for b in lists[l0:l1]]
                    if extra:
                        doc["claimed"] = listing.brand
                elif code == _STUFFING:
                    doc["brands"] = [ids[b] for b in lists[l0:l1]]
                    doc["authorized"] = [ids[b] for b in lists[l1:l2]]
                elif code == _MISMATCH:
                    doc["claimed"] = listing.brand
                    doc["claimed_brand"] = ids[extra] if extra >= 0 else None
                    doc["brands"] = [ids[b] for b in lists[l0:l1]]
                elif code == _BENIGN:
                    doc["benign"] = [self.phrase_text[p] for p in lists[l1:l2]]
            # A listing's rows are consecutive; most listings have one.
            found[owner] += (reason(CODES[code], score, doc),)
        brands: list[tuple[str, ...]] = [()] * len(listings)
        annotated = judged.annotated.tolist()
        one = self.one_brand
        for owner, first, count, offset in judged.annotations.tolist():
            if count == 1:
                brands[owner] = one[first]
            else:
                brands[owner] = tuple([ids[b] for b in annotated[offset : offset + count]])
        return found, brands
