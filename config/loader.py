"""Reading YAML into validated, frozen models with errors that name file and field."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from config.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml(path: str | Path) -> tuple[Any, bytes]:
    """Parse a YAML file; returns the document and its raw bytes (for versioning)."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read file ({exc.strerror or exc})") from exc
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(source, None, f"not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(source, None, "expected a mapping at the top level")
    return document, raw


def validate(model: type[ModelT], document: Any, source: str) -> ModelT:
    """Validate ``document`` into ``model``; the first error names its dotted field path."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        problems = len(exc.errors())
        more = f" (and {problems - 1} more)" if problems > 1 else ""
        raise ConfigError(source, field, f"{first['msg']}{more}") from exc


def load_model(model: type[ModelT], path: str | Path) -> tuple[ModelT, str]:
    """Load and validate a YAML file; returns the model and a short digest of its bytes."""
    document, raw = read_yaml(path)
    return validate(model, document, str(path)), hashlib.sha256(raw).hexdigest()[:10]
