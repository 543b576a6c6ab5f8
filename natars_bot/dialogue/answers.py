"""Reading typed answers the way surgeons type them: "12,5 cm", "120 mm", "G2", "ASA III", "是".

`read_answer(question, text)` returns `Parsed(value)` — `None` meaning "not known yet" —,
`Unclear(reason, options)` when the text reads more than one way (the surgeon picks), or
`Rejected(reason, params)` with a message key from `conversations/messages.yaml`. It never raises:
whatever arrives from a phone keyboard gets either a value or a helpful re-prompt. Ranges are the
referral model's, so the dialogue and `natars-bot check` accept exactly the same values.

Numbers are never guessed. A value the criteria compare with a threshold must be the value:
"<10 %", "≤ 5", ">4", "3-5", "5–10 cm" and "4/50 HPF" are refused with the reason the exact value
matters, not read as 10, 5, 4, 3, 5 or 4. An approximation ("about 20 %", "~20%", "约20%") is read
as its number and flagged, so the reply can say how it was read. A size without a unit is
centimetres only up to 30; above that the surgeon says whether it was mm or cm.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from natars_bot.dialogue.flow import TEXT_EXTRA_MAX, Question, Value
from natars_bot.protocol.referral import Referral

__all__ = ["Parsed", "Rejected", "Unclear", "looks_like_name", "normalise", "read_answer"]


@dataclass(frozen=True, slots=True)
class Parsed:
    """An accepted answer: the field's value, or None for "not known yet"; `approximate` when
    the text said "about" it."""

    value: Value | None
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class Unclear:
    """A text that reads more than one way: the readings, for the surgeon to choose from."""

    reason: str
    options: tuple[Value, ...]


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
_DIMENSION_SEPARATOR = re.compile(r"(?<=\d)\s*(?:[x×*]|by)\s*(?=\d)")

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
    "count": r"per|mm2|mm|hpf|hp|个|高倍视野|每|/",
    "sft_score": r"score|points?|分",
}
_WORDS = re.compile(r"[^\W\d_]+")
# A comparison: the value is only bounded ("<10%", "≥ 5", "less than 5", "不足10%", "5以上").
_COMPARISON = re.compile(
    r"[<>≤≥≦≧≲≳]|\b(?:less|more|greater|fewer|under|over|below|above|at\s*least|at\s*most"
    r"|up\s*to|almost|nearly|max|min)\b|小于|大于|少于|多于|不足|超过|以上|以下|以内|不到|低于"
    r"|高于|至少|最多|接近|将近"
)
# A range: two numbers joined by a dash, a tilde or a word ("3-5", "5–10 cm", "3 to 5", "3~5").
_RANGE = re.compile(r"\d\s*(?:-|–|—|~|〜|to|or|and|到|至|或|和)\s*\d")
# An approximation of one number: read as that number, and said so.
_APPROXIMATELY = re.compile(
    r"^(?:about|approx(?:imately|\.)?|around|circa|ca\.?|roughly|~|≈|约|大约|大概)\s*"
    r"|\s*(?:左右|上下)$"
)
# Counts per an area: only the question's own (2 mm², about 10 HPF) can be read as the count.
_PER_AREA = re.compile(r"(?:/|\bper\b|每)\s*(\d+(?:\.\d+)?)?\s*(mm2|mm|hpf|高倍视野|hp)?")
_CJK = re.compile(r"[\u3400-\u9fff]")
PLAIN_CM_MAX = 30.0  # a size typed without a unit is read as cm up to this, else asked


def normalise(text: str) -> str:
    """Full-width to ASCII, lower case, trimmed, with Chinese punctuation made plain."""
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    return text.replace("。", ".").strip(" .!;:")


def read_answer(question: Question, text: str) -> Parsed | Unclear | Rejected:
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
        if question.field in IDENTIFIER_FIELDS and looks_like_name(stripped):
            return Unclear("looks_like_name", (stripped,))
        return Parsed(stripped)
    choice = _match_choice(question, plain)
    if choice is not None:
        return _in_range(question, choice)
    if question.type in ("choice", "yes_no"):
        return Rejected("not_a_choice")
    approximate = False
    if question.type in ("integer", "number"):
        exact = _inexact(question, plain)
        if exact is not None:
            return exact
        bare = _APPROXIMATELY.sub("", plain).strip()
        approximate = bare != plain
        plain = bare
    value = _read_number(question, plain)
    if isinstance(value, Unclear):
        # Only the readings the field can take are offered ("250": 25 cm, not 250 cm).
        options = tuple(o for o in value.options if isinstance(_in_range(question, o), Parsed))
        if not options:
            return _in_range(question, value.options[-1])
        return Unclear(value.reason, options)
    if isinstance(value, Rejected):
        return value
    result = _in_range(question, value)
    if isinstance(result, Parsed) and approximate:
        return Parsed(result.value, approximate=True)
    return result


# Extras that hold an identifier (the site's screening number): a text that looks like a
# person's name there is confirmed before it is stored, so that no name is kept by mistake.
IDENTIFIER_FIELDS = frozenset({"screening_number"})


def looks_like_name(text: str) -> bool:
    """Whether an identifier looks like a personal name: no digit at all, Chinese characters,
    or two words of letters ("Li Wei 3")."""
    words = [w for w in re.findall(r"[^\W\d_]+", text) if len(w) > 1]
    return not any(c.isdigit() for c in text) or bool(_CJK.search(text)) or len(words) >= 2


def _inexact(question: Question, plain: str) -> Rejected | None:
    """A comparison, a range or another area's count: refused, with the field for the reason."""
    params = {"field": question.field}
    if _COMPARISON.search(plain):
        return Rejected("inexact", params)
    if _RANGE.search(plain):  # "12 x 8 x 6 cm" is dimensions, not a range: no dash between
        return Rejected("range", params)
    if question.parse == "count":
        for match in _PER_AREA.finditer(plain):
            number, unit = match.group(1), match.group(2) or ""
            own = (number in ("2", "2.0") and unit.startswith("mm")) or (
                number == "10" and unit in ("hpf", "高倍视野", "hp")
            )
            if not own:
                return Rejected("other_area", params)
    return None


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


def _read_number(question: Question, plain: str) -> Value | Rejected | Unclear:
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
    if "%" in plain and kind != "percent":
        return Rejected("not_a_number")
    text = _COMMA_DECIMAL.sub(".", plain)
    if kind == "count":
        text = _PER_AREA.sub(" ", text)  # "4/10 hpf": the area is the question's own (above)
    dimensions = kind == "size_cm" and bool(_DIMENSION_SEPARATOR.search(text))
    if dimensions:
        text = _DIMENSION_SEPARATOR.sub(" ", text)
    numbers = [float(n) for n in _NUMBER.findall(text)]
    if not numbers:
        return Rejected("not_a_number")
    if len(numbers) > 1 and not dimensions:
        # "1,234", "12 8": which one? Never the first by default.
        return Rejected("one_number")
    if text.startswith("-"):
        numbers[0] = -numbers[0]  # "-3": a sign, not a range such as "10-12 cm"
    if kind == "size_cm":
        size = max(numbers)  # "12 x 8 x 6 cm": the largest diameter
        if _MM.search(text):
            return round(size / 10, 2)
        if not _CM.search(text) and size > PLAIN_CM_MAX:
            # "95": 95 mm or 95 cm? Either could be typed; the LMS threshold lies between.
            return Unclear("size_unit", (round(size / 10, 2), size))
        return size
    if question.type == "number":
        return numbers[0]
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
