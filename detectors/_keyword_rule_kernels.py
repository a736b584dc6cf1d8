"""Numba kernel of the keyword rules: from a batch's term matches to reason rows.

One call judges every listing of a batch that has any match, so the per-listing Python work
left is building the ``Reason`` objects of the listings that get one
(:mod:`detectors.keyword_evidence`). The rules are documented in :mod:`detectors.keyword`;
``tests/detectors/keyword_reference.py`` holds them in plain Python, and the tests check that
this kernel agrees with it on random batches.

Input: the matches of :func:`detectors._keyword_kernels.find_terms` (grouped by listing, title
first, each field in text order), each group's store (an index into the registry's authorised
stores, -1 for a store authorised for nothing) and the normalised field offsets (whether a
listing fills its claimed ``brand`` field). Output: the common reason (a listing's only reason
is one unauthorised brand written once) as one compact row of :data:`SIMPLE_WIDTH` integers;
every other reason as one row of :data:`ROW_WIDTH` integers (listing, code, brand, evidence
range, term count, list ranges, extra) and its score, with its evidence rows (term, field,
source start, source end, deduplicated and cut at ``max_evidence_terms``) and integer lists
(brand indices; benign phrase ids); and the brands each listing names (the batch annotation).

The kernel and its helpers are one module on purpose (past the usual size): Numba's on-disk
cache of a function is invalidated by changes to its own source file only, so code compiled
together must live together.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors._keyword_kernels import (
    HIT_END,
    HIT_SRC_END,
    HIT_SRC_START,
    HIT_START,
    HIT_TERM,
    HIT_WHICH,
)
from detectors.text.kinds import KIND_MASK, N_SPACE

# Term kinds (``detectors.keyword_lexicon.Kind`` takes its values from here).
K_BRAND = 0
K_COUNTERFEIT = 1
K_PROHIBITED = 2
K_BENIGN = 3
K_CUE_BEFORE = 4
K_CUE_AFTER = 5

# Fields of a listing.
TITLE = 0
DESCRIPTION = 1
CLAIMED = 2

# Reason codes, in the order a listing's reasons are reported.
C_PROHIBITED = 0
C_BRAND_WITH_COUNTERFEIT = 1
C_COUNTERFEIT = 2
C_UNAUTHORIZED = 3
C_STUFFING = 4
C_MISMATCH = 5
C_BENIGN = 6

# Columns of a reason row.
R_OWNER = 0
R_CODE = 1
R_BRAND = 2
"""The reason's brand (``evidence["brand"]``), -1 for none."""
R_EV_START = 3
R_EV_END = 4
"""Its evidence rows: ``evidence[R_EV_START:R_EV_END]``."""
R_COUNT = 5
"""``term_count``: distinct matches before the cut at ``max_evidence_terms``."""
R_LIST = 6
R_LIST_MID = 7
R_LIST_END = 8
"""``lists[R_LIST:R_LIST_MID]``: the brands concerned; ``lists[R_LIST_MID:R_LIST_END]``: the
authorised ones (stuffing) or the benign phrase ids (a term id, or ``n_terms + template``)."""
R_EXTRA = 9
"""Unauthorised store: 1 when its first brand is only the claimed one; mismatch: the claimed
brand, -1 for none."""
ROW_WIDTH = 10

# Columns of a simple reason (a listing whose only reason is one unauthorised brand written
# once, most of them): its listing, brand, and the one evidence row.
S_OWNER = 0
S_BRAND = 1
S_TERM = 2
S_WHICH = 3
S_START = 4
S_END = 5
S_COUNT = 6
SIMPLE_WIDTH = 7

# Entries of the ``scores`` and ``limits`` arguments.
P_UNAUTHORIZED = 0
P_BRAND_WITH_COUNTERFEIT = 1
P_COUNTERFEIT = 2
P_PROHIBITED = 3
P_STUFFING = 4
P_MISMATCH = 5
P_BENIGN_FACTOR = 6
P_BENIGN_MIN = 7
L_STUFFING_MIN_BRANDS = 0
L_STUFFING_MAX_AUTHORIZED = 1
L_MAX_EVIDENCE_TERMS = 2


