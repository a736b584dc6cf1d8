"""Character kinds shared by the fold tables, the normalisation kernel and the matcher.

Two vocabularies: *fold kinds* describe one folded character as the Unicode tables see it
(before any context is known); *normalised kinds* describe a character of the normalised
stream, after context decided what a leet digit, a look-alike symbol or a separator means.
The low three bits of a normalised kind byte hold the kind, the two flag bits above record a
separator that normalisation removed (so whole-word matching still sees the word edge there).

The values are compiled into the Numba kernels as constants, and Numba's on-disk cache does
not notice a change here: changing one means clearing the kernels' ``__pycache__`` caches.
"""

from __future__ import annotations

# Fold kinds: what the Unicode data says about one folded character.
F_LETTER = 1
"""A letter of a script that separates words with spaces (Latin, Cyrillic, Greek, ...)."""
F_DIGIT = 2
F_LEET_SOFT = 3
"""A symbol that stands for a letter inside a word (``@`` -> a, ``$`` -> s), else a space."""
F_LEET_HARD = 4
"""Like ``F_LEET_SOFT`` but a hard break when it is not a letter (``!`` -> i, ``|`` -> l)."""
F_CJK = 5
"""A character of a script written without spaces (Han, kana, Hangul, Thai...): substrings."""
F_SOFT = 6
"""A light separator: spaces, dots, hyphens, underscores, most symbols and emoji."""
F_HARD = 7
"""A phrase break: commas, colons, slashes, brackets, line breaks, unassigned code points."""
F_INVISIBLE = 8
"""A zero-width or format character: dropped, but it may hide a word edge."""
F_REGIONAL = 9
"""A regional indicator letter (🇬): in a run of three or more a word of letters of its own (a
name spelled in them), else a light separator (two of them are one flag)."""

# Normalised kinds (low three bits of a normalised kind byte).
N_BREAK = 0
"""Between fields; the automaton resets on it (no pattern contains it)."""
N_LETTER = 1
N_DIGIT = 2
N_LENIENT = 3
"""A look-alike symbol read as a letter; it still counts as a word edge (``@gucci``)."""
N_CJK = 4
N_SPACE = 5
N_HARD = 6
KIND_MASK = 0x07
SEP_BEFORE = 0x08
"""A separator or zero-width character was removed just before this character."""
SEP_AFTER = 0x10
"""A separator or zero-width character was removed just after this character."""

SPACE_CP = 0x20
HARD_CP = 0x0A
"""The one code point every hard break becomes (a line feed)."""
BREAK_CP = 0x00
