"""Feedback from rights holders and reviewers (``feedback.schema.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import orjson

from contract.errors import ContractError

Outcome = Literal["confirmed_counterfeit", "not_infringing", "store_banned", "store_cleared"]
OUTCOMES: tuple[Outcome, ...] = (
    "confirmed_counterfeit",
    "not_infringing",
    "store_banned",
    "store_cleared",
)


@dataclass(frozen=True, slots=True)
class Feedback:
    listing_id: str
    store_id: str
    outcome: Outcome
    source: str | None = None
    rights_holder: str | None = None
    created_at: str | None = None


def feedback_from_dict(doc: object) -> Feedback:
    if not isinstance(doc, dict):
        raise ContractError(None, "feedback must be a JSON object")
    values: dict[str, str | None] = {}
    for name in ("listing_id", "store_id", "outcome"):
        value = doc.get(name)
        if not isinstance(value, str) or not value:
            raise ContractError(name, "is required and must be a non-empty string")
        values[name] = value
    if values["outcome"] not in OUTCOMES:
        raise ContractError("outcome", f"must be one of {', '.join(OUTCOMES)}")
    for name in ("source", "rights_holder", "created_at"):
        value = doc.get(name)
        if value is not None and not isinstance(value, str):
            raise ContractError(name, "must be a string")
        values[name] = value
    return Feedback(
        listing_id=cast(str, values["listing_id"]),
        store_id=cast(str, values["store_id"]),
        outcome=values["outcome"],
        source=values["source"],
        rights_holder=values["rights_holder"],
        created_at=values["created_at"],
    )


def parse_feedback(raw: bytes) -> Feedback:
    try:
        return feedback_from_dict(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise ContractError(None, f"not valid JSON: {exc}") from exc
