"""REDCap interop: a data dictionary for the referral instrument, and records REDCap's data
import tool accepts against it.

Generated, never written by hand: one field per referral field, in the dialogue's order, from
`conversations/triage.yaml` (labels, prompts, choices, `show_if`) and the referral model (types,
ranges, enum values), so the instrument cannot drift from the bot. REDCap's rules, as its data
dictionary reference gives them (18 columns, in this order):

    field names   lowercase letters, digits and underscores, starting with a letter, at most
                  26 characters (REDCap warns above 26); the first field is the record id
    field types   text (with validation integer, number, date_ymd), radio, yesno, …
    choices       "1, Label | 2, Label" for radio; none for yesno (1 Yes, 0 No)
    branching     [field] = '1', [field] <> '0', and, or, parentheses

Records: one row per referral, its latest version (earlier versions stay in the screening
log), the record id its pseudonymous id (never the screening number), values coded as the
dictionary's choice codes, booleans 1/0, dates YYYY-MM-DD, nothing for "not known yet".

Pure: flow and rows in, CSV bytes out.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, get_args

import yaml
from annotated_types import Ge, Gt, Le
from pydantic.fields import FieldInfo

from natars_bot.dialogue.flow import SFT_RANGE_FACTS, Flow, FlowDef, Question
from natars_bot.protocol.conditions import AllOf, AnyOf, Condition, FieldCondition
from natars_bot.protocol.referral import Referral
from natars_bot.reports.screening_log import LogRow
from natars_bot.resources import resource_dir

__all__ = [
    "COLUMNS",
    "FORM",
    "RedcapField",
    "branching",
    "data_dictionary",
    "record",
    "write_dictionary",
    "write_records",
]

COLUMNS = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
)  # fmt: skip
FORM = "natars_referral"
NAME_LIMIT = 26
# Referral fields whose names REDCap finds too long, shortened once and for all (a renamed
# REDCap field loses its data, so these never change).
SHORT_NAMES = {
    "prior_anthracycline_or_ifosfamide": "prior_anthra_ifosfamide",
    "infection_or_bleeding_surgery_last_month": "infect_bleed_surgery_1m",
}
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class RedcapField:
    """One row of the data dictionary, and how a referral's value is coded for it."""

    name: str
    source: str  # the referral (or screening-log) field it holds
    type: str
    label: str
    section: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (code, label)
    note: str = ""
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    branching: str = ""
    required: bool = False
    annotation: str = ""
    codes: Mapping[Any, str] = field(default_factory=dict)  # value → code

    def row(self) -> list[str]:
        """The 18 cells of this field's dictionary row."""
        choices = " | ".join(f"{code}, {label}" for code, label in self.choices)
        return [
            self.name, FORM, self.section, self.type, self.label, choices, self.note,
            self.validation, self.minimum, self.maximum, "", self.branching,
            "y" if self.required else "", "", "", "", "", self.annotation,
        ]  # fmt: skip

    def code(self, value: Any) -> str:
        """A value as REDCap imports it for this field ("" for not known)."""
        if value is None:
            return ""
        if self.type == "yesno":
            return "1" if value is True else "0"
        if self.codes:
            return self.codes[value]
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)


def _plain(text: str) -> str:
    """Flow text without its Telegram HTML, on one line (REDCap shows notes as text)."""
    return " ".join(_TAG.sub("", text).replace("&lt;", "<").replace("&gt;", ">").split())


def _name(source: str) -> str:
    name = SHORT_NAMES.get(source, source)
    if len(name) > NAME_LIMIT or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        # A new referral field with a long name needs an entry in SHORT_NAMES: failing here
        # keeps a truncated (and possibly clashing) name out of a REDCap project.
        raise ValueError(f"{source!r} is no REDCap field name: add it to SHORT_NAMES")
    return name


def _constraints(info: FieldInfo) -> tuple[type, list[Any]]:
    """A model field's scalar type and its constraints: `Annotated[int, Strict(), Field(ge=0,
    le=120)] | None` gives int and [Ge(0), Le(120)]."""
    for arg in get_args(info.annotation) or (info.annotation,):
        if arg is type(None):
            continue
        parts = get_args(arg)
        if not parts:
            return arg, list(info.metadata)
        metadata: list[Any] = []
        for extra in parts[1:]:
            metadata.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        return parts[0], metadata
    raise TypeError(info.annotation)  # pragma: no cover - every field has a type


