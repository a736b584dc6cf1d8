"""Labelled synthetic listings, seeded and registry-driven.

Used by the demo, the tests, the benchmarks and the backtest examples. Every listing carries a
``label`` field (ignored by the screener: the contract allows extra fields) naming its class:

- ``legit``: an ordinary listing with no registered brand, at an ordinary price.
- ``legit_brand``: a registered brand sold by a store the registry authorises, at or above its
  reference price.
- ``legit_resale``: a registered brand from an unauthorised reseller at an honest discount
  (70-100% of reference) with no counterfeit wording: must not be blocked.
- ``counterfeit``: a brand plus a counterfeit term (replica, 1:1, 高仿 ...) from an unauthorised
  store at a fraction of the reference price.
- ``counterfeit_obfuscated``: the same with the brand disguised (separators, leetspeak,
  full-width letters, look-alike Cyrillic letters).
- ``price_fake``: a brand from an unauthorised store at about a tenth of the reference price,
  with no telling words.
- ``stuffing``: several registered brands crammed into one title.
- ``prohibited``: an item from the prohibited lexicon.

Harder classes, never drawn by ``DEFAULT_MIX`` (so every existing seed yields what it always
did); ``BACKTEST_MIX`` draws them, for backtests and threshold sweeps that need the uncertain
band populated:

- ``legit_false_friend``: an honest reproduction whose title uses a counterfeit word in its
  honest sense where no benign phrase covers it ("museum-quality replica Roman coin set"):
  expected in review, a false positive when review counts as flagged.
- ``legit_clearance``: a registered brand from an unauthorised store on clearance at 40-60% of
  the reference price: straddles the review threshold.
- ``price_fake_subtle``: a brand from an unauthorised store at 18-35% of the reference price
  with no telling words: straddles the block threshold.
- ``relist``: made only by :meth:`ListingGenerator.relist`, never by a mix. A banned store's
  seller comes back under a new store id, sharing the banned store's phone and address, with an
  honest-looking resale listing: only the feedback (the ban) can catch it.

``SUSPICIOUS`` names the classes a screener should hold or block; the others are legitimate.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from config.registry import Brand, Registry

CLASSES = (
    "legit",
    "legit_brand",
    "legit_resale",
    "counterfeit",
    "counterfeit_obfuscated",
    "price_fake",
    "stuffing",
    "prohibited",
)
EXTRA_CLASSES = ("legit_false_friend", "legit_clearance", "price_fake_subtle", "relist")
ALL_CLASSES = CLASSES + EXTRA_CLASSES
SUSPICIOUS = frozenset(
    {
        "counterfeit",
        "counterfeit_obfuscated",
        "price_fake",
        "stuffing",
        "prohibited",
        "price_fake_subtle",
        "relist",
    }
)

DEFAULT_MIX = {
    "legit": 0.62,
    "legit_brand": 0.08,
    "legit_resale": 0.06,
    "counterfeit": 0.08,
    "counterfeit_obfuscated": 0.05,
    "price_fake": 0.05,
    "stuffing": 0.03,
    "prohibited": 0.03,
}

BACKTEST_MIX = {
    "legit": 0.50,
    "legit_brand": 0.07,
    "legit_resale": 0.06,
    "legit_false_friend": 0.04,
    "legit_clearance": 0.05,
    "counterfeit": 0.08,
    "counterfeit_obfuscated": 0.05,
    "price_fake": 0.04,
    "price_fake_subtle": 0.05,
    "stuffing": 0.03,
    "prohibited": 0.03,
}
_BRAND_FREE = ("legit", "prohibited", "legit_false_friend")

_GENERIC = {
    "home/kitchen": (
        ["ceramic", "stainless", "bamboo", "nonstick", "glass"],
        ["pan", "mug", "knife set", "cutting board", "teapot"],
        20,
        400,
    ),
    "home/bathroom": (
        ["bathroom", "anti-fog", "round", "wall-mounted"],
        ["mirror", "towel rack", "soap dish", "shower head"],
        15,
        300,
    ),
    "electronics/batteries": (
        ["AA", "AAA", "rechargeable", "alkaline"],
        ["batteries 8 pack", "battery charger", "batteries 24 pack"],
        10,
        120,
    ),
    "apparel/tshirts": (
        ["cotton", "oversized", "graphic", "plain", "vintage"],
        ["t-shirt", "tee", "polo shirt", "tank top"],
        25,
        180,
    ),
    "toys/puzzles": (
        ["wooden", "1000 piece", "magnetic", "kids"],
        ["puzzle", "building blocks", "train set"],
        15,
        260,
    ),
    "furniture/chairs": (
        ["仿古", "实木", "北欧", "ergonomic"],
        ["椅子", "chair", "stool", "书桌"],
        120,
        2400,
    ),
}
_COLOURS = ["black", "white", "red", "navy", "beige", "brown", "green", "黑色", "白色"]
_NOUNS = {
    "bags": ["handbag", "tote bag", "shoulder bag", "crossbody bag", "手提包"],
    "accessories": ["wallet", "card holder", "belt", "钱包"],
    "apparel": ["jacket", "parka", "down coat", "夹克"],
    "shoes": ["boots", "hiking boots", "sneakers", "靴子"],
    "beauty": ["eau de parfum 50ml", "perfume 100ml", "香水"],
    "watches": ["automatic watch", "chronograph", "手表"],
    "electronics": ["headphones", "wireless earbuds", "charger", "耳机"],
}
# Descriptors real titles carry (model codes, sizes, features), so that unrelated listings are
# not near-duplicates of each other merely because the generator had few words.
_FEATURES = [
    "lightweight",
    "waterproof",
    "handmade",
    "classic",
    "slim",
    "large",
    "mini",
    "soft",
    "durable",
    "breathable",
    "adjustable",
    "portable",
    "foldable",
    "premium",
    "everyday",
    "office",
    "travel",
    "outdoor",
    "unisex",
    "for women",
    "for men",
    "gift box",
    "free shipping",
    "spring",
    "summer",
    "autumn",
    "winter",
    "2025",
    "2026",
    "new arrival",
    "bestseller",
    "包邮",
    "新款",
    "加厚",
    "轻便",
    "大容量",
    "礼盒装",
    "夏季",
    "冬季",
]
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def _details(rng: random.Random) -> str:
    """A model code, a size and two or three features: what makes real titles distinct."""
    code = f"{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}-{rng.randrange(100, 9999)}"
    size = rng.choice(
        [
            f"{rng.randrange(10, 60)}cm",
            f"{rng.randrange(1, 5)}pcs",
            f"size {rng.choice('SMLX')}",
            f"{rng.randrange(100, 2000)}ml",
            f"{rng.randrange(20, 48)}码",
        ]
    )
    return " ".join([code, size, *rng.sample(_FEATURES, rng.randrange(2, 4))])


# Counterfeit words in their honest sense, in phrases the default benign list does not hold.
_FALSE_FRIENDS = [
    ("replica", "Roman coin set"),
    ("replica", "tube radio"),
    ("replica", "Ming vase"),
    ("replica", "sailing ship"),
    ("imitation", "crystal chandelier"),
    ("imitation", "jade bookends"),
]
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5"}
_CYRILLIC = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "i": "і"}
_PROVINCES = ["Guangdong", "Zhejiang", "Jiangsu", "Fujian", "Shanghai"]


def obfuscate(term: str, rng: random.Random) -> str:
    """Disguise a Latin term the way sellers do (CJK terms are returned unchanged)."""
    if not term.isascii():
        return term
    style = rng.choice(["dots", "spaces", "leet", "fullwidth", "cyrillic", "zero_width", "mixed"])
    if style == "dots":
        return ".".join(term)
    if style == "spaces":
        return " ".join(term)
    if style == "zero_width":
        return "\u200b".join(term)
    if style == "leet":
        return "".join(_LEET.get(ch, ch) for ch in term)
    if style == "fullwidth":
        return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in term)
    if style == "cyrillic":
        return "".join(_CYRILLIC.get(ch, ch) for ch in term)
    return "".join(
        (_LEET.get(ch, ch) if i % 2 else ch.upper()) + ("-" if i % 3 == 2 else "")
        for i, ch in enumerate(term)
    ).rstrip("-")


@dataclass
class ListingGenerator:
    """Generates labelled listings for a registry. Deterministic for a seed."""

    registry: Registry
    seed: int = 7
    mix: dict[str, float] | None = None
    id_prefix: str = "gen"

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        mix = self.mix or DEFAULT_MIX
        priced = [b for b in self.registry.brands if b.reference_prices and b.all_names]
        if not priced:  # a registry with no priced brands can only yield brand-free classes
            mix = {k: v for k, v in mix.items() if k in _BRAND_FREE}
        if not self.registry.lexicons.prohibited_terms:
            mix = {k: v for k, v in mix.items() if k != "prohibited"}
        self._brands = priced
        self._classes = list(mix)
        self._weights = [mix[c] for c in self._classes]
        self._counter = 0
        lex = self.registry.lexicons
        self._counterfeit_terms = list(lex.counterfeit_terms) or ["replica", "1:1", "高仿"]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            yield self.one()

    def take(self, count: int) -> list[dict[str, Any]]:
        return [self.one() for _ in range(count)]

    def one(self, label: str | None = None) -> dict[str, Any]:
        rng = self._rng
        label = label or rng.choices(self._classes, self._weights)[0]
        if label == "relist":
            raise ValueError("a relist copies a banned store: use relist(banned_listing)")
        self._counter += 1
        store = f"store-{rng.randrange(5000):04d}"
        doc: dict[str, Any] = {
            "listing_id": f"{self.id_prefix}-{self.seed}-{self._counter:07d}",
            "revision": 0,
            "seller_id": f"seller-{store[6:]}",
            "store_id": store,
            "currency": "CNY",
            "shipping_fee": float(rng.choice([0, 0, 6, 8, 10, 12])),
            "image_phashes": [f"{rng.getrandbits(64):016x}" for _ in range(rng.randrange(0, 3))],
            "seller_signals": {
                "phone": f"+86 13{rng.randrange(10**9):09d}",
                "address": f"{rng.randrange(1, 999)} Road, {rng.choice(_PROVINCES)}",
            },
            "label": label,
        }
        getattr(self, f"_{label}")(doc, rng)
        doc["price"] = round(float(doc["price"]), 2)
        return doc

    # -- classes ---------------------------------------------------------------------------
    def _legit(self, doc: dict[str, Any], rng: random.Random) -> None:
        category = rng.choice(list(_GENERIC))
        adjectives, nouns, low, high = _GENERIC[category]
        doc.update(
            title=" ".join(
                (rng.choice(adjectives), rng.choice(nouns), rng.choice(_COLOURS), _details(rng))
            ),
            category=category,
            price=rng.uniform(low, high),
        )

    def _branded(self, doc: dict[str, Any], rng: random.Random) -> tuple[Brand, str, float]:
        brand = rng.choice(self._brands)
        category, reference = rng.choice(sorted(brand.reference_prices.items()))
        noun = rng.choice(_NOUNS.get(category.split("/")[0], ["item"]))
        doc["category"] = category
        doc["_brand_name"] = rng.choice(brand.all_names)
        doc["_noun"] = noun
        return brand, category, reference

    def _finish(self, doc: dict[str, Any], title: str, price: float) -> None:
        rng = self._rng
        doc.pop("_brand_name", None)
        doc.pop("_noun", None)
        doc["title"] = f"{title} {_details(rng)}"[:512]
        doc["price"] = price

    def _legit_brand(self, doc: dict[str, Any], rng: random.Random) -> None:
        brand, _, reference = self._branded(doc, rng)
        if brand.authorized_stores:
            doc["store_id"] = rng.choice(sorted(brand.authorized_stores))
        doc["brand"] = brand.name or brand.id
        title = f"{doc['_brand_name']} {doc['_noun']} {rng.choice(_COLOURS)} new season"
        self._finish(doc, title, reference * rng.uniform(1.0, 1.6))

    def _legit_resale(self, doc: dict[str, Any], rng: random.Random) -> None:
        _, _, reference = self._branded(doc, rng)
        colour = rng.choice(_COLOURS)
        title = f"{doc['_brand_name']} {doc['_noun']} {colour} pre-owned, receipt included"
        self._finish(doc, title, reference * rng.uniform(0.7, 1.0))

    def _counterfeit(self, doc: dict[str, Any], rng: random.Random) -> None:
        _, _, reference = self._branded(doc, rng)
        term = rng.choice(self._counterfeit_terms)
        title = f"{term} {doc['_brand_name']} {doc['_noun']} {rng.choice(_COLOURS)}"
        self._finish(doc, title, reference * rng.uniform(0.05, 0.2))

    def _counterfeit_obfuscated(self, doc: dict[str, Any], rng: random.Random) -> None:
        _, _, reference = self._branded(doc, rng)
        term = rng.choice(self._counterfeit_terms)
        disguised = obfuscate(doc["_brand_name"], rng)
        title = f"{disguised} {doc['_noun']} {term} {rng.choice(_COLOURS)}"
        self._finish(doc, title, reference * rng.uniform(0.05, 0.2))

    def _price_fake(self, doc: dict[str, Any], rng: random.Random) -> None:
        _, _, reference = self._branded(doc, rng)
        title = f"{doc['_brand_name']} {doc['_noun']} {rng.choice(_COLOURS)}"
        self._finish(doc, title, reference * rng.uniform(0.06, 0.14))

    def _stuffing(self, doc: dict[str, Any], rng: random.Random) -> None:
        _, _, reference = self._branded(doc, rng)
        names = [
            rng.choice(b.all_names) for b in rng.sample(self._brands, min(4, len(self._brands)))
        ]
        title = f"{doc['_noun']} {' '.join(names)} style {rng.choice(_COLOURS)}"
        self._finish(doc, title, reference * rng.uniform(0.1, 0.4))

    def _legit_false_friend(self, doc: dict[str, Any], rng: random.Random) -> None:
        quality = rng.choice(["hand-made", "museum-quality", "vintage-style", "decorative"])
        term, thing = rng.choice(_FALSE_FRIENDS)
        doc.update(
            title=f"{quality} {term} {thing} {rng.choice(_COLOURS)} {_details(rng)}",
            category="home/decor",
            price=rng.uniform(30, 600),
        )

    def _legit_clearance(self, doc: dict[str, Any], rng: random.Random) -> None:
        _, _, reference = self._branded(doc, rng)
        colour = rng.choice(_COLOURS)
        title = f"{doc['_brand_name']} {doc['_noun']} {colour} clearance, last season, tags on"
        self._finish(doc, title, reference * rng.uniform(0.4, 0.6))

    def _price_fake_subtle(self, doc: dict[str, Any], rng: random.Random) -> None:
        _, _, reference = self._branded(doc, rng)
        title = f"{doc['_brand_name']} {doc['_noun']} {rng.choice(_COLOURS)} brand new"
        self._finish(doc, title, reference * rng.uniform(0.18, 0.35))

    def relist(self, banned: dict[str, Any]) -> dict[str, Any]:
        """A ``relist`` of ``banned`` (a generated listing whose store is banned): an honest-
        looking resale listing from a new store sharing the banned store's seller signals."""
        doc = self.one("legit_resale")
        store = f"store-r{self._rng.randrange(10**6):06d}"
        doc.update(
            label="relist",
            store_id=store,
            seller_id=f"seller-{store[6:]}",
            seller_signals=dict(banned.get("seller_signals") or {}),
        )
        return doc

    def _prohibited(self, doc: dict[str, Any], rng: random.Random) -> None:
        term = rng.choice(self.registry.lexicons.prohibited_terms)
        doc.update(
            title=f"antique carved {term} pendant {_details(rng)}",
            category="collectibles/carvings",
            price=rng.uniform(200, 5000),
        )


def malformed_values(rng: random.Random, valid: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Invalid event values of every kind the contract refuses, with what is wrong with each."""
    import orjson

    def variant(**changes: Any) -> bytes:
        doc = {k: v for k, v in valid.items() if k != "label"}
        for key, value in changes.items():
            if value is _DROP:
                doc.pop(key, None)
            else:
                doc[key] = value
        return orjson.dumps(doc)

    return [
        ("not json", b"{not json at all"),
        ("binary", bytes(rng.getrandbits(8) for _ in range(40))),
        ("empty", b""),
        ("array", b"[1, 2, 3]"),
        ("missing title", variant(title=_DROP)),
        ("missing listing_id", variant(listing_id=_DROP)),
        ("price as string", variant(price="12.50")),
        ("negative price", variant(price=-5)),
        ("zero price", variant(price=0)),
        ("oversized title", variant(title="x" * 513)),
        ("revision not integer", variant(revision="1")),
        ("bad currency", variant(currency="yuan")),
        ("bad phash", variant(image_phashes=["zz"])),
        ("unknown signal", variant(seller_signals={"passport": "X1"})),
        ("title wrong type", variant(title=42)),
    ]


class _Drop:
    pass


_DROP = _Drop()
