"""Thresholds of the keyword detector (brand terms, counterfeit terms, stuffing, prohibited).

The scores are what each reason contributes to the listing score (noisy-OR, see
``config/thresholds.py``). With the default bands (review 0.5, block 0.85): a brand from an
unauthorised store alone stays below review (an honest reseller is not held), a counterfeit
term alone asks for review, a brand plus a counterfeit term from an unauthorised store blocks,
and a prohibited item blocks through ``decision.hard_block_codes``.

The built-in lexicon below is used together with the registry's (``lexicons`` in the brand
registry) unless ``use_default_lexicon`` is off. Benign phrases lower the score of the terms
they contain (they are not a pass for the listing); a benign phrase with ``<brand>`` in it
(``compatible with <brand>``, ``<brand>专用``) lowers a registered brand written in that place,
the honest accessory listing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

BRAND_PLACEHOLDER = "<brand>"

DEFAULT_COUNTERFEIT_TERMS: tuple[str, ...] = (
    # English and other Latin-script languages
    "replica", "replicas", "replika", "1:1", "1:1 copy", "high copy", "mirror quality",
    "mirror copy", "mirror grade", "super fake", "super copy", "top copy", "fake", "fakes",
    "counterfeit", "knockoff", "knock off", "imitation", "dupe", "dupes", "aaa quality",
    "aaa grade", "grade aaa", "7a quality", "unauthentic", "not authentic", "falsificado",
    "falsificada", "contrefaçon", "gefälscht", "fälschung",
    # Chinese
    "高仿", "复刻", "原单", "a货", "精仿", "超a", "仿品", "仿牌", "1比1", "一比一", "假货",
    "山寨", "莆田鞋",
    # Japanese, Korean, Russian
    "コピー品", "スーパーコピー", "偽物", "レプリカ", "n級品", "s級品", "짝퉁", "이미테이션",
    "레플리카", "미러급", "подделка", "реплика",
)  # fmt: skip

DEFAULT_PROHIBITED_TERMS: tuple[str, ...] = (
    "ivory", "象牙", "rhino horn", "犀牛角", "犀角", "pangolin scale", "pangolin scales",
    "穿山甲", "tiger bone", "虎骨", "bear bile", "熊胆", "shahtoosh", "藏羚羊绒",
    "fentanyl", "芬太尼", "heroin", "海洛因", "cocaine", "可卡因", "冰毒",
)  # fmt: skip

DEFAULT_BENIGN_PHRASES: tuple[str, ...] = (
    # counterfeit terms' false friends
    "1:1 scale", "scale 1:1", "replica model", "scale replica", "prop replica",
    "museum replica", "replica jersey", "replica kit", "fake fur", "fake leather",
    "fake plant", "fake plants", "fake flower", "fake flowers", "fake eyelashes", "fake lashes",
    "fake nails", "fake tan", "fake snow", "fake grass", "fake blood", "fake tattoo",
    "fake tattoos", "fake food", "fake fruit", "imitation jewelry", "imitation jewellery",
    "imitation leather", "imitation pearl", "imitation pearls", "imitation stone",
    "imitation marble", "imitation wood", "no fake", "no fakes", "not fake", "not a fake",
    "never fake", "not replica", "not a replica", "no replica", "no replicas",
    "not counterfeit", "anti counterfeit", "counterfeit detector", "counterfeit pen",
    "bathroom mirror", "makeup mirror", "vanity mirror", "wall mirror", "aaa battery",
    "aaa batteries", "aaa电池", "aaa game", "aaa games",
    "仿古", "仿真", "高仿真", "仿皮", "仿瓷", "仿木", "仿石", "仿大理石", "仿生", "模仿",
    "仿羊绒", "假一赔十", "假一罚十", "假一赔三", "假一赔万", "非高仿", "不是高仿", "拒绝高仿",
    "拒绝假货", "不卖假货", "杜绝假货", "绝非假货", "非假货",
    # prohibited terms' false friends (ivory the colour, vegetable ivory)
    "ivory white", "ivory color", "ivory colour", "ivory colored", "ivory coloured",
    "ivory tone", "ivory cream", "cream ivory", "ivory lace", "ivory satin", "ivory silk",
    "ivory chiffon", "ivory tulle", "ivory paper", "ivory card", "ivory board", "ivory soap",
    "ivory tower", "vegetable ivory", "faux ivory", "in ivory", "ivory dress", "ivory gown",
    "ivory wedding", "ivory bridal", "ivory shirt", "ivory blouse", "ivory sweater",
    "ivory knit", "ivory cotton", "ivory linen", "ivory wool", "ivory cashmere",
    "ivory leather", "ivory velvet", "ivory/white", "white/ivory", "ivory/black",
    "black/ivory", "dress ivory", "color ivory", "colour ivory", "color: ivory",
    "colour: ivory", "象牙白", "象牙色", "象牙黄", "象牙瓷",
    "象牙纸", "象牙塔", "象牙果",
    # honest accessories for a brand
    "compatible with <brand>", "compatible for <brand>", "for <brand>", "fits <brand>",
    "fit for <brand>", "works with <brand>", "replacement for <brand>", "suitable for <brand>",
    "designed for <brand>", "made for <brand>", "<brand> compatible", "适用于<brand>",
    "适用<brand>", "适配<brand>", "兼容<brand>", "用于<brand>", "<brand>专用", "<brand>适用",
    "<brand>対応",
)  # fmt: skip


Score = Annotated[float, Field(ge=0.0, le=1.0)]


class KeywordConfig(BaseModel):
    """Scores and switches of the keyword detector; see detectors/keyword.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    scan_description: bool = True
    """Look for terms in the description as well as the title."""

    brand_unauthorized_score: Score = 0.3
    """BRAND_UNAUTHORIZED_STORE: a registered brand from a store not authorised for it."""
    brand_with_counterfeit_score: Score = 0.92
    """BRAND_WITH_COUNTERFEIT_TERM: that, plus a counterfeit term."""
    counterfeit_term_score: Score = 0.6
    """COUNTERFEIT_TERM: a counterfeit term without an unauthorised brand."""
    prohibited_score: Score = 0.95
    """PROHIBITED_ITEM (usually also a hard-block code)."""
    stuffing_score: Score = 0.6
    """KEYWORD_STUFFING: many registered brands in one title."""
    brand_mismatch_score: Score = 0.4
    """BRAND_MISMATCH: the claimed brand is not the brand written in the title."""

    stuffing_min_brands: Annotated[int, Field(ge=2, le=100)] = 3
    """Distinct registered brands in one title that count as stuffing..."""
    stuffing_max_authorized: Annotated[int, Field(ge=0, le=100)] = 1
    """...when the store is authorised for at most this many of them."""

    benign_factor: Score = 0.15
    """A term inside a benign phrase scores this fraction of its usual score."""
    benign_min_score: Score = 0.05
    """TERM_IN_BENIGN_PHRASE is reported only from this score on."""
    max_evidence_terms: Annotated[int, Field(ge=1, le=100)] = 8
    """Matched terms listed in one reason's evidence (the count is always given)."""

    use_default_lexicon: bool = True
    """Add the built-in counterfeit, prohibited and benign lists to the registry's."""
    counterfeit_terms: tuple[str, ...] = ()
    prohibited_terms: tuple[str, ...] = ()
    benign_phrases: tuple[str, ...] = ()
    """More terms, added to the registry's and (when enabled) the built-in ones."""

    @model_validator(mode="after")
    def _placeholders(self) -> KeywordConfig:
        for phrase in self.benign_phrases:
            if phrase.lower().count(BRAND_PLACEHOLDER) > 1:
                raise ValueError(f"benign phrase {phrase!r} names {BRAND_PLACEHOLDER} twice")
        return self
