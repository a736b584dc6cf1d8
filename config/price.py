"""Thresholds of the price-anomaly detector."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PriceConfig(BaseModel):
    """Scores and switches of the price detector; see detectors/price.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
