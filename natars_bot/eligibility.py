"""The eligibility engine: a referral in, an assessment citing the protocol out.

Pure: no Telegram, no database, no clock. `evaluate(referral)` gives every criterion exactly one
outcome with a reason a surgeon can read, the verdict that follows from them, warnings, and the SFT
risk score where it applies.

The results are frozen dataclasses rather than pydantic models on purpose: the engine builds two
dozen of them per referral from values it has already validated, and pydantic's validation would
cost more than the evaluation itself (the benchmark's target is ≥ 50,000 referrals/s on one core).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .protocol import CompiledRule, Criterion, Protocol, default_protocol
from .referral import Referral
from .sft import SftRisk

__all__ = [
    "Assessment",
    "CriterionResult",
    "Outcome",
    "Verdict",
    "Warning",
    "display",
    "evaluate",
]


class Outcome(StrEnum):
    """What one criterion says about one referral."""

    passed = "pass"
    failed = "fail"
    unknown = "unknown"
    not_applicable = "not_applicable"


class Verdict(StrEnum):
    """The pre-screen verdict: any fail → ineligible; else any unknown → needs_review."""

    eligible = "eligible"
    needs_review = "needs_review"
    ineligible = "ineligible"


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """One criterion's outcome for one referral, with the reason and the criterion itself."""

    criterion: Criterion
    outcome: Outcome
    reason: str

    @property
    def id(self) -> str:
        """The criterion id, e.g. "INC-05"."""
        return self.criterion.id


@dataclass(frozen=True, slots=True)
class Warning:  # noqa: A001 - the spec's own word; never used alongside the builtin
    """A recommended-but-not-required item that is missing; never changes the verdict."""

    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """The engine's answer for one referral."""

    protocol_version: str
    verdict: Verdict
    results: tuple[CriterionResult, ...]
    failed: tuple[str, ...]
    unknown: tuple[str, ...]
    warnings: tuple[Warning, ...]
    sft_risk: SftRisk | None

    def result(self, criterion_id: str) -> CriterionResult:
        """The result for one criterion id; KeyError if the protocol has no such criterion."""
        for result in self.results:
            if result.criterion.id == criterion_id:
                return result
        raise KeyError(criterion_id)


def display(value: Any) -> str:
    """A value as a surgeon reads it in a reason: 9.5 not 9.50000, yes/no for booleans."""
    if value is None:
        return "not stated"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, StrEnum):
        return value.value.replace("_", " ")
    return str(value)


def evaluate(referral: Referral, protocol: Protocol | None = None) -> Assessment:
    """Assess a referral against the protocol (the shipped NATARS protocol by default)."""
    protocol = protocol or default_protocol()
    facts: dict[str, Any] = dict(referral.__dict__)
    warnings: list[Warning] = []
    sft_risk = _sft_risk(referral, protocol, facts, warnings)

    histology = referral.histology
    results: list[CriterionResult] = []
    failed: list[str] = []
    unknown: list[str] = []
    # The loop below runs two dozen times per referral; it avoids attribute look-ups on purpose.
    add_result = results.append
    for criterion in protocol.criteria:
        applies_to = criterion.applies_to
        if applies_to is not None and histology not in applies_to:
            key: Any = (_NOT_APPLICABLE, histology)
        else:
            key = criterion.key(facts)
        memo = criterion.memo
        decision = memo.get(key)
        if decision is None:
            decision = _decide(criterion, facts, histology, key)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = decision
        result, criterion_warnings, tally = decision
        add_result(result)
        if tally is not _PASS:
            (failed if tally is _FAIL else unknown).append(criterion.id)
        if criterion_warnings:
            warnings.extend(criterion_warnings)

    if failed:
        verdict = Verdict.ineligible
    elif unknown:
        verdict = Verdict.needs_review
    else:
        verdict = Verdict.eligible
    return Assessment(
        protocol_version=protocol.version,
        verdict=verdict,
        results=tuple(results),
        failed=tuple(failed),
        unknown=tuple(unknown),
        warnings=tuple(warnings),
        sft_risk=sft_risk,
    )


# Decisions are memoised per criterion, keyed by the facts its rules read (Criterion.key): most
# referrals repeat the same few answers, and a decision is immutable, so a cache hit is exact.
# The bound keeps memory flat when keys include free numbers such as tumour sizes.
_MEMO_LIMIT = 4096
_NOT_APPLICABLE = object()
_PASS, _FAIL, _UNKNOWN = object(), object(), object()  # which id list a decision adds to
_Decision = tuple[CriterionResult, tuple[Warning, ...], object]


def _decide(criterion: Criterion, facts: dict[str, Any], histology: Any, key: Any) -> _Decision:
    """One criterion's outcome, reason and warnings, from the facts alone."""
    if isinstance(key, tuple) and key[:1] == (_NOT_APPLICABLE,):
        names = ", ".join(sorted(criterion.applies_to or ()))
        reason = (
            f"applies to {names} only; histology not known yet"
            if histology is None
            else f"applies to {names} only; histology is {histology.value}"
        )
        return CriterionResult(criterion, Outcome.not_applicable, reason), (), _PASS
    warnings = tuple(
        Warning(criterion.id, _render(rule, facts))
        for rule in criterion.warn
        if rule.matches(facts)
    )
    matched = [rule for rule in criterion.fail if rule.matches(facts)]
    outcome = Outcome.failed
    if not matched:
        matched = [rule for rule in criterion.unknown if rule.matches(facts)]
        outcome = Outcome.unknown
    if not matched:
        matched = [criterion.pass_reason]
        outcome = Outcome.passed
    reason = "; ".join(_render(rule, facts) for rule in matched)
    tally = {Outcome.failed: _FAIL, Outcome.unknown: _UNKNOWN}.get(outcome, _PASS)
    return CriterionResult(criterion, outcome, reason), warnings, tally


def _sft_risk(
    referral: Referral, protocol: Protocol, facts: dict[str, Any], warnings: list[Warning]
) -> SftRisk | None:
    """Add the derived SFT facts (None unless the histology is SFT) and the SFT risk."""
    facts["sft_score"] = facts["sft_category"] = None
    if referral.histology != "SFT":
        return None
    table = protocol.sft_risk
    computed = table.computed_score(facts)
    given = facts[table.given]
    score = given if given is not None else computed
    if score is None:
        return None
    category = table.category(score)
    facts["sft_score"] = score
    facts["sft_category"] = category
    if given is not None and computed is not None and given != computed:
        facts["sft_computed_score"] = computed
        text = table.disagreement_warning.format_map(_Quoted(facts))
        warnings.append(Warning("INC-07", " ".join(text.split())))
    return SftRisk(score=score, category=category, given=given is not None)


def _render(rule: CompiledRule, facts: dict[str, Any]) -> str:
    if not rule.quotes:
        return rule.reason
    return rule.reason.format_map({name: display(facts[name]) for name in rule.quotes})


class _Quoted(dict[str, Any]):
    """format_map helper: every looked-up fact is shown with `display`."""

    def __init__(self, facts: dict[str, Any]) -> None:
        super().__init__(facts)

    def __getitem__(self, key: str) -> str:
        return display(super().__getitem__(key))
