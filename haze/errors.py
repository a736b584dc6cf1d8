"""The root of every error Haze raises on purpose.

Each package keeps its own exceptions module (``config.errors``, ``contract.errors``,
``state.errors``); all of them derive from :class:`HazeError`, so a caller can catch the
project's failures without catching programming errors.
"""

from __future__ import annotations


class HazeError(Exception):
    """Base class of every deliberate Haze error; the message says what to do about it."""
