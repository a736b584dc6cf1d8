"""State errors: the store could not be reached, or answered too late."""

from __future__ import annotations

from haze.errors import HazeError


class StateUnavailable(HazeError):
    """Redis did not answer within the budget; the caller applies the degraded policy."""
