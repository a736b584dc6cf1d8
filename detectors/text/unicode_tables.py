"""Per-code-point fold tables, derived from the Unicode data at start-up.

Every code point below :data:`FOLD_LIMIT` folds to zero or more ``(code point, fold kind)``
pairs: compatibility forms and width (NFKC), case (full case folding), accents and other
combining marks (dropped after canonical decomposition), look-alike letters of other scripts
(the Unicode confusables data shipped by the maintained ``confusable_homoglyphs`` package,
not a hand-typed table), and the I/l/1/| family, which the Unicode skeleton also treats as one
letter. Context-dependent readings (is this ``0`` a letter? is this dot between two spelled-out
letters?) are left to the normalisation kernel: the tables only say what a character could be.

The tables are computed once per process (about a second) and shared by every compiled
detector; they depend on the Python build's Unicode version, never on the registry.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from confusable_homoglyphs import confusables as _confusables

from detectors.text.kinds import (
    F_CJK,
    F_DIGIT,
    F_HARD,
    F_INVISIBLE,
    F_LEET_HARD,
    F_LEET_SOFT,
    F_LETTER,
    F_REGIONAL,
    F_SOFT,
)

FOLD_LIMIT = 0x30000
"""Code points from here on are classified by rule in the kernel (CJK extensions, tags...)."""

LEET_DIGITS = {
    "0": "o", "1": "l", "2": "z", "3": "e", "4": "a",
    "5": "s", "6": "g", "7": "t", "8": "b", "9": "g",
}  # fmt: skip
"""Digits read as letters inside a word that has at least two letters (``gucc1``, ``l0uis``,
``9ucci``, ``8urberry``); a run of two or more at either end of a word stays a number."""
LEET_SYMBOLS = {
    "@": ("a", F_LEET_SOFT),
    "$": ("s", F_LEET_SOFT),
    "€": ("e", F_LEET_SOFT),
    "!": ("l", F_LEET_HARD),
    "|": ("l", F_LEET_HARD),
}
"""Symbols read as letters when they touch a letter or digit; separators otherwise."""
MERGED_LETTERS = {"i": "l"}
"""Capital I, small l, digit one and the vertical bar look alike: one letter for matching."""
SOFT_PUNCTUATION = frozenset("-_.'\"*~#^`+=·‐‑‒–•・‧∙⋅‘’“”′″")
"""Punctuation that joins rather than breaks a phrase (``high-copy``, ``L.o.u.i.s``)."""
HARD_SYMBOLS = frozenset("<>")
SPACE = 0x20
HARD_SPACES = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
"""Hangul fillers: letters by category, invisible in practice (default-ignorable)."""

# Scripts written without spaces between words: their terms match as substrings.
_CJK_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK and Kangxi radicals
    (0x3005, 0x3007),  # ideographic iteration mark, closing mark, number zero
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repeat marks
    (0x3038, 0x303C),
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x31A0, 0x31FF),  # Bopomofo extended, Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA000, 0xA4CF),  # Yi
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7FF),  # Hangul syllables, Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x1B000, 0x1B16F),  # kana supplement and extended
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def is_cjk(cp: int) -> bool:
    """Whether a code point belongs to a script written without spaces between words."""
    return any(low <= cp <= high for low, high in _CJK_RANGES)


@dataclass(frozen=True, slots=True)
class FoldTables:
    """The fold of code point ``c`` is ``cps[offsets[c]:offsets[c + 1]]`` with its kinds."""

    offsets: npt.NDArray[np.int32]
    cps: npt.NDArray[np.int32]
    kinds: npt.NDArray[np.uint8]
    single: npt.NDArray[np.int32]
    """``kind << 24 | code point`` for the (vast majority of) code points that fold to exactly
    one character, else 0: one load on the kernel's fast path."""
    leet_digits: npt.NDArray[np.int32]
    """For ASCII digits ``0``-``9``: the letter code point it may stand for, else 0."""
    same_cjk: tuple[int, int] = (0, 0)
    """The range of code points around U+4E00 that fold to themselves as CJK (the unified
    ideographs, most of Chinese text): the kernel knows their fold without reading the table,
    which keeps those table lines out of the cache the scan needs."""


