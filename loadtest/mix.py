"""The listing mix of a load test: ``class=weight,...`` (``LOADTEST_MIX``), over the generator's
classes (``loadtest.generator.CLASSES``). Weights are relative; classes left out are not sent."""

from __future__ import annotations

from loadtest.generator import CLASSES


class MixError(ValueError):
    """A mix that names an unknown class or has a weight that is not a positive number."""


def parse_mix(text: str | None) -> dict[str, float] | None:
    """``None`` for an empty text (the generator's default mix)."""
    text = (text or "").strip()
    if not text:
        return None
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        name = name.strip()
        if not sep or name not in CLASSES:
            raise MixError(
                f"mix entry {part.strip()!r}: expected class=weight with class one of "
                + ", ".join(CLASSES)
            )
        try:
            value = float(weight)
        except ValueError:
            raise MixError(f"mix entry {part.strip()!r}: weight is not a number") from None
        if not value > 0:
            raise MixError(f"mix entry {part.strip()!r}: weight must be positive")
        mix[name] = value
    return mix
