"""Verdicts, reasons and proactive complaints as the contract defines them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

Decision = Literal["allow", "review", "block"]
DECISIONS: tuple[Decision, ...] = ("allow", "review", "block")


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a detector flagged a listing: a stable ``code``, a score in [0, 1], the evidence."""

    detector: str
    code: str
    score: float
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "code": self.code,
            "score": round(float(self.score), 4),
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    listing_id: str
    revision: int
    store_id: str
    seller_id: str
    decision: Decision
    score: float
    reasons: tuple[Reason, ...]
    config_version: str
    screened_at: str
    brand: str | None = None
    rights_holder: str | None = None
    refer: bool = False
    """True when the hit goes to the brand's rights holder (it takes referrals)."""
    latency_ms: float | None = None
    shadow: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "listing_id": self.listing_id,
            "revision": self.revision,
            "store_id": self.store_id,
            "seller_id": self.seller_id,
            "decision": self.decision,
            "score": round(float(self.score), 4),
            "reasons": [reason.to_dict() for reason in self.reasons],
            "config_version": self.config_version,
            "screened_at": self.screened_at,
            "brand": self.brand,
            "rights_holder": self.rights_holder,
            "referred": self.refer,
        }
        if self.latency_ms is not None:
            doc["latency_ms"] = round(self.latency_ms, 3)
        if self.shadow is not None:
            doc["shadow"] = dict(self.shadow)
        return doc

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


def complaint_id(listing_id: str, revision: int) -> str:
    """Deterministic from listing_id and revision: a redelivery raises no second complaint."""
    digest = hashlib.sha256(f"{listing_id}\x00{revision}".encode()).hexdigest()
    return f"cmp-{digest[:32]}"


def is_hit(verdict: Mapping[str, Any]) -> bool:
    """Every block, and every review referred to a rights holder, raises a complaint."""
    decision = verdict.get("decision")
    return decision == "block" or (decision == "review" and bool(verdict.get("referred")))


def complaint_from_verdict(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The proactive complaint for a hit (``complaint.schema.json``), from its verdict document.

    Built from the verdict's JSON form so a redelivered event can raise the complaint it owes
    from the ledger's stored verdict, identical to the first one.
    """
    return {
        "complaint_id": complaint_id(verdict["listing_id"], verdict["revision"]),
        "listing_id": verdict["listing_id"],
        "revision": verdict["revision"],
        "store_id": verdict["store_id"],
        "seller_id": verdict["seller_id"],
        "brand": verdict.get("brand"),
        "rights_holder": verdict.get("rights_holder"),
        "decision": verdict["decision"],
        "score": verdict["score"],
        "reasons": verdict["reasons"],
        "config_version": verdict["config_version"],
        "source": "proactive",
        "created_at": verdict["screened_at"],
    }


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
