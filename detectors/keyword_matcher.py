"""Find every registered term in a batch of listings: normalise, scan once, group by listing.

:class:`TermMatcher` is the plain Python face of the kernels: one normalisation call and one
find call per batch, whatever its size. The fields of a batch go into one buffer in three
blocks (every title, then every description, then every claimed brand); the find kernel walks
the automaton over all of it, keeps whole-word matches, maps patterns back to terms with their
span in the original text, and groups the matches by listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from contract.listing import Listing
from detectors._keyword_kernels import (
    HIT_END,
    HIT_SRC_END,
    HIT_SRC_START,
    HIT_START,
    HIT_TERM,
    HIT_WHICH,
    find_terms,
    scan_raw,
)
from detectors.keyword_lexicon import Lexicon
from detectors.text.normalize import NormalizedBatch, TextNormalizer, encode_fields


def listing_fields(listings: Sequence[Listing], *, scan_description: bool = True) -> list[str]:
    """The fields to scan, in blocks: titles, descriptions ("" when not scanned), claimed
    brands ("" for none)."""
    texts = [listing.title for listing in listings]
    if scan_description:
        texts += [listing.description for listing in listings]
    else:
        texts += [""] * len(listings)
    texts += [listing.brand or "" for listing in listings]
    return texts


def encode_listings(
    listings: Sequence[Listing], *, scan_description: bool = True
) -> tuple[list[str], npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    """:func:`listing_fields`, encoded (:func:`~detectors.text.normalize.encode_fields`): the
    fields (a block with nothing in it -- no listing of the batch has a description, or a
    claimed brand -- left out, and encoded at no cost), their code points and offsets.

    Plain comprehensions and loops: attribute reads of a slotted class compile to a direct slot
    load, twice as fast as ``operator.attrgetter``."""
    n = len(listings)
    texts = [listing.title for listing in listings]
    descriptions, claimed = _filled_blocks(listings, scan_description=scan_description)
    if not descriptions and not claimed:
        return texts, *encode_fields(texts, empty_after=2 * n)
    if descriptions:
        texts += [listing.description for listing in listings]
    else:
        texts += [""] * n
    if not claimed:
        return texts, *encode_fields(texts, empty_after=n)
    texts += [listing.brand or "" for listing in listings]
    return texts, *encode_fields(texts)


def _filled_blocks(listings: Sequence[Listing], *, scan_description: bool) -> tuple[bool, bool]:
    """Whether any listing has a description (to scan), and any a claimed brand: one pass,
    which ends as soon as both are known (the common batch, with neither, takes the plainest
    loop)."""
    for listing in listings:
        if listing.description or listing.brand:
            break
    else:
        return False, False
    descriptions = not scan_description  # nothing to look for then
    claimed = False
    for listing in listings:
        if not descriptions and listing.description:
            descriptions = True
            if claimed:
                break
        if not claimed and listing.brand:
            claimed = True
            if descriptions:
                break
    return descriptions and scan_description, claimed


@dataclass(frozen=True, slots=True)
class TermHits:
    """Term matches of a batch of listings, grouped by listing: the matches of listing
    ``owners[g]`` are columns ``group_starts[g]:group_starts[g + 1]`` of ``hits``, title first,
    then description, then claimed brand (``which``: 0, 1, 2), each field in text order.

    ``start``/``end`` index the normalised buffer (``end`` inclusive); ``src_start``/``src_end``
    are code-point offsets in the original field (``src_end`` exclusive), i.e.
    ``text[src_start:src_end]`` is what the seller wrote.
    """

    hits: npt.NDArray[np.int32]
    group_starts: npt.NDArray[np.int64]
    owners: npt.NDArray[np.int64]
    text: NormalizedBatch
    n_listings: int
    sources: Sequence[str] = ()
    """The fields as written, in blocks (``sources[which * n_listings + listing]``; blocks
    without any match may be missing)."""

    def __len__(self) -> int:
        return int(self.hits.shape[1])

    def _row(self, index: int) -> npt.NDArray[np.int32]:
        row: npt.NDArray[np.int32] = self.hits[index]
        return row

    @property
    def term(self) -> npt.NDArray[np.int32]:
        return self._row(HIT_TERM)

    @property
    def which(self) -> npt.NDArray[np.int32]:
        return self._row(HIT_WHICH)

    @property
    def start(self) -> npt.NDArray[np.int32]:
        return self._row(HIT_START)

    @property
    def end(self) -> npt.NDArray[np.int32]:
        return self._row(HIT_END)

    @property
    def src_start(self) -> npt.NDArray[np.int32]:
        return self._row(HIT_SRC_START)

    @property
    def src_end(self) -> npt.NDArray[np.int32]:
        return self._row(HIT_SRC_END)

    def claims(self) -> npt.NDArray[np.bool_]:
        """Per group: whether its listing fills the claimed brand field (with anything that
        normalises to text: a brand of only spaces or symbols claims nothing)."""
        offsets = self.text.offsets
        claimed = 2 * self.n_listings + self.owners
        claims: npt.NDArray[np.bool_] = offsets[claimed + 1] - offsets[claimed] > 1
        return claims


class TermMatcher:
    def __init__(self, lexicon: Lexicon, normalizer: TextNormalizer) -> None:
        self.lexicon = lexicon
        self.normalizer = normalizer

    def find_listings(
        self, listings: Sequence[Listing], *, scan_description: bool = True
    ) -> TermHits:
        sources, cps, offsets = encode_listings(listings, scan_description=scan_description)
        text = self.normalizer.normalize_encoded(cps, offsets)
        return self.find_normalized(text, len(listings), sources)

    def find(self, texts: Sequence[str], n_listings: int) -> TermHits:
        """Whole-word (Latin) and substring (CJK) matches of every term in ``3 * n_listings``
        fields given in blocks (see :func:`listing_fields`)."""
        if len(texts) != 3 * n_listings:
            raise ValueError(f"{len(texts)} fields for {n_listings} listings (3 each)")
        return self.find_normalized(self.normalizer.normalize(texts), n_listings, texts)

    def find_normalized(
        self, text: NormalizedBatch, n_listings: int, sources: Sequence[str] = ()
    ) -> TermHits:
        lexicon, automaton = self.lexicon, self.lexicon.automaton
        found = find_terms(
            text.cps,
            text.kinds,
            text.offsets,
            text.positions,
            n_listings,
            automaton.symbol_of,
            automaton.transitions,
            automaton.n_symbols,
            automaton.mid_transitions,
            automaton.n_low,
            automaton.first_output,
            automaton.out_offsets,
            automaton.out_patterns,
            automaton.pattern_lengths,
            lexicon.edges,
            lexicon.pattern_term_offsets,
            lexicon.pattern_terms,
            lexicon.pattern_competes,
            lexicon.term_competes,
        )
        return TermHits(*found, text, n_listings, sources)

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
            automaton.mid_transitions,
            automaton.n_low,
            automaton.first_output,
            automaton.out_offsets,
            automaton.out_patterns,
        )
        return found

    def warm(self) -> None:
        """Compile or load both kernels for the array types real batches use."""
        self.normalizer.warm()
        text = self.normalizer.normalize(["warm-up g.u.c.c.1 高仿", "", ""])
        self.find_normalized(text, 1)
        self.scan_raw(text)
