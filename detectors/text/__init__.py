"""Text machinery shared by detectors: normalisation and multi-pattern matching.

``normalize`` folds listing text and registered terms the same way (case, width, NFKC,
accents, look-alike letters, leetspeak, separators and zero-width characters) in one kernel
call per batch, keeping each character's source position; ``automaton`` compiles normalised
patterns into a dense Aho-Corasick DFA in numpy arrays; ``unicode_tables`` derives the fold
tables from the Unicode data; ``kinds`` names the character kinds they share.
"""
