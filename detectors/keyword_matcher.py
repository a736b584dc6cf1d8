"""Find every registered term in a batch of texts: normalise, scan once, map back.

:class:`TermMatcher` is the plain Python face of the kernels: one normalisation call and one
automaton walk per batch, whatever its size, then a few numpy operations to turn pattern
matches into term matches with their field and their span in the original text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors._keyword_kernels import expand_hits, scan_raw, scan_words
from detectors.keyword_lexicon import Lexicon
from detectors.text.normalize import NormalizedBatch, TextNormalizer


@dataclass(frozen=True, slots=True)
class TermHits:
    """Term matches in text order. ``start``/``end`` index the normalised buffer (``end``
    inclusive); ``src_start``/``src_end`` are code-point offsets in the original field
    (``src_end`` exclusive), i.e. ``text[src_start:src_end]`` is what the seller wrote."""

    term: npt.NDArray[np.int32]
    field: npt.NDArray[np.int64]
    start: npt.NDArray[np.int32]
    end: npt.NDArray[np.int32]
    src_start: npt.NDArray[np.int32]
    src_end: npt.NDArray[np.int32]
    text: NormalizedBatch

    def __len__(self) -> int:
        return len(self.term)


class TermMatcher:
    def __init__(self, lexicon: Lexicon, normalizer: TextNormalizer) -> None:
        self.lexicon = lexicon
        self.normalizer = normalizer

    def find(self, texts: Sequence[str]) -> TermHits:
        """Whole-word (Latin) and substring (CJK) matches of every term in every text."""
        return self.find_normalized(self.normalizer.normalize(texts))

    def find_normalized(self, text: NormalizedBatch) -> TermHits:
        lexicon, automaton = self.lexicon, self.lexicon.automaton
        pattern, _start, end = scan_words(
            text.cps,
            text.kinds,
            automaton.symbol_of,
            automaton.transitions,
            automaton.n_symbols,
            automaton.first_output,
            automaton.out_offsets,
            automaton.out_patterns,
            automaton.pattern_lengths,
            lexicon.edges,
        )
        term, field, start, end, src_start, src_end = expand_hits(
            pattern,
            end,
            automaton.pattern_lengths,
            lexicon.pattern_term_offsets,
            lexicon.pattern_terms,
            lexicon.pattern_competes,
            lexicon.term_competes,
            text.offsets,
            text.positions,
        )
        return TermHits(term, field, start, end, src_start, src_end, text)

    def scan_raw(
        self, text: NormalizedBatch
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        """Every pattern occurrence, word boundaries ignored: (pattern ids, end indices)."""
        automaton = self.lexicon.automaton
        found: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]] = scan_raw(
            text.cps,
            automaton.symbol_of,
            automaton.transitions,
            automaton.n_symbols,
            automaton.first_output,
            automaton.out_offsets,
            automaton.out_patterns,
        )
        return found

    def warm(self) -> None:
        """Compile or load both kernels for the array types real batches use."""
        self.normalizer.warm()
        text = self.normalizer.normalize(["warm-up g.u.c.c.1 高仿", ""])
        self.find_normalized(text)
        self.scan_raw(text)
