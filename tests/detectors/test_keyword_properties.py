"""Property tests: a disguised alias is found wherever it stands; text without one names none.

The disguises are drawn from the Unicode data and the obfuscations the contract lists (case,
width, compatibility forms, look-alike letters of other scripts, leetspeak, separators and
zero-width characters between letters, mixed scripts), combined at random, for every alias of
every demo brand and of random registries.
"""

from __future__ import annotations

import functools
import string
import unicodedata

from confusable_homoglyphs import confusables
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from config.keyword import DEFAULT_BENIGN_PHRASES, KeywordConfig
from config.registry import Brand, Registry, load_registry
from contract.listing import Listing
from detectors.batch import ListingBatch
from detectors.keyword import KeywordDetector
from detectors.text.unicode_tables import is_cjk
from state.base import StateSnapshot

DEMO, _ = load_registry()
DEMO_DETECTOR = KeywordDetector(KeywordConfig(), DEMO)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LEET = {"a": "4@", "e": "3€", "i": "1!|", "l": "1|", "o": "0", "s": "5$", "t": "7"}
LETTER_SEPARATORS = [".", " ", "-", "_", "·", "*", " . ", "  ", "\u200b", "\u200d", "\u2060"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
CONTEXT_SEPARATORS = [" ", ", ", "; ", " / ", "\n", "。", " (", ") "]
# Words of the built-in brand cues ("for <brand>", "compatible with <brand>"...) lower the
# brand next to them by design; random context avoids them.
CUE_WORDS = {w for phrase in DEFAULT_BENIGN_PHRASES for w in phrase.lower().split()}
CJK_POOL = [chr(cp) for cp in range(0x4E00, 0x4E00 + 400)]


def _plain(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).casefold()


@functools.cache
def compat_forms() -> dict[str, list[str]]:
    """Characters that NFKC and case folding turn into one given ASCII letter."""
    forms: dict[str, list[str]] = {}
    for cp in range(0x80, 0x20000):
        ch = chr(cp)
        folded = _plain(ch)
        if len(folded) == 1 and folded in string.ascii_lowercase:
            forms.setdefault(folded, []).append(ch)
    return forms


@functools.cache
def look_alikes() -> dict[str, list[str]]:
    """Letters of other scripts that the Unicode confusables data says look like one ASCII
    letter, and nothing else (ambiguous ones are left out)."""
    readings: dict[str, set[str]] = {}
    for key, entries in confusables.confusables_data.items():
        for entry in entries:
            for source, target in ((key, entry["c"]), (entry["c"], key)):
                source, target = source.strip("\u200e"), target.strip("\u200e")
                if len(source) != 1 or source.isascii() or len(target) != 1:
                    continue
                if not unicodedata.category(source).startswith("L") or is_cjk(ord(source)):
                    continue
                letter = _plain(target)
                if len(letter) == 1 and letter in string.ascii_lowercase:
                    readings.setdefault(source, set()).add("l" if letter == "i" else letter)
    out: dict[str, list[str]] = {}
    for source, letters in readings.items():
        if len(letters) == 1 and not _plain(source).isascii():  # else NFKC decides
            out.setdefault(letters.pop(), []).append(source)
    return {letter: sorted(chars) for letter, chars in out.items()}


@st.composite
def disguised_latin_word(draw: st.DrawFn, word: str) -> str:
    """One word, letter by letter: case, width, compatibility form, look-alike, leetspeak."""
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    leet_budget = max(0, len(letters) - 2)  # a leet digit needs two letters in its word
    out = []
    for ch in word:
        lower = ch.lower()
        choice = draw(st.integers(0, 6))
        if not ch.isascii() or not ch.isalpha():
            out.append(ch)
        elif choice == 1:
            out.append(ch.upper())
        elif choice == 2:
            out.append(chr(ord(draw(st.sampled_from([lower, lower.upper()]))) + 0xFEE0))
        elif choice == 3 and compat_forms().get(lower):
            out.append(draw(st.sampled_from(compat_forms()[lower])))
        elif choice == 4 and look_alikes().get("l" if lower == "i" else lower):
            out.append(draw(st.sampled_from(look_alikes()["l" if lower == "i" else lower])))
        elif choice == 5 and lower in LEET:
            leet = draw(st.sampled_from(LEET[lower]))
            if leet.isdigit():
                if leet_budget == 0:
                    leet = ch
                else:
                    leet_budget -= 1
            out.append(leet)
        else:
            out.append(ch)
    # Two or more digits at either end of a word read as a number ("iphone15"), not as
    # leetspeak: keep at most one digit at each end.
    if len(out) >= 2 and out[0].isdigit() and out[1].isdigit():
        out[1] = word[1]
    if len(out) >= 2 and out[-1].isdigit() and out[-2].isdigit():
        out[-2] = word[-2]
    return "".join(out)


@st.composite
def disguised(draw: st.DrawFn, alias: str) -> str:
    """A disguise of a whole alias (Latin words, CJK characters or both)."""
    parts: list[str] = []
    for word in alias.split(" "):
        if any(is_cjk(ord(ch)) for ch in word):
            chars = [draw(disguised_latin_word(ch)) if ch.isascii() else ch for ch in word]
        else:
            chars = list(draw(disguised_latin_word(word)))
        parts.append("\x00".join(chars))  # \x00 marks a place between two characters
    text = " ".join(parts)
    style = draw(st.integers(0, 2))
    if style == 0:  # separators between every two characters
        sep = draw(st.sampled_from(LETTER_SEPARATORS))
        text = text.replace("\x00", sep)
    elif style == 1:  # zero-width characters here and there
        pieces = text.split("\x00")
        text = pieces[0]
        for piece in pieces[1:]:
            text += draw(st.sampled_from(["", *ZERO_WIDTH])) + piece
    else:
        text = text.replace("\x00", "")
    return text


def context_words() -> st.SearchStrategy[str]:
    latin = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)
    latin = latin.filter(lambda w: w not in CUE_WORDS)
    cjk = st.text(alphabet=st.sampled_from(CJK_POOL), min_size=1, max_size=4)
    return st.one_of(latin, cjk)


