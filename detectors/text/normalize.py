"""Batch text normalisation: the folding that makes disguised terms look like registered ones.

What it folds (the contract's "text matching is insensitive to..."): case, width and other
compatibility forms (NFKC), accents, look-alike letters of other scripts (Unicode confusables),
framed and small-capital letters and regional indicators (``🅖``, ``ɢ``, three or more of
``🇬🇺🇨🇨🇮``) by their Unicode names, the I/l/1/| family, leetspeak inside words (every digit,
``@ $ ! |``; one digit at a word's end is read both as a letter and as the word's edge:
``gucc1``, ``gucci7``), zero-width and format characters, and separators between spelled-out
single letters (``g u c c i``, ``L.o.u.i.s``).
Scripts written without spaces (Han, kana, Hangul, Thai...) lose the light separators between
their characters, so their terms match as substrings. Every normalised character remembers
the original code point it came from, so matches are reported in the seller's own text.

Patterns and listings go through the same normalisation, which is what makes a registered
``Louis Vuitton`` meet a listing's ``L0UIS-VUITTON``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.text._normalize_kernels import field_terminators, normalize_batch
from detectors.text.kinds import KIND_MASK, N_BREAK
from detectors.text.unicode_tables import FoldTables, fold_tables


@dataclass(frozen=True, slots=True)
class NormalizedBatch:
    """Normalised fields in one buffer.

    The buffer starts with a break character and has one after every field: field ``f`` is
    ``cps[offsets[f]:offsets[f + 1] - 1]``. ``kinds`` holds each character's normalised kind
    and separator flags (:mod:`detectors.text.kinds`); ``positions`` the index of the code
    point it came from in the original field.
    """

    cps: npt.NDArray[np.int32]
    kinds: npt.NDArray[np.uint8]
    positions: npt.NDArray[np.int32]
    offsets: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def span(self, field: int) -> tuple[int, int]:
        return int(self.offsets[field]), int(self.offsets[field + 1]) - 1

    def text(self, field: int) -> str:
        """The normalised text of one field (for tests, logs and pattern compilation)."""
        start, end = self.span(field)
        return "".join(map(chr, self.cps[start:end].tolist()))

    def field_kinds(self, field: int) -> npt.NDArray[np.uint8]:
        start, end = self.span(field)
        kinds: npt.NDArray[np.uint8] = (self.kinds[start:end] & KIND_MASK).astype(np.uint8)
        return kinds


def encode_fields(
    texts: Sequence[str], *, empty_after: int = 0
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    """All fields as one array of code points, each followed by a terminator, and the offsets:
    field ``f`` is ``cps[offsets[f]:offsets[f + 1] - 1]``. ``empty_after`` empty fields follow
    the texts (a batch's unused descriptions cost no join).

    The terminator is U+0000, so the offsets come from one kernel pass instead of a Python
    call per text; a text that itself contains U+0000 (possible, if odd) makes the count
    disagree and the lengths are taken one by one instead.
    """
    n_fields = len(texts) + empty_after
    # Lone surrogates cannot come out of JSON, but a Listing built in code may hold them.
    joined = "\x00".join(texts) + "\x00" if texts else ""
    raw = (joined + "\x00" * empty_after).encode("utf-32-le", "surrogatepass")
    cps = np.frombuffer(raw, dtype=np.uint32)
    offsets, found = field_terminators(cps, n_fields)
    if found != n_fields:
        lengths = np.zeros(n_fields, dtype=np.int64)
        lengths[: len(texts)] = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        offsets[0] = 0
        np.cumsum(lengths + 1, out=offsets[1:])
    return cps, offsets


class TextNormalizer:
    """Normalises many texts in one kernel call (the fold tables are built once per process)."""

    def __init__(self, tables: FoldTables | None = None, *, fast: bool = True) -> None:
        self.tables = tables if tables is not None else fold_tables()
        self.fast = fast
        """Take the one-pass path for plain fields (off: everything goes the general way)."""

    def normalize(self, texts: Sequence[str]) -> NormalizedBatch:
        cps, offsets = encode_fields(texts)
        return self.normalize_encoded(cps, offsets)

    def normalize_encoded(
        self, cps: npt.NDArray[np.uint32], offsets: npt.NDArray[np.int64]
    ) -> NormalizedBatch:
        tables = self.tables
        out_cp, out_kind, out_pos, out_off = normalize_batch(
            cps,
            offsets,
            tables.offsets,
            tables.cps,
            tables.kinds,
            tables.single,
            tables.leet_digits,
            tables.same_cjk[0],
            tables.same_cjk[1],
            self.fast,
        )
        return NormalizedBatch(out_cp, out_kind, out_pos, out_off)

    def normalize_text(self, text: str) -> str:
        """One text, normalised, as a string (break characters never appear inside)."""
        batch = self.normalize([text])
        return batch.text(0)

    def warm(self) -> None:
        """Compile (or load from cache) the kernel for the array types real batches use."""
        self.normalize(["W4rm-up t.e.x.t 高仿 1:1", ""])


__all__ = ["N_BREAK", "NormalizedBatch", "TextNormalizer", "encode_fields"]
