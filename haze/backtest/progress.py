"""A one-line progress bar on stderr when it is a terminal, silent otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 28
_REDRAW_S = 0.1


class Progress:
    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.total = max(0, total)
        self.done = 0
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._started = time.perf_counter()
        self._drawn = 0.0
        self._shown = False

    def advance(self, count: int) -> None:
        self.done += count
        now = time.perf_counter()
        if self.enabled and (now - self._drawn >= _REDRAW_S or self.done >= self.total):
            self._drawn = now
            self._shown = True
            self.stream.write("\r" + self.render(now - self._started))
            self.stream.flush()

    def render(self, elapsed: float) -> str:
        """The line after ``elapsed`` s: ``label [###   ] 45%  4,500/10,000  1,234/s  eta 4s``."""
        share = min(1.0, self.done / self.total) if self.total else 1.0
        filled = int(share * _WIDTH)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * filled + " " * (_WIDTH - filled)
        head = f"{self.label} " if self.label else ""
        return (
            f"{head}[{bar}] {share * 100:3.0f}%  {self.done:,}/{self.total:,}  {rate:,.0f}/s"
            f"  eta {eta:.0f}s "
        )

    def close(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
