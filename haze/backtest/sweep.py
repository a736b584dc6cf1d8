"""``--sweep FIELD=START:STOP:STEP``: one threshold varied over a range, one config per value.

``FIELD`` is a dotted path into the thresholds file (``haze.backtest.variants``) that must
name a number of the config model; each value is validated by the same pydantic model as a
real edit, so a value the config would refuse (a review threshold above the block threshold)
is refused here, naming the field, before anything runs. Integer fields take whole steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from config.loader import validate
from config.thresholds import ScreenConfig
from haze.backtest.errors import BacktestError
from haze.backtest.variants import field_value, set_field

MAX_STEPS = 200


@dataclass(frozen=True, slots=True)
class SweepSpec:
    field: str
    start: float
    stop: float
    step: float

    @property
    def text(self) -> str:
        return f"{self.field}={self.start:g}:{self.stop:g}:{self.step:g}"


def parse_sweep(text: str) -> SweepSpec:
    """Parse ``FIELD=START:STOP:STEP`` (STOP included when the steps land on it)."""
    field, sep, bounds = text.partition("=")
    parts = bounds.split(":")
    if not sep or not field.strip() or len(parts) != 3:
        raise BacktestError(f"--sweep {text!r}: expected FIELD=START:STOP:STEP")
    try:
        start, stop, step = (float(part) for part in parts)
    except ValueError as exc:
        raise BacktestError(f"--sweep {text!r}: START, STOP and STEP must be numbers") from exc
    if not all(math.isfinite(x) for x in (start, stop, step)):
        raise BacktestError(f"--sweep {text!r}: START, STOP and STEP must be finite")
    if step <= 0:
        raise BacktestError(f"--sweep {text!r}: STEP must be greater than 0")
    if stop < start:
        raise BacktestError(f"--sweep {text!r}: STOP must not be below START")
    spec = SweepSpec(field.strip(), start, stop, step)
    if len(sweep_values(spec)) > MAX_STEPS:
        raise BacktestError(f"--sweep {text!r}: more than {MAX_STEPS} steps")
    return spec


def sweep_values(spec: SweepSpec) -> list[float]:
    """START, START+STEP, ... up to STOP, without float drift (0.1 + 0.2 stays 0.3)."""
    count = math.floor((spec.stop - spec.start) / spec.step + 1e-9) + 1
    return [round(spec.start + i * spec.step, 10) for i in range(count)]


def current_value(config: ScreenConfig, field: str) -> int | float:
    """The value of ``field`` in ``config``; a clear error when it is not a number there."""
    node = field_value(config, field, "--sweep")
    if isinstance(node, bool) or not isinstance(node, int | float):
        kind = "section" if isinstance(node, BaseModel | dict) else type(node).__name__
        raise BacktestError(f"--sweep {field}: is a {kind}, not a number")
    return node


def sweep_configs(
    document: dict[str, Any], config: ScreenConfig, spec: SweepSpec, source: str
) -> list[tuple[int | float, ScreenConfig]]:
    """One validated config per sweep value: ``document`` (the thresholds file's, which
    validates to ``config``) with the field set."""
    current = current_value(config, spec.field)
    values: list[int | float] = list(sweep_values(spec))
    if isinstance(current, int):
        if any(value != int(value) for value in values):
            raise BacktestError(f"--sweep {spec.text}: {spec.field} is an integer; use whole steps")
        values = [int(value) for value in values]
    out = []
    for value in values:
        changed = set_field(document, spec.field, value)
        leaf = spec.field.rsplit(".", 1)[-1]
        changed["version"] = f"{config.version}+{leaf}={value:g}"[:64]
        where = f"--sweep {spec.field}={value:g} (on {source})"
        out.append((value, validate(ScreenConfig, changed, where)))
    return out
