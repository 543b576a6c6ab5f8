"""The triage dialogue as data: the questions of `conversations/triage.yaml`, validated.

`load_flow()` checks the file against the referral model when the bot starts: every question
fills a referral field (or a declared extra), its choices are values that field can take, its
`show_if` reads only earlier questions, and every text exists in every language. A mistake
raises FlowError naming the file and the entry, before any surgeon sees the dialogue.

Sections (`sections`) name the parts of the dialogue for the progress line and the review; groups
(`groups`) put consecutive questions on one screen — a `checklist` of yes/no toggles, or `rows`
of short choices — without changing what is stored: every question of a group is still one
referral field with its own answer. The checks: a group's questions are consecutive, of one
section, none reads another of the same group, and a checklist's are yes/no with "not known".
A rows group may have a `shortcut`: one button that records the usual result of every row (its
answers are buttons of those rows, its label names each answer it records, in every language).

Besides earlier answers, a `show_if` may test the SFT score's range from the parts answered so
far (`sft_parts_min`, `sft_parts_max`, computed with the protocol's own table), so that the score
question is asked only while the parts leave INC-07 open. The range is not a referral field: a
question reading it gets the range added to the facts its condition sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from natars_bot.errors import FlowError
from natars_bot.protocol.conditions import Condition, Predicate, compile_condition, leaves
from natars_bot.protocol.criteria import Protocol, default_protocol
from natars_bot.protocol.referral import Referral
from natars_bot.protocol.sft import SftRiskTable
from natars_bot.resources import resource_dir

__all__ = [
    "Choice",
    "Flow",
    "Group",
    "Question",
    "Section",
    "Shortcut",
    "default_flow",
    "load_flow",
]

Language = str
Value = bool | int | float | str
ParseKind = Literal["age", "grade", "asa", "size_cm", "percent", "count", "sft_score"]
AnswerType = Literal["choice", "yes_no", "integer", "number", "text"]
GroupKind = Literal["checklist", "rows"]
Asked = Literal["in_order", "with_verdict"]
TEXT_EXTRA_MAX = 500  # characters for the free-text extras
# Derived facts a show_if may test: the SFT score's range from its parts answered so far.
SFT_RANGE_FACTS = ("sft_parts_min", "sft_parts_max")


class Choice(BaseModel):
    """A button: the value it stands for, its label per language, and typed synonyms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Value
    label: dict[Language, str]
    aliases: list[str] = []


class QuestionDef(BaseModel):
    """One entry of the flow file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    type: AnswerType
    parse: ParseKind | None = None
    label: dict[Language, str]
    short: dict[Language, str] | None = None
    prompt: dict[Language, str]
    help: dict[Language, str] | None = None
    choices: list[Choice] = []
    unknown: dict[Language, str] | None = None
    show_if: Condition | None = None
    when_hidden: Value | None = None
    asked: Asked = "in_order"


class SectionDef(BaseModel):
    """A part of the dialogue, from its first question to the next section's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: dict[Language, str]
    from_: str = Field(alias="from")


class ShortcutDef(BaseModel):
    """A rows screen's one-tap usual result: its button's label and the answer of every row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: dict[Language, str]
    answers: dict[str, Value | None] = Field(min_length=1)


class GroupDef(BaseModel):
    """Consecutive questions shown on one screen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: GroupKind
    prompt: dict[Language, str]
    fields: list[str] = Field(min_length=2)
    shortcut: ShortcutDef | None = None


