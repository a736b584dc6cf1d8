"""Numba kernels behind :class:`detectors.text.normalize.TextNormalizer`.

One call normalises a whole batch: every field's code points, concatenated, with the field
offsets. Most fields are plain (letters, digits, CJK, spaces and punctuation, each folding to
one character): one pass with one table load per code point does them (``_fast_field``).
A field with anything that needs context (look-alike symbols, zero-width characters,
spelled-out letters, leet digits, characters that fold to several or none) is redone by the
general path (``general_field``), which is the reference: the tests check that both paths
agree on every field the fast one accepts. The general path runs four passes over scratch
arrays that stay in cache:

1. fold each code point through the tables (NFKC, case, marks, confusables);
2. cut the folded characters into words (letters, digits and look-alike symbols), CJK
   characters and separator gaps;
3. join runs of spelled-out single characters (``g u c c i``, ``L.o.u.i.s``);
4. emit the normalised characters: leet digits become letters inside words with two or more
   letters (numbers at either end of a word stay numbers; a single leet digit at either end
   is a letter that still counts as a word edge, as look-alike symbols are), look-alike
   symbols become letters inside words and separators elsewhere, and each gap becomes one
   space, one hard break, nothing (next to CJK, or inside a spelled-out run), or its
   punctuation when it sits between two numbers (``1:1`` stays ``1:1``).

Every emitted character keeps the position of the original code point it came from.

The kernels are one module on purpose (past the usual size): Numba's on-disk cache of a
function is invalidated by changes to its own source file only, so code compiled together
must live together or a stale cache could outlive an upgrade.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.text.kinds import (
    BREAK_CP,
    F_CJK,
    F_DIGIT,
    F_HARD,
    F_INVISIBLE,
    F_LEET_HARD,
    F_LEET_SOFT,
    F_LETTER,
    F_REGIONAL,
    F_SOFT,
    HARD_CP,
    N_BREAK,
    N_CJK,
    N_DIGIT,
    N_HARD,
    N_LENIENT,
    N_LETTER,
    N_SPACE,
    SEP_AFTER,
    SEP_BEFORE,
    SPACE_CP,
)

_U = np.uint64
"""Hot-loop indices cast to unsigned skip Numba's negative-index fix-up."""
_T_WORD = 0
_T_CJK = 1
_T_LONE_SYMBOL = 2
"""A look-alike symbol standing alone: a letter inside a spelled-out run, else a separator."""


@njit(cache=True, inline="always")
def _is_word_kind(kind: int) -> bool:
    return kind in (F_LETTER, F_DIGIT, F_LEET_SOFT, F_LEET_HARD, F_REGIONAL)


@njit(cache=True, inline="always")
def _end_numbers(t_kind: np.ndarray, s: int, e: int) -> tuple[int, int]:
    """Where a word's leading run of two or more digits ends and its trailing one starts
    (``s`` and ``e`` when there is none): those digits are numbers, not leetspeak."""
    q = s
    digits = 0
    while q < e and (t_kind[q] == F_DIGIT or t_kind[q] == F_INVISIBLE):
        digits += t_kind[q] == F_DIGIT
        q += 1
    until = q if digits >= 2 else s
    q = e - 1
    digits = 0
    while q >= until and (t_kind[q] == F_DIGIT or t_kind[q] == F_INVISIBLE):
        digits += t_kind[q] == F_DIGIT
        q -= 1
    start = q + 1 if digits >= 2 else e
    return until, start


