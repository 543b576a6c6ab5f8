"""The small condition language of the protocol definition, and its compilation to predicates.

A condition reads one *fact* (a referral field or a value derived from several, such as the SFT
score) and is compiled once, at load time, into a plain function over the facts dictionary, so
that evaluating a referral is a few dictionary look-ups per criterion.

    {field: F, is: V}         F == V             never matches a missing answer
    {field: F, in: [..]}      F in the list      never matches a missing answer
    {field: F, lt: N}  (le, gt, ge)              never matches a missing answer
    {field: F, missing: true} F is not known     matches only a missing answer
    {field: F, not_in: [..]}  F missing or not in the list
    {all: [..]} / {any: [..]} every / some condition
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AllOf", "AnyOf", "Condition", "FieldCondition", "Predicate", "compile_condition"]

Facts = Mapping[str, Any]
Predicate = Callable[[Facts], bool]
Scalar = bool | int | float | str

_COMPARISONS = ("lt", "le", "gt", "ge")


class FieldCondition(BaseModel):
    """A test on one fact: exactly one operator besides `field`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    field: str
    is_: Scalar | None = Field(default=None, alias="is")
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    missing: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> FieldCondition:
        given = [name for name in self.operators() if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"condition on {self.field!r} needs exactly one of "
                f"is, in, not_in, lt, le, gt, ge, missing (got {len(given)})"
            )
        return self

    @staticmethod
    def operators() -> tuple[str, ...]:
        """Attribute names of the operators, in the order they are documented."""
        return ("is_", "in_", "not_in", *_COMPARISONS, "missing")

    @property
    def operator(self) -> str:
        """The one operator this condition uses, as spelt in the protocol file."""
        for name in self.operators():
            if getattr(self, name) is not None:
                return name.rstrip("_")
        raise AssertionError("unreachable: validated to have one operator")  # pragma: no cover

    @property
    def values(self) -> list[Scalar]:
        """The literal values this condition compares against, for type checking at load."""
        if self.is_ is not None:
            return [self.is_]
        return list(self.in_ or self.not_in or [])

    @property
    def matches_missing(self) -> bool:
        """Whether an unanswered fact can satisfy this condition."""
        return self.missing is not None or self.not_in is not None


class AllOf(BaseModel):
    """Every one of the conditions holds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    all_: list[Condition] = Field(alias="all", min_length=1)


class AnyOf(BaseModel):
    """At least one of the conditions holds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    any_: list[Condition] = Field(alias="any", min_length=1)


Condition = FieldCondition | AllOf | AnyOf
AllOf.model_rebuild()
AnyOf.model_rebuild()


def leaves(condition: Condition) -> Iterator[FieldCondition]:
    """Every field condition inside `condition`, depth first."""
    if isinstance(condition, FieldCondition):
        yield condition
    else:
        for part in condition.all_ if isinstance(condition, AllOf) else condition.any_:
            yield from leaves(part)


def compile_condition(condition: Condition) -> Predicate:
    """Turn a validated condition into a function of the facts dictionary."""
    if isinstance(condition, AllOf):
        parts = tuple(compile_condition(c) for c in condition.all_)
        return lambda facts: all(p(facts) for p in parts)
    if isinstance(condition, AnyOf):
        parts = tuple(compile_condition(c) for c in condition.any_)
        return lambda facts: any(p(facts) for p in parts)
    return _compile_leaf(condition)


def _compile_leaf(c: FieldCondition) -> Predicate:
    name = c.field
    op = c.operator
    if op == "missing":
        return lambda facts: facts[name] is None
    if op == "is":
        value = c.is_
        if isinstance(value, bool):
            # `is` for booleans: 1 == True in Python, and a count of 1 must not read as "yes".
            return lambda facts: facts[name] is value
        return lambda facts: facts[name] is not None and facts[name] == value
    if op == "in":
        allowed = frozenset(c.in_ or ())
        return lambda facts: facts[name] is not None and facts[name] in allowed
    if op == "not_in":
        excluded = frozenset(c.not_in or ())
        return lambda facts: facts[name] is None or facts[name] not in excluded
    bound = getattr(c, op)
    if op == "lt":
        return lambda facts: facts[name] is not None and facts[name] < bound
    if op == "le":
        return lambda facts: facts[name] is not None and facts[name] <= bound
    if op == "gt":
        return lambda facts: facts[name] is not None and facts[name] > bound
    return lambda facts: facts[name] is not None and facts[name] >= bound
