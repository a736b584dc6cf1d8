"""The keyword rules as arrays: what they need from the registry and thresholds, and one call.

:class:`KeywordRules` holds, compiled once per registry and config, what the rules kernel
(:mod:`detectors._keyword_rule_kernels`) reads: each term's kind, brand and cue template, who
is authorised for which brand (stores as integers, each brand's sorted), the scores and limits.
:meth:`KeywordRules.judge` maps the stores of the listings that have matches to those integers
and judges the whole batch in one kernel call. The reason codes are documented in
:mod:`detectors.keyword`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from config.keyword import KeywordConfig
from config.registry import Registry
from contract.listing import Listing
from detectors import _keyword_rule_kernels as k
from detectors.keyword_lexicon import Lexicon
from detectors.keyword_matcher import TermHits

_CODE_NAMES = {
    k.C_PROHIBITED: "PROHIBITED_ITEM",
    k.C_BRAND_WITH_COUNTERFEIT: "BRAND_WITH_COUNTERFEIT_TERM",
    k.C_COUNTERFEIT: "COUNTERFEIT_TERM",
    k.C_UNAUTHORIZED: "BRAND_UNAUTHORIZED_STORE",
    k.C_STUFFING: "KEYWORD_STUFFING",
    k.C_MISMATCH: "BRAND_MISMATCH",
    k.C_BENIGN: "TERM_IN_BENIGN_PHRASE",
}
CODES = tuple(_CODE_NAMES[code] for code in range(len(_CODE_NAMES)))
"""Reason codes by the kernel's code number."""


class Judged(NamedTuple):
    """The kernel's verdict on a batch (see :func:`detectors._keyword_rule_kernels.judge_batch`;
    a tuple, which costs nothing to build from its result)."""

    simple: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    evidence: npt.NDArray[np.int64]
    lists: npt.NDArray[np.int64]
    annotation: npt.NDArray[np.int64]
    several: npt.NDArray[np.int64]
    annotated: npt.NDArray[np.int64]


class KeywordRules:
    def __init__(self, config: KeywordConfig, registry: Registry, lexicon: Lexicon) -> None:
        self.config = config
        terms = lexicon.terms
        # 32-bit tables (the kernel reads them at random, once per match: half the cache).
        self.term_kind = np.asarray([int(term.kind) for term in terms], dtype=np.uint8)
        self.term_brand = np.asarray([term.brand for term in terms], dtype=np.int32)
        self.term_template = np.asarray([term.template for term in terms], dtype=np.int32)
        self.template_before = np.asarray([t.before for t in lexicon.templates], dtype=np.bool_)
        self.template_after = np.asarray([t.after for t in lexicon.templates], dtype=np.bool_)
        stores = sorted({store for brand in registry.brands for store in brand.authorized_stores})
        self.store_index = {store: index for index, store in enumerate(stores)}
        """Every store the registry authorises for some brand -> its integer."""
        authorized = [
            sorted(self.store_index[store] for store in brand.authorized_stores)
            for brand in registry.brands
        ]
        self.auth_offsets = np.zeros(len(authorized) + 1, dtype=np.int32)
        self.auth_offsets[1:] = np.cumsum([len(row) for row in authorized])
        self.auth_stores = np.asarray([s for row in authorized for s in row], dtype=np.int32)
        scores = np.zeros(8, dtype=np.float64)
        scores[k.P_UNAUTHORIZED] = config.brand_unauthorized_score
        scores[k.P_BRAND_WITH_COUNTERFEIT] = config.brand_with_counterfeit_score
        scores[k.P_COUNTERFEIT] = config.counterfeit_term_score
        scores[k.P_PROHIBITED] = config.prohibited_score
        scores[k.P_STUFFING] = config.stuffing_score
        scores[k.P_MISMATCH] = config.brand_mismatch_score
        scores[k.P_BENIGN_FACTOR] = config.benign_factor
        scores[k.P_BENIGN_MIN] = config.benign_min_score
        self.scores = scores
        limits = np.zeros(3, dtype=np.int64)
        limits[k.L_STUFFING_MIN_BRANDS] = config.stuffing_min_brands
        limits[k.L_STUFFING_MAX_AUTHORIZED] = config.stuffing_max_authorized
        limits[k.L_MAX_EVIDENCE_TERMS] = config.max_evidence_terms
        self.limits = limits

    def stores(self, listings: Sequence[Listing], owners: npt.NDArray[np.int64]) -> list[int]:
        """The store integer of each listing that has matches (-1: authorised for nothing)."""
        index = self.store_index.get
        return [index(listings[owner].store_id, -1) for owner in owners.tolist()]

    def judge(self, listings: Sequence[Listing], hits: TermHits) -> Judged:
        stores = np.asarray(self.stores(listings, hits.owners), dtype=np.int64)
        return Judged._make(
            k.judge_batch(
                hits.hits,
                hits.group_starts,
                hits.owners,
                stores,
                hits.text.offsets,
                hits.n_listings,
                hits.text.kinds,
                self.term_kind,
                self.term_brand,
                self.term_template,
                self.template_before,
                self.template_after,
                self.auth_offsets,
                self.auth_stores,
                self.scores,
                self.limits,
            )
        )
