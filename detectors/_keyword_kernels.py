"""Numba kernels of the keyword detector: one Aho-Corasick walk over a whole batch.

The input is the normalised buffer of every field of the batch. Break characters between
fields occur in no pattern, so they send the walk back to the root: the buffer can be cut at
any break and the pieces walked independently. The kernels cut it in four and walk the four
lanes in one loop, so the table loads of one lane overlap the cache misses of the others (a
DFA walk is otherwise one long chain of dependent loads).

``scan_raw`` reports every pattern occurrence, like any Aho-Corasick library would on the same
text (the test oracle and the benchmark use it); ``scan_words`` keeps only occurrences whose
Latin-script edges sit on word boundaries, which is what the detector uses. Results come out
in text order. The automaton is built by :mod:`detectors.text.automaton`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.text.kinds import BREAK_CP, KIND_MASK, N_DIGIT, N_LETTER, SEP_AFTER, SEP_BEFORE

EDGE_LEFT = 1
"""The pattern starts with a letter or digit: a word boundary must precede the match."""
EDGE_RIGHT = 2
"""The pattern ends with a letter or digit: a word boundary must follow the match."""
PAIR_FLAG = 1 << 8
LANES = 4
_U = np.uint64
"""Indices cast to unsigned skip Numba's negative-index fix-up, which sits on the walk's
critical path (about a fifth of the scan time)."""


@njit(cache=True, inline="always")
def _step(
    state: int,
    cp: int,
    symbol_of: np.ndarray,
    transitions: np.ndarray,
    n_symbols: int,
    mid_transitions: np.ndarray,
    n_low: int,
) -> int:
    code = symbol_of[_U(cp)] if cp < symbol_of.shape[0] else 0
    if code >= PAIR_FLAG:  # a high symbol to a mid state, then a low one from there
        mid = transitions[_U(state * n_symbols + (code >> 8))]
        return int(mid_transitions[_U(mid * n_low + (code & 0xFF))])
    return int(transitions[_U(state * n_symbols + code)])


@njit(cache=True, inline="always")
def _edge_ok(outside: int, inside: int, flag: int) -> bool:
    """A word boundary between ``outside`` and ``inside`` (kind bytes), or a removed separator."""
    if inside & flag:
        return True
    out_kind = outside & KIND_MASK
    if out_kind != N_LETTER and out_kind != N_DIGIT:
        return True  # break, space, hard break, CJK, or a look-alike symbol
    # Letters next to digits are separate words ("gucci2024"), letters next to letters are not.
    return (out_kind == N_DIGIT) != ((inside & KIND_MASK) == N_DIGIT)


@njit(cache=True)
def _lanes(text: np.ndarray) -> np.ndarray:
    """Lane boundaries: ``LANES + 1`` cut points, each at a break character (or the end)."""
    n = text.shape[0]
    cuts = np.empty(LANES + 1, np.int64)
    cuts[0] = 0
    for lane in range(1, LANES):
        at = max(cuts[lane - 1], (n * lane) // LANES)
        while at < n and text[at] != BREAK_CP:
            at += 1
        cuts[lane] = at
    cuts[LANES] = n
    return cuts


@njit(cache=True, inline="always")
def _record(lane: int, state: int, i: int, states: np.ndarray, ends: np.ndarray,
            counts: np.ndarray) -> None:  # fmt: skip
    c = counts[lane]
    if c < states.shape[1]:
        states[lane, c] = state
        ends[lane, c] = i
    counts[lane] = c + 1


@njit(cache=True)
def _walk(
    text: np.ndarray,
    symbol_of: np.ndarray,
    transitions: np.ndarray,
    n_symbols: int,
    mid_transitions: np.ndarray,
    n_low: int,
    first_output: int,
    cap: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk the four lanes and record where the walk stands on an output state, nothing
    more (a small loop keeps the four states in registers). Past ``cap`` records per lane,
    positions are counted, not stored; the caller walks again with room for all."""
    cuts = _lanes(text)
    states = np.empty((LANES, cap), np.int32)
    ends = np.empty((LANES, cap), np.int32)
    counts = np.zeros(LANES, np.int64)
    a0, a1, a2, a3 = cuts[0], cuts[1], cuts[2], cuts[3]
    together = min(cuts[1] - a0, cuts[2] - a1, cuts[3] - a2, cuts[4] - a3)
    s0 = 0
    s1 = 0
    s2 = 0
    s3 = 0
    for t in range(together):
        s0 = _step(s0, text[_U(a0 + t)], symbol_of, transitions, n_symbols, mid_transitions, n_low)
        s1 = _step(s1, text[_U(a1 + t)], symbol_of, transitions, n_symbols, mid_transitions, n_low)
        s2 = _step(s2, text[_U(a2 + t)], symbol_of, transitions, n_symbols, mid_transitions, n_low)
        s3 = _step(s3, text[_U(a3 + t)], symbol_of, transitions, n_symbols, mid_transitions, n_low)
        if s0 >= first_output:
            _record(0, s0, a0 + t, states, ends, counts)
        if s1 >= first_output:
            _record(1, s1, a1 + t, states, ends, counts)
        if s2 >= first_output:
            _record(2, s2, a2 + t, states, ends, counts)
        if s3 >= first_output:
            _record(3, s3, a3 + t, states, ends, counts)
    last = (s0, s1, s2, s3)
    for lane in range(LANES):
        state = last[lane]
        for i in range(cuts[lane] + together, cuts[lane + 1]):
            state = _step(
                state, text[_U(i)], symbol_of, transitions, n_symbols, mid_transitions, n_low
            )
            if state >= first_output:
                _record(lane, state, i, states, ends, counts)
    return states, ends, counts


