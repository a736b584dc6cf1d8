"""Thresholds of the duplicate-listing and linked-store detector."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DuplicateConfig(BaseModel):
    """Scores and switches of the duplicate/linkage detector; see detectors/duplicate.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
