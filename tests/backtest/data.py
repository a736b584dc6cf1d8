"""A small labelled file whose decisions follow from the default thresholds by hand.

Every listing is built so that one rule of ``config/defaults/thresholds.yaml`` (with the demo
registry) decides it; the comment on each says which, and the expected decision is derived from
that rule, not from running the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def _listing(n: int, label: str | None, store: str, title: str, category: str, price: float,
             **extra: Any) -> dict[str, Any]:  # fmt: skip
    doc: dict[str, Any] = {
        "listing_id": f"hand-{n:02d}",
        "seller_id": f"seller-{store}",
        "store_id": store,
        "title": title,
        "category": category,
        "price": price,
        "created_at": f"2026-10-01T10:{n:02d}:00Z",
        **extra,
    }
    if label is not None:
        doc["label"] = label
    return doc


BANNED_PHONE = {"phone": "+86 138-0000-0009"}

# The banned store's own listing, screened in the warm-up so its phone is in the state.
WARMUP = [
    _listing(0, None, "store-0009", "wooden train set for kids", "toys/puzzles", 80,
             seller_signals=BANNED_PHONE),
]  # fmt: skip

FEEDBACK = [
    {"listing_id": "hand-00", "store_id": "store-0009", "outcome": "store_banned",
     "created_at": "2026-10-01T10:00:30Z"},
]  # fmt: skip

# (listing, the decision the rules give, why)
LABELLED: list[tuple[dict[str, Any], str]] = [
    # no brand, no term, ordinary price: nothing fires
    (_listing(1, "legit", "store-0001", "ceramic mug white", "home/kitchen", 40), "allow"),
    (_listing(2, "legit", "store-0002", "bamboo cutting board", "home/kitchen", 55), "allow"),
    # authorised store, above the reference price: nothing fires
    (
        _listing(
            3,
            "legit_brand",
            "store-aurora-official",
            "Aurora handbag black new season",
            "bags/handbags",
            3000,
            brand="Aurora",
        ),
        "allow",
    ),
    # COUNTERFEIT_TERM alone scores 0.6: review band [0.5, 0.85)
    (
        _listing(
            4,
            "legit_false_friend",
            "store-0004",
            "museum-quality replica Roman coin set",
            "home/decor",
            120,
        ),
        "review",
    ),
    # BRAND_WITH_COUNTERFEIT_TERM 0.92 >= 0.85: block
    (
        _listing(
            5, "counterfeit", "store-0005", "replica Aurora handbag black", "bags/handbags", 300
        ),
        "block",
    ),
    # PROHIBITED_ITEM is a hard-block code
    (
        _listing(
            6,
            "prohibited",
            "store-0006",
            "antique carved ivory pendant",
            "collectibles/carvings",
            800,
        ),
        "block",
    ),
    # 700 / 2800 = 0.25 of the reference: PRICE_BELOW_REFERENCE ~0.72, with
    # BRAND_UNAUTHORIZED_STORE 0.3 noisy-OR ~0.80: review
    (
        _listing(
            7,
            "price_fake_subtle",
            "store-0007",
            "Aurora handbag black brand new",
            "bags/handbags",
            700,
        ),
        "review",
    ),
    # 1400 / 1600 of the reference: no price reason; BRAND_UNAUTHORIZED_STORE 0.3 alone: allow
    (
        _listing(
            8,
            "legit_resale",
            "store-0008",
            "Nordvik jacket navy pre-owned",
            "apparel/jackets",
            1400,
        ),
        "allow",
    ),
    # shares the banned store's phone: LINKED_TO_BANNED_STORE is a hard-block code
    (
        _listing(
            9,
            "relist",
            "store-0010",
            "ceramic teapot green",
            "home/kitchen",
            60,
            seller_signals=BANNED_PHONE,
        ),
        "block",
    ),
    # a relist the state cannot link (another phone): nothing fires
    (
        _listing(
            10,
            "relist",
            "store-0011",
            "glass teapot clear",
            "home/kitchen",
            65,
            seller_signals={"phone": "+86 138-0000-0011"},
        ),
        "allow",
    ),
    # the banned store itself: STORE_BANNED 0.95 >= 0.85: block, though labelled legit
    (_listing(11, "legit", "store-0009", "stainless pan", "home/kitchen", 90), "block"),
]

# Hand-computed from the decisions above (positive = block):
#   suspicious (5, 6, 7, 9, 10): block 3 (5, 6, 9), review 1 (7), allow 1 (10)
#   legitimate (1, 2, 3, 4, 8, 11): allow 4, review 1 (4), block 1 (11)
MATRIX = {
    "suspicious": {"allow": 1, "review": 1, "block": 3},
    "legitimate": {"allow": 4, "review": 1, "block": 1},
}


def write_jsonl(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(doc) + b"\n" for doc in docs))
    return path


def write_hand_files(directory: Path) -> tuple[Path, Path, Path]:
    """(labelled, warm-up, feedback) files of this module."""
    return (
        write_jsonl(directory / "labelled.jsonl", [doc for doc, _ in LABELLED]),
        write_jsonl(directory / "warmup.jsonl", WARMUP),
        write_jsonl(directory / "feedback.jsonl", FEEDBACK),
    )
