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

import numpy as np
import numpy.typing as npt

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
_UNAUTHORIZED_CODE = CODES[k.C_UNAUTHORIZED]


def _slot_setters() -> tuple[Callable[[Reason, Any], None], ...]:
    """The setters of ``Reason``'s slots, in field order."""
    names = tuple(field.name for field in dataclasses.fields(Reason))
    if names != ("detector", "code", "score", "evidence"):  # a programming error, caught by
        raise RuntimeError(f"Reason has the fields {names}: update new_reason")  # any test
    slots = vars(Reason)
    return tuple(slots[name].__set__ for name in names)


_SET_DETECTOR, _SET_CODE, _SET_SCORE, _SET_EVIDENCE = _slot_setters()


def new_reason(code: str, score: float, evidence: dict[str, Any]) -> Reason:
    """``Reason(DETECTOR, code, score, evidence)`` at half the cost.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, the
    largest single cost of a keyword reason; the slots' own setters do the same directly. The
    object is a plain ``Reason`` (equal, frozen, hashable alike).
    """
    reason: Reason = object.__new__(Reason)
    _SET_DETECTOR(reason, DETECTOR)
    _SET_CODE(reason, code)
    _SET_SCORE(reason, score)
    _SET_EVIDENCE(reason, evidence)
    return reason


class EvidenceBuilder:
    def __init__(self, lexicon: Lexicon, unauthorized_score: float) -> None:
        ids = lexicon.brand_ids
        self.brand_ids = ids
        self.unauthorized_score = unauthorized_score
        self.term_text = [term.text for term in lexicon.terms]
        self.term_kind = [KIND_NAMES[term.kind] for term in lexicon.terms]
        self.term_brand: list[str | None] = [
            ids[term.brand] if term.brand >= 0 else None for term in lexicon.terms
        ]
        self.phrase_text = self.term_text + [template.phrase for template in lexicon.templates]
        """Benign phrase ids (a term id, or the number of terms plus a template) -> text."""
        # Brand index -> the one-brand annotation; -1 (none) and -2 (several, filled in
        # after) read the empty tuple at the end.
        self.one_brand: npt.NDArray[np.object_] = np.empty(len(ids) + 2, dtype=object)
        for index, brand_id in enumerate(ids):
            self.one_brand[index] = (brand_id,)
        self.one_brand[-1] = self.one_brand[-2] = ()

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
        self, listings: Sequence[Listing], judged: Judged, sources: Sequence[str]
    ) -> tuple[list[tuple[Reason, ...]], list[tuple[str, ...]]]:
        """Every listing's reasons (one shared empty tuple for most) and brands (the batch
        annotation). ``sources`` are the fields as scanned (:attr:`TermHits.sources`)."""
        ids, text_of, n = self.brand_ids, self.term_text, len(listings)
        found: list[tuple[Reason, ...]] = [()] * n
        code, score = _UNAUTHORIZED_CODE, self.unauthorized_score
        new, cls = object.__new__, Reason
        set_detector, set_code, set_score, set_evidence = (
            _SET_DETECTOR, _SET_CODE, _SET_SCORE, _SET_EVIDENCE
        )  # fmt: skip
        for owner, brand, term_id, which, start, end, count in judged.simple.tolist():
            # The common listing: one brand, from an unauthorised store, written once.
            source = sources[which * n + owner]  # the title or description that names it
            brand_id = ids[brand]
            doc = {
                "brand": brand_id,
                "terms": [{"term": text_of[term_id], "kind": "brand", "brand": brand_id,
                           "field": FIELDS[which], "start": start, "end": end,
                           "text": source[start:end]}],
                "term_count": count,
                "brands": [brand_id],
            }  # fmt: skip
            reason: Reason = new(cls)  # new_reason(code, score, doc), inlined: the hottest loop
            set_detector(reason, DETECTOR)
            set_code(reason, code)
            set_score(reason, score)
            set_evidence(reason, doc)
            found[owner] = (reason,)
        if len(judged.rows):
            self._general(listings, judged, found)
        brands: list[tuple[str, ...]] = self.one_brand[judged.annotation].tolist()
        annotated = judged.annotated.tolist()
        for owner, offset, count in judged.several.tolist():
            brands[owner] = tuple([ids[b] for b in annotated[offset : offset + count]])
        return found, brands

    def _general(
        self, listings: Sequence[Listing], judged: Judged, found: list[tuple[Reason, ...]]
    ) -> None:
        """Every other reason, row by row (a listing's rows are consecutive)."""
        ids, term = self.brand_ids, self.term
        evidence = judged.evidence.tolist()
        lists = judged.lists.tolist()
        for (owner, code, brand, e0, e1, count, l0, l1, l2, extra), score in zip(
            judged.rows.tolist(), judged.scores.tolist(), strict=True
        ):
            listing = listings[owner]
            if e1 - e0 == 1:  # most: one term (a counterfeit or prohibited one)
                terms = [term(listing, *evidence[e0])]
            else:
                terms = [term(listing, *evidence[i]) for i in range(e0, e1)]
            if brand >= 0:
                doc: dict[str, Any] = {"brand": ids[brand], "terms": terms, "term_count": count}
            else:
                doc = {"terms": terms, "term_count": count}
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
            found[owner] += (new_reason(CODES[code], score, doc),)
