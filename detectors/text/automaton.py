"""Compile normalised patterns into an Aho-Corasick automaton held in numpy arrays.

The automaton is a full DFA: one dense row of next states per state, over a compact alphabet
of symbols, so the scanning kernel does one table load per symbol and never follows failure
links. The alphabet keeps the table small whatever the scripts: every code point that occurs
in no pattern shares symbol 0 (it can only send the walk back to the root), the characters
that many patterns share (Latin letters, digits...) get one symbol each, and the rest
(thousands of Han characters) are spelled as two symbols, a *high* then a *low* one, so a
pattern still matches exactly the same texts.

A walk only reads a low symbol right after a high one, and a high or single symbol anywhere
else. So the states a high symbol leads to (*mid* states, half-way through a character) get
rows over the low symbols only, in their own table, and every other state gets a row over the
single and high symbols only: two narrow tables instead of one wide one. Few high symbols and
many low ones keep the main table, which holds almost every state, narrow: the walk's working
set is what limits the scan once a batch's other work has cooled the caches.

Memory is about ``states x (singles + highs)`` entries of two bytes (four past 65,535 states),
plus ``mid states x lows``: about 2.2 MB for 5,000 brand aliases and terms, growing linearly
with the total length of the patterns.

States are numbered depth first (a pattern's states are neighbours in the tables), those that
end a pattern last (from ``first_output``), so the kernel tests a single comparison per step;
their pattern ids, including those reached through dictionary suffix links, are listed flat
in ``out_patterns``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MAX_SYMBOLS = 128
PAIR_FLAG = 1 << 8
"""``symbol_of[cp] >= PAIR_FLAG``: the character is two symbols, the high one ``v >> 8`` (a
column of the main table, never 0, so a pair is always at least 256) then the low one
``v & 255`` (a column of the mid table)."""
SHARED = 200
"""A character in at least one pattern in this many (and in two) gets a symbol of its own."""


@dataclass(frozen=True, slots=True)
class Automaton:
    n_symbols: int
    """Columns of the main table: symbol 0, the single symbols, the high symbols."""
    symbol_of: npt.NDArray[np.uint16]
    """Code point -> symbol (or pair); code points past the end are symbol 0."""
    transitions: npt.NDArray[np.uint16] | npt.NDArray[np.int32]
    """The main table: ``transitions[state * n_symbols + symbol]``, the next state (root is 0)
    for a single symbol, the next mid state (0: none, back to the root) for a high one; 16-bit
    when the states fit, which halves the cache the walk needs."""
    n_low: int
    """Columns of the mid table: the low symbols (0 when no character is a pair)."""
    mid_transitions: npt.NDArray[np.uint16] | npt.NDArray[np.int32]
    """``mid_transitions[mid * n_low + low]``: the next state; mid state 0 is the root's (every
    low symbol leads back to the root: no pattern starts half-way through a character)."""
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
        mid = len(self.mid_transitions) // self.n_low - 1 if self.n_low else 0
        return len(self.transitions) // self.n_symbols + mid

    @property
    def nbytes(self) -> int:
        arrays = (self.symbol_of, self.transitions, self.mid_transitions, self.out_offsets,
                  self.out_patterns)  # fmt: skip
        return sum(array.nbytes for array in arrays)


def _alphabet(
    patterns: Sequence[Sequence[int]], max_symbols: int
) -> tuple[int, int, int, npt.NDArray[np.uint16]]:
    """(main columns, first high symbol, low columns, symbol of each code point).

    Every character its own symbol when they fit; else the characters many patterns share get
    their own, and the rest are spelled as pairs over as few high symbols as the low range
    allows (the main table, which every state has a row in, stays narrow)."""
    counts = Counter(cp for pattern in patterns for cp in pattern)
    chars = sorted(counts, key=lambda cp: (-counts[cp], cp))
    distinct = len(chars)
    symbol_of = np.zeros((max(chars) + 1) if chars else 1, dtype=np.uint16)
    if distinct + 1 <= max_symbols:
        for rank, cp in enumerate(chars):
            symbol_of[cp] = rank + 1
        return distinct + 1, distinct + 1, 0, symbol_of
    shared = max(2, len(patterns) // SHARED)
    singles = min(sum(1 for cp in chars if counts[cp] >= shared), max_symbols - 2)
    while True:
        rare = distinct - singles
        lows = min(rare, max_symbols)
        highs = -(-rare // lows)
        if 1 + singles + highs <= max_symbols:
            break
        singles -= 1
        if singles < 0:
            raise ValueError(f"{distinct} distinct pattern characters do not fit the alphabet")
    for rank, cp in enumerate(chars[:singles]):
        symbol_of[cp] = rank + 1
    high_base = 1 + singles
    for rank, cp in enumerate(chars[singles:]):
        high, low = divmod(rank, lows)
        symbol_of[cp] = ((high_base + high) << 8) | low
    return high_base + highs, high_base, lows, symbol_of


def _symbols(pattern: Sequence[int], symbol_of: npt.NDArray[np.uint16], n_main: int) -> list[int]:
    """A pattern's symbols, low symbols numbered after the main ones (one construction
    alphabet; the tables are split afterwards)."""
    out: list[int] = []
    for cp in pattern:
        code = int(symbol_of[cp])
        if code >= PAIR_FLAG:
            out.extend((code >> 8, n_main + (code & 0xFF)))
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
    n_main, high_base, n_low, symbol_of = _alphabet(patterns, max_symbols)
    n_symbols = n_main + n_low

    # Trie.
    children: list[dict[int, int]] = [{}]
    own: dict[int, list[int]] = {}
    mid: set[int] = set()
    """States a high symbol leads to."""
    for pattern_id, pattern in enumerate(patterns):
        state = 0
        for symbol in _symbols(pattern, symbol_of, n_main):
            nxt = children[state].get(symbol)
            if nxt is None:
                nxt = len(children)
                children[state][symbol] = nxt
                children.append({})
                if high_base <= symbol < n_main:
                    mid.add(nxt)
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

    # Renumber: main states without output first (root stays 0), output states last; mid
    # states apart, from 1 (0 is the root's); each in depth-first order, so the states along
    # one pattern sit side by side and a walk down a cold pattern reads neighbouring rows
    # (fetched together) instead of one cache miss per character.
    preorder: list[int] = []
    stack = [0]
    while stack:
        state = stack.pop()
        preorder.append(state)
        stack.extend(kid for _symbol, kid in sorted(children[state].items(), reverse=True))
    silent = [state for state in preorder if not outputs[state] and state not in mid]
    loud = [state for state in preorder if outputs[state]]
    mids = [state for state in preorder if state in mid]
    assert not any(outputs[state] for state in mids)  # no pattern ends half-way in a character
    main_ids = np.asarray(silent + loud, dtype=np.int64)
    new_of = np.zeros(n_states, dtype=np.int32)
    new_of[main_ids] = np.arange(len(main_ids), dtype=np.int32)
    mid_of = np.zeros(n_states, dtype=np.int32)
    mid_of[np.asarray(mids, dtype=np.int64)] = np.arange(1, len(mids) + 1, dtype=np.int32)
    # Single symbols lead to main states; high symbols to mid states (or back to the root:
    # mid 0); low symbols, read in mid states only, to main states.
    main = table[main_ids, :n_main]
    main_table = np.where(np.arange(n_main) >= high_base, mid_of[main], new_of[main]).astype(
        np.int32
    )
    mid_table = np.zeros((len(mids) + 1, n_low), dtype=np.int32)
    if n_low:
        mid_table[1:] = new_of[table[np.asarray(mids, dtype=np.int64), n_main:]]
    out_offsets = np.zeros(len(loud) + 1, dtype=np.int32)
    out_offsets[1:] = np.cumsum([len(outputs[state]) for state in loud])
    flat = [pattern_id for state in loud for pattern_id in outputs[state]]
    narrow = max(len(main_ids), len(mids) + 1) <= np.iinfo(np.uint16).max
    transitions: npt.NDArray[np.uint16] | npt.NDArray[np.int32] = main_table.ravel()
    mid_transitions: npt.NDArray[np.uint16] | npt.NDArray[np.int32] = mid_table.ravel()
    if narrow:
        transitions, mid_transitions = (
            transitions.astype(np.uint16), mid_transitions.astype(np.uint16)
        )  # fmt: skip
    return Automaton(
        n_symbols=n_main,
        symbol_of=symbol_of,
        transitions=transitions,
        n_low=n_low,
        mid_transitions=mid_transitions,
        first_output=len(silent),
        out_offsets=out_offsets,
        out_patterns=np.asarray(flat, dtype=np.int32),
        pattern_lengths=np.asarray([len(pattern) for pattern in patterns], dtype=np.int32),
    )
