"""The trial protocol as data: criteria with ids, the protocol's wording and their rules.

`load_protocol()` reads a protocol file (YAML), validates it against the referral model and
compiles its conditions. Anything wrong — an unknown field, a value the field cannot take, a rule
that could let an answer remove a `fail` — raises `ProtocolError` naming the file and the
criterion, so that a bad definition stops the bot at start-up instead of misjudging a patient.
This module reads files but decides nothing; `eligibility.evaluate` does that.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .conditions import Condition, FieldCondition, Predicate, compile_condition, leaves
from .errors import ProtocolError
from .referral import Histology, Referral
from .sft import SftRiskTable

__all__ = [
    "DERIVED_FACTS",
    "CompiledRule",
    "Criterion",
    "Protocol",
    "default_protocol",
    "load_protocol",
]

DEFAULT_PROTOCOL = "natars-v1.yaml"
REFERRAL_FIELDS = frozenset(Referral.model_fields)
# Facts the engine derives from several fields; the protocol may test and quote them.
DERIVED_FACTS = frozenset({"sft_score", "sft_category"})
# Quotable in the SFT disagreement warning only.
_SFT_WARNING_FACTS = frozenset({"sft_computed_score"})


class RuleDef(BaseModel):
    """A condition and the reason shown when it matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: Condition
    reason: str = Field(min_length=1)


class CriterionDef(BaseModel):
    """One criterion as written in the protocol file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^(INC|EXC)-\d{2}$")
    kind: Literal["inclusion", "exclusion"]
    wording: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    interpretation: str | None = None
    applies_to: list[Histology] | None = None
    reads: list[str]
    fail: list[RuleDef] = []
    unknown: list[RuleDef] = []
    warn: list[RuleDef] = []
    pass_: str = Field(alias="pass", min_length=1)


class ProtocolDef(BaseModel):
    """A whole protocol file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    registry: str = Field(min_length=1)
    sft_risk: SftRiskTable
    criteria: list[CriterionDef] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run: its predicate, its reason template and the facts the reason quotes."""

    matches: Predicate
    reason: str
    quotes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Criterion:
    """A validated criterion: what the MDT reads (wording, interpretation) and how it is decided.

    `key` picks, from the facts, every value the criterion's rules test or quote: two referrals
    with the same key get the same outcome, reason and warnings. The engine memoises decisions
    by that key in `memo` (bounded; see eligibility.py).
    """

    id: str
    kind: Literal["inclusion", "exclusion"]
    wording: str
    summary: str
    interpretation: str | None
    applies_to: frozenset[Histology] | None
    reads: tuple[str, ...]
    fail: tuple[CompiledRule, ...]
    unknown: tuple[CompiledRule, ...]
    warn: tuple[CompiledRule, ...]
    pass_reason: CompiledRule
    key: Callable[[Any], Any] = field(repr=False, compare=False)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Protocol:
    """The loaded protocol: its version string, SFT table and criteria in protocol order."""

    version: str
    registry: str
    source: str
    sft_risk: SftRiskTable
    criteria: tuple[Criterion, ...]

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion with this id; KeyError if there is none."""
        for criterion in self.criteria:
            if criterion.id == criterion_id:
                return criterion
        raise KeyError(criterion_id)