def _casefold(text: str) -> str:
    """NFKC, full case folding, NFKC again, then canonical decomposition without marks."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    bare = "".join(
        ch for ch in unicodedata.normalize("NFD", folded) if unicodedata.category(ch)[0] != "M"
    )
    return unicodedata.normalize("NFC", bare)


def _ascii_alnum(text: str) -> bool:
    return len(text) == 1 and text.isascii() and text.isalnum()


@functools.cache
def confusable_letters() -> dict[str, str]:
    """Letters of other scripts (and stylised Latin), and symbols, that look like one ASCII
    letter.

    Built from the confusables data in both directions (the data lists each prototype's
    look-alikes under the prototype, and each look-alike's prototype under itself). Only
    mappings to letters are kept: a letter never becomes a digit. A look-alike symbol
    (``∪`` for u) is read like a leet symbol: a letter inside a word, a separator elsewhere.
    """
    data = _confusables.confusables_data
    candidates: dict[str, list[str]] = {}

    def offer(source: str, target: str) -> None:
        source, target = source.strip("\u200e\u200f"), target.strip("\u200e\u200f")
        if len(source) != 1 or source.isascii() or len(target) != 1:
            return
        if unicodedata.category(source)[0] not in "LPS" or is_cjk(ord(source)):
            return
        basic = _casefold(target)
        if _ascii_alnum(basic) and basic.isalpha():
            candidates.setdefault(source, []).append(MERGED_LETTERS.get(basic, basic))

    for key, entries in data.items():
        for entry in entries:
            offer(key, entry["c"])  # key looks like entry (entry is often the prototype)
            offer(entry["c"], key)  # and the other way round
    chosen: dict[str, str] = {}
    for source, letters in candidates.items():
        # The most frequent reading wins; ties go to the alphabetically first, for determinism.
        chosen[source] = min(set(letters), key=lambda letter: (-letters.count(letter), letter))
    return chosen


def _classify(ch: str) -> int:
    cp = ord(ch)
    category = unicodedata.category(ch)
    if ch in INVISIBLE_LETTERS or category == "Cf":
        return F_INVISIBLE
    if category[0] == "L":
        return F_CJK if is_cjk(cp) else F_LETTER
    if category == "Nd":
        return F_DIGIT
    if category[0] == "N":
        return F_CJK if is_cjk(cp) else F_LETTER
    if ch.isspace():
        return F_HARD if ch in HARD_SPACES else F_SOFT
    if category[0] == "P":
        return F_SOFT if ch in SOFT_PUNCTUATION else F_HARD
    if category[0] == "S":
        return F_HARD if ch in HARD_SYMBOLS else F_SOFT
    return F_HARD  # controls, unassigned, private use, surrogates


_NAMED_LATIN_LETTER = re.compile(
    r"(?:NEGATIVE )?(?:CIRCLED |SQUARED |PARENTHESIZED )?LATIN "
    r"(?:(?:CAPITAL |SMALL )?LETTER (?:SMALL CAPITAL )?|LETTER SMALL CAPITAL )([A-Z])"
)
"""Unicode names of Latin letters in a frame or in small capitals: ``NEGATIVE CIRCLED LATIN
CAPITAL LETTER G`` (🅖), ``LATIN LETTER SMALL CAPITAL G`` (ɢ), ``PARENTHESIZED LATIN SMALL
LETTER G`` (⒢). NFKC leaves the negative ones and the small capitals alone (and makes ``(g)``
of the parenthesised ones), and the confusables data maps few of them."""


def named_latin_letter(ch: str) -> str | None:
    """The ASCII letter ``ch`` is named after, for the framed and small-capital letters of
    :data:`_NAMED_LATIN_LETTER` that do not already fold to one (None for every other)."""
    match = _NAMED_LATIN_LETTER.fullmatch(unicodedata.name(ch, ""))
    if match is None:
        return None
    folded = _casefold(ch)
    if len(folded) == 1 and folded.isascii() and folded.isalpha():
        return None  # NFKC already reads it (circled and squared capitals, fullwidth...)
    return match.group(1).lower()


_REGIONAL_INDICATOR = re.compile(r"REGIONAL INDICATOR SYMBOL LETTER ([A-Z])")
"""Unicode names of the regional indicators (🇦-🇿): pairs render as flags, longer runs spell."""


def regional_letter(ch: str) -> str | None:
    """The ASCII letter a regional indicator is named after (None for every other)."""
    match = _REGIONAL_INDICATOR.fullmatch(unicodedata.name(ch, ""))
    return match.group(1).lower() if match is not None else None


def fold_char(ch: str) -> list[tuple[int, int]]:
    """The ``(code point, fold kind)`` pairs one character folds to (empty: it vanishes)."""
    confusable = confusable_letters()
    category = unicodedata.category(ch)
    if category[0] == "M":
        return []
    regional = regional_letter(ch) if category == "So" else None
    if regional is not None:  # what a run of them means is the kernel's to decide
        return [(ord(MERGED_LETTERS.get(regional, regional)), F_REGIONAL)]
    if ch in LEET_SYMBOLS:
        letter, kind = LEET_SYMBOLS[ch]
        return [(ord(letter), kind)]
    # letters and symbols only, CJK aside: most code points need no name lookup
    named = named_latin_letter(ch) if category[0] in "LS" and not is_cjk(ord(ch)) else None
    if named is not None:
        return [(ord(MERGED_LETTERS.get(named, named)), F_LETTER)]
    folded = _casefold(ch)
    if category[0] == "L" and ch in confusable and not (folded.isascii() and folded.isalnum()):
        # A look-alike letter (NFKC does not make it ASCII: long s stays s, not the f it
        # resembles). Mapped before case folding: capital look-alikes have other lowercases.
        ch = confusable[ch]
        folded = _casefold(ch)
    if category[0] != "L" and ch in confusable and not (len(folded) == 1 and folded.isalpha()):
        # A symbol that looks like a letter (NFKC does not make it one): read like leetspeak.
        kind = F_LEET_HARD if _classify(ch) == F_HARD else F_LEET_SOFT
        return [(ord(MERGED_LETTERS.get(confusable[ch], confusable[ch])), kind)]
    out: list[tuple[int, int]] = []
    for char in folded:
        if unicodedata.category(char)[0] == "L":
            char = confusable.get(char, char)
        char = MERGED_LETTERS.get(char, char)
        if char in LEET_SYMBOLS:
            letter, kind = LEET_SYMBOLS[char]
            out.append((ord(letter), kind))
        elif unicodedata.category(char)[0] != "M":
            out.append((ord(char), _classify(char)))
    if category[0] == "S" and len(out) > 1:
        # A symbol that folds to a word (TM, kg, Tel): a word of its own, not a suffix.
        out = [(SPACE, F_SOFT), *out, (SPACE, F_SOFT)]
    if not out and category == "Cf":
        out.append((ord(ch), F_INVISIBLE))
    return out


@functools.cache
def fold_tables() -> FoldTables:
    """Build (once per process) the dense fold tables the normalisation kernel reads."""
    offsets = np.zeros(FOLD_LIMIT + 1, dtype=np.int32)
    cps: list[int] = []
    kinds: list[int] = []
    for cp in range(FOLD_LIMIT):
        offsets[cp] = len(cps)
        for folded, kind in fold_char(chr(cp)):
            cps.append(folded)
            kinds.append(kind)
    offsets[FOLD_LIMIT] = len(cps)
    folds = np.asarray(cps, dtype=np.int32)
    kinds_array = np.asarray(kinds, dtype=np.uint8)
    one = np.flatnonzero(np.diff(offsets) == 1)
    single = np.zeros(FOLD_LIMIT, dtype=np.int32)
    first = offsets[one]
    single[one] = (kinds_array[first].astype(np.int32) << 24) | folds[first]
    leet = np.zeros(10, dtype=np.int32)
    for digit, letter in LEET_DIGITS.items():
        leet[int(digit)] = ord(MERGED_LETTERS.get(letter, letter))
    return FoldTables(
        offsets=offsets, cps=folds, kinds=kinds_array, single=single, leet_digits=leet,
        same_cjk=_run_around(
            single == ((F_CJK << 24) | np.arange(FOLD_LIMIT, dtype=np.int32)), 0x4E00
        ),
    )  # fmt: skip


def _run_around(mask: npt.NDArray[np.bool_], at: int) -> tuple[int, int]:
    """``(start, stop)`` of the run of True that contains ``at`` (``(0, 0)`` if ``at`` is False)."""
    if not mask[at]:
        return 0, 0
    false = np.flatnonzero(~mask)
    before, after = false[false < at], false[false > at]
    start = int(before[-1]) + 1 if len(before) else 0
    stop = int(after[0]) if len(after) else len(mask)
    return start, stop
