"""The Aho-Corasick compiler and scan kernel, with pyahocorasick as the oracle."""

from __future__ import annotations

import random
from collections import Counter

import ahocorasick
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors._keyword_kernels import scan_raw
from detectors.text.automaton import Automaton, compile_automaton

# Small alphabets make many overlapping matches; the Han characters and a small symbol budget
# force the two-symbol spelling of rare characters; U+0000 (the field break) cuts lanes.
LATIN = "abc"
MIXED = "ab高仿丁七万丈三上下不与丐丑专且"


def _scan(automaton: Automaton, text: str) -> Counter[tuple[int, int]]:
    cps = np.fromiter(map(ord, text), dtype=np.int32, count=len(text))
    patterns, ends = scan_raw(
        cps,
        automaton.symbol_of,
        automaton.transitions,
        automaton.n_symbols,
        automaton.mid_transitions,
        automaton.n_low,
        automaton.first_output,
        automaton.out_offsets,
        automaton.out_patterns,
    )
    return Counter(zip(ends.tolist(), patterns.tolist(), strict=True))


def _oracle(patterns: list[str], text: str) -> Counter[tuple[int, int]]:
    oracle = ahocorasick.Automaton()
    for index, pattern in enumerate(patterns):
        oracle.add_word(pattern, index)
    oracle.make_automaton()
    return Counter(oracle.iter(text)) if text else Counter()


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[str], str, int]:
    alphabet = draw(st.sampled_from([LATIN, MIXED]))
    patterns = draw(
        st.lists(st.text(alphabet=alphabet, min_size=1, max_size=6), min_size=1, max_size=40,
                 unique=True)
    )  # fmt: skip
    text = draw(st.text(alphabet=alphabet + " \x00", max_size=400))
    max_symbols = draw(st.sampled_from([12, 16, 256]))
    return patterns, text, max_symbols


@settings(max_examples=200, deadline=None)
@given(corpora())
def test_raw_matches_equal_pyahocorasick(case: tuple[list[str], str, int]) -> None:
    patterns, text, max_symbols = case
    automaton = compile_automaton([[ord(c) for c in p] for p in patterns], max_symbols=max_symbols)
    assert _scan(automaton, text) == _oracle(patterns, text)


def test_matches_come_out_in_text_order_across_lanes() -> None:
    patterns = ["ab", "b", "高仿"]
    text = "\x00".join(["xab高仿"] * 500)  # long enough for four lanes
    automaton = compile_automaton([[ord(c) for c in p] for p in patterns])
    cps = np.fromiter(map(ord, text), dtype=np.int32, count=len(text))
    found, ends = scan_raw(
        cps, automaton.symbol_of, automaton.transitions, automaton.n_symbols,
        automaton.mid_transitions, automaton.n_low, automaton.first_output,
        automaton.out_offsets, automaton.out_patterns,
    )  # fmt: skip
    assert ends.tolist() == sorted(ends.tolist())
    assert len(found) == 3 * 500


def test_many_matches_grow_the_buffers() -> None:
    automaton = compile_automaton([[ord("a")], [ord("a"), ord("a")]])
    text = "a" * 10_000
    assert sum(_scan(automaton, text).values()) == 10_000 + 9_999


def test_two_symbol_spelling_and_narrow_tables() -> None:
    chars = [chr(0x4E00 + i) for i in range(1000)]
    patterns = [chars[i] + chars[(i * 7) % 1000] for i in range(1000)]
    automaton = compile_automaton([[ord(c) for c in p] for p in patterns])
    assert automaton.n_symbols <= 256
    assert int(automaton.symbol_of.max()) >= 256  # some characters are spelled as pairs
    assert automaton.transitions.dtype == np.uint16
    text = "".join(patterns[::3])
    assert _scan(automaton, text) == _oracle(patterns, text)


def test_shared_characters_are_single_symbols_and_the_main_table_stays_narrow() -> None:
    # Latin names (letters shared by many) and Han names (each character in a few): letters
    # get their own symbols, Han characters are pairs over few high symbols, and states
    # half-way through a Han character only have rows over the low symbols.
    rng = random.Random(1)
    han = [chr(0x4E00 + i) for i in range(2000)]
    latin = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(4, 9)))
             for _ in range(1500)]  # fmt: skip
    cjk = ["".join(rng.choices(han, k=rng.randint(2, 4))) for _ in range(1500)]
    patterns = list(dict.fromkeys(latin + cjk + ["a货", "1比1"]))
    automaton = compile_automaton([[ord(c) for c in p] for p in patterns])
    letters = automaton.symbol_of[[ord(c) for c in "aeiou"]]
    assert (letters > 0).all() and (letters < 256).all()
    used = sorted({ord(c) for name in cjk for c in name})
    assert (automaton.symbol_of[used] >= 256).all()
    assert automaton.n_symbols < 64 < automaton.n_low
    n_main = len(automaton.transitions) // automaton.n_symbols
    n_mid = len(automaton.mid_transitions) // automaton.n_low
    assert n_main + n_mid - 1 == automaton.n_states and n_mid > 1000
    text = " ".join(rng.choices(patterns, k=400)) + "".join(rng.choices(han, k=3000))
    assert _scan(automaton, text) == _oracle(patterns, text)


def test_rejects_empty_patterns_and_the_break_character() -> None:
    with pytest.raises(ValueError):
        compile_automaton([[]])
    with pytest.raises(ValueError):
        compile_automaton([[ord("a"), 0]])


def test_no_patterns_matches_nothing() -> None:
    automaton = compile_automaton([])
    assert not _scan(automaton, "anything at all")