class FlowDef(BaseModel):
    """The whole flow file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    languages: list[Language] = Field(min_length=1)
    extras: list[str] = []
    sections: list[SectionDef] = []
    groups: list[GroupDef] = []
    questions: list[QuestionDef] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Question:
    """A validated question, ready for the dialogue engine."""

    index: int
    field: str
    type: AnswerType
    parse: ParseKind | None
    label: Mapping[Language, str]
    prompt: Mapping[Language, str]
    help: Mapping[Language, str] | None
    choices: tuple[Choice, ...]
    unknown: Mapping[Language, str] | None
    shown: Predicate
    when_hidden: Value | None
    is_extra: bool
    asked: Asked = "in_order"
    section: str = ""  # the name of the section it belongs to ("" in a flow without sections)
    group: str | None = None  # the name of the group whose screen shows it
    short: Mapping[Language, str] | None = None  # a shorter label, for the review's folded line

    @property
    def allows_unknown(self) -> bool:
        """Whether "not known yet" is an accepted answer."""
        return self.unknown is not None


@dataclass(frozen=True, slots=True)
class Section:
    """A part of the dialogue: its name, label per language and questions' fields, in order."""

    name: str
    label: Mapping[Language, str]
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Shortcut:
    """A rows screen's usual result in one tap: the label of its button per language, and the
    answer it records for each row (by field, in the group's order; each one of that row's
    buttons)."""

    label: Mapping[Language, str]
    answers: Mapping[str, Value | None]


@dataclass(frozen=True, slots=True)
class Group:
    """Consecutive questions on one screen: a checklist of yes/no toggles, or rows of choices
    (with, perhaps, a shortcut for their usual result)."""

    name: str
    kind: GroupKind
    prompt: Mapping[Language, str]
    fields: tuple[str, ...]
    shortcut: Shortcut | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    """The validated dialogue: its languages and questions in the order asked."""

    languages: tuple[Language, ...]
    extras: tuple[str, ...]
    questions: tuple[Question, ...]
    source: str
    sections: tuple[Section, ...] = ()
    groups: tuple[Group, ...] = ()

    def question(self, field: str) -> Question:
        """The question that fills `field`; KeyError if none does."""
        for question in self.questions:
            if question.field == field:
                return question
        raise KeyError(field)

    def group(self, name: str) -> Group:
        """The group called `name`; KeyError if there is none."""
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(name)

    def section(self, name: str) -> Section:
        """The section called `name`; KeyError if there is none."""
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)


_YES_NO = (
    Choice(value=True, label={"en": "Yes", "zh": "是"}, aliases=["y", "yes", "是", "有", "对"]),
    Choice(
        value=False, label={"en": "No", "zh": "否"}, aliases=["n", "no", "否", "无", "没有", "不"]
    ),
)


