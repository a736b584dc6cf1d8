"""``--sweep FIELD=START:STOP:STEP``: one threshold varied over a range, one config per value.

``FIELD`` is a dotted path into the thresholds file (``decision.block_threshold``,
``detectors.price.reference.review_ratio``). It must name an existing number of the config
model; each value is written into a copy of the thresholds file's document and validated by
the same pydantic model as a real edit, so a value the config would refuse (a review
threshold above the block threshold) is refused here, naming the field, before anything runs.
Integer fields take integer steps only.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from config.loader import read_yaml, validate
from config.thresholds import ScreenConfig
from haze.backtest.errors import BacktestError

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
    node: Any = config
    walked: list[str] = []
    for part in field.split("."):
        if isinstance(node, BaseModel):
            names = list(type(node).model_fields)
            if part not in names:
                raise BacktestError(_unknown(field, walked, part, names))
            node = getattr(node, part)
        elif isinstance(node, dict):
            if part not in node:
                raise BacktestError(_unknown(field, walked, part, sorted(node)))
            node = node[part]
        else:
            raise BacktestError(f"--sweep {field}: {'.'.join(walked)} is not a section")
        walked.append(part)
    if isinstance(node, bool) or not isinstance(node, int | float):
        kind = "section" if isinstance(node, BaseModel | dict) else type(node).__name__
        raise BacktestError(f"--sweep {field}: is a {kind}, not a number")
    return node


def _unknown(field: str, walked: list[str], part: str, names: list[str]) -> str:
    where = ".".join(walked) or "the top level"
    return f"--sweep {field}: no field {part!r} in {where} (there: {', '.join(names)})"


def sweep_configs(
    config_path: Path, config: ScreenConfig, spec: SweepSpec
) -> list[tuple[int | float, ScreenConfig]]:
    """One validated config per sweep value (the file's document with the field set)."""
    current = current_value(config, spec.field)
    values: list[int | float] = list(sweep_values(spec))
    if isinstance(current, int):
        if any(value != int(value) for value in values):
            raise BacktestError(f"--sweep {spec.text}: {spec.field} is an integer; use whole steps")
        values = [int(value) for value in values]
    document, _ = read_yaml(config_path)
    out = []
    for value in values:
        changed = copy.deepcopy(document)
        _set(changed, spec.field.split("."), value)
        leaf = spec.field.rsplit(".", 1)[-1]
        changed["version"] = f"{config.version}+{leaf}={value:g}"[:64]
        source = f"--sweep {spec.field}={value:g} (on {config_path})"
        out.append((value, validate(ScreenConfig, changed, source)))
    return out


def _set(document: dict[str, Any], path: list[str], value: int | float) -> None:
    node = document
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
