"""Listings as the contract defines them (``listing.schema.json``), parsed and validated.

Validation is hand-written rather than schema-driven: it is on the hot path (every event), it
must name the offending field exactly as the contract spells paths, and it keys
``seller_signals`` on arrival so raw identity values never exist past this module.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from contract.errors import ContractError
from contract.signals import SIGNAL_KINDS, SignalKeyer

_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
_PHASH = re.compile(r"^[0-9a-f]{16}\Z")
MAX_PHASHES = 20


@dataclass(frozen=True, slots=True)
class Listing:
    """A validated listing. ``signals`` holds keyed (HMAC) identity signals, never raw ones."""

    listing_id: str
    seller_id: str
    store_id: str
    title: str
    category: str
    price: float
    revision: int = 0
    description: str = ""
    brand: str | None = None
    currency: str = "CNY"
    shipping_fee: float = 0.0
    image_phashes: tuple[int, ...] = ()
    signals: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None
    event_time: float = 0.0
    """Seconds since the epoch: ``created_at`` when given, else arrival time."""

    @property
    def key(self) -> str:
        """``listing_id:revision``, the identity consumers dedupe on."""
        return f"{self.listing_id}:{self.revision}"


def _text(doc: dict[str, Any], name: str, *, required: bool, min_len: int, max_len: int) -> str:
    value = doc.get(name)
    if value is None:
        if required:
            raise ContractError(name, "is required")
        return ""
    if not isinstance(value, str):
        raise ContractError(name, f"must be a string, got {_json_type(value)}")
    if len(value) < min_len:
        raise ContractError(name, "must not be empty")
    if len(value) > max_len:
        raise ContractError(name, f"is longer than {max_len} characters ({len(value)})")
    return value


def _number(doc: dict[str, Any], name: str, *, required: bool, default: float) -> float:
    value = doc.get(name)
    if value is None:
        if required:
            raise ContractError(name, "is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(name, f"must be a number, got {_json_type(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ContractError(name, "must be a finite number")
    return number


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _event_time(created_at: str | None, arrival: float) -> float:
    if created_at is None:
        return arrival
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError as exc:
        raise ContractError("created_at", "must be an RFC 3339 date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _phashes(doc: dict[str, Any]) -> tuple[int, ...]:
    value = doc.get("image_phashes")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ContractError("image_phashes", f"must be an array, got {_json_type(value)}")
    if len(value) > MAX_PHASHES:
        raise ContractError("image_phashes", f"has more than {MAX_PHASHES} items ({len(value)})")
    hashes = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not _PHASH.match(item):
            raise ContractError(f"image_phashes[{index}]", "must be 16 lowercase hex digits")
        hashes.append(int(item, 16))
    return tuple(hashes)


def _signals(doc: dict[str, Any], keyer: SignalKeyer) -> dict[str, str]:
    value = doc.get("seller_signals")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ContractError("seller_signals", f"must be an object, got {_json_type(value)}")
    keyed: dict[str, str] = {}
    for kind, raw in value.items():
        path = f"seller_signals.{kind}"
        if kind not in SIGNAL_KINDS:
            raise ContractError(path, f"is not a known signal ({', '.join(SIGNAL_KINDS)})")
        if raw is None:
            continue
        if not isinstance(raw, str):
            raise ContractError(path, f"must be a string, got {_json_type(raw)}")
        limit = 512 if kind == "address" else 64 if kind == "phone" else 128
        if len(raw) > limit:
            raise ContractError(path, f"is longer than {limit} characters")
        digest = keyer.key(kind, raw)
        if digest is not None:
            keyed[kind] = digest
    return keyed


def listing_from_dict(doc: object, keyer: SignalKeyer, *, arrival: float | None = None) -> Listing:
    """Validate one decoded JSON document as a listing; raises :class:`ContractError`."""
    if not isinstance(doc, dict):
        raise ContractError(None, f"a listing must be a JSON object, got {_json_type(doc)}")
    revision = doc.get("revision", 0)
    if revision is None:
        revision = 0
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise ContractError("revision", f"must be an integer, got {_json_type(revision)}")
    if revision < 0 or revision > 2**53:
        raise ContractError("revision", "must be between 0 and 2^53")
    brand = doc.get("brand")
    if brand is not None and not isinstance(brand, str):
        raise ContractError("brand", f"must be a string or null, got {_json_type(brand)}")
    if brand is not None and len(brand) > 128:
        raise ContractError("brand", "is longer than 128 characters")
    price = _number(doc, "price", required=True, default=0.0)
    if price <= 0:
        raise ContractError("price", "must be greater than 0")
    shipping = _number(doc, "shipping_fee", required=False, default=0.0)
    if shipping < 0:
        raise ContractError("shipping_fee", "must not be negative")
    currency = doc.get("currency", "CNY")
    if currency is None:
        currency = "CNY"
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise ContractError("currency", "must be a 3-letter upper-case ISO 4217 code")
    created_at = doc.get("created_at")
    if created_at is not None and not isinstance(created_at, str):
        raise ContractError("created_at", f"must be a string, got {_json_type(created_at)}")
    return Listing(
        listing_id=_text(doc, "listing_id", required=True, min_len=1, max_len=128),
        seller_id=_text(doc, "seller_id", required=True, min_len=1, max_len=128),
        store_id=_text(doc, "store_id", required=True, min_len=1, max_len=128),
        title=_text(doc, "title", required=True, min_len=1, max_len=512),
        category=_text(doc, "category", required=True, min_len=1, max_len=256),
        price=price,
        revision=revision,
        description=_text(doc, "description", required=False, min_len=0, max_len=20_000),
        brand=brand,
        currency=currency,
        shipping_fee=shipping,
        image_phashes=_phashes(doc),
        signals=_signals(doc, keyer),
        created_at=created_at,
        event_time=_event_time(created_at, time.time() if arrival is None else arrival),
    )


def parse_listing(raw: bytes, keyer: SignalKeyer, *, arrival: float | None = None) -> Listing:
    """Decode and validate one listing event value (UTF-8 JSON bytes)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError(None, f"not valid JSON: {exc}") from exc
    return listing_from_dict(doc, keyer, arrival=arrival)
