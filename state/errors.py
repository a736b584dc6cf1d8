"""State errors: the store could not be reached, or answered too late."""

from __future__ import annotations

from haze.errors import HazeError


class StateUnavailable(HazeError):
    """Redis did not answer within the budget; the caller applies the degraded policy."""


class StateCorrupt(StateUnavailable):
    """Redis holds bytes under a Haze key that Haze did not write as they are (another program
    wrote there): the batch is degraded as for an unreachable Redis, and the message names the
    key."""
