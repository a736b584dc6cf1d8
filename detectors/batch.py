"""A batch of validated listings, with a cache of derived arrays shared by detectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from contract.listing import Listing

T = TypeVar("T")


@dataclass(slots=True)
class ListingBatch:
    """The unit every detector works on.

    ``annotations`` carries facts one detector establishes for the ones after it (detectors run
    in catalog order). Documented keys:

    - ``"brands"``: ``list[tuple[str, ...]]``, registry brand ids found in each listing's text
      (set by the keyword detector; the price detector falls back to the claimed brand).
    """

    listings: Sequence[Listing]
    now: float
    annotations: dict[str, Any] = field(default_factory=dict)
    _derived: dict[str, Any] = field(default_factory=dict)
    parent: ListingBatch | None = None
    """The batch this one was cut from (:meth:`subset`): the one whose needs the state
    snapshot answers."""
    parent_rows: Sequence[int] = ()
    """Listing ``i`` of this batch is listing ``parent_rows[i]`` of ``parent``."""

    def __len__(self) -> int:
        return len(self.listings)

    def subset(self, rows: Sequence[int]) -> ListingBatch:
        """The listings at ``rows`` (in that order) as a batch of their own that remembers
        where they came from: the engine reads state for a whole batch and judges only the
        listings the ledger does not answer, and a detector whose state is indexed by the
        rows it asked about (the LSH probe) maps it through ``parent_rows``."""
        return ListingBatch(
            [self.listings[i] for i in rows], self.now, parent=self, parent_rows=list(rows)
        )

    def derived(self, name: str, compute: Callable[[ListingBatch], T]) -> T:
        """Compute a per-batch value once (normalised titles, shingles...) and share it."""
        if name not in self._derived:
            self._derived[name] = compute(self)
        value: T = self._derived[name]
        return value

    @property
    def event_times(self) -> npt.NDArray[np.float64]:
        return self.derived(
            "event_times",
            lambda b: np.fromiter((x.event_time for x in b.listings), np.float64, len(b.listings)),
        )