@njit(cache=True)
def _outputs(
    text: np.ndarray,
    symbol_of: np.ndarray,
    transitions: np.ndarray,
    n_symbols: int,
    mid_transitions: np.ndarray,
    n_low: int,
    first_output: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Output states and positions of the walk, in text order."""
    cap = text.shape[0] // 32 + 64
    while True:
        states, ends, counts = _walk(
            text, symbol_of, transitions, n_symbols, mid_transitions, n_low, first_output, cap
        )
        if counts.max() <= cap:
            break
        cap = counts.max()
    total = counts.sum()
    out_states = np.empty(total, np.int32)
    out_ends = np.empty(total, np.int32)
    at = 0
    for lane in range(LANES):
        for c in range(counts[lane]):
            out_states[at] = states[lane, c]
            out_ends[at] = ends[lane, c]
            at += 1
    return out_states, out_ends


@njit(cache=True)
def scan_raw(
    text: np.ndarray,
    symbol_of: np.ndarray,
    transitions: np.ndarray,
    n_symbols: int,
    mid_transitions: np.ndarray,
    n_low: int,
    first_output: int,
    out_offsets: np.ndarray,
    out_patterns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Every occurrence of every pattern: (pattern ids, index of the last character)."""
    states, ends = _outputs(
        text, symbol_of, transitions, n_symbols, mid_transitions, n_low, first_output
    )
    total = 0
    for m in range(states.shape[0]):
        row = states[m] - first_output
        total += out_offsets[row + 1] - out_offsets[row]
    patterns = np.empty(total, np.int32)
    pattern_ends = np.empty(total, np.int32)
    at = 0
    for m in range(states.shape[0]):
        row = states[m] - first_output
        for k in range(out_offsets[row], out_offsets[row + 1]):
            patterns[at] = out_patterns[k]
            pattern_ends[at] = ends[m]
            at += 1
    return patterns, pattern_ends


@njit(cache=True)
def scan_words(
    text: np.ndarray,
    kinds: np.ndarray,
    symbol_of: np.ndarray,
    transitions: np.ndarray,
    n_symbols: int,
    mid_transitions: np.ndarray,
    n_low: int,
    first_output: int,
    out_offsets: np.ndarray,
    out_patterns: np.ndarray,
    lengths: np.ndarray,
    edges: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Occurrences whose Latin edges are word boundaries: (pattern ids, starts, ends)."""
    states, ends = _outputs(
        text, symbol_of, transitions, n_symbols, mid_transitions, n_low, first_output
    )
    total = 0
    for m in range(states.shape[0]):
        row = states[m] - first_output
        total += out_offsets[row + 1] - out_offsets[row]
    patterns = np.empty(total, np.int32)
    starts = np.empty(total, np.int32)
    pattern_ends = np.empty(total, np.int32)
    last = text.shape[0] - 1
    at = 0
    for m in range(states.shape[0]):
        row = states[m] - first_output
        i = ends[m]
        for k in range(out_offsets[row], out_offsets[row + 1]):
            pattern = out_patterns[k]
            start = i - lengths[pattern] + 1
            edge = edges[pattern]
            if (
                edge & EDGE_LEFT
                and start > 0
                and not _edge_ok(kinds[start - 1], kinds[start], SEP_BEFORE)
            ):
                continue
            if edge & EDGE_RIGHT and i < last and not _edge_ok(kinds[i + 1], kinds[i], SEP_AFTER):
                continue
            patterns[at] = pattern
            starts[at] = start
            pattern_ends[at] = i
            at += 1
    return patterns[:at], starts[:at], pattern_ends[:at]


@njit(cache=True)
def _shadowed(
    patterns: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    fields: np.ndarray,
    pattern_competes: np.ndarray,
    longest: int,
) -> np.ndarray:
    """Matches inside a longer match of another competing pattern in the same field.

    "Rami" inside "Ribranlen Rami", "fake" inside "super fake", the letters of one spelled-out
    brand that happen to spell another: the text names the longer one only.
    """
    n = patterns.shape[0]
    shadowed = np.zeros(n, np.bool_)
    for m in range(n):
        if not pattern_competes[patterns[m]]:
            continue
        # A match containing m ends at or after m's end, at most `longest` later.
        other = m - 1
        while other >= 0 and ends[other] == ends[m]:
            other -= 1
        for o in range(other + 1, n):
            if ends[o] > ends[m] + longest or fields[o] != fields[m]:
                break
            if (
                o != m
                and pattern_competes[patterns[o]]
                and starts[o] <= starts[m]
                and (starts[o] < starts[m] or ends[o] > ends[m])
            ):
                shadowed[m] = True
                break
    return shadowed


@njit(cache=True)
def expand_hits(
    patterns: np.ndarray,
    ends: np.ndarray,
    lengths: np.ndarray,
    term_offsets: np.ndarray,
    terms: np.ndarray,
    pattern_competes: np.ndarray,
    term_competes: np.ndarray,
    field_offsets: np.ndarray,
    positions: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pattern matches (in text order) -> term matches with their field and source span:
    (terms, fields, starts, ends, source starts, source ends (exclusive)).

    Competing terms (brands, counterfeit and prohibited terms) of a match that lies inside a
    longer competing match are dropped; benign phrases and cues are context and stay.
    """
    n = patterns.shape[0]
    starts = np.empty(n, np.int64)
    fields = np.empty(n, np.int64)
    field = 0
    for m in range(n):
        starts[m] = ends[m] - lengths[patterns[m]] + 1
        while field_offsets[field + 1] <= starts[m]:  # matches come in text order
            field += 1
        fields[m] = field
    longest = lengths.max() if lengths.shape[0] else 0
    shadowed = _shadowed(patterns, starts, ends, fields, pattern_competes, longest)
    total = 0
    for m in range(n):
        total += term_offsets[patterns[m] + 1] - term_offsets[patterns[m]]
    out_term = np.empty(total, np.int32)
    out_field = np.empty(total, np.int64)
    out_start = np.empty(total, np.int32)
    out_end = np.empty(total, np.int32)
    out_src_start = np.empty(total, np.int32)
    out_src_end = np.empty(total, np.int32)
    at = 0
    for m in range(n):
        start, end = starts[m], ends[m]
        for k in range(term_offsets[patterns[m]], term_offsets[patterns[m] + 1]):
            if shadowed[m] and term_competes[terms[k]]:
                continue
            out_term[at] = terms[k]
            out_field[at] = fields[m]
            out_start[at] = start
            out_end[at] = end
            out_src_start[at] = positions[start]
            out_src_end[at] = positions[end] + 1
            at += 1
    return (
        out_term[:at], out_field[:at], out_start[:at], out_end[:at], out_src_start[:at],
        out_src_end[:at],
    )  # fmt: skip


@njit(cache=True)
def _by_listing(
    fields: np.ndarray, n_listings: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stable counting sort of term matches by listing: (order, which field of its listing
    each is, first match of each listing that has any, and that listing).

    Fields come in blocks (every title, then every description, then every claimed brand), so
    the matches of one listing end up title first, then description, then claimed brand, each
    in text order.
    """
    n = fields.shape[0]
    counts = np.zeros(n_listings + 1, np.int64)
    for m in range(n):
        counts[fields[m] % n_listings + 1] += 1
    groups = 0
    for listing in range(n_listings):
        if counts[listing + 1]:
            groups += 1
        counts[listing + 1] += counts[listing]
    starts = np.empty(groups + 1, np.int64)
    owners = np.empty(groups, np.int64)
    g = 0
    for listing in range(n_listings):
        if counts[listing + 1] > counts[listing]:
            starts[g] = counts[listing]
            owners[g] = listing
            g += 1
    starts[groups] = n
    order = np.empty(n, np.int64)
    which = np.empty(n, np.int8)
    for m in range(n):
        listing = fields[m] % n_listings
        order[counts[listing]] = m
        counts[listing] += 1
    for k in range(n):
        which[k] = fields[order[k]] // n_listings
    return order, which, starts, owners


HIT_TERM = 0
HIT_WHICH = 1
HIT_START = 2
HIT_END = 3
HIT_SRC_START = 4
HIT_SRC_END = 5
"""Rows of :func:`find_terms`'s match array."""


@njit(cache=True, nogil=True)
def find_terms(
    text: np.ndarray,
    kinds: np.ndarray,
    field_offsets: np.ndarray,
    positions: np.ndarray,
    n_listings: int,
    symbol_of: np.ndarray,
    transitions: np.ndarray,
    n_symbols: int,
    mid_transitions: np.ndarray,
    n_low: int,
    first_output: int,
    out_offsets: np.ndarray,
    out_patterns: np.ndarray,
    lengths: np.ndarray,
    edges: np.ndarray,
    term_offsets: np.ndarray,
    terms: np.ndarray,
    pattern_competes: np.ndarray,
    term_competes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term matches of a batch of listings, grouped by listing (one call per batch): (the
    matches, one per column: term, which field -- 0 title, 1 description, 2 claimed brand --,
    start and end in the normalised buffer (``end`` inclusive), source start and end
    (exclusive); the first match of each listing that has any, plus the total; that listing).

    ``field_offsets`` delimit ``3 * n_listings`` fields in blocks: every title, then every
    description, then every claimed brand.
    """
    patterns, _starts, ends = scan_words(
        text, kinds, symbol_of, transitions, n_symbols, mid_transitions, n_low, first_output,
        out_offsets, out_patterns, lengths, edges,
    )  # fmt: skip
    term, field, start, end, src_start, src_end = expand_hits(
        patterns, ends, lengths, term_offsets, terms, pattern_competes, term_competes,
        field_offsets, positions,
    )  # fmt: skip
    order, which, group_starts, owners = _by_listing(field, max(n_listings, 1))
    n = order.shape[0]
    hits = np.empty((6, n), np.int32)
    for k in range(n):
        m = order[k]
        hits[HIT_TERM, k] = term[m]
        hits[HIT_WHICH, k] = which[k]
        hits[HIT_START, k] = start[m]
        hits[HIT_END, k] = end[m]
        hits[HIT_SRC_START, k] = src_start[m]
        hits[HIT_SRC_END, k] = src_end[m]
    return hits, group_starts, owners
