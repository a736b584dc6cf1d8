"""Configuration errors: always name the file (or variable) and the field at fault."""

from __future__ import annotations

from haze.errors import HazeError


class ConfigError(HazeError):
    """A settings file or environment variable is missing or invalid.

    ``source`` is the file path or variable name, ``field`` the dotted path inside it.
    """

    def __init__(self, source: str, field: str | None, reason: str) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {reason}")