@njit(cache=True, inline="always")
def _authorized(brand: int, store: int, auth_offsets: np.ndarray, auth_stores: np.ndarray) -> bool:
    """Whether the store may sell the brand (each brand's stores are sorted)."""
    if store < 0:
        return False
    lo = auth_offsets[brand]
    hi = auth_offsets[brand + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        value = auth_stores[mid]
        if value == store:
            return True
        if value < store:
            lo = mid + 1
        else:
            hi = mid
    return False


@njit(cache=True, inline="always")
def _contains(values: np.ndarray, n: int, value: int) -> bool:
    for i in range(n):  # noqa: SIM110 - a plain loop compiles to a plain loop
        if values[i] == value:
            return True
    return False


@njit(cache=True, inline="always")
def _adjacent(left_end: int, right_start: int, kinds: np.ndarray) -> bool:
    """Nothing, or one space, between two matches (``end`` is inclusive)."""
    if left_end + 1 == right_start:
        return True
    return left_end + 2 == right_start and (kinds[left_end + 1] & KIND_MASK) == N_SPACE


@njit(cache=True, inline="always")
def _row(
    rows: np.ndarray, r: int, owner: int, code: int, brand: int, ev_start: int, ev_end: int,
    count: int, list_start: int, list_mid: int, list_end: int, extra: int,
) -> None:  # fmt: skip
    rows[r, R_OWNER] = owner
    rows[r, R_CODE] = code
    rows[r, R_BRAND] = brand
    rows[r, R_EV_START] = ev_start
    rows[r, R_EV_END] = ev_end
    rows[r, R_COUNT] = count
    rows[r, R_LIST] = list_start
    rows[r, R_LIST_MID] = list_mid
    rows[r, R_LIST_END] = list_end
    rows[r, R_EXTRA] = extra


@njit(cache=True)
def _evidence(
    selected: np.ndarray,
    n: int,
    term: np.ndarray,
    which: np.ndarray,
    src_start: np.ndarray,
    src_end: np.ndarray,
    max_terms: int,
    unique: np.ndarray,
    evidence: np.ndarray,
    e: int,
) -> tuple[int, int]:
    """Each selected match once (same term, field and span: once), the first ``max_terms``
    written as evidence rows from ``e``: (distinct matches, next free evidence row)."""
    u = 0
    for i in range(n):
        k = selected[i]
        seen = False
        for j in range(u):
            q = unique[j]
            if (
                term[q] == term[k]
                and which[q] == which[k]
                and src_start[q] == src_start[k]
                and src_end[q] == src_end[k]
            ):
                seen = True
                break
        if seen:
            continue
        unique[u] = k
        u += 1
        if u <= max_terms:
            evidence[e, 0] = term[k]
            evidence[e, 1] = which[k]
            evidence[e, 2] = src_start[k]
            evidence[e, 3] = src_end[k]
            e += 1
    return u, e


@njit(cache=True, inline="always")
def _other_side(
    k: int, side: int, template: int, field: int, context: np.ndarray, n_context: int,
    term: np.ndarray, which: np.ndarray, start: np.ndarray, end: np.ndarray, kinds: np.ndarray,
    term_kind: np.ndarray, term_template: np.ndarray,
) -> bool:  # fmt: skip
    """Whether a cue of kind ``side`` (``K_CUE_AFTER``: after brand match ``k``,
    ``K_CUE_BEFORE``: before it) of ``template`` sits next to ``k`` in its field."""
    for d in range(n_context):
        o = context[d]
        if which[o] != field or term_kind[term[o]] != side or term_template[term[o]] != template:
            continue
        if (
            _adjacent(end[k], start[o], kinds)
            if side == K_CUE_AFTER
            else _adjacent(end[o], start[k], kinds)
        ):
            return True
    return False


@njit(cache=True)
def _soften(
    first: int,
    stop: int,
    targets: np.ndarray,
    n_targets: int,
    context: np.ndarray,
    n_context: int,
    term: np.ndarray,
    which: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    kinds: np.ndarray,
    term_kind: np.ndarray,
    term_template: np.ndarray,
    template_before: np.ndarray,
    template_after: np.ndarray,
    n_terms: int,
    softened: np.ndarray,
) -> None:
    """``softened[k]``: the benign phrase id that lowers target match ``k`` (-1: none).

    A target inside a benign phrase of its field takes the first such phrase; a brand next to
    the words of a ``<brand>`` phrase takes the lowest such template whose every side is there.
    """
    for k in range(first, stop):
        softened[k] = -1
    if n_context == 0:
        return
    for i in range(n_targets):
        k = targets[i]
        field = which[k]
        for c in range(n_context):
            j = context[c]
            if (
                term_kind[term[j]] == K_BENIGN
                and which[j] == field
                and start[j] <= start[k]
                and end[k] <= end[j]
            ):
                softened[k] = term[j]
                break
        if softened[k] >= 0 or term_kind[term[k]] != K_BRAND:
            continue
        best = -1
        for c in range(n_context):
            j = context[c]
            kind = term_kind[term[j]]
            if which[j] != field:
                continue
            if kind == K_CUE_BEFORE and _adjacent(end[j], start[k], kinds):
                template = term_template[term[j]]
                ok = not template_after[template] or _other_side(
                    k, K_CUE_AFTER, template, field, context, n_context, term, which,
                    start, end, kinds, term_kind, term_template,
                )  # fmt: skip
            elif kind == K_CUE_AFTER and _adjacent(end[k], start[j], kinds):
                template = term_template[term[j]]
                ok = not template_before[template] or _other_side(
                    k, K_CUE_BEFORE, template, field, context, n_context, term, which,
                    start, end, kinds, term_kind, term_template,
                )  # fmt: skip
            else:
                continue
            if ok and (best < 0 or template < best):
                best = template
        if best >= 0:
            softened[k] = n_terms + best


@njit(cache=True, nogil=True)
def judge_batch(
    hits: np.ndarray,
    group_starts: np.ndarray,
    owners: np.ndarray,
    stores: np.ndarray,
    field_offsets: np.ndarray,
    n_listings: int,
    kinds: np.ndarray,
    term_kind: np.ndarray,
    term_brand: np.ndarray,
    term_template: np.ndarray,
    template_before: np.ndarray,
    template_after: np.ndarray,
    auth_offsets: np.ndarray,
    auth_stores: np.ndarray,
    scores: np.ndarray,
    limits: np.ndarray,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    np.ndarray,
]:  # fmt: skip
    """Judge every listing with matches: (simple reasons, reason rows, their scores,
    evidence rows, lists; per listing of the batch the brand it names (-1 none, -2 several),
    and for those that name several: rows (listing, offset, count) into the annotated brands).

    ``hits`` are :func:`detectors._keyword_kernels.find_terms`'s matches (rows: term, field,
    start, end, source start, source end); ``field_offsets`` delimit the normalised fields
    (``3 * n_listings``, in blocks: titles, descriptions, claimed brands).
    """
    term = hits[HIT_TERM]
    which = hits[HIT_WHICH]
    start = hits[HIT_START]
    end = hits[HIT_END]
    src_start = hits[HIT_SRC_START]
    src_end = hits[HIT_SRC_END]
    n_hits = term.shape[0]
    n_groups = owners.shape[0]
    n_terms = term_kind.shape[0]
    stuffing_min = limits[L_STUFFING_MIN_BRANDS]
    stuffing_max = limits[L_STUFFING_MAX_AUTHORIZED]
    max_terms = limits[L_MAX_EVIDENCE_TERMS]
    factor = scores[P_BENIGN_FACTOR]
    # Every listing has at most five reasons, each listing (a subset of) its matches.
    rows = np.empty((5 * n_groups, ROW_WIDTH), np.int64)
    row_scores = np.empty(5 * n_groups, np.float64)
    evidence = np.empty((5 * n_hits, 4), np.int64)
    lists = np.empty(5 * n_hits, np.int64)
    simple = np.empty((n_groups, SIMPLE_WIDTH), np.int64)
    annotation = np.full(n_listings, -1, np.int64)
    several = np.empty((n_groups, 3), np.int64)
    annotated = np.empty(n_hits, np.int64)
    # Scratch, one buffer as long as the batch's matches for each list (a listing has no
    # more than that; unauthorised brands can be text and claimed ones: twice).
    scratch = np.empty(14 * n_hits, np.int64)
    brand_hits = scratch[0 * n_hits : 1 * n_hits]
    counterfeit = scratch[1 * n_hits : 2 * n_hits]
    prohibited = scratch[2 * n_hits : 3 * n_hits]
    context = scratch[3 * n_hits : 4 * n_hits]
    claimed = scratch[4 * n_hits : 5 * n_hits]
    targets = scratch[5 * n_hits : 6 * n_hits]
    text_brands = scratch[6 * n_hits : 7 * n_hits]
    title_brands = scratch[7 * n_hits : 8 * n_hits]
    unauthorized = scratch[8 * n_hits : 10 * n_hits]
    selected = scratch[10 * n_hits : 11 * n_hits]
    unique = scratch[11 * n_hits : 12 * n_hits]
    phrases = scratch[12 * n_hits : 13 * n_hits]
    softened = scratch[13 * n_hits : 14 * n_hits]
    r = 0
    e = 0
    li = 0
    n_simple = 0
    a = 0
    ai = 0
    for g in range(n_groups):
        r_first = r
        e_first = e
        li_first = li
        first = group_starts[g]
        stop = group_starts[g + 1]
        owner = owners[g]
        store = stores[g]
        claimed_field = 2 * n_listings + owner
        claims = field_offsets[claimed_field + 1] - field_offsets[claimed_field] > 1
        if stop == first + 1 and not claims and which[first] != CLAIMED:
            only = term[first]
            if term_kind[only] == K_BRAND:
                # Most listings: one brand name, nothing else. What the rules below come to:
                # the annotation, and one reason when the store may not sell the brand.
                brand = term_brand[only]
                annotation[owner] = brand
                if not _authorized(brand, store, auth_offsets, auth_stores):
                    simple[n_simple, S_OWNER] = owner
                    simple[n_simple, S_BRAND] = brand
                    simple[n_simple, S_TERM] = only
                    simple[n_simple, S_WHICH] = which[first]
                    simple[n_simple, S_START] = src_start[first]
                    simple[n_simple, S_END] = src_end[first]
                    simple[n_simple, S_COUNT] = 1
                    n_simple += 1
                continue
        nb = 0
        nc = 0
        npr = 0
        nx = 0
        ncl = 0
        for k in range(first, stop):
            kind = term_kind[term[k]]
            if which[k] == CLAIMED:
                if kind == K_BRAND:
                    claimed[ncl] = term_brand[term[k]]
                    ncl += 1
            elif kind == K_BRAND:
                brand_hits[nb] = k
                nb += 1
            elif kind == K_COUNTERFEIT:
                counterfeit[nc] = k
                nc += 1
            elif kind == K_PROHIBITED:
                prohibited[npr] = k
                npr += 1
            else:
                context[nx] = k
                nx += 1
        nt = 0
        for i in range(nb):
            targets[nt] = brand_hits[i]
            nt += 1
        for i in range(nc):
            targets[nt] = counterfeit[i]
            nt += 1
        for i in range(npr):
            targets[nt] = prohibited[i]
            nt += 1
        _soften(first, stop, targets, nt, context, nx, term, which, start, end, kinds,
                term_kind, term_template, template_before, template_after, n_terms,
                softened)  # fmt: skip

        # Brands named in the text (title first) and in the title, each once, in order.
        n_text = 0
        n_title = 0
        for i in range(nb):
            k = brand_hits[i]
            if softened[k] >= 0:
                continue
            brand = term_brand[term[k]]
            if not _contains(text_brands, n_text, brand):
                text_brands[n_text] = brand
                n_text += 1
            if which[k] == TITLE and not _contains(title_brands, n_title, brand):
                title_brands[n_title] = brand
                n_title += 1
        # Unauthorised: text brands, then claimed brands not in the text.
        nu = 0
        for i in range(n_text):
            if not _authorized(text_brands[i], store, auth_offsets, auth_stores):
                unauthorized[nu] = text_brands[i]
                nu += 1
        first_claimed_only = False
        for i in range(ncl):
            brand = claimed[i]
            if _contains(text_brands, n_text, brand) or _contains(claimed, i, brand):
                continue
            if not _authorized(brand, store, auth_offsets, auth_stores):
                if nu == 0:
                    first_claimed_only = True
                unauthorized[nu] = brand
                nu += 1
        # Counterfeit and prohibited matches that no benign phrase lowers.
        ncf = 0
        for i in range(nc):
            if softened[counterfeit[i]] < 0:
                counterfeit[ncf] = counterfeit[i]
                ncf += 1
        npp = 0
        for i in range(npr):
            if softened[prohibited[i]] < 0:
                prohibited[npp] = prohibited[i]
                npp += 1

        if npp:
            count, e_next = _evidence(prohibited, npp, term, which, src_start, src_end,
                                      max_terms, unique, evidence, e)  # fmt: skip
            _row(rows, r, owner, C_PROHIBITED, -1, e, e_next, count, li, li, li, 0)
            row_scores[r] = scores[P_PROHIBITED]
            r += 1
            e = e_next
        if ncf and nu:
            brand = unauthorized[0]
            ns = 0
            for i in range(nb):
                if term_brand[term[brand_hits[i]]] == brand:
                    selected[ns] = brand_hits[i]
                    ns += 1
            for i in range(ncf):
                selected[ns] = counterfeit[i]
                ns += 1
            count, e_next = _evidence(selected, ns, term, which, src_start, src_end, max_terms,
                                      unique, evidence, e)  # fmt: skip
            _row(rows, r, owner, C_BRAND_WITH_COUNTERFEIT, brand, e, e_next, count, li, li, li, 0)
            row_scores[r] = scores[P_BRAND_WITH_COUNTERFEIT]
            r += 1
            e = e_next
        elif ncf:
            brand = text_brands[0] if n_text else -1
            count, e_next = _evidence(counterfeit, ncf, term, which, src_start, src_end,
                                      max_terms, unique, evidence, e)  # fmt: skip
            _row(rows, r, owner, C_COUNTERFEIT, brand, e, e_next, count, li, li, li, 0)
            row_scores[r] = scores[P_COUNTERFEIT]
            r += 1
            e = e_next
        elif nu:
            ns = 0
            for i in range(nb):
                if _contains(unauthorized, nu, term_brand[term[brand_hits[i]]]):
                    selected[ns] = brand_hits[i]
                    ns += 1
            count, e_next = _evidence(selected, ns, term, which, src_start, src_end, max_terms,
                                      unique, evidence, e)  # fmt: skip
            for i in range(nu):
                lists[li + i] = unauthorized[i]
            _row(rows, r, owner, C_UNAUTHORIZED, unauthorized[0], e, e_next, count, li, li + nu,
                       li + nu, 1 if first_claimed_only else 0)  # fmt: skip
            row_scores[r] = scores[P_UNAUTHORIZED]
            r += 1
            e = e_next
            li += nu
        if n_title:
            # The title's brand matches no benign phrase lowers (stuffing and mismatch).
            ns = 0
            for i in range(nb):
                k = brand_hits[i]
                if which[k] == TITLE and softened[k] < 0:
                    selected[ns] = k
                    ns += 1
            if n_title >= stuffing_min:
                n_allowed = 0
                for i in range(n_title):
                    if _authorized(title_brands[i], store, auth_offsets, auth_stores):
                        n_allowed += 1
                if n_allowed <= stuffing_max:
                    count, e_next = _evidence(selected, ns, term, which, src_start, src_end,
                                              max_terms, unique, evidence, e)  # fmt: skip
                    mid = li + n_title
                    stop_list = mid
                    for i in range(n_title):
                        lists[li + i] = title_brands[i]
                        if _authorized(title_brands[i], store, auth_offsets, auth_stores):
                            lists[stop_list] = title_brands[i]
                            stop_list += 1
                    _row(rows, r, owner, C_STUFFING, title_brands[0], e, e_next, count, li, mid,
                               stop_list, 0)  # fmt: skip
                    row_scores[r] = scores[P_STUFFING]
                    r += 1
                    e = e_next
                    li = stop_list
            overlap = False
            for i in range(ncl):
                if _contains(title_brands, n_title, claimed[i]):
                    overlap = True
                    break
            if not overlap and claims:
                count, e_next = _evidence(selected, ns, term, which, src_start, src_end,
                                          max_terms, unique, evidence, e)  # fmt: skip
                for i in range(n_title):
                    lists[li + i] = title_brands[i]
                _row(rows, r, owner, C_MISMATCH, title_brands[0], e, e_next, count, li,
                           li + n_title, li + n_title, claimed[0] if ncl else -1)  # fmt: skip
                row_scores[r] = scores[P_MISMATCH]
                r += 1
                e = e_next
                li += n_title
        # TERM_IN_BENIGN_PHRASE: the lowered targets, at their lowered score.
        ns = 0
        score = 0.0
        for i in range(nt):
            k = targets[i]
            if softened[k] < 0:
                continue
            selected[ns] = k
            ns += 1
            kind = term_kind[term[k]]
            if kind == K_PROHIBITED:
                base = scores[P_PROHIBITED]
            elif kind == K_COUNTERFEIT:
                base = scores[P_COUNTERFEIT]
            elif _authorized(term_brand[term[k]], store, auth_offsets, auth_stores):
                base = 0.0
            else:
                base = scores[P_UNAUTHORIZED]
            score = max(score, base * factor)
        if ns and score != 0.0 and score >= scores[P_BENIGN_MIN]:
            count, e_next = _evidence(selected, ns, term, which, src_start, src_end, max_terms,
                                      unique, evidence, e)  # fmt: skip
            n_phrases = 0
            for i in range(ns):
                phrase = softened[selected[i]]
                if not _contains(phrases, n_phrases, phrase):
                    phrases[n_phrases] = phrase
                    lists[li + n_phrases] = phrase
                    n_phrases += 1
            _row(rows, r, owner, C_BENIGN, -1, e, e_next, count, li, li, li + n_phrases, 0)
            row_scores[r] = score
            r += 1
            e = e_next
            li += n_phrases
        if (
            r == r_first + 1
            and rows[r_first, R_CODE] == C_UNAUTHORIZED
            and rows[r_first, R_EV_END] - rows[r_first, R_EV_START] == 1
            and rows[r_first, R_LIST_MID] - rows[r_first, R_LIST] == 1
            and rows[r_first, R_EXTRA] == 0
        ):
            # The common listing: one reason, one unauthorised brand written once.
            simple[n_simple, S_OWNER] = owner
            simple[n_simple, S_BRAND] = rows[r_first, R_BRAND]
            simple[n_simple, S_TERM] = evidence[e_first, 0]
            simple[n_simple, S_WHICH] = evidence[e_first, 1]
            simple[n_simple, S_START] = evidence[e_first, 2]
            simple[n_simple, S_END] = evidence[e_first, 3]
            simple[n_simple, S_COUNT] = rows[r_first, R_COUNT]
            n_simple += 1
            r = r_first
            e = e_first
            li = li_first
        if n_text == 1:
            annotation[owner] = text_brands[0]
        elif n_text:
            annotation[owner] = -2
            several[a, 0] = owner
            several[a, 1] = ai
            several[a, 2] = n_text
            for i in range(n_text):
                annotated[ai + i] = text_brands[i]
            ai += n_text
            a += 1
    return (
        simple[:n_simple], rows[:r], row_scores[:r], evidence[:e], lists[:li], annotation,
        several[:a], annotated[:ai],
    )  # fmt: skip
