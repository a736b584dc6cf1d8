"""The general path of the normalisation kernel: four passes over one field.

Every field that the one-pass fast path (:mod:`detectors.text._normalize_kernels`) cannot
handle alone comes here. The passes run over scratch arrays that stay in cache:

1. fold each code point through the tables (NFKC, case, marks, confusables);
2. cut the folded characters into words (letters, digits and look-alike symbols), CJK
   characters and separator gaps;
3. join runs of spelled-out single characters (``g u c c i``, ``L.o.u.i.s``);
4. emit the normalised characters: leet digits become letters inside words with two or more
   letters, look-alike symbols become letters inside words and separators elsewhere, and each
   gap becomes one space, one hard break, nothing (next to CJK, or inside a spelled-out run),
   or its punctuation when it sits between two numbers (``1:1`` stays ``1:1``).

Every emitted character keeps the position of the original code point it came from.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.text.kinds import (
    F_CJK,
    F_DIGIT,
    F_HARD,
    F_INVISIBLE,
    F_LEET_HARD,
    F_LEET_SOFT,
    F_LETTER,
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

_T_WORD = 0
_T_CJK = 1
_T_LONE_SYMBOL = 2
"""A look-alike symbol standing alone: a letter inside a spelled-out run, else a separator."""


@njit(cache=True, inline="always")
def _is_word_kind(kind: int) -> bool:
    return kind in (F_LETTER, F_DIGIT, F_LEET_SOFT, F_LEET_HARD)


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
                    nch += 1
                    if k2 == F_LETTER:
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
        first = t_kind[tk_s[i]]
        if first == F_CJK:
            first_kind = N_CJK
        elif first == F_LETTER:
            first_kind = N_LETTER
        elif first == F_DIGIT:
            d = t_cp[tk_s[i]] - 48
            first_kind = N_LETTER if leet_ok and 0 <= d <= 9 and leet[d] != 0 else N_DIGIT
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
        for q in range(tk_s[i], tk_e[i]):
            k = t_kind[q]
            if k == F_INVISIBLE:
                if o > field_start:
                    out_kind[o - 1] |= SEP_AFTER
                flags_next = SEP_BEFORE
                continue
            c = t_cp[q]
            if k == F_LETTER:
                nk = N_LETTER
            elif k == F_DIGIT:
                d = c - 48
                if leet_ok and 0 <= d <= 9 and leet[d] != 0:
                    c = leet[d]
                    nk = N_LETTER
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
