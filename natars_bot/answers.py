"""Reading typed answers the way surgeons type them: "12,5 cm", "120 mm", "G2", "ASA III", "是".

`read_answer(question, text)` returns `Parsed(value)` — `None` meaning "not known yet" — or
`Rejected(reason, params)` with a message key from `conversations/messages.yaml`. It never raises:
whatever arrives from a phone keyboard gets either a value or a helpful re-prompt. Ranges are the
referral model's, so the dialogue and `natars-bot check` accept exactly the same values.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .flow import TEXT_EXTRA_MAX, Question, Value
from .referral import Referral

__all__ = ["Parsed", "Rejected", "normalise", "read_answer"]


@dataclass(frozen=True, slots=True)
class Parsed:
    """An accepted answer: the field's value, or None for "not known yet"."""

    value: Value | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A typed answer that could not be used: a message key and what the message quotes."""

    reason: str
    params: dict[str, Any] = field(default_factory=dict)


UNKNOWN_WORDS = frozenset(
    {"?", "unknown", "not known", "not known yet", "dont know", "don't know", "n/a", "na",
     "skip", "不清楚", "不知道", "暂不清楚", "未知", "跳过"}
)  # fmt: skip
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_COMMA_DECIMAL = re.compile(r"(?<=\d),(?=\d{1,2}(?!\d))")
_DIMENSION_SEPARATOR = re.compile(r"(?<=\d)\s*[x×*]\s*(?=\d)")
_MM = re.compile(r"\d\s*(mm|毫米)")
_CM = re.compile(r"\d\s*(cm|厘米|公分)")
_ROMAN_TOKEN = re.compile(r"(?<![a-z])(vi|iv|v|iii|ii|i)(?![a-z])")
# Words a number may come with, per kind; any other word means the answer is not a number
# (so that a screening number such as "S-3" is never read as an age of 3).
_UNIT_WORDS = {
    "age": r"years?|yrs?|y|yo|old|岁|周岁",
    "grade": r"fnclcc|grade|g|级",
    "asa": r"asa|class|级",
    "size_cm": r"cm|mm|厘米|毫米|公分|x|by",
    "percent": r"percent|per\s*cent",
    "count": r"per|mm2|mm|hpf|个|/",
    "sft_score": r"score|points?|分",
}
_WORDS = re.compile(r"[^\W\d_]+")


def normalise(text: str) -> str:
    """Full-width to ASCII, lower case, trimmed, with Chinese punctuation made plain."""
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    return text.replace("。", ".").strip(" .!;:")


def read_answer(question: Question, text: str) -> Parsed | Rejected:
    """Read one typed answer to `question`; never raises."""
    if len(text) > 4 * TEXT_EXTRA_MAX:
        return Rejected("too_long", {"max": TEXT_EXTRA_MAX})
    plain = normalise(text)
    if not plain:
        return Rejected("empty")
    if question.allows_unknown and _means_unknown(question, plain):
        return Parsed(None)
    if question.type == "text":
        stripped = " ".join(text.split())
        if len(stripped) > TEXT_EXTRA_MAX:
            return Rejected("too_long", {"max": TEXT_EXTRA_MAX})
        return Parsed(stripped)
    choice = _match_choice(question, plain)
    if choice is not None:
        return _in_range(question, choice)
    if question.type in ("choice", "yes_no"):
        return Rejected("not_a_choice")
    value = _read_number(question, plain)
    if isinstance(value, Rejected):
        return value
    return _in_range(question, value)


def _means_unknown(question: Question, plain: str) -> bool:
    labels = {normalise(label) for label in (question.unknown or {}).values()}
    return plain in UNKNOWN_WORDS or plain in labels


def _match_choice(question: Question, plain: str) -> Value | None:
    for choice in question.choices:
        names = {normalise(str(choice.value)), *(normalise(x) for x in choice.label.values())}
        names |= {normalise(alias) for alias in choice.aliases}
        if plain in names:
            return choice.value
    return None


def _read_number(question: Question, plain: str) -> Value | Rejected:
    kind = question.parse
    if kind in ("grade", "asa"):
        roman = _ROMAN_TOKEN.search(re.sub(r"(grade|fnclcc|asa|级)", " ", plain))
        if roman and not _NUMBER.search(plain):
            return _ROMAN[roman.group(1)]
    units = (
        re.compile(rf"^(?:{_UNIT_WORDS.get(kind or '', '')}|or|to|and|或|到)$") if kind else None
    )
    if any(units is None or not units.match(word) for word in _WORDS.findall(plain)):
        return Rejected("not_a_number")
    text = _COMMA_DECIMAL.sub(".", plain)
    if kind == "size_cm":
        text = _DIMENSION_SEPARATOR.sub(" ", text)
    numbers = [float(n) for n in _NUMBER.findall(text)]
    if not numbers:
        return Rejected("not_a_number")
    if text.startswith("-"):
        numbers[0] = -numbers[0]  # "-3": a sign, not a range such as "10-12 cm"
    if kind == "size_cm":
        size = max(numbers)  # "12 x 8 x 6 cm": the largest diameter
        if _MM.search(text):
            return round(size / 10, 2)
        if not _CM.search(text) and size > 100:
            return Rejected("size_unit")
        return size
    if question.type == "number":
        return numbers[0]
    if len(numbers) > 1 and kind in ("grade", "asa", "age", "sft_score"):
        return Rejected("one_number")
    if not numbers[0].is_integer():
        return Rejected("whole_number")
    return int(numbers[0])


def _in_range(question: Question, value: Value) -> Parsed | Rejected:
    if question.is_extra:
        return Parsed(value)
    try:
        Referral.model_validate({question.field: value})
    except ValidationError as exc:
        error = exc.errors()[0]
        ctx = error.get("ctx", {})
        for bound in ("ge", "gt", "le", "lt"):
            if bound in ctx:
                return Rejected("out_of_range", {"bound": bound, "limit": ctx[bound]})
        return Rejected("not_a_choice")
    return Parsed(value)
