"""Batch checking: referral documents in, assessments as JSON out (the `natars-bot check` contract).

Pure text-to-data functions; the CLI does the reading and printing. Three input shapes are
accepted (`shared/spec/referral.md`): one JSON object, a JSON array of objects, or JSON Lines.
A record that cannot be read becomes a `Record` with an error naming it and the field, so that
one bad line of a JSON Lines file does not hide the verdicts of the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, to_json

from natars_bot.errors import InputError
from natars_bot.protocol.eligibility import Assessment, CriterionResult
from natars_bot.protocol.referral import Referral
from natars_bot.protocol.sft import SftRisk

__all__ = [
    "InputShape",
    "Record",
    "assessment_json",
    "assessment_json_line",
    "detect_shape",
    "numbered_lines",
    "read_lines",
    "read_referrals",
    "sft_risk_json",
]


class InputShape(StrEnum):
    """How the referrals were given, which is also how the verdicts are printed."""

    object = "object"
    array = "array"
    lines = "lines"


@dataclass(frozen=True, slots=True)
class Record:
    """One referral read from the input, or the reason it could not be read."""

    label: str
    referral: Referral | None
    error: str | None = None


def detect_shape(text: str) -> InputShape:
    """Whether `text` is one JSON object, a JSON array or JSON Lines.

    Raises InputError when the input as a whole is unusable: empty, or one document that is not
    valid JSON. Problems confined to one record are reported in that record instead.
    """
    if not text.strip():
        raise InputError("empty input: expected a JSON object, a JSON array or JSON Lines")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # Several lines, at least one of them a whole JSON object: JSON Lines with bad lines
        # among good ones (a single document with a syntax error has no such line).
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        if len(lines) > 1 and any(_is_complete_object(line) for line in lines):
            return InputShape.lines
        raise InputError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if isinstance(document, list):
        if not document:
            raise InputError("empty JSON array: no referrals to check")
        return InputShape.array
    return InputShape.object


def read_referrals(text: str) -> tuple[InputShape, Iterator[Record]]:
    """Recognise the shape of `text` and read its referrals lazily, in order (see detect_shape)."""
    text = text.removeprefix("\ufeff")
    shape = detect_shape(text)
    if shape is InputShape.lines:
        return shape, read_lines(numbered_lines(text))
    document = json.loads(text)
    if shape is InputShape.array:
        return shape, (_validate(f"record {n}", item) for n, item in enumerate(document, start=1))
    return shape, iter([_validate("referral", document)])


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of JSON Lines text with their 1-based line numbers."""
    text = text.removeprefix("\ufeff")
    return [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]


def read_lines(lines: Iterable[tuple[int, str]]) -> Iterator[Record]:
    """Validate numbered JSON Lines one by one; a bad line becomes a Record with its error."""
    for number, line in lines:
        label = f"line {number}"
        try:
            yield Record(label, Referral.model_validate_json(line))
        except ValidationError as exc:
            yield Record(label, None, f"{label}: {_explain(exc)}")


def _validate(label: str, data: Any) -> Record:
    if not isinstance(data, dict):
        return Record(label, None, f"{label}: expected a JSON object, got {_json_kind(data)}")
    try:
        # Round-trip through JSON so that JSON's rules apply (strict mode accepts "DDLPS" for
        # an enum only in JSON mode), whichever way the record arrived.
        return Record(label, Referral.model_validate_json(json.dumps(data)))
    except ValidationError as exc:
        return Record(label, None, f"{label}: {_explain(exc)}")


def _explain(exc: ValidationError) -> str:
    return "; ".join(_explain_one(error) for error in exc.errors(include_url=False))


def _explain_one(error: ErrorDetails) -> str:
    field = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "json_invalid":
        return f"invalid JSON: {error['ctx']['error']}" if "ctx" in error else "invalid JSON"
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    if kind == "model_type":
        return f"expected a JSON object, got {_json_kind(error['input'])}"
    got = json.dumps(error["input"], ensure_ascii=False, default=str)
    # One line per error: escape the line breaks json.dumps leaves as they are.
    got = got.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if len(got) > 60:
        got = got[:57] + "..."
    return f"field {field!r}: {error['msg']} (got {got})"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


def _is_complete_object(line: str) -> bool:
    if not (line.startswith("{") and line.endswith("}")):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def assessment_json(
    referral: Referral, assessment: Assessment, *, with_criteria: bool = True
) -> dict[str, Any]:
    """The JSON object `natars-bot check` prints for one referral (shared/spec/referral.md)."""
    document: dict[str, Any] = {
        "referral_id": referral.referral_id,
        "protocol": assessment.protocol_version,
        "verdict": assessment.verdict.value,
        "failed": list(assessment.failed),
        "unknown": list(assessment.unknown),
        "warnings": [{"id": w.id, "text": w.text} for w in assessment.warnings],
        "sft_risk": sft_risk_json(assessment.sft_risk),
    }
    if with_criteria:
        document["criteria"] = [
            {"id": r.criterion.id, "outcome": r.outcome.value, "reason": r.reason}
            for r in assessment.results
        ]
    return document


def sft_risk_json(risk: SftRisk | None) -> dict[str, Any] | None:
    """`sft_risk` as the spec has it: the score with its category when exact, else the range.

    A given score that contradicts its parts is neither: the range is the parts' own, and
    `given` (beyond the spec's two shapes, which do not cover this case) says what was given.
    """
    if risk is None:
        return None
    if risk.score is not None:
        return {"score": risk.score, "category": risk.category}
    if risk.contradiction:
        return {"range": [risk.parts.low, risk.parts.high], "given": risk.given}
    return {"range": [risk.range.low, risk.range.high]}


def assessment_json_line(referral: Referral, assessment: Assessment) -> bytes:
    """`assessment_json` as one line of compact JSON, built faster for large JSON Lines batches.

    The `criteria` list is most of the output and repeats from referral to referral (the engine
    returns the same result objects for the same answers), so each result's JSON is encoded once;
    pydantic-core's encoder does the rest (about twice as fast as the json module here).
    """
    head = to_json(assessment_json(referral, assessment, with_criteria=False))
    criteria = b",".join([_criterion_fragment(result) for result in assessment.results])
    return b"".join((head[:-1], b',"criteria":[', criteria, b"]}"))


# id(result) -> (result, its JSON). Holding the result keeps its id from being reused.
_fragments: dict[int, tuple[CriterionResult, bytes]] = {}
_FRAGMENTS_LIMIT = 50_000


def _criterion_fragment(result: CriterionResult) -> bytes:
    cached = _fragments.get(id(result))
    if cached is not None and cached[0] is result:
        return cached[1]
    text = to_json(
        {"id": result.criterion.id, "outcome": result.outcome.value, "reason": result.reason}
    )
    if len(_fragments) >= _FRAGMENTS_LIMIT:
        _fragments.clear()
    _fragments[id(result)] = (result, text)
    return text
