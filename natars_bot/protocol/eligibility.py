"""The eligibility engine: a referral in, an assessment citing the protocol out.

Pure: no Telegram, no database, no clock. `evaluate(referral)` gives every criterion exactly one
outcome with a reason a surgeon can read (in each of the protocol's languages), the verdict that
follows from them, warnings, and the SFT risk score where it applies.

The results are frozen dataclasses rather than pydantic models on purpose: the engine builds two
dozen of them per referral from values it has already validated, and pydantic's validation would
cost more than the evaluation itself (the benchmark's target is ≥ 50,000 referrals/s on one core).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from natars_bot.protocol.criteria import Criterion, Protocol, WarningKind, default_protocol
from natars_bot.protocol.referral import Referral
from natars_bot.protocol.sft import SftRisk

__all__ = [
    "Assessment",
    "CriterionResult",
    "Outcome",
    "Verdict",
    "Warning",
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
    """One criterion's outcome for one referral, with the reason and the criterion itself.

    `reason` is in the protocol's first language (English, what `check` prints); `reasons`
    holds it in every language, for the screens. The criterion carries its summary and
    interpretation per language too, so a template needs nothing else to cite it.
    """

    criterion: Criterion
    outcome: Outcome
    reason: str
    reasons: Mapping[str, str]
    # Open only while answers or assessments are awaited (protocol.CompiledRule.unanswered):
    # screens then cite the criterion without its interpretation, which keeps a verdict with
    # many open answers within one Telegram message.
    unanswered: bool = False

    @property
    def id(self) -> str:
        """The criterion id, e.g. "INC-05"."""
        return self.criterion.id

    def reason_in(self, language: str) -> str:
        """The reason in `language` (English if the protocol does not have it)."""
        return self.reasons.get(language, self.reason)


@dataclass(frozen=True, slots=True)
class Warning:  # noqa: A001 - the spec's own word; never used alongside the builtin
    """Something the MDT should know that never changes the verdict: a recommended test not
    done (`kind` "recommended"), or answers that disagree with each other ("data_check")."""

    id: str
    text: str
    texts: Mapping[str, str]
    kind: WarningKind = "recommended"

    def text_in(self, language: str) -> str:
        """The warning in `language` (English if the protocol does not have it)."""
        return self.texts.get(language, self.text)


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
    # The version as a verdict cites it, per language (`protocol_version` is the identifier).
    protocol_cited: Mapping[str, str] | None = None

    def protocol_version_in(self, language: str) -> str:
        """The protocol's version as cited in `language` (its identifier if not translated)."""
        return (self.protocol_cited or {}).get(language, self.protocol_version)

    def result(self, criterion_id: str) -> CriterionResult:
        """The result for one criterion id; KeyError if the protocol has no such criterion."""
        for result in self.results:
            if result.criterion.id == criterion_id:
                return result
        raise KeyError(criterion_id)

    def warnings_of(self, kind: WarningKind) -> tuple[Warning, ...]:
        """The warnings of one kind, for screens that list each kind under its own heading."""
        return tuple(w for w in self.warnings if w.kind == kind)


def evaluate(referral: Referral, protocol: Protocol | None = None) -> Assessment:
    """Assess a referral against the protocol (the shipped NATARS protocol by default)."""
    protocol = protocol or default_protocol()
    facts: dict[str, Any] = dict(referral.__dict__)
    warnings: list[Warning] = []
    sft_risk = _sft_risk(referral, protocol, facts)

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
            decision = _decide(protocol, criterion, facts, histology, key)
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
        protocol_cited=protocol.texts.version,
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


def _decide(
    protocol: Protocol, criterion: Criterion, facts: dict[str, Any], histology: Any, key: Any
) -> _Decision:
    """One criterion's outcome, reasons and warnings, from the facts alone."""
    quoting = protocol.quoting
    first = protocol.languages[0]
    if isinstance(key, tuple) and key[:1] == (_NOT_APPLICABLE,):
        texts = protocol.texts
        reasons = {}
        for language in protocol.languages:
            names = texts.list_separator[language].join(
                quoting.show("histology", name, language)
                for name in sorted(criterion.applies_to or ())
            )
            template = texts.not_applicable if histology is not None else texts.not_applicable_yet
            reasons[language] = template[language].format(
                applies_to=names,
                histology=quoting.show("histology", histology, language),
            )
        result = CriterionResult(criterion, Outcome.not_applicable, reasons[first], reasons)
        return result, (), _PASS
    warnings = []
    for rule in criterion.warn:
        if rule.matches(facts):
            texts_by_language = rule.render(facts, quoting)
            warnings.append(
                Warning(criterion.id, texts_by_language[first], texts_by_language, rule.kind)
            )
    matched = [rule for rule in criterion.fail if rule.matches(facts)]
    outcome = Outcome.failed
    if not matched:
        matched = [rule for rule in criterion.unknown if rule.matches(facts)]
        outcome = Outcome.unknown
    if not matched:
        matched = [criterion.pass_reason]
        outcome = Outcome.passed
    rendered = [rule.render(facts, quoting) for rule in matched]
    separator = protocol.texts.reason_separator
    reasons = {
        language: separator[language].join(texts[language] for texts in rendered)
        for language in protocol.languages
    }
    tally = {Outcome.failed: _FAIL, Outcome.unknown: _UNKNOWN}.get(outcome, _PASS)
    unanswered = outcome is Outcome.unknown and all(rule.unanswered for rule in matched)
    result = CriterionResult(criterion, outcome, reasons[first], reasons, unanswered)
    return result, tuple(warnings), tally


_SFT_FACTS = (
    "sft_score", "sft_category", "sft_score_min", "sft_score_max", "sft_parts_min",
    "sft_parts_max", "sft_contradiction", "sft_range", "sft_parts_range",
)  # fmt: skip


def _sft_risk(referral: Referral, protocol: Protocol, facts: dict[str, Any]) -> SftRisk | None:
    """Add the derived SFT facts (protocol.DERIVED_FACTS; None unless the histology is SFT)
    and return the SFT risk."""
    facts.update(dict.fromkeys(_SFT_FACTS))
    if referral.histology != "SFT":
        return None
    risk = protocol.sft_risk.assess(facts)
    facts["sft_parts_min"], facts["sft_parts_max"] = risk.parts.low, risk.parts.high
    facts["sft_parts_range"] = risk.parts
    facts["sft_contradiction"] = risk.contradiction
    if not risk.contradiction:
        # A contradicted score decides nothing: the deciding range stays unknown (None), so
        # neither INC-07's fail nor its pass can match, only the contradiction's own rule.
        facts["sft_score_min"], facts["sft_score_max"] = risk.range.low, risk.range.high
        facts["sft_range"] = risk.range
        facts["sft_score"] = risk.score
        facts["sft_category"] = risk.category
    return risk
