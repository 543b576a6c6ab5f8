"""The WHO risk stratification of solitary fibrous tumour (SFT) for metastasis, as data.

WHO Classification of Soft Tissue Tumours, 5th edition (2020), after Demicco et al. 2017: points
for age, tumour size, mitoses and necrosis, 0–7 in all; NATARS includes SFT scoring ≥ 6. The
bands live in the protocol file; this module validates them and computes the score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Band", "Category", "SftRisk", "SftRiskTable"]


class Band(BaseModel):
    """Points for values below `below` (the last band has no upper bound)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    below: float | None = None
    points: int = Field(ge=0)


class Category(BaseModel):
    """A named risk band: scores up to and including `up_to`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    up_to: int = Field(ge=0)
    name: str = Field(min_length=1)


class SftRiskTable(BaseModel):
    """The scoring table: the field holding a given score, the parts and the categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    given: str
    parts: dict[str, list[Band]] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)
    disagreement_warning: str

    @model_validator(mode="after")
    def _bands_ordered(self) -> SftRiskTable:
        for field, bands in self.parts.items():
            if not bands or bands[-1].below is not None:
                raise ValueError(f"sft_risk.parts.{field}: the last band must have no 'below'")
            bounds = [b.below for b in bands[:-1]]
            if any(b is None for b in bounds) or bounds != sorted(bounds):  # type: ignore[type-var]
                raise ValueError(f"sft_risk.parts.{field}: 'below' bounds must rise")
        tops = [c.up_to for c in self.categories]
        if tops != sorted(set(tops)):
            raise ValueError("sft_risk.categories: 'up_to' must rise")
        if tops[-1] < self.max_score:
            raise ValueError(
                f"sft_risk.categories: the highest score {self.max_score} has no category"
            )
        return self

    @property
    def max_score(self) -> int:
        """The highest score the parts can add up to."""
        return sum(bands[-1].points for bands in self.parts.values())

    def category(self, score: int) -> str:
        """The risk category of a score ("low", "intermediate", "high")."""
        for category in self.categories:
            if score <= category.up_to:
                return category.name
        return self.categories[-1].name

    def computed_score(self, facts: Mapping[str, Any]) -> int | None:
        """The score from its parts, or None while any part is unknown."""
        total = 0
        for field, bands in self.parts.items():
            value = facts[field]
            if value is None:
                return None
            for band in bands:
                if band.below is None or value < band.below:
                    total += band.points
                    break
        return total


@dataclass(frozen=True, slots=True)
class SftRisk:
    """An SFT's risk score, its category, and whether it was given or computed from its parts."""

    score: int
    category: str
    given: bool
