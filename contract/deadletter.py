"""Dead letters: bad input kept with its original bytes and the reason it was refused."""

from __future__ import annotations

import base64
from typing import Any

import orjson


def dead_letter(
    *, error: str, field: str | None, raw: bytes, topic: str, partition: int, offset: int
) -> bytes:
    """The ``listings.deadletter`` value for one refused event (contract README)."""
    doc: dict[str, Any] = {
        "error": error,
        "field": field,
        "raw_b64": base64.b64encode(raw).decode("ascii"),
        "topic": topic,
        "partition": partition,
        "offset": offset,
    }
    return orjson.dumps(doc)