@njit(cache=True)
def general_field(
    cps: np.ndarray,
    a: int,
    b: int,
    fold_off: np.ndarray,
    fold_cps: np.ndarray,
    fold_kinds: np.ndarray,
    leet: np.ndarray,
    scratch_i32: np.ndarray,
    scratch_u8: np.ndarray,
    out_cp: np.ndarray,
    out_kind: np.ndarray,
    out_pos: np.ndarray,
    o: int,
) -> int:
    """The general path: four passes over one field; returns the new output length."""
    limit = fold_off.shape[0] - 1
    t_cp = scratch_i32[0]
    t_pos = scratch_i32[1]
    tk_s = scratch_i32[2]
    tk_e = scratch_i32[3]
    tk_letters = scratch_i32[4]
    tk_nch = scratch_i32[5]
    gp_punct = scratch_i32[6]
    gp_pos = scratch_i32[7]
    t_kind = scratch_u8[0]
    tk_type = scratch_u8[1]
    tk_run = scratch_u8[2]  # 0 alone, 1 starts a spelled-out run, 2 continues it
    tk_leet = scratch_u8[3]
    gp_hard = scratch_u8[4]
    gp_soft = scratch_u8[5]
    gp_zw = scratch_u8[6]

    # Pass 1: fold.
    m = 0
    for j in range(a, b):
        cp = cps[j]
        if cp < limit:
            s = fold_off[cp]
            e = fold_off[cp + 1]
            for k in range(s, e):
                t_cp[m] = fold_cps[k]
                t_kind[m] = fold_kinds[k]
                t_pos[m] = j - a
                m += 1
        else:
            if 0xE0000 <= cp < 0xE1000:
                continue  # tags and variation selectors: invisible marks
            t_cp[m] = cp
            t_kind[m] = F_CJK if 0x30000 <= cp < 0x40000 else F_HARD
            t_pos[m] = j - a
            m += 1
    # Pass 1b: regional indicators. A run of three or more spells a word of its own (🇬🇺🇨🇨🇮);
    # a shorter one (a flag, a lone letter) stays the light separator it folded from.
    q = 0
    while q < m:
        if t_kind[q] != F_REGIONAL:
            q += 1
            continue
        r = q  # the run's end; zero-width characters inside it do not cut it
        letters = 0
        look = q
        while look < m and (t_kind[look] == F_REGIONAL or t_kind[look] == F_INVISIBLE):
            if t_kind[look] == F_REGIONAL:
                letters += 1
                r = look + 1
            look += 1
        if letters < 3:
            for x in range(q, r):
                if t_kind[x] == F_REGIONAL:
                    t_kind[x] = F_SOFT
                    t_cp[x] = cps[a + t_pos[x]]
        q = r

    # Pass 2: tokens and gaps.
    nt = 0
    g_hard = 0
    g_soft = 0
    g_zw = 0
    g_punct = 0
    g_pos = -1
    i = 0
    while i < m:
        k = t_kind[i]
        if k == F_CJK or _is_word_kind(k):
            glued = False  # a word of regional letters touching other word characters
            if k == F_CJK:
                e = i + 1
                typ = _T_CJK
                letters = 0
                nch = 1
                others = 1
            else:
                e = i
                letters = 0
                nch = 0
                others = 0  # letters and digits
                regional = k == F_REGIONAL
                while e < m:
                    k2 = t_kind[e]
                    if k2 == F_INVISIBLE:
                        look = e
                        while look < m and t_kind[look] == F_INVISIBLE:
                            look += 1
                        if look < m and _is_word_kind(t_kind[look]):
                            e = look
                            continue
                        break
                    if not _is_word_kind(k2):
                        break
                    if (k2 == F_REGIONAL) != regional:
                        glued = True
                        break
                    nch += 1
                    if k2 in (F_LETTER, F_REGIONAL):
                        letters += 1
                        others += 1
                    elif k2 == F_DIGIT:
                        others += 1
                    e += 1
                typ = _T_WORD
                if others == 0:
                    if nch > 1:  # a run of symbols only ("!!!", "$$"): separators
                        for q in range(i, e):
                            if t_kind[q] == F_LEET_HARD:
                                g_hard = 1
                            elif t_kind[q] == F_LEET_SOFT:
                                g_soft = 1
                            if g_pos < 0:
                                g_pos = t_pos[q]
                        i = e
                        continue
                    typ = _T_LONE_SYMBOL
            tk_s[nt] = i
            tk_e[nt] = e
            tk_type[nt] = typ
            tk_letters[nt] = letters + (nch - others)  # look-alike symbols count as letters
            tk_nch[nt] = nch
            tk_run[nt] = 0
            gp_hard[nt] = g_hard
            gp_soft[nt] = g_soft
            gp_zw[nt] = g_zw
            gp_punct[nt] = g_punct
            gp_pos[nt] = g_pos
            g_hard = 0
            g_soft = 0
            g_zw = 0
            g_punct = 0
            g_pos = -1
            if glued:
                g_zw = 1  # its edge with the next word, as a zero-width space would mark it
            nt += 1
            i = e
        else:
            if g_pos < 0:
                g_pos = t_pos[i]
            if k == F_INVISIBLE:
                g_zw = 1
            else:
                c = t_cp[i]
                if k == F_HARD:
                    g_hard = 1
                else:
                    g_soft = 1
                if g_punct == 0 and c != SPACE_CP and c != 0x09:
                    g_punct = c
            i += 1

    # Pass 3: runs of spelled-out single characters, joined across soft gaps.
    i = 0
    while i < nt:
        single = tk_type[i] == _T_LONE_SYMBOL or (tk_type[i] == _T_WORD and tk_nch[i] == 1)
        if not single:
            tk_leet[i] = 1 if tk_letters[i] >= 2 else 0
            i += 1
            continue
        j = i
        letters = 0
        for q in range(tk_s[i], tk_e[i]):
            if t_kind[q] == F_LETTER:
                letters += 1
        lookalikes = letters + (1 if tk_type[i] == _T_LONE_SYMBOL else 0)
        while j + 1 < nt and gp_hard[j + 1] == 0:
            nxt = j + 1
            if not (
                tk_type[nxt] == _T_LONE_SYMBOL or (tk_type[nxt] == _T_WORD and tk_nch[nxt] == 1)
            ):
                break
            for q in range(tk_s[nxt], tk_e[nxt]):
                if t_kind[q] == F_LETTER:
                    letters += 1
            if tk_type[nxt] == _T_LONE_SYMBOL:
                lookalikes += 1
            else:
                lookalikes += tk_letters[nxt]
            j = nxt
        joined = j > i and letters > 0
        for q in range(i, j + 1):
            tk_run[q] = (1 if q == i else 2) if joined else 0
            if joined:
                tk_leet[q] = 1 if lookalikes >= 2 else 0
            else:
                tk_leet[q] = 1 if tk_letters[q] >= 2 else 0
        i = j + 1

    # Pass 4: emit (never more characters than were folded).
    prev = N_BREAK
    p_hard = 0
    p_soft = 0
    p_zw = 0
    p_punct = 0
    p_pos = -1
    field_start = o
    for i in range(nt):
        typ = tk_type[i]
        run = tk_run[i]
        flags_next = 0
        if run == 2:
            if o > field_start:
                out_kind[o - 1] |= SEP_AFTER
            flags_next = SEP_BEFORE
        else:
            p_hard |= gp_hard[i]
            p_soft |= gp_soft[i]
            p_zw |= gp_zw[i]
            if p_punct == 0:
                p_punct = gp_punct[i]
            if p_pos < 0:
                p_pos = gp_pos[i]
            if typ == _T_LONE_SYMBOL and run == 0:
                if t_kind[tk_s[i]] == F_LEET_HARD:
                    p_hard = 1
                else:
                    p_soft = 1
                if p_pos < 0:
                    p_pos = t_pos[tk_s[i]]
                continue
        leet_ok = tk_leet[i] == 1
        # Numbers at either end of a word stay numbers: "iphone15", "2024gucci".
        numbers_until, numbers_from = tk_s[i], tk_e[i]
        if leet_ok and run == 0:
            numbers_until, numbers_from = _end_numbers(t_kind, tk_s[i], tk_e[i])
        first = t_kind[tk_s[i]]
        if first == F_CJK:
            first_kind = N_CJK
        elif first in (F_LETTER, F_REGIONAL):
            first_kind = N_LETTER
        elif first == F_DIGIT:
            d = t_cp[tk_s[i]] - 48
            as_letter = leet_ok and tk_s[i] >= numbers_until and 0 <= d <= 9 and leet[d] != 0
            first_kind = N_LETTER if as_letter else N_DIGIT
        else:
            first_kind = N_LENIENT
        if run != 2 and prev != N_BREAK:
            if p_hard == 0 and p_soft == 0:
                if p_zw == 1:
                    out_kind[o - 1] |= SEP_AFTER
                    flags_next = SEP_BEFORE
            elif p_hard == 0 and (prev == N_CJK or first_kind == N_CJK):
                pass  # soft gaps vanish next to CJK (no spaces in those scripts)
            else:
                if prev == N_DIGIT and first_kind == N_DIGIT and p_punct != 0:
                    out_cp[o] = p_punct
                    out_kind[o] = N_HARD
                elif p_hard == 1:
                    out_cp[o] = HARD_CP
                    out_kind[o] = N_HARD
                else:
                    out_cp[o] = SPACE_CP
                    out_kind[o] = N_SPACE
                out_pos[o] = p_pos
                o += 1
        p_hard = 0
        p_soft = 0
        p_zw = 0
        p_punct = 0
        p_pos = -1
        run_flags = (SEP_BEFORE | SEP_AFTER) if run != 0 else 0
        # A leet digit at either end of a word is read both ways: as its letter, and as a
        # word edge ("gucc1" is gucci, "gucci7" is gucci and a 7, as "gucci77" is).
        edge_first, edge_last = -1, -1
        if leet_ok and run == 0:
            edge_first = tk_s[i]
            while edge_first < tk_e[i] - 1 and t_kind[edge_first] == F_INVISIBLE:
                edge_first += 1
            edge_last = tk_e[i] - 1
            while edge_last > edge_first and t_kind[edge_last] == F_INVISIBLE:
                edge_last -= 1
        for q in range(tk_s[i], tk_e[i]):
            k = t_kind[q]
            if k == F_INVISIBLE:
                if o > field_start:
                    out_kind[o - 1] |= SEP_AFTER
                flags_next = SEP_BEFORE
                continue
            c = t_cp[q]
            if k in (F_LETTER, F_REGIONAL):
                nk = N_LETTER
            elif k == F_DIGIT:
                d = c - 48
                inside = numbers_until <= q < numbers_from
                if leet_ok and inside and 0 <= d <= 9 and leet[d] != 0:
                    c = leet[d]
                    nk = N_LENIENT if q in (edge_first, edge_last) else N_LETTER
                else:
                    nk = N_DIGIT
            elif k == F_CJK:
                nk = N_CJK
            else:
                nk = N_LENIENT
            out_cp[o] = c
            out_kind[o] = nk | flags_next | run_flags
            out_pos[o] = t_pos[q]
            o += 1
            flags_next = 0
            prev = nk
    return o


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
    same_lo: int,
    same_hi: int,
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
        cp = cps[_U(j)]
        if same_lo <= cp < same_hi:  # a CJK ideograph: itself, without the table
            packed = (F_CJK << 24) | cp
        else:
            packed = single[_U(cp)] if cp < limit else 0
        kind = packed >> 24
        c = packed & 0xFFFFFF
        if kind in (F_LETTER, F_DIGIT, F_CJK):
            if gap == 1:
                sep = _gap(prev, N_CJK if kind == F_CJK else N_LETTER if kind == F_LETTER
                           else N_DIGIT, g_hard, g_punct)  # fmt: skip
                if sep >= 0:
                    out_cp[_U(o)] = sep
                    out_kind[_U(o)] = N_SPACE if sep == SPACE_CP else N_HARD
                    out_pos[_U(o)] = g_pos
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
                    if 48 <= c <= 57 and leet[_U(c - 48)] != 0:
                        w_leet += 1
                    nk = N_DIGIT
            out_cp[_U(o)] = c
            out_kind[_U(o)] = nk
            out_pos[_U(o)] = j - a
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


