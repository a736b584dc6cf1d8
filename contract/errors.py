"""Contract violations: an input that is not what the contract says, and which field."""

from __future__ import annotations

from haze.errors import HazeError


class ContractError(HazeError):
    """An event or request body violates the contract.

    ``field`` is a path into the input (``price``, ``seller_signals.phone``,
    ``image_phashes[2]``, ``listings[3].title``) or ``None`` when the whole value is at fault.
    """

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    def nested(self, prefix: str) -> ContractError:
        """The same error seen from a containing document (``listings[3]`` + ``.price``)."""
        field = prefix if self.field is None else f"{prefix}.{self.field}"
        return ContractError(field, self.reason)
