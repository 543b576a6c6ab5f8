"""The trial protocol as data: criteria with ids, the protocol's wording and their rules.

`load_protocol()` reads a protocol file (YAML), validates it against the referral model and
compiles its conditions. Anything wrong — an unknown field, a value the field cannot take, a rule
that could let an answer remove a `fail`, a text missing in one of the protocol's languages, a
quoted value without its name in every language — raises `ProtocolError` naming the file and
the criterion, so that a bad definition stops the bot at start-up instead of misjudging a
patient (or showing a Chinese surgeon an English reason). This module reads files but decides
nothing; `eligibility.evaluate` does that.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from natars_bot.errors import ProtocolError
from natars_bot.protocol.conditions import (
    Condition,
    FieldCondition,
    Predicate,
    compile_condition,
    leaves,
)
from natars_bot.protocol.referral import Histology, Referral
from natars_bot.protocol.sft import ScoreRange, SftRiskTable

__all__ = [
    "DERIVED_FACTS",
    "CompiledRule",
    "Criterion",
    "Protocol",
    "Quoting",
    "Texts",
    "default_protocol",
    "load_protocol",
]

DEFAULT_PROTOCOL = "natars-v1.yaml"
REFERRAL_FIELDS = frozenset(Referral.model_fields)
# Facts the engine derives from several fields (the SFT score, sft.py), by their type; the
# protocol may test and quote them. None unless the histology is SFT.
DERIVED_FACTS: dict[str, type] = {
    "sft_score": int,  # the exact score, when only one is possible
    "sft_category": str,  # its category, when the whole range lies in one
    "sft_score_min": int,  # the range that decides INC-07 (None when a given score
    "sft_score_max": int,  #   contradicts its parts)
    "sft_parts_min": int,  # the range from the four parts alone, ignoring a given score
    "sft_parts_max": int,
    "sft_contradiction": bool,  # a given score outside the parts' range
    "sft_range": ScoreRange,  # the deciding range, for quoting: "6" or "6–7"
    "sft_parts_range": ScoreRange,  # the parts' range, for quoting
}
# The spec's two kinds of warning: a recommended test not done, and answers that disagree.
WarningKind = Literal["recommended", "data_check"]
# A text per language, e.g. {en: "consent declined", zh: "拒绝知情同意"}.
Texts = dict[str, str]


class RuleDef(BaseModel):
    """A condition and the reason shown when it matches (a warning's `kind` for warn rules)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: Condition
    reason: Texts
    kind: WarningKind | None = None


class CriterionDef(BaseModel):
    """One criterion as written in the protocol file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^(INC|EXC)-\d{2}$")
    kind: Literal["inclusion", "exclusion"]
    wording: str = Field(min_length=1)
    summary: Texts
    interpretation: Texts | None = None
    applies_to: list[Histology] | None = None
    reads: list[str]
    fail: list[RuleDef] = []
    unknown: list[RuleDef] = []
    warn: list[RuleDef] = []
    pass_: Texts = Field(alias="pass")


class CommonTexts(BaseModel):
    """Texts the engine needs besides the criteria's own, per language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    not_stated: Texts
    list_separator: Texts  # between names in a list: "DDLPS, LMS" / "DDLPS、LMS"
    reason_separator: Texts  # between the reasons of several matching rules
    not_applicable: Texts  # quotes {applies_to} and {histology}
    not_applicable_yet: Texts  # quotes {applies_to}; the histology is not known yet
    version: Texts  # the version as a verdict cites it, in the reader's language


class ProtocolDef(BaseModel):
    """A whole protocol file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    registry: str = Field(min_length=1)
    languages: list[str] = Field(min_length=1)
    texts: CommonTexts
    labels: dict[str, dict[str, Texts]] = {}
    sft_risk: SftRiskTable
    criteria: list[CriterionDef] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Quoting:
    """How a quoted fact reads in each language: a named value, a number, a score range.

    Values of a choice field are never shown raw ("gi_tract"): the protocol names each of them
    per language in `labels`, and loading refuses a reason that quotes a choice field whose
    values are not all named.
    """

    languages: tuple[str, ...]
    labels: Mapping[str, Mapping[str, Mapping[str, str]]]
    not_stated: Mapping[str, str]

    def show(self, field_name: str, value: Any, language: str) -> str:
        """`value` of `field_name` as a surgeon reads it in `language`."""
        if value is None:
            return self.not_stated[language]
        names = self.labels.get(field_name)
        if names is not None:  # a choice (StrEnum) or the SFT category: its name
            return names[str(value)][language]
        if isinstance(value, float):
            return f"{value:g}"  # 9.5, not 9.500000
        return str(value)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run: its predicate, its reason per language, the facts the reason
    quotes, and (for warn rules) the kind of warning."""

    matches: Predicate
    reasons: Mapping[str, str]
    quotes: tuple[str, ...]
    kind: WarningKind = "recommended"
    # The rule only waits for answers or assessments: every test in it can match an
    # unanswered question (`missing`, `not_in`, e.g. consent not yet signed). Its reason says
    # all there is to say, and screens leave the interpretation out for it.
    unanswered: bool = False

    def render(self, facts: Mapping[str, Any], quoting: Quoting) -> dict[str, str]:
        """The reason in every language, with the quoted facts filled in."""
        if not self.quotes:
            return dict(self.reasons)
        return {
            language: template.format_map(
                {name: quoting.show(name, facts[name], language) for name in self.quotes}
            )
            for language, template in self.reasons.items()
        }


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
    summaries: Mapping[str, str]
    interpretations: Mapping[str, str] | None
    applies_to: frozenset[Histology] | None
    reads: tuple[str, ...]
    fail: tuple[CompiledRule, ...]
    unknown: tuple[CompiledRule, ...]
    warn: tuple[CompiledRule, ...]
    pass_reason: CompiledRule
    key: Callable[[Any], Any] = field(repr=False, compare=False)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def summary_in(self, language: str) -> str:
        """The short form of the protocol's wording in `language` (English if unknown)."""
        return self.summaries.get(language, self.summary)

    def interpretation_in(self, language: str) -> str | None:
        """The product's reading of an ambiguous criterion in `language`, if it has one."""
        if self.interpretations is None:
            return None
        return self.interpretations.get(language, self.interpretation)


@dataclass(frozen=True, slots=True)
class Protocol:
    """The loaded protocol: its version string, SFT table and criteria in protocol order.

    `summary`, `interpretation` and every reason exist in each of `languages`; the first one
    (English) is what `natars-bot check` and `natars-bot criteria` print.
    """

    version: str
    registry: str
    source: str
    languages: tuple[str, ...]
    quoting: Quoting
    texts: CommonTexts
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
    text = (
        resources.files("natars_bot.protocol.definitions")
        .joinpath(DEFAULT_PROTOCOL)
        .read_text("utf-8")
    )
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
    languages = tuple(definition.languages)
    _check_sft_table(source, definition.sft_risk, languages)
    quoting = _quoting(source, definition)
    seen: set[str] = set()
    criteria = []
    for cdef in definition.criteria:
        if cdef.id in seen:
            raise ProtocolError(source, cdef.id, "duplicate criterion id")
        seen.add(cdef.id)
        criteria.append(_compile_criterion(source, cdef, quoting))
    return Protocol(
        version=definition.version,
        registry=definition.registry,
        source=source,
        languages=languages,
        quoting=quoting,
        texts=definition.texts,
        sft_risk=definition.sft_risk,
        criteria=tuple(criteria),
    )


def _check_texts(
    texts: Mapping[str, str], languages: Sequence[str], where: str, fail: Callable[[str], Any]
) -> None:
    """Every language of the protocol, and no other, with a non-blank text."""
    for language in languages:
        if not texts.get(language, "").strip():
            raise fail(f"{where} has no {language!r} text")
    for language in texts:
        if language not in languages:
            raise fail(f"{where}: {language!r} is not one of the protocol's languages")


def _quoting(source: str, definition: ProtocolDef) -> Quoting:
    """The labels of quoted values, checked: real fields and values, every language."""
    languages = definition.languages

    def fail(message: str) -> ProtocolError:
        return ProtocolError(source, None, message)

    for name, texts in definition.texts:
        _check_texts(texts, languages, f"texts.{name}", fail)
    labels: dict[str, dict[str, dict[str, str]]] = {}
    for field_name, values in definition.labels.items():
        if field_name not in REFERRAL_FIELDS:
            raise fail(f"labels: {field_name!r} is not a referral field")
        for value, texts in values.items():
            try:
                Referral.model_validate_json(f'{{"{field_name}": "{value}"}}')
            except ValidationError:
                raise fail(f"labels.{field_name}: {value!r} is not a possible value") from None
            _check_texts(texts, languages, f"labels.{field_name}.{value}", fail)
        labels[field_name] = {value: dict(texts) for value, texts in values.items()}
    # The SFT category is a derived fact named by the table's own labels.
    labels["sft_category"] = {c.name: dict(c.label) for c in definition.sft_risk.categories}
    for name in ("not_applicable", "not_applicable_yet"):
        for language, template in getattr(definition.texts, name).items():
            for _, quoted, _, _ in string.Formatter().parse(template):
                if quoted not in (None, "applies_to", "histology"):
                    raise fail(f"texts.{name} ({language}) quotes {{{quoted}}}")
    if "histology" not in labels:
        raise fail("labels: histology needs a name for each value (not-applicable reasons)")
    quoting = Quoting(tuple(languages), labels, dict(definition.texts.not_stated))
    _check_labelled("histology", quoting, fail)
    return quoting


def _choice_values(field_name: str) -> list[str] | None:
    """The values a choice field can take, or None if the field is not a choice."""
    if field_name == "sft_category":
        return None  # checked against the SFT table when the labels are built
    annotation = Referral.model_fields[field_name].annotation
    for member in get_args(annotation):
        if isinstance(member, type) and issubclass(member, StrEnum):
            return [m.value for m in member]
    return None


def _check_labelled(name: str, quoting: Quoting, fail: Callable[[str], Any]) -> None:
    """A quoted choice field must have a name for each of its values in every language."""
    if name in DERIVED_FACTS:
        if DERIVED_FACTS[name] is bool:
            raise fail(f"quotes {{{name}}}, a yes/no value: write one rule per answer instead")
        return
    annotation = str(Referral.model_fields[name].annotation)
    if "bool" in annotation:
        raise fail(f"quotes {{{name}}}, a yes/no answer: write one rule per answer instead")
    for value in _choice_values(name) or ():
        if value not in quoting.labels.get(name, {}):
            raise fail(f"quotes {{{name}}}, but labels.{name} has no name for {value!r}")


def _compile_criterion(source: str, cdef: CriterionDef, quoting: Quoting) -> Criterion:
    def fail(message: str) -> ProtocolError:
        return ProtocolError(source, cdef.id, message)

    languages = quoting.languages
    _check_texts(cdef.summary, languages, "summary", fail)
    if cdef.interpretation is not None:
        _check_texts(cdef.interpretation, languages, "interpretation", fail)
    _check_texts(cdef.pass_, languages, "pass", fail)

    expected_prefix = "INC" if cdef.kind == "inclusion" else "EXC"
    if not cdef.id.startswith(expected_prefix):
        raise fail(f"an {cdef.kind} criterion's id must start with {expected_prefix}-")
    unknown_reads = sorted(set(cdef.reads) - REFERRAL_FIELDS)
    if unknown_reads:
        raise fail(f"reads unknown field {unknown_reads[0]!r}")
    readable = set(cdef.reads) | set(DERIVED_FACTS)
    rules: dict[str, list[CompiledRule]] = {"fail": [], "unknown": [], "warn": []}
    for section, compiled in rules.items():
        for number, rule in enumerate(getattr(cdef, section), start=1):
            where = f"{section} rule {number}"
            _check_texts(rule.reason, languages, f"{where}: reason", fail)
            if rule.kind is not None and section != "warn":
                raise fail(f"{where}: only warn rules have a kind")
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
                    compile_condition(rule.when),
                    dict(rule.reason),
                    _quotes(rule.reason, where, quoting, fail),
                    rule.kind or "recommended",
                    all(leaf.matches_missing for leaf in leaves(rule.when)),
                )
            )
    pass_rule = CompiledRule(
        lambda facts: True, dict(cdef.pass_), _quotes(cdef.pass_, "pass", quoting, fail)
    )
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
    first = languages[0]
    interpretations = (
        {language: " ".join(text.split()) for language, text in cdef.interpretation.items()}
        if cdef.interpretation is not None
        else None
    )
    return Criterion(
        id=cdef.id,
        kind=cdef.kind,
        wording=" ".join(cdef.wording.split()),
        summary=cdef.summary[first],
        interpretation=interpretations[first] if interpretations else None,
        summaries=dict(cdef.summary),
        interpretations=interpretations,
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
    derived = DERIVED_FACTS.get(leaf.field)
    if derived is ScoreRange:
        raise fail(f"{leaf.field!r} is for quoting only; test sft_score_min/max instead")
    if derived is int:
        bad = [v for v in leaf.values if isinstance(v, bool) or not isinstance(v, int)]
    elif derived is str:
        bad = [v for v in leaf.values if not isinstance(v, str)]
    elif derived is bool:
        bad = [v for v in leaf.values if not isinstance(v, bool)]
        if leaf.operator in ("lt", "le", "gt", "ge"):
            raise fail(f"{leaf.operator} needs a numeric field, and {leaf.field!r} is not")
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


def _quotes(
    templates: Mapping[str, str], where: str, quoting: Quoting, fail: Any
) -> tuple[str, ...]:
    """The facts a reason quotes in any of its languages, each checked to exist and to read
    well in every language."""
    quotable = REFERRAL_FIELDS | set(DERIVED_FACTS)
    names: list[str] = []
    for language, template in templates.items():
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
            context = f"{where} ({language})"

            def refuse(message: str, context: str = context) -> ProtocolError:
                return fail(f"{context}: {message}")  # type: ignore[no-any-return]

            _check_labelled(name, quoting, refuse)
            if name not in names:
                names.append(name)
    return tuple(names)


def _check_sft_table(source: str, table: SftRiskTable, languages: Sequence[str]) -> None:
    for name in (table.given, *table.parts):
        if name not in REFERRAL_FIELDS:
            raise ProtocolError(source, None, f"sft_risk names unknown field {name!r}")
    for category in table.categories:
        _check_texts(
            category.label,
            languages,
            f"sft_risk.categories.{category.name}.label",
            lambda msg: ProtocolError(source, None, msg),
        )


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


# pydantic names union members and validators in an error's location ("FieldCondition",
# "function-after[_one_operator(), FieldCondition]"); readers of the message need fields.
_NOT_A_FIELD = re.compile(r"FieldCondition|AllOf|AnyOf|function-[a-z]+\[.*\]")


def _describe(error: Any) -> str:
    loc = error["loc"]
    # "criteria.3.…": the criterion is named before the message; "criteria" alone stays.
    in_criterion = len(loc) >= 2 and loc[0] == "criteria" and isinstance(loc[1], int)
    parts = loc[2:] if in_criterion else loc
    path = ".".join(str(p) for p in parts if not _NOT_A_FIELD.fullmatch(str(p)))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}" if path else message