def _bounds(metadata: Sequence[Any]) -> tuple[str, str]:
    low = high = ""
    for item in metadata:
        if isinstance(item, Ge):
            low = f"{item.ge:g}"
        elif isinstance(item, Gt):  # REDCap's minimum is inclusive: "> 0" is told in the note
            low = f"{item.gt:g}"
        elif isinstance(item, Le):
            high = f"{item.le:g}"
    return low, high


def _enum_of(info: FieldInfo) -> type[Enum] | None:
    for arg in get_args(info.annotation):
        if isinstance(arg, type) and issubclass(arg, Enum):
            return arg
    return None


def _question_field(
    flow: Flow, question: Question, fields: Mapping[str, RedcapField]
) -> RedcapField:
    info = Referral.model_fields[question.field]
    name = _name(question.field)
    label = question.label["en"]
    note = " / ".join(_plain(question.prompt[lang]) for lang in flow.languages)
    logic = branching(question, flow, fields)
    enum = _enum_of(info)
    if question.type == "yes_no":
        return RedcapField(name, question.field, "yesno", label, note=note, branching=logic)
    if enum is not None:
        # Codes follow the model's order of values: a choice reordered in the dialogue keeps
        # its code, and so the data already in REDCap.
        codes = {member.value: str(n) for n, member in enumerate(enum, start=1)}
        labels = {c.value: c.label["en"] for c in question.choices}
        choices = tuple((codes[v], labels.get(v, str(v))) for v in codes)
        return RedcapField(
            name, question.field, "radio", label, choices=choices, note=note, branching=logic,
            codes=codes,
        )  # fmt: skip
    kind, metadata = _constraints(info)
    low, high = _bounds(metadata)
    validation = "integer" if kind is int else "number"
    if question.choices:  # grades and ASA classes: their buttons, for the reader
        note += " (" + ", ".join(f"{c.value} = {c.label['en']}" for c in question.choices) + ")"
    return RedcapField(
        name, question.field, "text", label, note=note, validation=validation, minimum=low,
        maximum=high, branching=logic,
    )  # fmt: skip


def _flow_file(flow: Flow) -> Path:
    return resource_dir("conversations") / flow.source


def branching(question: Question, flow: Flow, fields: Mapping[str, RedcapField]) -> str:
    """The question's `show_if` in REDCap's syntax, over the fields defined so far.

    The SFT score's range from its parts (a fact the dialogue computes) has no REDCap
    counterpart: a condition on it is left out, which shows the field more often than the bot
    asks it, never less.
    """
    condition = _conditions(_flow_file(flow)).get(question.field)
    if condition is None:
        return ""
    return _logic(condition, fields) or ""


@cache
def _conditions(source: Path) -> dict[str, Condition]:
    """The `show_if` of each question, as written in the flow file (the loaded Flow keeps only
    the compiled predicates). The file is the one the flow was loaded from."""
    raw = yaml.safe_load(source.read_text("utf-8"))
    definition = FlowDef.model_validate(raw)
    return {q.field: q.show_if for q in definition.questions if q.show_if is not None}


def _logic(condition: Condition, fields: Mapping[str, RedcapField]) -> str | None:
    """REDCap logic for a condition; None when it cannot be said (always shown)."""
    if isinstance(condition, AllOf | AnyOf):
        parts = condition.all_ if isinstance(condition, AllOf) else condition.any_
        said = [_logic(part, fields) for part in parts]
        if isinstance(condition, AnyOf) and None in said:
            return None  # one branch always true: so is the whole
        kept = [s for s in said if s is not None]
        if not kept:
            return None
        joiner = " and " if isinstance(condition, AllOf) else " or "
        return kept[0] if len(kept) == 1 else "(" + joiner.join(kept) + ")"
    return _leaf(condition, fields)


