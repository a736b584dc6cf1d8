"""Config variants: a thresholds document with dotted-path changes, validated like an edit.

``FIELD`` is a dotted path into the thresholds file (``decision.block_threshold``,
``detectors.price.reference.review_ratio``, ``detectors.price.rates.USD``). It must name a field
the config model has; the value is written into a copy of the file's YAML document and the
whole document is validated by the same pydantic model as a real edit, so anything the worker
would refuse is refused here, naming the field.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel

from config.loader import validate
from config.thresholds import ScreenConfig
from haze.backtest.errors import BacktestError


def field_value(config: ScreenConfig, field: str, option: str) -> Any:
    """The value of ``field`` in ``config``; a clear error (naming ``option``) when the config
    has no such field."""
    node: Any = config
    walked: list[str] = []
    for part in field.split("."):
        if isinstance(node, BaseModel):
            names = list(type(node).model_fields)
            if part not in names:
                raise BacktestError(_unknown(option, field, walked, part, names))
            node = getattr(node, part)
        elif isinstance(node, dict):
            if part not in node:
                raise BacktestError(_unknown(option, field, walked, part, sorted(node)))
            node = node[part]
        else:
            raise BacktestError(f"{option} {field}: {'.'.join(walked)} is not a section")
        walked.append(part)
    return node


def _unknown(option: str, field: str, walked: list[str], part: str, names: list[str]) -> str:
    where = ".".join(walked) or "the top level"
    return f"{option} {field}: no field {part!r} in {where} (there: {', '.join(names)})"


def set_field(document: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with ``field`` set (missing sections are created)."""
    changed = copy.deepcopy(document)
    node = changed
    *parents, leaf = field.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value
    return changed


def parse_set(text: str) -> tuple[str, Any]:
    """``FIELD=VALUE``; the value is read as YAML (``0.8``, ``fail_closed``, ``[A, B]``)."""
    field, sep, raw = text.partition("=")
    if not sep or not field.strip():
        raise BacktestError(f"--set {text!r}: expected FIELD=VALUE")
    try:
        return field.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise BacktestError(f"--set {text!r}: the value is not valid YAML ({exc})") from exc


def apply_sets(
    document: dict[str, Any], config: ScreenConfig, sets: Sequence[str], source: str
) -> tuple[dict[str, Any], ScreenConfig]:
    """``document`` (which validates to ``config``) with every ``--set`` applied; the
    version names the changes unless a ``version`` is set too."""
    changed, names = document, []
    for text in sets:
        field, value = parse_set(text)
        if field != "version":
            field_value(config, field, "--set")
            names.append(f"{field.rsplit('.', 1)[-1]}={value}")
        changed = set_field(changed, field, value)
    if not any(parse_set(text)[0] == "version" for text in sets):
        changed["version"] = f"{config.version}+{','.join(names)}"[:64]
    where = f"--set {' --set '.join(sets)} (on {source})"
    return changed, validate(ScreenConfig, changed, where)
