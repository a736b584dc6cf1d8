"""Numba kernel behind :class:`detectors.text.normalize.TextNormalizer`.

One call normalises a whole batch: every field's code points, concatenated, with the field
offsets. Most fields are plain (letters, digits, CJK, spaces and punctuation, each folding to
one character): one pass over them with one table load per code point does it. A field with
anything that needs context (look-alike symbols, zero-width characters, spelled-out letters,
leet digits, characters that fold to several or none) is redone by the general path in
:mod:`detectors.text._normalize_general`, which is the reference: the tests check that both
paths agree on every field the fast one accepts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.text._normalize_general import general_field
from detectors.text.kinds import (
    BREAK_CP,
    F_CJK,
    F_DIGIT,
    F_HARD,
    F_LETTER,
    F_SOFT,
    HARD_CP,
    N_BREAK,
    N_CJK,
    N_DIGIT,
    N_HARD,
    N_LETTER,
    N_SPACE,
    SPACE_CP,
)


@njit(cache=True, inline="always")
def _gap(
    prev: int,
    nxt: int,
    hard: int,
    punct: int,
) -> int:
    """What a separator gap between two emitted kinds becomes: a code point, or -1 (nothing)."""
    if prev == N_BREAK:
        return -1  # leading separators
    if hard == 0 and (prev == N_CJK or nxt == N_CJK):
        return -1  # soft gaps vanish next to CJK (no spaces in those scripts)
    if prev == N_DIGIT and nxt == N_DIGIT and punct != 0:
        return punct  # "1:1" is not "1.1" nor "11"
    return HARD_CP if hard == 1 else SPACE_CP


@njit(cache=True, inline="always")
def _fast_field(
    cps: np.ndarray,
    a: int,
    b: int,
    single: np.ndarray,
    leet: np.ndarray,
    out_cp: np.ndarray,
    out_kind: np.ndarray,
    out_pos: np.ndarray,
    o: int,
) -> int:
    """One pass for the common field: returns the new output length, or -1 when the field
    holds anything that needs context or more than one table (a character that folds to none
    or several, look-alike symbols, zero-width characters, a word of one character, a leet
    digit in a word of letters); the general path then redoes the field."""
    limit = single.shape[0]
    prev = N_BREAK
    gap = 0  # 1 while separators are pending
    g_hard = 0
    g_punct = 0
    g_pos = 0
    w_len = 0  # letters and digits in the current word (0: not in a word)
    w_letters = 0
    w_leet = 0
    for j in range(a, b):
        cp = cps[j]
        packed = single[cp] if cp < limit else 0
        kind = packed >> 24
        c = packed & 0xFFFFFF
        if kind in (F_LETTER, F_DIGIT, F_CJK):
            if gap == 1:
                sep = _gap(prev, N_CJK if kind == F_CJK else N_LETTER if kind == F_LETTER
                           else N_DIGIT, g_hard, g_punct)  # fmt: skip
                if sep >= 0:
                    out_cp[o] = sep
                    out_kind[o] = N_SPACE if sep == SPACE_CP else N_HARD
                    out_pos[o] = g_pos
                    o += 1
                gap = 0
                g_hard = 0
                g_punct = 0
            if kind == F_CJK:
                if w_len == 1 or (w_letters >= 2 and w_leet > 0):
                    return -1
                w_len = 0
                nk = N_CJK
            else:
                if w_len == 0:
                    w_letters = 0
                    w_leet = 0
                w_len += 1
                if kind == F_LETTER:
                    w_letters += 1
                    nk = N_LETTER
                else:
                    if 48 <= c <= 57 and leet[c - 48] != 0:
                        w_leet += 1
                    nk = N_DIGIT
            out_cp[o] = c
            out_kind[o] = nk
            out_pos[o] = j - a
            o += 1
            prev = nk
        elif kind in (F_SOFT, F_HARD):
            if w_len == 1 or (w_letters >= 2 and w_leet > 0):
                return -1
            w_len = 0
            if gap == 0:
                gap = 1
                g_pos = j - a
            if kind == F_HARD:
                g_hard = 1
            if g_punct == 0 and c != SPACE_CP and c != 0x09:
                g_punct = c
        else:
            return -1
    if w_len == 1 or (w_letters >= 2 and w_leet > 0):
        return -1
    return o


@njit(cache=True)
def normalize_batch(
    cps: np.ndarray,
    field_off: np.ndarray,
    fold_off: np.ndarray,
    fold_cps: np.ndarray,
    fold_kinds: np.ndarray,
    single: np.ndarray,
    leet: np.ndarray,
    fast: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise every field; returns (code points, kinds, source positions, field offsets).

    Input field ``f`` is ``cps[field_off[f]:field_off[f + 1] - 1]`` (each field is followed by
    one terminator code point, never read). The output starts with a break and has one after
    every field; field ``f`` occupies ``[offsets[f], offsets[f + 1] - 1)``. Positions are
    code-point indices into the field.
    ``fast=False`` sends every field down the general path (tests compare the two).
    """
    n_fields = field_off.shape[0] - 1
    limit = fold_off.shape[0] - 1
    # Sizes first, so no array is reallocated inside the hot loops.
    total = 0
    longest = 1
    for f in range(n_fields):
        folded = 0
        for j in range(field_off[f], field_off[f + 1] - 1):
            cp = cps[j]
            if cp < limit:
                folded += 1 if single[cp] != 0 else fold_off[cp + 1] - fold_off[cp]
            else:
                folded += 1
        total += folded
        longest = max(longest, folded)
    out_cp = np.empty(total + n_fields + 1, np.int32)
    out_kind = np.empty(total + n_fields + 1, np.uint8)
    out_pos = np.empty(total + n_fields + 1, np.int32)
    out_off = np.empty(n_fields + 1, np.int64)
    scratch_i32 = np.empty((8, longest), np.int32)
    scratch_u8 = np.empty((7, longest), np.uint8)
    out_cp[0] = BREAK_CP
    out_kind[0] = N_BREAK
    out_pos[0] = 0
    o = 1
    for f in range(n_fields):
        a = field_off[f]
        b = field_off[f + 1] - 1  # one terminator code point follows every field
        out_off[f] = o
        end = _fast_field(cps, a, b, single, leet, out_cp, out_kind, out_pos, o) if fast else -1
        if end < 0:
            end = general_field(cps, a, b, fold_off, fold_cps, fold_kinds, leet,
                              scratch_i32, scratch_u8, out_cp, out_kind, out_pos, o)  # fmt: skip
        o = end
        out_cp[o] = BREAK_CP
        out_kind[o] = N_BREAK
        out_pos[o] = b - a
        o += 1
    out_off[n_fields] = o
    return out_cp[:o], out_kind[:o], out_pos[:o], out_off
