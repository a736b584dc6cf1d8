"""Thresholds of the duplicate-listing and linked-store detector (``detectors/duplicate.py``).

Every knob here trades recall against precision; the defaults are tuned so that a repeat
offender's lightly edited listing is caught while an honest seller sharing a generic title, a
stock photo or a shopping-mall address is not (see the comments on each field).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SignalKind = Literal["id_number", "phone", "bank_account", "device_id", "address"]


class DuplicateScores(BaseModel):
    """The score of each reason code. Codes listed in ``decision.hard_block_codes`` block
    whatever their score; the others combine with the rest of the listing's reasons."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store_banned: float = Field(0.95, ge=0.0, le=1.0)
    """STORE_BANNED: the listing's own store is banned."""
    linked_to_banned_store: float = Field(0.95, ge=0.0, le=1.0)
    """LINKED_TO_BANNED_STORE: the store shares an identity signal with a banned store."""
    duplicate_of_banned_listing: float = Field(0.9, ge=0.0, le=1.0)
    """DUPLICATE_OF_BANNED_LISTING: the title is a near-duplicate of a banned store's listing."""
    image_of_banned_listing: float = Field(0.7, ge=0.0, le=1.0)
    """IMAGE_OF_BANNED_LISTING: an image matches a banned store's image (review on its own:
    honest resellers reuse the brand's stock photos too)."""
    shared_signal_burst: float = Field(0.35, ge=0.0, le=1.0)
    """SHARED_SIGNAL_BURST: many fresh stores on one signal in a short window (weak)."""
    duplicate_across_stores: float = Field(0.3, ge=0.0, le=1.0)
    """DUPLICATE_ACROSS_STORES: the same listing posted by many unrelated stores (weak)."""


class DuplicateConfig(BaseModel):
    """Fingerprints, match thresholds, linkage and offender policy; see detectors/duplicate.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True

    # --- title near-duplicates (MinHash + LSH) ---
    num_perm: int = Field(64, ge=8, le=256, multiple_of=2)
    """MinHash permutations per title signature (even: buckets store 4 bits of each value,
    two per byte)."""
    bands: int = Field(12, ge=1, le=256)
    """LSH bands. With ``rows`` they set the candidate curve 1 - (1 - J^rows)^bands: 12 x 5
    finds 99.9% of pairs at Jaccard 0.85, 99% at 0.8, 89% at 0.7, and 0.4% at 0.2, where
    titles of one category sit. On the benchmark corpus it found 99.9% of copies with one
    edit and 92.5% with two, meeting 35 chance candidates per listing among 100,000; 16 x 4
    found 100% and 96% but met 211. Candidates come back inside their buckets and are
    verified in one compiled pass, so what a band costs is mostly its bucket: one read and
    one write in Redis per listing."""
    rows: int = Field(5, ge=1, le=64)
    """Signature values per band."""
    cjk_shingle: int = Field(2, ge=1, le=8)
    """Character shingle size inside runs of CJK script, which has no spaces between words
    (other scripts are shingled by whole words, so word order does not matter)."""
    min_features: int = Field(4, ge=1, le=64)
    """Titles with fewer distinct shingles are not matched at all: "Black T-shirt" says too
    little to call anything a duplicate of it."""
    jaccard_threshold: float = Field(0.6, gt=0.0, le=1.0)
    """Estimated Jaccard similarity at or above which a candidate is a near-duplicate: one
    changed word in a seven-word title leaves 6/8 = 0.75; unrelated titles of one category
    share a few generic words, typically 0.05-0.4, and the candidates LSH finds among them
    0.2-0.5. The estimate leaves out the band that found the pair (its values agree by
    construction). On the benchmark corpus (105,000 stored titles, 5,000 of them of banned
    stores) 0.55 let 1.3% of unrelated listings match a banned store's listing, 0.6 lets
    0.6%, with the same recall."""
    max_false_match_rate: float = Field(0.01, gt=0.0, le=1.0)
    """Quality bound, not a runtime switch: the highest share of unrelated same-category title
    pairs that may be called near-duplicates. The tests and the benchmark measure the rate
    and hold these settings to it."""

    # --- image near-duplicates (64-bit perceptual hashes) ---
    phash_max_distance: int = Field(3, ge=0, le=3)
    """Hamming distance up to which two image hashes match. Buckets are 4 chunks of 16 bits,
    and a match must agree exactly on at least one chunk, which is guaranteed only up to
    distance 3 (pigeonhole), hence the bound."""
    phash_min_bits: int = Field(8, ge=0, le=32)
    """Hashes with fewer than this many bits set (or unset) are ignored: blank, flat or
    placeholder images hash to near-constant values and would match each other."""

    # --- identity signals ---
    link_signals: tuple[SignalKind, ...] = ("id_number", "phone", "bank_account", "device_id")
    """Signal kinds that link stores. ``address`` is off by default: honest stores share
    market halls, office towers and fulfilment centres."""
    burst_window_hours: float = Field(24.0, gt=0.0)
    """A store is *fresh* on a signal when it first used it within this many hours."""
    burst_min_stores: int = Field(5, ge=2)
    """Fresh stores on one signal (the listing's own included) that make a burst."""
    across_stores_min: int = Field(3, ge=1)
    """Unrelated stores (not linked by a signal) posting near-duplicates of a listing that
    make it a duplicate across stores."""

    # --- rolling state ---
    lsh_bucket_cap: int = Field(16, ge=1, le=10_000)
    """Newest listings kept per LSH bucket and time slot (bounds hot buckets of generic
    titles). A bucket stores its entries themselves, so a hot bucket is copied on every
    addition and returned whole to every title that meets it: on the benchmark corpus 64 cost
    a third more Redis time than 16 and found the same copies (99.5% of them in the LSH stage
    with 16, 99.6% with 64)."""
    phash_bucket_cap: int = Field(64, ge=1, le=10_000)
    """Newest images kept per 16-bit image-hash chunk value."""
    signal_store_cap: int = Field(256, ge=1, le=10_000)
    """Newest stores kept per keyed signal."""

    # --- offenders ---
    strikes_to_ban: int = Field(3, ge=1, le=1000)
    """Confirmed-counterfeit strikes (within the history window) that ban a store."""

    scores: DuplicateScores = DuplicateScores()

    @model_validator(mode="after")
    def _bands_fit(self) -> DuplicateConfig:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows ({self.bands} x {self.rows}) must not exceed num_perm "
                f"({self.num_perm})"
            )
        return self