def load_protocol(path: str | Path) -> Protocol:
    """Read, validate and compile a protocol file; ProtocolError names the file and criterion."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtocolError(path.name, None, f"cannot read: {exc.strerror}") from exc
    return parse_protocol(text, source=path.name)


@cache
def default_protocol() -> Protocol:
    """The protocol shipped with the package (loaded once; it is immutable)."""
    text = resources.files("natars_bot.protocols").joinpath(DEFAULT_PROTOCOL).read_text("utf-8")
    return parse_protocol(text, source=DEFAULT_PROTOCOL)


def parse_protocol(text: str, source: str) -> Protocol:
    """Validate and compile protocol YAML; `source` names the file in error messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProtocolError(source, None, f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProtocolError(source, None, "expected a mapping with version, sft_risk and criteria")
    try:
        definition = ProtocolDef.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ProtocolError(source, _criterion_at(raw, error["loc"]), _describe(error)) from exc
    _check_sft_table(source, definition.sft_risk)
    seen: set[str] = set()
    criteria = []
    for cdef in definition.criteria:
        if cdef.id in seen:
            raise ProtocolError(source, cdef.id, "duplicate criterion id")
        seen.add(cdef.id)
        criteria.append(_compile_criterion(source, cdef))
    return Protocol(
        version=definition.version,
        registry=definition.registry,
        source=source,
        sft_risk=definition.sft_risk,
        criteria=tuple(criteria),
    )


def _compile_criterion(source: str, cdef: CriterionDef) -> Criterion:
    def fail(message: str) -> ProtocolError:
        return ProtocolError(source, cdef.id, message)

    expected_prefix = "INC" if cdef.kind == "inclusion" else "EXC"
    if not cdef.id.startswith(expected_prefix):
        raise fail(f"an {cdef.kind} criterion's id must start with {expected_prefix}-")
    unknown_reads = sorted(set(cdef.reads) - REFERRAL_FIELDS)
    if unknown_reads:
        raise fail(f"reads unknown field {unknown_reads[0]!r}")
    readable = set(cdef.reads) | DERIVED_FACTS
    rules: dict[str, list[CompiledRule]] = {"fail": [], "unknown": [], "warn": []}
    for section, compiled in rules.items():
        for number, rule in enumerate(getattr(cdef, section), start=1):
            where = f"{section} rule {number}"
            for leaf in leaves(rule.when):
                if leaf.field not in readable:
                    raise fail(f"{where}: tests {leaf.field!r}, which is not in 'reads'")
                _check_values(leaf, lambda msg, w=where: fail(f"{w}: {msg}"))
                if section == "fail" and leaf.matches_missing:
                    raise fail(
                        f"{where}: a fail rule may not use '{leaf.operator}' on {leaf.field!r}: "
                        "it would match an unanswered question, and answering that question "
                        "would remove the fail"
                    )
            compiled.append(
                CompiledRule(
                    compile_condition(rule.when), rule.reason, _quotes(rule.reason, where, fail)
                )
            )
    pass_rule = CompiledRule(lambda facts: True, cdef.pass_, _quotes(cdef.pass_, "pass", fail))
    key_facts = sorted(
        {
            leaf.field
            for section in ("fail", "unknown", "warn")
            for rule in getattr(cdef, section)
            for leaf in leaves(rule.when)
        }
        | {name for section in rules.values() for rule in section for name in rule.quotes}
        | set(pass_rule.quotes)
    )
    return Criterion(
        id=cdef.id,
        kind=cdef.kind,
        wording=" ".join(cdef.wording.split()),
        summary=cdef.summary,
        interpretation=" ".join(cdef.interpretation.split()) if cdef.interpretation else None,
        applies_to=frozenset(cdef.applies_to) if cdef.applies_to is not None else None,
        reads=tuple(cdef.reads),
        fail=tuple(rules["fail"]),
        unknown=tuple(rules["unknown"]),
        warn=tuple(rules["warn"]),
        pass_reason=pass_rule,
        key=itemgetter(*key_facts) if key_facts else _no_key,
    )


def _no_key(facts: Any) -> tuple[()]:
    return ()


def _check_values(leaf: FieldCondition, fail: Any) -> None:
    """Refuse a value the fact can never take (a typo such as `is: postive`)."""
    if leaf.field == "sft_score":
        bad = [v for v in leaf.values if isinstance(v, bool) or not isinstance(v, int)]
    elif leaf.field == "sft_category":
        bad = [v for v in leaf.values if not isinstance(v, str)]
    else:
        bad = []
        for value in leaf.values:
            try:
                Referral.model_validate({leaf.field: value})
            except ValidationError:
                bad.append(value)
        if leaf.operator in ("lt", "le", "gt", "ge"):
            annotation = str(Referral.model_fields[leaf.field].annotation)
            if "int" not in annotation and "float" not in annotation:
                raise fail(f"{leaf.operator} needs a numeric field, and {leaf.field!r} is not")
    if bad:
        raise fail(f"{bad[0]!r} is not a possible value of {leaf.field!r}")


def _quotes(template: str, where: str, fail: Any) -> tuple[str, ...]:
    """The facts a reason template quotes, each checked to exist."""
    quotable = REFERRAL_FIELDS | DERIVED_FACTS
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise fail(f"{where}: bad reason template {template!r}: {exc}") from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in quotable or spec or conversion:
            raise fail(
                f"{where}: the reason quotes {{{name}}}, which is not a field or derived value"
            )
        names.append(name)
    return tuple(names)


def _check_sft_table(source: str, table: SftRiskTable) -> None:
    for name in (table.given, *table.parts):
        if name not in REFERRAL_FIELDS:
            raise ProtocolError(source, None, f"sft_risk names unknown field {name!r}")
    allowed = REFERRAL_FIELDS | _SFT_WARNING_FACTS | DERIVED_FACTS
    for _, quoted, _, _ in string.Formatter().parse(table.disagreement_warning):
        if quoted is not None and quoted not in allowed:
            raise ProtocolError(source, None, f"sft_risk.disagreement_warning quotes {{{quoted}}}")


def _criterion_at(raw: dict[str, Any], loc: Sequence[int | str]) -> str | None:
    """The id (or position) of the criterion an error location points into, if any."""
    if len(loc) >= 2 and loc[0] == "criteria" and isinstance(loc[1], int):
        criteria = raw.get("criteria")
        if isinstance(criteria, list) and loc[1] < len(criteria):
            entry = criteria[loc[1]]
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                return str(entry["id"])
        return f"#{loc[1] + 1}"
    return None


def _describe(error: Any) -> str:
    loc = error["loc"]
    path = ".".join(str(p) for p in (loc[2:] if loc[:1] == ("criteria",) else loc))
    # pydantic names union members in the location (e.g. "FieldCondition"); readers need fields.
    path = ".".join(p for p in path.split(".") if p not in ("FieldCondition", "AllOf", "AnyOf"))
    return f"{path}: {error['msg']}" if path else str(error["msg"])