def load_flow(path: str | Path, protocol: Protocol | None = None) -> Flow:
    """Read and validate a flow file; FlowError names the file and the entry. `protocol` (the
    shipped one by default) gives the SFT table of the derived show_if facts and must speak
    every language of the flow."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlowError(path.name, None, f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise FlowError(path.name, None, f"not valid YAML: {exc}") from exc
    return parse_flow(raw, source=path.name, protocol=protocol)


@cache
def default_flow() -> Flow:
    """The shipped dialogue, `conversations/triage.yaml` (loaded once)."""
    return load_flow(resource_dir("conversations") / "triage.yaml")


def parse_flow(raw: Any, source: str, protocol: Protocol | None = None) -> Flow:
    """Validate a parsed flow document; `source` names the file in error messages."""
    if not isinstance(raw, dict):
        raise FlowError(source, None, "expected a mapping with languages and questions")
    try:
        definition = FlowDef.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error["loc"]
        entry, kind = None, "question"
        if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
            questions = raw.get("questions") or []
            item = questions[loc[1]] if loc[1] < len(questions) else None
            entry = str(item.get("field")) if isinstance(item, dict) else f"#{loc[1] + 1}"
            loc = loc[2:]
        elif len(loc) >= 2 and loc[0] == "groups" and isinstance(loc[1], int):
            groups = raw.get("groups") or []
            item = groups[loc[1]] if loc[1] < len(groups) else None
            entry = str(item.get("name")) if isinstance(item, dict) else f"#{loc[1] + 1}"
            kind, loc = "group", loc[2:]
        where = ".".join(str(p) for p in loc)
        raise FlowError(
            source, entry, f"{where}: {error['msg']}" if where else error["msg"], kind
        ) from exc

    for extra in definition.extras:
        if extra in Referral.model_fields:
            raise FlowError(source, None, f"extra {extra!r} is already a referral field")
    protocol = protocol or default_protocol()
    for language in definition.languages:
        if language not in protocol.languages:
            # The verdict's reasons come from the protocol: a dialogue language the protocol
            # lacks would show its surgeons English reasons.
            raise FlowError(
                source, None, f"language {language!r} is not one of {protocol.source}'s languages"
            )
    table = protocol.sft_risk
    asked: set[str] = set()
    questions = []
    for index, qdef in enumerate(definition.questions):
        questions.append(_check_question(source, definition, qdef, index, asked, table))
        asked.add(qdef.field)
    sections = _check_sections(source, definition)
    groups = _check_groups(source, definition)
    section_of = {field: s.name for s in sections for field in s.fields}
    group_of = {field: g.name for g in groups for field in g.fields}
    for group in groups:
        if len({section_of.get(field, "") for field in group.fields}) > 1:
            raise FlowError(
                source, group.name, "a group's questions must be in one section", "group"
            )
    questions = [
        replace(q, section=section_of.get(q.field, ""), group=group_of.get(q.field))
        for q in questions
    ]
    return Flow(
        languages=tuple(definition.languages),
        extras=tuple(definition.extras),
        questions=tuple(questions),
        source=source,
        sections=sections,
        groups=groups,
    )


def _missing_translation(flow: FlowDef, text: Mapping[str, str]) -> str | None:
    missing = [lang for lang in flow.languages if not text.get(lang, "").strip()]
    return missing[0] if missing else None


def _check_sections(source: str, flow: FlowDef) -> tuple[Section, ...]:
    """Sections in flow order, the first from the first question; each runs to the next."""
    if not flow.sections:
        return ()
    fields = [q.field for q in flow.questions]
    starts = []
    for sdef in flow.sections:
        language = _missing_translation(flow, sdef.label)
        if language is not None:
            raise FlowError(source, sdef.name, f"label has no {language!r} translation")
        if sdef.from_ not in fields:
            raise FlowError(source, sdef.name, f"from: {sdef.from_!r} is not a question")
        starts.append(fields.index(sdef.from_))
    if starts[0] != 0:
        raise FlowError(source, flow.sections[0].name, "the first section must start the flow")
    if starts != sorted(set(starts)):
        raise FlowError(source, None, "sections must start at different questions, in order")
    if len({s.name for s in flow.sections}) != len(flow.sections):
        raise FlowError(source, None, "two sections have the same name")
    ends = [*starts[1:], len(fields)]
    return tuple(
        Section(name=sdef.name, label=sdef.label, fields=tuple(fields[start:end]))
        for sdef, start, end in zip(flow.sections, starts, ends, strict=True)
    )


def _check_groups(source: str, flow: FlowDef) -> tuple[Group, ...]:
    """Groups of consecutive questions that can share a screen."""
    by_field = {q.field: q for q in flow.questions}
    fields = [q.field for q in flow.questions]
    grouped: set[str] = set()
    groups = []
    for gdef in flow.groups:

        def fail(message: str, gdef: GroupDef = gdef) -> FlowError:
            return FlowError(source, gdef.name, message, "group")

        language = _missing_translation(flow, gdef.prompt)
        if language is not None:
            raise fail(f"prompt has no {language!r} translation")
        for field in gdef.fields:
            if field not in by_field:
                raise fail(f"{field!r} is not a question")
            if field in grouped:
                raise fail(f"{field!r} is in another group too")
            grouped.add(field)
            qdef = by_field[field]
            if qdef.asked != "in_order":
                raise fail(f"{field!r} is asked with the verdict, not in a group")
            if gdef.kind == "checklist" and (qdef.type != "yes_no" or qdef.unknown is None):
                # "Some not known yet" asks the unticked items with their "not known" answer.
                raise fail(f"{field!r}: a checklist item must be yes_no with an 'unknown'")
            if gdef.kind == "rows" and qdef.type not in ("choice", "yes_no") and not qdef.choices:
                raise fail(f"{field!r}: a row needs buttons (choices)")
            if qdef.show_if is not None:
                for leaf in leaves(qdef.show_if):
                    if leaf.field in gdef.fields:
                        raise fail(f"{field!r} depends on {leaf.field!r}, on the same screen")
        positions = [fields.index(field) for field in gdef.fields]
        if positions != list(range(positions[0], positions[0] + len(positions))):
            raise fail("a group's questions must be consecutive in the flow, in order")
        shortcut = None
        if gdef.shortcut is not None:
            shortcut = _check_shortcut(flow, gdef, gdef.shortcut, by_field, fail)
        groups.append(
            Group(
                name=gdef.name,
                kind=gdef.kind,
                prompt=gdef.prompt,
                fields=tuple(gdef.fields),
                shortcut=shortcut,
            )
        )
    if len({g.name for g in groups}) != len(groups):
        raise FlowError(source, None, "two groups have the same name")
    return tuple(groups)


def _check_shortcut(
    flow: FlowDef,
    gdef: GroupDef,
    sdef: ShortcutDef,
    by_field: Mapping[str, QuestionDef],
    fail: Callable[[str], FlowError],
) -> Shortcut:
    """A rows screen's shortcut: an answer for every row, each one of that row's buttons (what
    answering the row would record), and a label in every language that names each answer.

    The label check catches slips (a label naming an answer it does not record, or another of
    a row's answers: "not amplified" for amplified), not every misleading caption: it reads
    words, not which row a word belongs to. What the button records is also said on the
    screen in the rows' own labels and answers (group_screens.rows_screen), generated, so the
    surgeon reads the meaning, not only the caption."""
    if gdef.kind != "rows":
        raise fail("shortcut: only a rows screen has one (a checklist has its own)")
    language = _missing_translation(flow, sdef.label)
    if language is not None:
        raise fail(f"shortcut: label has no {language!r} translation")
    for field in sdef.answers:
        if field not in gdef.fields:
            raise fail(f"shortcut: {field!r} is not a row of this screen")
    for field in gdef.fields:
        if field not in sdef.answers:
            raise fail(f"shortcut: no answer for the row {field!r}")
        qdef = by_field[field]
        value = sdef.answers[field]
        choices = list(qdef.choices) or (list(_YES_NO) if qdef.type == "yes_no" else [])
        if value is None:
            if qdef.unknown is None:
                raise fail(f"shortcut: {field!r} has no 'not known' answer")
            said = qdef.unknown
        else:
            chosen = [c for c in choices if c.value == value and type(c.value) is type(value)]
            if not chosen:
                values = ", ".join(repr(c.value) for c in choices)
                raise fail(f"shortcut: {value!r} is not a button of {field!r} ({values})")
            said = chosen[0].label
        others = [c.label for c in choices if c.label is not said]
        if qdef.unknown is not None and qdef.unknown is not said:
            others.append(qdef.unknown)
        for language in flow.languages:
            # The button says what it records: each answer's own label is in its label, and no
            # other answer of that row is ("FISH not amplified" for amplified).
            label, phrase = sdef.label[language], said[language]
            if not _says(label, phrase):
                raise fail(
                    f"shortcut: the {language!r} label does not say {phrase!r}"
                    f" (the answer it records for {field!r})"
                )
            for other in (o[language] for o in others):
                rest = label
                if other.casefold() in phrase.casefold():  # "Amplified" in "Not amplified"
                    rest = _phrase(phrase).sub(" ", label)
                if _says(rest, other):
                    raise fail(
                        f"shortcut: the {language!r} label says {other!r},"
                        f" but it records {phrase!r} for {field!r}"
                    )
    answers = {field: sdef.answers[field] for field in gdef.fields}
    return Shortcut(label=sdef.label, answers=answers)


def _phrase(phrase: str) -> re.Pattern[str]:
    """A label as a phrase of a text, in any case: a Latin word not part of a longer word
    ("no" is not in "not"); Chinese, anywhere."""
    start = "(?<![A-Za-z])" if phrase[:1].isascii() and phrase[:1].isalpha() else ""
    end = "(?![A-Za-z])" if phrase[-1:].isascii() and phrase[-1:].isalpha() else ""
    return re.compile(f"{start}{re.escape(phrase)}{end}", re.IGNORECASE)


def _says(text: str, phrase: str) -> bool:
    return _phrase(phrase).search(text) is not None


def _check_question(
    source: str,
    flow: FlowDef,
    qdef: QuestionDef,
    index: int,
    asked: set[str],
    table: SftRiskTable,
) -> Question:
    def fail(message: str) -> FlowError:
        return FlowError(source, qdef.field, message)

    is_extra = qdef.field in flow.extras
    if qdef.field not in Referral.model_fields and not is_extra:
        raise fail("not a referral field nor a declared extra")
    if qdef.field in asked:
        raise fail("asked twice")
    texts = {"label": qdef.label, "prompt": qdef.prompt, "help": qdef.help, "unknown": qdef.unknown}
    texts["short"] = qdef.short
    texts |= {f"choice {c.value!r}": c.label for c in qdef.choices}
    for name, text in texts.items():
        if text is None:
            continue
        missing = [lang for lang in flow.languages if not text.get(lang, "").strip()]
        if missing:
            raise fail(f"{name} has no {missing[0]!r} translation")
    choices = tuple(qdef.choices) or (_YES_NO if qdef.type == "yes_no" else ())
    if qdef.type in ("choice", "yes_no") and not choices:
        raise fail(f"a {qdef.type} question needs choices")
    if qdef.type in ("integer", "number") and qdef.parse is None:
        raise fail(f"an {qdef.type} question needs 'parse' (how typed answers are read)")
    values = [c.value for c in choices]
    if qdef.when_hidden is not None:
        values.append(qdef.when_hidden)
    for value in values:
        if not is_extra and not _possible(qdef.field, value):
            raise fail(f"{value!r} is not a possible value of {qdef.field!r}")
    derived = False
    if qdef.show_if is not None:
        for leaf in leaves(qdef.show_if):
            if leaf.field in SFT_RANGE_FACTS:
                derived = True
                unasked = [part for part in table.parts if part not in asked]
                if unasked:
                    raise fail(
                        f"show_if reads {leaf.field!r}, computed from {unasked[0]!r}, "
                        "which is not asked before this question"
                    )
                continue
            if leaf.field not in asked:
                raise fail(f"show_if reads {leaf.field!r}, which is not asked before this question")
            for value in leaf.values:
                if leaf.field in Referral.model_fields and not _possible(leaf.field, value):
                    raise fail(f"show_if: {value!r} is not a possible value of {leaf.field!r}")
    if qdef.when_hidden is not None and qdef.show_if is None:
        raise fail("when_hidden needs a show_if")
    if qdef.asked == "with_verdict" and (not is_extra or qdef.type != "text"):
        # Asked on the review, beside the verdict: only a note that no criterion reads.
        raise fail("only a text extra can be asked with the verdict")
    return Question(
        index=index,
        field=qdef.field,
        type=qdef.type,
        parse=qdef.parse,
        label=qdef.label,
        prompt=qdef.prompt,
        help=qdef.help,
        choices=choices,
        unknown=qdef.unknown,
        shown=_shown(qdef.show_if, table if derived else None),
        when_hidden=qdef.when_hidden,
        is_extra=is_extra,
        asked=qdef.asked,
        short=qdef.short,
    )


def _always(facts: Any) -> bool:
    return True


def _shown(condition: Condition | None, table: SftRiskTable | None) -> Predicate:
    """The compiled show_if; with `table`, the SFT range is added to the facts it reads."""
    if condition is None:
        return _always
    predicate = compile_condition(condition)
    if table is None:
        return predicate
    parts_range: Callable[[Mapping[str, Any]], Any] = table.parts_range

    def shown(facts: Mapping[str, Any]) -> bool:
        scored = parts_range(facts)
        return predicate({**facts, "sft_parts_min": scored.low, "sft_parts_max": scored.high})

    return shown


def _possible(field: str, value: Value) -> bool:
    """Whether the referral model accepts `value` for `field` (strict: 1 is not True)."""
    try:
        Referral.model_validate({field: value})
    except ValidationError:
        return False
    return True