@st.composite
def in_context(draw: st.DrawFn, disguise: str) -> tuple[str, int, int]:
    """Random words around the disguise; returns the text and the disguise's span."""
    before = " ".join(draw(st.lists(context_words(), max_size=4)))
    after = " ".join(draw(st.lists(context_words(), max_size=4)))
    left = draw(st.sampled_from(CONTEXT_SEPARATORS)) if before else ""
    right = draw(st.sampled_from(CONTEXT_SEPARATORS)) if after else ""
    start = len(before) + len(left)
    return before + left + disguise + right + after, start, start + len(disguise)


def _found(detector: KeywordDetector, title: str, field: str = "title") -> tuple[str, ...]:
    item = Listing("l", "s", "store-anyone", "x" if field != "title" else title, "c", 1.0,
                   description=title if field == "description" else "")  # fmt: skip
    batch = ListingBatch([item], 0.0)
    detector.detect(batch, StateSnapshot())
    brands: tuple[str, ...] = batch.annotations["brands"][0]
    return brands


DEMO_ALIASES = [(brand.id, alias) for brand in DEMO.brands for alias in brand.all_names]


@PROPERTY
@given(st.sampled_from(DEMO_ALIASES).flatmap(
    lambda pair: st.tuples(st.just(pair[0]), st.just(pair[1]),
                           disguised(pair[1]).flatmap(in_context))
))  # fmt: skip
def test_every_demo_alias_is_found_however_disguised(
    case: tuple[str, str, tuple[str, int, int]],
) -> None:
    brand, _alias, (text, _start, _end) = case
    assert brand in _found(DEMO_DETECTOR, text)


LATIN_ALIASES = [
    (brand, alias)
    for brand, alias in DEMO_ALIASES
    if all(word.isascii() and word.isalpha() for word in alias.split(" "))
]
REGIONAL = {ch: chr(0x1F1E6 + ord(ch) - ord("a")) for ch in string.ascii_lowercase}


