"""Backtest errors: bad input files (naming file, line and field) and bad sweep specs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from haze.errors import HazeError


class BacktestError(HazeError):
    """A backtest or replay cannot run as asked; the message says what to change."""


@dataclass(frozen=True, slots=True)
class LineProblem:
    """One unusable line of an input file."""

    path: str
    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class DatasetError(BacktestError):
    """Lines of an input file are invalid. ``problems`` lists every one (the message the
    first few)."""

    SHOWN = 10

    def __init__(self, problems: Sequence[LineProblem]) -> None:
        self.problems = tuple(problems)
        shown = "\n  ".join(str(p) for p in self.problems[: self.SHOWN])
        more = len(self.problems) - self.SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        count = len(self.problems)
        super().__init__(
            f"{count} invalid line{'s' if count != 1 else ''}:\n  {shown}{tail}\n"
            "(fix them, or pass --skip-invalid to leave them out; they are then listed in the "
            "report)"
        )
