"""Thresholds of the keyword detector (brand terms, counterfeit terms, stuffing, prohibited)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class KeywordConfig(BaseModel):
    """Scores and switches of the keyword detector; see detectors/keyword.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