def _leaf(leaf: FieldCondition, fields: Mapping[str, RedcapField]) -> str | None:
    if leaf.field in SFT_RANGE_FACTS:
        return None
    target = fields[leaf.field]
    ref = f"[{target.name}]"
    op = leaf.operator
    if op == "missing":
        return f"{ref} = ''"
    if op in ("is", "in"):
        said = [f"{ref} = '{target.code(v)}'" for v in leaf.values]
        return said[0] if len(said) == 1 else "(" + " or ".join(said) + ")"
    if op == "not_in":
        # REDCap compares a blank field as '', so "<>" holds for a field not answered, as
        # not_in does in the protocol's language.
        said = [f"{ref} <> '{target.code(v)}'" for v in leaf.values]
        return said[0] if len(said) == 1 else "(" + " and ".join(said) + ")"
    symbol = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
    return f"({ref} <> '' and {ref} {symbol} {getattr(leaf, op):g})"


def data_dictionary(flow: Flow) -> list[RedcapField]:
    """The instrument: record id and site, every referral field the dialogue asks (in its
    order), then what the bot and the MDT made of the latest version."""
    fields: dict[str, RedcapField] = {}
    fields["referral_id"] = RedcapField(
        "referral_id", "referral_id", "text", "Referral id (pseudonymous)",
        section="Referral", note="NAT-YYYY-NNNN / 转诊编号（化名）", required=True,
    )  # fmt: skip
    fields["site"] = RedcapField("site", "site", "text", "Site", note="Referring site / 转诊中心")
    first = True
    for question in flow.questions:
        if question.is_extra:  # the screening number and the note stay in the bot's database
            continue
        made = _question_field(flow, question, fields)
        if first:
            made = RedcapField(**{**made.__dict__, "section": "Eligibility answers"})
            first = False
        fields[question.field] = made
    verdicts = ("eligible", "needs_review", "ineligible")
    decisions = ("approved", "declined", "more_info", "pending", "not_submitted")
    for source, extra in (
        ("version", RedcapField(
            "version", "version", "text", "Version", section="Pre-screen and MDT",
            note="Version submitted (the latest) / 提交版本（最新）", validation="integer",
            minimum="1")),
        ("referred_on", RedcapField(
            "referred_on", "referred_on", "text", "Referred on", validation="date_ymd",
            note="Local date / 本地日期")),
        ("engine_verdict", _coded("engine_verdict", "Bot pre-screen", verdicts,
                                  "The bot's verdict / 机器人预筛结论")),
        ("mdt_decision", _coded("mdt_decision", "MDT decision", decisions,
                                "On the latest version / 最新版本的MDT决定")),
        ("decided_on", RedcapField(
            "decided_on", "decided_on", "text", "Decided on", validation="date_ymd",
            note="Local date / 本地日期")),
    ):  # fmt: skip
        fields[source] = extra
    return list(fields.values())


def _coded(name: str, label: str, values: Sequence[str], note: str) -> RedcapField:
    codes = {value: str(n) for n, value in enumerate(values, start=1)}
    choices = tuple((codes[v], v.replace("_", " ").capitalize()) for v in values)
    return RedcapField(name, name, "radio", label, choices=choices, note=note, codes=codes)


def write_dictionary(fields: Iterable[RedcapField], target: BinaryIO) -> None:
    """The data dictionary as REDCap uploads it: CSV, UTF-8, its 18 columns."""
    text = io.TextIOWrapper(target, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in fields:
        writer.writerow(item.row())
    text.flush()
    text.detach()


def record(row: LogRow, fields: Sequence[RedcapField]) -> list[str]:
    """One referral's values in the dictionary's field order, coded for REDCap's import."""
    answers: Mapping[str, Any] = row.referral or {}
    values: list[str] = []
    for item in fields:
        if item.source in Referral.model_fields:
            value = answers.get(item.source)
            if item.source in ("referral_id", "site"):
                value = row.referral_id if item.source == "referral_id" else row.site
        else:
            value = getattr(row, item.source)
        values.append(item.code(value))
    return values


def write_records(rows: Iterable[LogRow], fields: Sequence[RedcapField], target: BinaryIO) -> int:
    """Records for REDCap's data import tool: the latest version of each referral (rows not
    marked latest are skipped), a header of field names; returns the records written."""
    text = io.TextIOWrapper(target, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([item.name for item in fields])
    count = 0
    for row in rows:
        if row.latest:
            writer.writerow(record(row, fields))
            count += 1
    text.flush()
    text.detach()
    return count
