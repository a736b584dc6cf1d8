"""The keyword detector's lexicon: every registered term, normalised and compiled once.

Terms come from the registry (brand names and aliases, its counterfeit, prohibited and benign
lists), from the built-in lists in ``config/keyword.py`` and from the thresholds file. Each is
normalised exactly like listing text, so the automaton compares like with like. A multi-word
Latin term also gets a variant without its spaces (``louisvuitton``, and ``L o u i s V u i t t
o n`` once spelled-out letters are joined). Terms that normalise to the same pattern share it;
each pattern knows whether its edges must sit on word boundaries (Latin letters and digits) or
may sit anywhere (CJK substrings).

A benign phrase containing ``<brand>`` becomes one or two *cues*: the text before the brand
and the text after it, matched like any term and checked for adjacency to a brand match.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from config.errors import ConfigError
from config.keyword import (
    BRAND_PLACEHOLDER,
    DEFAULT_BENIGN_PHRASES,
    DEFAULT_COUNTERFEIT_TERMS,
    DEFAULT_PROHIBITED_TERMS,
    KeywordConfig,
)
from config.registry import Registry
from detectors import _keyword_rule_kernels as rule_kernels
from detectors._keyword_kernels import EDGE_LEFT, EDGE_RIGHT
from detectors.text.automaton import Automaton, compile_automaton
from detectors.text.kinds import KIND_MASK, N_DIGIT, N_LENIENT, N_LETTER, N_SPACE
from detectors.text.normalize import TextNormalizer
from detectors.text.unicode_tables import fold_tables


class Kind(IntEnum):
    BRAND = rule_kernels.K_BRAND
    COUNTERFEIT = rule_kernels.K_COUNTERFEIT
    PROHIBITED = rule_kernels.K_PROHIBITED
    BENIGN = rule_kernels.K_BENIGN
    CUE_BEFORE = rule_kernels.K_CUE_BEFORE
    """The words of a ``... <brand>`` benign phrase that come before the brand."""
    CUE_AFTER = rule_kernels.K_CUE_AFTER
    """The words of a ``<brand> ...`` benign phrase that come after the brand."""


KIND_NAMES = {
    Kind.BRAND: "brand",
    Kind.COUNTERFEIT: "counterfeit",
    Kind.PROHIBITED: "prohibited",
    Kind.BENIGN: "benign",
    Kind.CUE_BEFORE: "benign",
    Kind.CUE_AFTER: "benign",
}
_WORD_KINDS = (N_LETTER, N_DIGIT, N_LENIENT)


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    """As registered (what evidence shows)."""
    kind: Kind
    brand: int = -1
    """Index into :attr:`Lexicon.brand_ids` for brand terms."""
    template: int = -1
    """Index into :attr:`Lexicon.templates` for cues."""


@dataclass(frozen=True, slots=True)
class CueTemplate:
    phrase: str
    before: bool
    after: bool


@dataclass(frozen=True, slots=True)
class Lexicon:
    terms: tuple[Term, ...]
    brand_ids: tuple[str, ...]
    templates: tuple[CueTemplate, ...]
    patterns: tuple[tuple[int, ...], ...]
    """The normalised code-point strings the automaton matches (pattern id = index)."""
    automaton: Automaton
    edges: npt.NDArray[np.uint8]
    """Per pattern: ``EDGE_LEFT`` / ``EDGE_RIGHT`` when that edge must be a word boundary."""
    pattern_term_offsets: npt.NDArray[np.int32]
    pattern_terms: npt.NDArray[np.int32]
    """Terms of pattern ``p``: ``pattern_terms[pattern_term_offsets[p]:...[p + 1]]``."""
    term_competes: npt.NDArray[np.bool_]
    """Brands, counterfeit and prohibited terms: a match of one inside a longer match of
    another is dropped (benign phrases and cues are context: they never compete)."""
    pattern_competes: npt.NDArray[np.bool_]

    @property
    def n_patterns(self) -> int:
        return len(self.edges)


def _unique(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(text for text in texts if text.strip()))


def _raw_terms(registry: Registry, config: KeywordConfig) -> tuple[list[Term], list[CueTemplate]]:
    terms: list[Term] = []
    for index, brand in enumerate(registry.brands):
        terms.extend(Term(name, Kind.BRAND, brand=index) for name in brand.all_names)
    builtin = config.use_default_lexicon
    lexicons = registry.lexicons
    lists = (
        (Kind.COUNTERFEIT, lexicons.counterfeit_terms, DEFAULT_COUNTERFEIT_TERMS,
         config.counterfeit_terms),
        (Kind.PROHIBITED, lexicons.prohibited_terms, DEFAULT_PROHIBITED_TERMS,
         config.prohibited_terms),
        (Kind.BENIGN, lexicons.benign_phrases, DEFAULT_BENIGN_PHRASES, config.benign_phrases),
    )  # fmt: skip
    templates: list[CueTemplate] = []
    for kind, registered, default, extra in lists:
        for text in _unique((*registered, *(default if builtin else ()), *extra)):
            folded = text.lower()
            at = folded.find(BRAND_PLACEHOLDER)
            if kind != Kind.BENIGN or at < 0:
                terms.append(Term(text, kind))
                continue
            before = text[:at].strip()
            after = text[folded.rfind(BRAND_PLACEHOLDER) + len(BRAND_PLACEHOLDER) :].strip()
            if not before and not after:
                continue
            template = len(templates)
            templates.append(CueTemplate(text, bool(before), bool(after)))
            if before:
                terms.append(Term(before, Kind.CUE_BEFORE, template=template))
            if after:
                terms.append(Term(after, Kind.CUE_AFTER, template=template))
    return terms, templates


def _variants(cps: list[int], kinds: list[int]) -> list[tuple[int, ...]]:
    """The pattern, and for multi-word Latin terms the same without the spaces."""
    variants = [tuple(cps)]
    joinable = [
        i
        for i, kind in enumerate(kinds)
        if kind == N_SPACE
        and 0 < i < len(kinds) - 1
        and kinds[i - 1] in _WORD_KINDS
        and kinds[i + 1] in _WORD_KINDS
    ]
    if joinable:
        skip = set(joinable)
        variants.append(tuple(cp for i, cp in enumerate(cps) if i not in skip))
    return variants


def _edges(kinds: list[int]) -> int:
    edge = 0
    if kinds[0] in _WORD_KINDS:
        edge |= EDGE_LEFT
    if kinds[-1] in _WORD_KINDS:
        edge |= EDGE_RIGHT
    return edge


def compile_lexicon(
    registry: Registry, config: KeywordConfig, normalizer: TextNormalizer
) -> Lexicon:
    """Normalise every term and compile the automaton (once per registry and config)."""
    raw, templates = _raw_terms(registry, config)
    normalized = normalizer.normalize([term.text for term in raw])
    pattern_ids: dict[tuple[int, ...], int] = {}
    edges: list[int] = []
    by_pattern: list[list[int]] = []
    terms: list[Term] = []
    seen: set[tuple[tuple[int, ...], Kind, int, int]] = set()
    for index, term in enumerate(raw):
        start, end = normalized.span(index)
        if start == end:
            continue  # nothing left to match (a term made of separators only)
        cps = normalized.cps[start:end].tolist()
        kinds = (normalized.kinds[start:end] & KIND_MASK).tolist()
        key = (tuple(cps), term.kind, term.brand, term.template)
        if key in seen:
            continue  # the same term registered twice, or in two spellings
        seen.add(key)
        term_id = len(terms)
        terms.append(term)
        for variant in _variants(cps, kinds):
            pattern = pattern_ids.get(variant)
            if pattern is None:
                pattern = pattern_ids[variant] = len(edges)
                edges.append(_edges(kinds))
                by_pattern.append([])
            if term_id not in by_pattern[pattern]:
                by_pattern[pattern].append(term_id)
    try:
        automaton = compile_automaton(list(pattern_ids))
    except ValueError as exc:  # more distinct characters than any real lexicon has
        raise ConfigError("registry", "brands", f"terms cannot be compiled: {exc}") from exc
    offsets = np.zeros(len(by_pattern) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(ids) for ids in by_pattern])
    competing = (Kind.BRAND, Kind.COUNTERFEIT, Kind.PROHIBITED)
    term_competes = np.asarray([term.kind in competing for term in terms], dtype=np.bool_)
    return Lexicon(
        terms=tuple(terms),
        brand_ids=tuple(brand.id for brand in registry.brands),
        templates=tuple(templates),
        patterns=tuple(pattern_ids),
        automaton=automaton,
        edges=np.asarray(edges, dtype=np.uint8),
        pattern_term_offsets=offsets,
        pattern_terms=np.asarray([t for ids in by_pattern for t in ids], dtype=np.int32),
        term_competes=term_competes,
        pattern_competes=np.asarray(
            [any(term_competes[t] for t in ids) for ids in by_pattern], dtype=np.bool_
        ),
    )


def lexicon_key(registry: Registry, config: KeywordConfig) -> Hashable:
    """Everything the lexicon depends on: the registry's brand names and lexicons, and the
    config's lexicon settings (not its scores, nor who is authorised for what)."""
    lexicons = registry.lexicons
    return (
        tuple((brand.id, brand.all_names) for brand in registry.brands),
        lexicons.counterfeit_terms,
        lexicons.prohibited_terms,
        lexicons.benign_phrases,
        config.use_default_lexicon,
        config.counterfeit_terms,
        config.prohibited_terms,
        config.benign_phrases,
    )


class LexiconCache:
    """Compiled lexicons by :func:`lexicon_key`, the last few: a reload that changes only
    thresholds, and a shadow config beside the live one, share one compiled automaton instead
    of compiling (and holding) another. Lexicons are never changed after compilation, so
    sharing them is safe; a registry with other names compiles anew."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._lexicons: OrderedDict[Hashable, Lexicon] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, registry: Registry, config: KeywordConfig, normalizer: TextNormalizer) -> Lexicon:
        if normalizer.tables is not fold_tables():  # a custom folding: its own lexicon
            return compile_lexicon(registry, config, normalizer)
        key = lexicon_key(registry, config)
        with self._lock:
            found = self._lexicons.get(key)
            if found is not None:
                self._lexicons.move_to_end(key)
                return found
        lexicon = compile_lexicon(registry, config, normalizer)
        with self._lock:
            self._lexicons[key] = lexicon
            while len(self._lexicons) > self.size:
                self._lexicons.popitem(last=False)
        return lexicon


LEXICONS = LexiconCache()
"""The process's compiled lexicons (what a worker's runtimes share)."""
