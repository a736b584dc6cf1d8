"""The brand registry: rights holders, brands, aliases, authorised stores, reference prices.

The format is the contract's (``contract/registry.example.yaml``). Unknown keys are kept out of
the model but tolerated (the registry is rights-holder data and grows); wrong types, duplicate
ids and dangling references are refused, naming the field.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loader import load_model

DEFAULT_REGISTRY_PATH = Path(__file__).parent / "defaults" / "registry.demo.yaml"


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RightsHolder(_Data):
    id: str = Field(min_length=1)
    name: str = ""
    takes_referrals: bool = False


class Brand(_Data):
    id: str = Field(min_length=1)
    name: str = ""
    rights_holder: str | None = None
    aliases: tuple[str, ...] = ()
    authorized_stores: frozenset[str] = frozenset()
    reference_prices: dict[str, float] = Field(default_factory=dict)
    """Lowest plausible genuine price per category, in the registry currency."""

    @field_validator("reference_prices")
    @classmethod
    def _positive_prices(cls, prices: dict[str, float]) -> dict[str, float]:
        for category, price in prices.items():
            if not price > 0:
                raise ValueError(f"reference price for {category!r} must be positive")
        return prices

    @property
    def all_names(self) -> tuple[str, ...]:
        """The brand's name and aliases, without blanks or repeats."""
        seen: dict[str, None] = {}
        for term in (self.name, *self.aliases):
            if term.strip():
                seen.setdefault(term, None)
        return tuple(seen)


class Lexicons(_Data):
    counterfeit_terms: tuple[str, ...] = ()
    prohibited_terms: tuple[str, ...] = ()
    benign_phrases: tuple[str, ...] = ()


class Registry(_Data):
    version: str = Field(min_length=1)
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    rights_holders: tuple[RightsHolder, ...] = ()
    brands: tuple[Brand, ...] = ()
    lexicons: Lexicons = Lexicons()

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        return value if isinstance(value, str) or value is None else str(value)

    @model_validator(mode="after")
    def _references_resolve(self) -> Registry:
        holders = [holder.id for holder in self.rights_holders]
        if len(set(holders)) != len(holders):
            raise ValueError("rights_holders: duplicate id")
        brands = [brand.id for brand in self.brands]
        if len(set(brands)) != len(brands):
            raise ValueError("brands: duplicate id")
        for brand in self.brands:
            if brand.rights_holder is not None and brand.rights_holder not in holders:
                raise ValueError(
                    f"brand {brand.id!r} names unknown rights_holder {brand.rights_holder!r}"
                )
        return self

    def brand(self, brand_id: str) -> Brand | None:
        return next((brand for brand in self.brands if brand.id == brand_id), None)

    def rights_holder(self, holder_id: str | None) -> RightsHolder | None:
        return next((holder for holder in self.rights_holders if holder.id == holder_id), None)


def load_registry(path: str | Path = DEFAULT_REGISTRY_PATH) -> tuple[Registry, str]:
    """Load the brand registry; returns it and a digest of the file's bytes."""
    return load_model(Registry, path)
