"""The WHO risk stratification of solitary fibrous tumour (SFT) for metastasis, as data.

WHO Classification of Soft Tissue Tumours, 5th edition (2020), after Demicco et al. 2017: points
for age, tumour size, mitoses and necrosis, 0–7 in all; NATARS includes SFT scoring ≥ 6. The
bands live in the protocol file; this module validates them and computes the score.

Spec revision 2 works on the score's *range*: the parts known score their points, and each
unknown part could still add at most its highest band, so the score lies in [low, high]. A score
given directly must lie inside that range; inside, it narrows the range to itself; outside, it
contradicts its parts and decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Band", "Category", "ScoreRange", "SftRisk", "SftRiskTable"]


class Band(BaseModel):
    """Points for values below `below` (the last band has no upper bound)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    below: float | None = None
    points: int = Field(ge=0)


class Category(BaseModel):
    """A named risk band: scores up to and including `up_to`, with its name per language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    up_to: int = Field(ge=0)
    name: str = Field(min_length=1)
    label: dict[str, str] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class ScoreRange:
    """The scores still possible, [low, high]; shown as "4" when exact, else "1–4"."""

    low: int
    high: int

    @property
    def exact(self) -> bool:
        """Whether only one score is possible."""
        return self.low == self.high

    def __str__(self) -> str:
        return str(self.low) if self.exact else f"{self.low}–{self.high}"


class SftRiskTable(BaseModel):
    """The scoring table: the field holding a given score, the parts and the categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    given: str
    parts: dict[str, list[Band]] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)

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
        return sum(max(b.points for b in bands) for bands in self.parts.values())

    def category(self, score: int) -> str:
        """The risk category of a score ("low", "intermediate", "high")."""
        return self._category(score).name

    def _category(self, score: int) -> Category:
        for category in self.categories:
            if score <= category.up_to:
                return category
        return self.categories[-1]

    def computed_score(self, facts: Mapping[str, Any]) -> int | None:
        """The score from its parts, or None while any part is unknown."""
        scored = self.parts_range(facts)
        return scored.low if scored.exact and self._all_known(facts) else None

    def _all_known(self, facts: Mapping[str, Any]) -> bool:
        return all(facts.get(field) is not None for field in self.parts)

    def parts_range(self, facts: Mapping[str, Any]) -> ScoreRange:
        """The scores the parts known allow: their points, plus at most the top band of each
        unknown part (a missing key counts as unknown)."""
        low = high = 0
        for field, bands in self.parts.items():
            value = facts.get(field)
            if value is None:
                high += max(b.points for b in bands)
                continue
            for band in bands:
                if band.below is None or value < band.below:
                    low += band.points
                    high += band.points
                    break
        return ScoreRange(low, high)

    def assess(self, facts: Mapping[str, Any]) -> SftRisk:
        """The SFT risk for these facts: the parts' range, narrowed by a given score that agrees
        with it, or marked as contradicted by one that does not."""
        parts = self.parts_range(facts)
        given = facts.get(self.given)
        contradiction = given is not None and not parts.low <= given <= parts.high
        scored = ScoreRange(given, given) if given is not None and not contradiction else parts
        low, high = self._category(scored.low), self._category(scored.high)
        category = low if low is high and not contradiction else None
        return SftRisk(
            range=scored,
            parts=parts,
            given=given,
            contradiction=contradiction,
            category=category.name if category else None,
            category_label=category.label if category else None,
        )


@dataclass(frozen=True, slots=True)
class SftRisk:
    """An SFT's risk score as far as it is known.

    `range` is what decides INC-07 (the parts' range, or [given, given] when the given score
    agrees with the parts); `parts` is the range from the parts alone, shown when a `given`
    score `contradiction`s it. `category` is set when every score in the range falls in one
    category (always when the score is exact), with its name per language in `category_label`.
    """

    range: ScoreRange
    parts: ScoreRange
    given: int | None
    contradiction: bool
    category: str | None
    category_label: Mapping[str, str] | None

    @property
    def score(self) -> int | None:
        """The score when exactly one is possible and no given score contradicts its parts."""
        return self.range.low if self.range.exact and not self.contradiction else None