@PROPERTY
@given(
    st.sampled_from(LATIN_ALIASES),
    st.sampled_from(string.digits),
    st.lists(st.booleans(), min_size=4, max_size=4),
    st.sampled_from(["", " bag", "bag", " 高仿"]),
)
def test_an_alias_glued_to_a_digit_or_spelled_in_regional_indicators_is_found(
    case: tuple[str, str], digit: str, regional: list[bool], after: str
) -> None:
    """A model number of one digit glued to the alias ("gucci7", as "gucci77"), and words of
    three or more letters spelled in regional indicators, glued to what follows or not."""
    brand, alias = case
    assert brand in _found(DEMO_DETECTOR, f"new {alias}{digit} bag")
    words = [
        "".join(REGIONAL[ch] for ch in word.lower()) if len(word) >= 3 and spell else word
        for word, spell in zip(alias.split(" "), regional, strict=False)
    ]
    words += alias.split(" ")[len(words) :]
    if words[-1].isascii() and after[:1].isalpha():
        after = " " + after  # a plain word glued to another is a longer word: not the alias
    assert brand in _found(DEMO_DETECTOR, "new " + " ".join(words) + after)


def test_every_demo_alias_plain_and_in_every_field() -> None:
    for brand, alias in DEMO_ALIASES:
        assert brand in _found(DEMO_DETECTOR, f"new {alias} bag")
        assert brand in _found(DEMO_DETECTOR, f"new {alias} bag", field="description")


@st.composite
def registries(draw: st.DrawFn) -> Registry:
    latin = st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=10)
    latin = latin.filter(lambda w: w not in CUE_WORDS)
    cjk = st.text(alphabet=st.sampled_from([chr(0x5000 + i) for i in range(300)]),
                  min_size=2, max_size=4)  # fmt: skip
    brands = []
    for index in range(draw(st.integers(1, 6))):
        names = draw(st.lists(st.one_of(latin, cjk, st.tuples(latin, latin).map(" ".join)),
                              min_size=1, max_size=3))  # fmt: skip
        brands.append(Brand(id=f"b{index}", name=names[0], aliases=tuple(names[1:])))
    return Registry(version="random", brands=tuple(brands))


def _detector_for(registry: Registry) -> KeywordDetector:
    return KeywordDetector(KeywordConfig(use_default_lexicon=False), registry)


@PROPERTY
@given(registries().flatmap(
    lambda reg: st.tuples(st.just(reg), st.sampled_from(
        [(b.id, a) for b in reg.brands for a in b.all_names]
    ))
).flatmap(
    lambda pair: st.tuples(st.just(pair[0]), st.just(pair[1][0]),
                           disguised(pair[1][1]).flatmap(in_context))
))  # fmt: skip
def test_random_registry_aliases_are_found_however_disguised(
    case: tuple[Registry, str, tuple[str, int, int]],
) -> None:
    registry, brand, (text, _start, _end) = case
    assert brand in _found(_detector_for(registry), text)


def _skeleton(text: str) -> str:
    """Letters only, after the foldings ASCII text can undergo (an upper bound on matches)."""
    folded = text.lower()
    for digit, letter in (
        ("0", "o"),
        ("1", "l"),
        ("3", "e"),
        ("4", "a"),
        ("5", "s"),
        ("7", "t"),
        ("@", "a"),
        ("$", "s"),
        ("!", "l"),
        ("|", "l"),
    ):
        folded = folded.replace(digit, letter)
    return "".join(ch for ch in folded.replace("i", "l") if "a" <= ch <= "z")


NON_ALIAS_CJK = sorted(
    {chr(cp) for cp in range(0x4E00, 0x4E00 + 600)}
    - {ch for _, alias in DEMO_ALIASES for ch in alias}
)


@PROPERTY
@given(st.lists(st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "@$!|", min_size=1, max_size=9),
    st.text(alphabet=st.sampled_from(NON_ALIAS_CJK), min_size=1, max_size=5),
    st.sampled_from([" ", ", ", ".", "-", " - ", "\n", "1:1", "\u200b"]),
), max_size=25).map("".join))  # fmt: skip
def test_text_without_aliases_names_no_brand(text: str) -> None:
    skeleton = _skeleton(text)
    assume(not any(_skeleton(alias) in skeleton for _, alias in DEMO_ALIASES if alias.isascii()))
    assert _found(DEMO_DETECTOR, text) == ()
    assert _found(DEMO_DETECTOR, text, field="description") == ()