@njit(cache=True, nogil=True)
def normalize_batch(
    cps: np.ndarray,
    field_off: np.ndarray,
    fold_off: np.ndarray,
    fold_cps: np.ndarray,
    fold_kinds: np.ndarray,
    single: np.ndarray,
    leet: np.ndarray,
    same_lo: int,
    same_hi: int,
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
    # The fast path never writes more characters than it reads, so the input size (one
    # terminator per field included) plus the leading break is enough for it; a field for the
    # general path is measured first and the buffers grow when its folding needs more.
    cap = cps.shape[0] + 1
    out_cp = np.empty(cap, np.int32)
    out_kind = np.empty(cap, np.uint8)
    out_pos = np.empty(cap, np.int32)
    out_off = np.empty(n_fields + 1, np.int64)
    scratch_i32 = np.empty((8, 0), np.int32)
    scratch_u8 = np.empty((7, 0), np.uint8)
    out_cp[0] = BREAK_CP
    out_kind[0] = N_BREAK
    out_pos[0] = 0
    o = 1
    for f in range(n_fields):
        a = field_off[f]
        b = field_off[f + 1] - 1  # one terminator code point follows every field
        out_off[f] = o
        if a == b:  # most descriptions and claimed brands of a batch: just the break
            out_cp[_U(o)] = BREAK_CP
            out_kind[_U(o)] = N_BREAK
            out_pos[_U(o)] = 0
            o += 1
            continue
        end = (
            _fast_field(cps, a, b, single, leet, same_lo, same_hi, out_cp, out_kind, out_pos, o)
            if fast
            else -1
        )
        if end < 0:
            folded = 0
            for j in range(a, b):
                cp = cps[j]
                folded += fold_off[cp + 1] - fold_off[cp] if cp < limit else 1
            need = o + folded + (cps.shape[0] - b) + 1
            if need > cap:
                cap = max(need, 2 * cap)
                grown_cp = np.empty(cap, np.int32)
                grown_kind = np.empty(cap, np.uint8)
                grown_pos = np.empty(cap, np.int32)
                grown_cp[:o] = out_cp[:o]
                grown_kind[:o] = out_kind[:o]
                grown_pos[:o] = out_pos[:o]
                out_cp, out_kind, out_pos = grown_cp, grown_kind, grown_pos
            if folded > scratch_i32.shape[1]:
                scratch_i32 = np.empty((8, max(folded, 64)), np.int32)
                scratch_u8 = np.empty((7, max(folded, 64)), np.uint8)
            end = general_field(cps, a, b, fold_off, fold_cps, fold_kinds, leet,
                              scratch_i32, scratch_u8, out_cp, out_kind, out_pos, o)  # fmt: skip
        o = end
        out_cp[o] = BREAK_CP
        out_kind[o] = N_BREAK
        out_pos[o] = b - a
        o += 1
    out_off[n_fields] = o
    return out_cp[:o], out_kind[:o], out_pos[:o], out_off


@njit(cache=True, nogil=True)
def field_terminators(cps: np.ndarray, n_fields: int) -> tuple[np.ndarray, int]:
    """Field offsets from the terminators of a joined buffer (field ``f`` is
    ``cps[offsets[f]:offsets[f + 1] - 1]``) and how many terminators it holds, up to
    ``n_fields + 1``: more than ``n_fields`` means a text held U+0000 itself."""
    offsets = np.zeros(n_fields + 1, np.int64)
    found = 0
    for i in range(cps.shape[0]):
        if cps[i] == 0:
            found += 1
            if found > n_fields:
                break
            offsets[found] = i + 1
    return offsets, found
