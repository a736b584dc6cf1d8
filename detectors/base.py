"""The detector interface.

A detector is built from the thresholds and the registry, says which state a batch needs,
scores the batch against that state (pure: no I/O, deterministic), and says what the batch
writes back once its decisions are known. Higher scores mean more suspicious; every score is in
[0, 1]. Reasons carry a stable ``code`` and the evidence a reviewer needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from config.registry import Registry
from config.thresholds import ScreenConfig
from contract.verdict import Decision, Reason
from detectors.batch import ListingBatch
from state.base import StateNeeds, StateSnapshot, StateUpdates

__all__ = ["Detector", "ListingBatch", "Reason"]


class Detector(ABC):
    name: ClassVar[str]
    """Short id, used as ``Reason.detector`` and as the metrics label."""

    @classmethod
    @abstractmethod
    def build(cls, config: ScreenConfig, registry: Registry) -> Detector | None:
        """Compile a detector for this config and registry; ``None`` when it is disabled."""

    def needs(self, batch: ListingBatch) -> StateNeeds:
        """The state this batch must read (merged with other detectors', fetched once)."""
        return StateNeeds()

    @abstractmethod
    def detect(self, batch: ListingBatch, state: StateSnapshot) -> Sequence[Sequence[Reason]]:
        """The reasons of each listing, in batch order (empty when nothing fired). Callers only
        read them, so a detector may hand out tuples and share one empty tuple between the
        listings that got nothing (no per-listing object where there is nothing to say)."""

    def updates(
        self, batch: ListingBatch, state: StateSnapshot, decisions: Sequence[Decision]
    ) -> StateUpdates:
        """What the batch adds to the rolling state, given the final decisions."""
        return StateUpdates()

    def warm(self) -> None:  # noqa: B027 - optional hook, most detectors override it
        """Compile kernels ahead of the first real batch (default: nothing to compile)."""
