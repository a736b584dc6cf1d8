"""Compile normalised patterns into an Aho-Corasick automaton held in numpy arrays.

The automaton is a full DFA: one dense row of next states per state, over a compact alphabet
of symbols, so the scanning kernel does one table load per symbol and never follows failure
links. The alphabet keeps the table small whatever the scripts: every code point that occurs
in no pattern shares symbol 0 (it can only send the walk back to the root), the most frequent
pattern characters get one symbol each, and when a registry has more distinct characters than
that (thousands of Han characters), the rest are spelled as two symbols, a high and a low one
from separate ranges, so a pattern still matches exactly the same texts.

Memory is ``states x symbols`` entries of two bytes (four past 65,535 states): about 5 MB for
5,000 brand aliases and terms at the default 128 symbols, growing linearly with the total
length of the patterns.

States that end a pattern are numbered last (from ``first_output``), so the kernel tests a
single comparison per step; their pattern ids, including those reached through dictionary
suffix links, are listed flat in ``out_patterns``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MAX_SYMBOLS = 128
PAIR_FLAG = 1 << 8
"""``symbol_of[cp] >= PAIR_FLAG``: the character is two symbols, ``v >> 8`` then ``v & 255``
(a high symbol is never 0, so a pair is always at least 256)."""


@dataclass(frozen=True, slots=True)
class Automaton:
    n_symbols: int
    symbol_of: npt.NDArray[np.uint16]
    """Code point -> symbol (or pair); code points past the end are symbol 0."""
    transitions: npt.NDArray[np.uint16] | npt.NDArray[np.int32]
    """``transitions[state * n_symbols + symbol]``: the next state (root is 0); 16-bit when
    the states fit, which halves the cache the walk needs."""
    first_output: int
    out_offsets: npt.NDArray[np.int32]
    """Patterns ending at state ``s >= first_output``:
    ``out_patterns[out_offsets[s - first_output]:out_offsets[s - first_output + 1]]``."""
    out_patterns: npt.NDArray[np.int32]
    pattern_lengths: npt.NDArray[np.int32]
    """Length of each pattern in code points (a match ending at ``i`` starts at
    ``i - length + 1``)."""

    @property
    def n_states(self) -> int:
        return len(self.transitions) // self.n_symbols

    @property
    def nbytes(self) -> int:
        arrays = (self.symbol_of, self.transitions, self.out_offsets, self.out_patterns)
        return sum(array.nbytes for array in arrays)


def _alphabet(
    patterns: Sequence[Sequence[int]], max_symbols: int
) -> tuple[int, npt.NDArray[np.uint16]]:
    counts = Counter(cp for pattern in patterns for cp in pattern)
    chars = sorted(counts, key=lambda cp: (-counts[cp], cp))
    distinct = len(chars)
    symbol_of = np.zeros((max(chars) + 1) if chars else 1, dtype=np.uint16)
    if distinct + 1 <= max_symbols:
        for rank, cp in enumerate(chars):
            symbol_of[cp] = rank + 1
        return distinct + 1, symbol_of
    singles = distinct
    while True:
        rare = distinct - singles
        low_count = math.isqrt(rare - 1) + 1 if rare > 0 else 0
        high_count = -(-rare // low_count) if rare > 0 else 0
        if 1 + singles + high_count + low_count <= max_symbols:
            break
        singles -= 1
        if singles < 0:
            raise ValueError(f"{distinct} distinct pattern characters do not fit the alphabet")
    for rank, cp in enumerate(chars[:singles]):
        symbol_of[cp] = rank + 1
    high_base = 1 + singles
    low_base = high_base + high_count
    for rank, cp in enumerate(chars[singles:]):
        high, low = divmod(rank, low_count)
        symbol_of[cp] = ((high_base + high) << 8) | (low_base + low)
    return low_base + low_count, symbol_of


def _symbols(pattern: Sequence[int], symbol_of: npt.NDArray[np.uint16]) -> list[int]:
    out: list[int] = []
    for cp in pattern:
        code = int(symbol_of[cp])
        if code >= PAIR_FLAG:
            out.extend((code >> 8, code & 0xFF))
        else:
            out.append(code)
    return out


def compile_automaton(
    patterns: Sequence[Sequence[int]], *, max_symbols: int = MAX_SYMBOLS
) -> Automaton:
    """Build the automaton for non-empty code-point patterns (ids are their indices).

    Code point 0 separates fields in a scanned buffer and occurs in no pattern, so every walk
    is back at the root after it (the kernels rely on this to walk lanes independently).

    ``max_symbols`` (at most 256) bounds the alphabet; smaller values spell more characters as
    symbol pairs (tests use it to exercise that path on small pattern sets).
    """
    if not 2 <= max_symbols <= 256:
        raise ValueError("max_symbols must be between 2 and 256")
    if any(len(pattern) == 0 or 0 in pattern for pattern in patterns):
        raise ValueError("patterns must be non-empty and free of code point 0 (the break)")
    n_symbols, symbol_of = _alphabet(patterns, max_symbols)

    # Trie.
    children: list[dict[int, int]] = [{}]
    own: dict[int, list[int]] = {}
    for pattern_id, pattern in enumerate(patterns):
        state = 0
        for symbol in _symbols(pattern, symbol_of):
            nxt = children[state].get(symbol)
            if nxt is None:
                nxt = len(children)
                children[state][symbol] = nxt
                children.append({})
            state = nxt
        own.setdefault(state, []).append(pattern_id)
    n_states = len(children)

    # Dense DFA, level by level: a state's row is its failure state's row plus its own edges.
    table = np.zeros((n_states, n_symbols), dtype=np.int32)
    fail = np.zeros(n_states, dtype=np.int32)
    order: list[int] = []
    level = [0]
    while level:
        order.extend(level)
        states = np.asarray(level, dtype=np.int64)
        if level != [0]:
            table[states] = table[fail[states]]
        parents, symbols, kids = [], [], []
        for state in level:
            for symbol, kid in children[state].items():
                parents.append(state)
                symbols.append(symbol)
                kids.append(kid)
        if not kids:
            break
        p = np.asarray(parents, dtype=np.int64)
        c = np.asarray(symbols, dtype=np.int64)
        k = np.asarray(kids, dtype=np.int64)
        fail[k] = np.where(p == 0, 0, table[fail[p], c])
        table[p, c] = k
        level = kids

    # Outputs through dictionary suffix links (a failure state is always shallower).
    outputs: list[list[int]] = [[] for _ in range(n_states)]
    for state in order[1:]:
        outputs[state] = own.get(state, []) + outputs[int(fail[state])]

    # Renumber: states without output first (root stays 0), output states last.
    silent = [state for state in order if not outputs[state]]
    loud = [state for state in order if outputs[state]]
    new_of = np.empty(n_states, dtype=np.int32)
    new_of[np.asarray(silent + loud, dtype=np.int64)] = np.arange(n_states, dtype=np.int32)
    renumbered = np.empty_like(table)
    renumbered[new_of] = new_of[table]
    out_offsets = np.zeros(len(loud) + 1, dtype=np.int32)
    out_offsets[1:] = np.cumsum([len(outputs[state]) for state in loud])
    flat = [pattern_id for state in loud for pattern_id in outputs[state]]
    narrow = n_states <= np.iinfo(np.uint16).max
    transitions: npt.NDArray[np.uint16] | npt.NDArray[np.int32] = (
        renumbered.ravel().astype(np.uint16) if narrow else renumbered.ravel()
    )
    return Automaton(
        n_symbols=n_symbols,
        symbol_of=symbol_of,
        transitions=transitions,
        first_output=len(silent),
        out_offsets=out_offsets,
        out_patterns=np.asarray(flat, dtype=np.int32),
        pattern_lengths=np.asarray([len(pattern) for pattern in patterns], dtype=np.int32),
    )
