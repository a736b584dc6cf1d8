"""Synthetic marketplace titles and the edits repeat offenders make, seeded.

A title is a brand, a model, a few feature words, a product noun, a colour and a size drawn from
one category's vocabulary (some in Chinese), 7 to 14 words in all, like the listings the
screener sees. Unrelated titles of one category share its generic words, which is what makes
false matches possible. The edits are the ones the issue names: a colour change, a size change,
a different word order, one word changed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

COLOURS = (
    "black", "white", "red", "navy", "beige", "brown", "green", "grey", "pink", "khaki",
    "purple", "olive", "黑色", "白色", "红色",
)  # fmt: skip

EDITS = ("colour", "size", "order", "word")


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    features: tuple[str, ...]
    sizes: tuple[str, ...]


CATEGORIES = (
    Category(
        "shoes",
        (
            "nike",
            "adidas",
            "puma",
            "asics",
            "reebok",
            "newbalance",
            "安踏",
            "李宁",
            "fila",
            "skechers",
            "vans",
            "converse",
        ),
        ("sneakers", "running shoes", "boots", "sandals", "loafers", "跑鞋", "板鞋", "trainers"),
        (
            "breathable",
            "lightweight",
            "mesh",
            "leather",
            "cushioned",
            "waterproof",
            "non-slip",
            "casual",
            "sport",
            "mens",
            "womens",
            "unisex",
            "outdoor",
            "classic",
            "retro",
            "透气",
            "减震",
            "new",
            "2024",
            "genuine",
            "comfortable",
            "wide",
        ),
        tuple(str(size) for size in range(35, 47)),
    ),
    Category(
        "bags",
        (
            "coach",
            "michaelkors",
            "furla",
            "longchamp",
            "kate",
            "tumi",
            "samsonite",
            "小CK",
            "charles",
            "fossil",
        ),
        (
            "handbag",
            "tote bag",
            "shoulder bag",
            "crossbody bag",
            "backpack",
            "wallet",
            "手提包",
            "钱包",
            "clutch",
        ),
        (
            "leather",
            "canvas",
            "large",
            "mini",
            "zipper",
            "vintage",
            "quilted",
            "chain",
            "womens",
            "mens",
            "travel",
            "office",
            "真皮",
            "大容量",
            "new",
            "designer",
            "soft",
            "pu",
            "genuine",
        ),
        ("20cm", "25cm", "30cm", "35cm", "40cm", "small", "medium", "large"),
    ),
    Category(
        "phone accessories",
        (
            "apple",
            "samsung",
            "huawei",
            "xiaomi",
            "anker",
            "baseus",
            "ugreen",
            "spigen",
            "oppo",
            "vivo",
        ),
        (
            "phone case",
            "charger",
            "cable",
            "screen protector",
            "power bank",
            "earbuds",
            "手机壳",
            "充电器",
            "stand",
        ),
        (
            "fast",
            "wireless",
            "magnetic",
            "clear",
            "shockproof",
            "slim",
            "usb-c",
            "lightning",
            "20w",
            "65w",
            "tempered",
            "glass",
            "silicone",
            "快充",
            "防摔",
            "original",
            "new",
            "compatible",
            "braided",
        ),
        ("iphone15", "iphone14", "s24", "mate60", "1m", "2m", "10000mah", "20000mah", "pro", "max"),
    ),
    Category(
        "apparel",
        (
            "uniqlo",
            "zara",
            "hm",
            "levis",
            "gap",
            "北面",
            "patagonia",
            "champion",
            "lacoste",
            "tommy",
        ),
        (
            "t-shirt",
            "hoodie",
            "jacket",
            "jeans",
            "dress",
            "sweater",
            "羽绒服",
            "卫衣",
            "coat",
            "shorts",
        ),
        (
            "cotton",
            "oversized",
            "slim",
            "vintage",
            "graphic",
            "plain",
            "wool",
            "fleece",
            "mens",
            "womens",
            "summer",
            "winter",
            "纯棉",
            "宽松",
            "new",
            "casual",
            "hooded",
            "stretch",
            "linen",
        ),
        ("xs", "s", "m", "l", "xl", "xxl", "3xl", "160", "170", "180"),
    ),
)


def _model(rng: random.Random) -> str:
    letters = "".join(rng.choice("abcdefghkmnprstvxz") for _ in range(rng.randint(1, 3)))
    return f"{letters}{rng.randint(1, 999)}"


def title(rng: random.Random, category: Category) -> str:
    """One listing title of ``category``: 7 to 14 words."""
    words = [rng.choice(category.brands), _model(rng)]
    words += rng.sample(category.features, rng.randint(3, 7))
    words.append(rng.choice(category.nouns))
    words.append(rng.choice(COLOURS))
    words.append(rng.choice(category.sizes))
    return " ".join(words)


def edit(rng: random.Random, text: str, kind: str, category: Category) -> str:
    """The same listing with one of the repeat offender's edits."""
    words = text.split(" ")
    if kind == "colour":
        spots = [i for i, word in enumerate(words) if word in COLOURS]
        choices = [c for c in COLOURS if c not in words]
        if spots:
            words[rng.choice(spots)] = rng.choice(choices)
        else:
            words.insert(rng.randrange(len(words) + 1), rng.choice(choices))
    elif kind == "size":
        spots = [i for i, word in enumerate(words) if word in category.sizes]
        choices = [s for s in category.sizes if s not in words]
        words[spots[-1] if spots else -1] = rng.choice(choices)
    elif kind == "order":
        while len(words) > 1:
            shuffled = rng.sample(words, len(words))
            if shuffled != words:
                words = shuffled
                break
    elif kind == "word":
        vocabulary = [w for w in category.features if w not in words]
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    else:
        raise ValueError(f"unknown edit {kind!r}; choose from {', '.join(EDITS)}")
    return " ".join(words)
