"""Batch text normalisation: what folds together, what stays apart, where characters came from."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.text.kinds import (
    F_REGIONAL,
    KIND_MASK,
    N_BREAK,
    N_CJK,
    N_DIGIT,
    N_HARD,
    N_LENIENT,
    N_LETTER,
    N_SPACE,
    SEP_AFTER,
    SEP_BEFORE,
)
from detectors.text.normalize import TextNormalizer, encode_fields
from detectors.text.unicode_tables import (
    LEET_DIGITS,
    MERGED_LETTERS,
    confusable_letters,
    fold_char,
    is_cjk,
)

LEET = {digit: MERGED_LETTERS.get(letter, letter) for digit, letter in LEET_DIGITS.items()}
norm = TextNormalizer()
general = TextNormalizer(fast=False)


def n(text: str) -> str:
    return norm.normalize_text(text)


# Each pair must normalise to the same text: the disguise on the left, the plain form right.
SAME = [
    ("GUCCI", "gucci"),  # case
    ("Ｇｕｃｃｉ", "gucci"),  # full width
    ("𝐆𝐮𝐜𝐜𝐢", "gucci"),  # mathematical bold (NFKC)
    ("ⓖⓤⓒⓒⓘ", "gucci"),  # circled letters (NFKC)
    ("🅖🅤🅒🅒🅘", "gucci"),  # negative circled letters (by their Unicode names)
    ("🅶🆄🅲🅲🅸", "gucci"),  # negative squared
    ("⒢⒰⒞⒞⒤", "gucci"),  # parenthesised (NFKC makes "(g)(u)...")
    ("ɢᴜᴄᴄɪ", "gucci"),  # small capitals
    ("🇬🇺🇨🇨🇮", "gucci"),  # regional indicators, three or more in a row
    ("🇬🇺\u200b🇨🇨🇮", "gucci"),
    ("🇮🇹gucci", "gucci"),  # one flag (two of them) stays a separator
    ("gucci 🇮🇹", "gucci"),
    ("🇫🇷 paris", "paris"),
    ("Gúccì", "gucci"),  # accents
    ("Guссі", "gucci"),  # Cyrillic es and i
    ("ΑURORA", "aurora"),  # Greek capital alpha
    ("gucc1", "gucci"),  # leet digit inside a word
    ("l0u1s", "louis"),
    ("$upreme", "supreme"),  # leet symbol
    ("4ur0r4", "aurora"),
    ("9ucci", "gucci"),  # every digit has a letter it stands for: 2 z, 6 g, 8 b, 9 g
    ("6ucc1", "gucci"),
    ("8urberry", "burberry"),
    ("2ara", "zara"),
    ("g.u.c.c.i", "gucci"),  # spelled-out letters
    ("g u c c i", "gucci"),
    ("g-u-c-c-i", "gucci"),
    ("g_u_c_c_i", "gucci"),
    ("g·u·c·c·i", "gucci"),
    ("L.0.u.1.s", "louis"),  # spelled out and leet
    ("g.u.c.c.!", "gucci"),  # a lone look-alike symbol inside a spelled-out run
    ("gu\u200bcci", "gucci"),  # zero-width space
    ("gu\u200dc\u2060ci", "gucci"),  # zero-width joiner, word joiner
    ("gu\u00adcci", "gucci"),  # soft hyphen
    ("high-copy", "high copy"),  # light separators are one space
    ("high   copy", "high copy"),
    ("high_copy", "high copy"),
    ("高 仿", "高仿"),  # CJK: no spaces between characters
    ("高.仿", "高仿"),
    ("高\u200b仿", "高仿"),
    ("A 货", "a货"),
    ("１：１", "1:1"),  # full-width digits and colon
    ("1 : 1", "1:1"),
    ("ﬁne", "fine"),  # ligature
    ("Straße", "strasse"),  # full case folding
    ("Aurora™", "aurora tm"),  # a symbol that folds to a word stays a word of its own
    ("ｶﾞ", "カ"),  # half-width kana (voicing marks fold away, in patterns too)
]

# Each pair must stay apart.
DIFFERENT = [
    ("1:1", "1.1"),  # a version number is not the counterfeit ratio
    ("1:1", "11"),
    ("1:1", "1 1"),
    ("3m", "em"),  # a leet digit needs two letters in its word
    ("4k", "ak"),
    ("b2", "bz"),
    ("iphone15", "iphonels"),  # numbers at either end of a word stay numbers
    ("2024gucci", "2o2agucci"),
    ("gucci", "guccibag"),
    ("high copy", "highcopy"),
    ("high copy", "high, copy"),  # a comma is a phrase break
]


@pytest.mark.parametrize(("disguised", "plain"), SAME)
def test_disguises_fold_to_the_plain_form(disguised: str, plain: str) -> None:
    assert n(disguised) == n(plain)


@pytest.mark.parametrize(("left", "right"), DIFFERENT)
def test_distinct_texts_stay_distinct(left: str, right: str) -> None:
    assert n(left) != n(right)


def test_kinds_of_a_mixed_text() -> None:
    batch = norm.normalize(["正品 Gucci 1:1 @home"])
    kinds = batch.field_kinds(0).tolist()
    text = batch.text(0)
    assert text == "正品guccl 1:1 ahome"
    assert kinds[:2] == [N_CJK, N_CJK]
    assert kinds[2:7] == [N_LETTER] * 5
    assert kinds[7] == N_SPACE
    assert kinds[8:11] == [N_DIGIT, N_HARD, N_DIGIT]
    assert kinds[12] == N_LENIENT  # '@' read as a letter, but still a word edge


def test_a_leet_digit_at_a_word_end_is_a_letter_and_a_word_edge() -> None:
    # "gucci7": a model number as much as a t; "gucc1": an i. Both readings stay open: the
    # digit becomes its letter, of the kind that still counts as a word edge, at either end.
    for text, edge in (("gucci7", 5), ("gucc1", 4), ("7gucci", 0)):
        kinds = norm.normalize([text]).field_kinds(0).tolist()
        assert kinds[edge] == N_LENIENT, text
        assert [k for i, k in enumerate(kinds) if i != edge] == [N_LETTER] * (len(kinds) - 1)
    # inside a word a leet digit is a plain letter; two or more at an end stay numbers
    assert norm.normalize(["gu3cci"]).field_kinds(0).tolist() == [N_LETTER] * 6
    assert norm.normalize(["gucci77"]).field_kinds(0).tolist()[-2:] == [N_DIGIT, N_DIGIT]


def test_a_word_spelled_in_regional_indicators_keeps_its_word_edges() -> None:
    batch = norm.normalize(["🇬🇺🇨🇨🇮bag"])
    start, end = batch.span(0)
    flags = batch.kinds[start:end].tolist()
    assert batch.text(0) == "gucclbag"
    assert [f & KIND_MASK for f in flags] == [N_LETTER] * 8
    assert flags[4] & SEP_AFTER and flags[5] & SEP_BEFORE  # gucci|bag: two words
    assert batch.positions[start:end].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


def test_every_regional_indicator_folds_to_the_letter_it_is_named_after() -> None:
    tables = norm.tables
    for cp in range(0x1F1E6, 0x1F200):
        named = unicodedata.name(chr(cp))[-1].lower()
        start, stop = int(tables.offsets[cp]), int(tables.offsets[cp + 1])
        assert stop - start == 1
        assert chr(tables.cps[start]) == {"i": "l"}.get(named, named)
        assert tables.kinds[start] == F_REGIONAL


def test_spelled_out_letters_keep_their_word_edges() -> None:
    batch = norm.normalize(["a g u c c i"])
    start, end = batch.span(0)
    flags = batch.kinds[start:end]
    assert batch.text(0) == "aguccl"
    assert all(flag & SEP_BEFORE and flag & SEP_AFTER for flag in flags.tolist())


def test_fields_are_separated_by_breaks_and_keep_their_offsets() -> None:
    texts = ["gucci", "", "高仿", "a\x00b"]  # a text may even contain U+0000
    batch = norm.normalize(texts)
    assert len(batch) == 4
    assert batch.kinds[0] == N_BREAK
    for field in range(len(texts)):
        _start, end = batch.span(field)
        assert batch.kinds[end] == N_BREAK
    assert [batch.text(f) for f in range(3)] == ["guccl", "", "高仿"]
    assert "\x00" not in batch.text(3)


def test_encode_fields_round_trips() -> None:
    texts = ["abc", "", "高仿", "x\x00y", "\ud800lone surrogate"]
    cps, offsets = encode_fields(texts)
    for index, text in enumerate(texts):
        chunk = cps[offsets[index] : offsets[index + 1] - 1]
        assert "".join(map(chr, chunk.tolist())) == text


def test_fold_table_agrees_with_unicodedata_for_letters() -> None:
    for cp in list(range(0x41, 0x5B)) + list(range(0xFF21, 0xFF3B)) + list(range(0x1D400, 0x1D41A)):
        expected = unicodedata.normalize("NFKC", chr(cp)).casefold()
        expected = "l" if expected == "i" else expected
        assert [chr(c) for c, _ in fold_char(chr(cp))] == [expected]


FRAMED = ("NEGATIVE CIRCLED ", "NEGATIVE SQUARED ", "PARENTHESIZED ")


def test_every_framed_or_small_capital_latin_letter_folds_to_the_letter_it_is_named_after() -> None:
    found = 0
    for cp in range(0x30000):
        name = unicodedata.name(chr(cp), "")
        letter = name[-1:]
        framed = name.startswith(FRAMED) and name[:-1].endswith("LATIN CAPITAL LETTER ")
        framed |= name.startswith(FRAMED) and name[:-1].endswith("LATIN SMALL LETTER ")
        if not (framed or name[:-1] == "LATIN LETTER SMALL CAPITAL "):
            continue
        found += 1
        expected = "l" if letter == "I" else letter.lower()
        assert [chr(c) for c, _ in fold_char(chr(cp))] == [expected], (hex(cp), name)
    assert found >= 100  # the Unicode data, not a hand-typed table: 4 framings x 26, and more


def test_confusables_come_from_the_unicode_data() -> None:
    letters = confusable_letters()
    assert len(letters) > 500  # the data set, not a hand-typed table
    assert letters["а"] == "a"  # Cyrillic
    assert letters["ο"] == "o"  # Greek
    assert not any(is_cjk(ord(ch)) for ch in letters)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                [
                    *"abcilosxyzABCIO ٣٤0123457.-_:,;!|@$€ 高仿货ＡＢ１ßﬁ™é\n\t\u200b\u3000",
                    *("\U000e0041", "\U00030001", "\U0010ffff", "g u c", "1 : 1", "ab 12"),
                ]
            ),
            max_size=20,
        ).map("".join),
        max_size=8,
    )
)
def test_fast_path_equals_general_path(texts: list[str]) -> None:
    fast, slow = norm.normalize(texts), general.normalize(texts)
    assert np.array_equal(fast.offsets, slow.offsets)
    assert np.array_equal(fast.cps, slow.cps)
    assert np.array_equal(fast.kinds, slow.kinds)
    assert np.array_equal(fast.positions, slow.positions)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=6))
def test_every_character_points_at_its_source(texts: list[str]) -> None:
    batch = norm.normalize(texts)
    for field, text in enumerate(texts):
        start, end = batch.span(field)
        positions = batch.positions[start:end].tolist()
        assert positions == sorted(positions)
        for cp, kind, pos in zip(
            batch.cps[start:end].tolist(),
            (batch.kinds[start:end] & KIND_MASK).tolist(),
            positions,
            strict=True,
        ):
            assert 0 <= pos < len(text)
            if kind in (N_LETTER, N_CJK, N_LENIENT, N_DIGIT):
                # It comes from a character that folds to it, or to a digit it stands for.
                folded = [c for c, _ in fold_char(text[pos])]
                leet = {ord(LEET[chr(c)]) for c in folded if chr(c) in LEET}
                assert cp in folded or cp in leet


def test_foldings_longer_than_the_input_grow_the_buffers() -> None:
    # One character that folds to eighteen, many times over, among plain fields: the output
    # outgrows the input it was sized from.
    texts = ["ﷺ" * 300, "ﬁne", "", "gucci ﷺ", "™" * 40]
    together = norm.normalize(texts)
    assert len(together.cps) > sum(map(len, texts))
    for field, text in enumerate(texts):
        alone = norm.normalize([text])
        assert together.text(field) == alone.text(0) == general.normalize([text]).text(0)
    assert together.text(1) == "flne"  # i and l are one letter for matching
    assert together.text(4) == " ".join(["tm"] * 40)


def test_encode_fields_with_empty_fields_after() -> None:
    for texts in (["abc", "高仿"], ["a\x00b", ""], []):
        cps, offsets = encode_fields(texts, empty_after=3)
        plain_cps, plain_offsets = encode_fields([*texts, "", "", ""])
        assert np.array_equal(cps, plain_cps) and np.array_equal(offsets, plain_offsets)


def test_the_ideographs_the_kernel_folds_without_the_table_fold_to_themselves() -> None:
    from detectors.text.kinds import F_CJK
    from detectors.text.unicode_tables import fold_tables

    tables = fold_tables()
    lo, hi = tables.same_cjk
    assert lo <= 0x4E00 < 0x9FFF < hi  # the unified ideographs at least
    cps = np.arange(lo, hi)
    assert (tables.single[lo:hi] == ((F_CJK << 24) | cps)).all()
    assert n("高仿Ａ货") == "高仿a货"
