"""Typed answers read the way surgeons type them; anything else gets a reason to re-prompt."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from natars_bot.dialogue.answers import Parsed, Rejected, Unclear, looks_like_name, read_answer
from natars_bot.dialogue.flow import default_flow
from natars_bot.protocol.referral import Referral

FLOW = default_flow()


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("tumor_size_cm", "12", 12.0),
        ("tumor_size_cm", "12 cm", 12.0),
        ("tumor_size_cm", "120 mm", 12.0),
        ("tumor_size_cm", "12,5", 12.5),
        ("tumor_size_cm", "12.5cm", 12.5),
        ("tumor_size_cm", "12 x 8 x 6 cm", 12.0),
        ("tumor_size_cm", "18×10", 18.0),
        ("tumor_size_cm", "１２厘米", 12.0),
        ("tumor_size_cm", "95毫米", 9.5),
        ("tumor_size_cm", "150 cm", 150.0),
        ("grade", "G2", 2),
        ("grade", "grade 2", 2),
        ("grade", "FNCLCC 2", 2),
        ("grade", "FNCLCC grade II", 2),
        ("grade", "2级", 2),
        ("grade", "III", 3),
        ("asa_class", "ASA III", 3),
        ("asa_class", "3", 3),
        ("asa_class", "asa 2", 2),
        ("asa_class", "IV", 4),
        ("age_years", "62", 62),
        ("age_years", "62 years", 62),
        ("age_years", "62岁", 62),
        ("sft_necrosis_percent", "15%", 15.0),
        ("sft_necrosis_percent", "15,5 %", 15.5),
        ("sft_mitoses_per_2mm2", "4", 4),
        ("sft_mitoses_per_2mm2", "4 per 2 mm2", 4),
        ("histologically_proven", "yes", True),
        ("histologically_proven", "Y", True),
        ("histologically_proven", "是", True),
        ("histologically_proven", "n", False),
        ("histologically_proven", "否", False),
        ("histology", "ddlps", "DDLPS"),
        ("histology", "Leiomyosarcoma", "LMS"),
        ("histology", "平滑肌肉瘤", "LMS"),
        ("origin", "GI", "gi_tract"),
        ("ihc_mdm2", "+", "positive"),
        ("consent", "not yet", "pending"),
        ("r0_r1_resectable", "MDT to assess", "not_assessed"),
        ("tumor_size_cm", "not known yet", None),
        ("tumor_size_cm", "不清楚", None),
        ("screening_number", "  S-0012 ", "S-0012"),
        ("screening_number", "暂无编号", None),
    ],
)
def test_answers_are_read_generously(field: str, text: str, value: Any) -> None:
    """Units, separators, Roman numerals, Chinese and full-width input are understood."""
    assert read_answer(FLOW.question(field), text) == Parsed(value)


@pytest.mark.parametrize(
    ("field", "text", "reason"),
    [
        ("tumor_size_cm", "big", "not_a_number"),
        ("age_years", "S-3", "not_a_number"),
        ("tumor_size_cm", "12 inches", "not_a_number"),
        ("tumor_size_cm", "0", "out_of_range"),
        ("tumor_size_cm", "-3", "out_of_range"),
        ("grade", "4", "out_of_range"),
        ("grade", "2.5", "whole_number"),
        ("grade", "1 or 2", "range"),
        ("asa_class", "7", "out_of_range"),
        ("age_years", "130", "out_of_range"),
        ("age_years", "62.5", "whole_number"),
        ("sft_necrosis_percent", "120", "out_of_range"),
        ("histologically_proven", "maybe", "not_a_choice"),
        ("histologically_proven", "not known", "not_a_choice"),
        ("histology", "GIST", "not_a_choice"),
        ("consent", "", "empty"),
        ("note", "x" * 600, "too_long"),
    ],
)
def test_unusable_answers_get_a_reason(field: str, text: str, reason: str) -> None:
    """Out of range, ambiguous or unreadable answers are rejected with a message key."""
    result = read_answer(FLOW.question(field), text)
    assert isinstance(result, Rejected)
    assert result.reason == reason


def test_a_range_rejection_quotes_the_limit() -> None:
    """The re-prompt can say which limit was crossed."""
    assert read_answer(FLOW.question("age_years"), "130") == Rejected(
        "out_of_range", {"bound": "le", "limit": 120}
    )


@given(st.sampled_from([q.field for q in FLOW.questions]), st.text(max_size=3000))
def test_any_text_is_accepted_or_reprompted(field: str, text: str) -> None:
    """Whatever is typed, reading never raises; an accepted value fits the referral model."""
    result = read_answer(FLOW.question(field), text)
    assert isinstance(result, Parsed | Unclear | Rejected)
    if isinstance(result, Unclear) and result.reason == "size_unit":
        for option in result.options:
            assert isinstance(read_answer(FLOW.question(field), str(option) + " cm"), Parsed)
    if (
        isinstance(result, Parsed)
        and result.value is not None
        and not FLOW.question(field).is_extra
    ):
        Referral.model_validate({field: result.value})


@given(
    st.sampled_from([q.field for q in FLOW.questions if q.parse]),
    st.from_regex(
        r"\s*-?[0-9０-９]{1,4}([.,][0-9]{1,3})?\s*(cm|mm|%|岁|级|厘米|years)?\s*", fullmatch=True
    ),
)
def test_numbers_with_units_never_raise(field: str, text: str) -> None:
    """Number-like input in every style gets a value, a question or a reason — and a value
    taken is the number typed (mm turned into cm), never another one."""
    question = FLOW.question(field)
    result = read_answer(question, text)
    assert isinstance(result, Parsed | Unclear | Rejected)
    if isinstance(result, Parsed) and isinstance(result.value, int | float):
        typed = float(
            unicodedata.normalize("NFKC", text).strip().split()[0].rstrip("cm%岁级厘米years")
            .replace(",", ".")
        )  # fmt: skip
        expected = typed / 10 if "mm" in text else typed
        assert result.value == pytest.approx(expected, abs=0.01)
        Referral.model_validate({field: result.value})


# ------------------------------------------------------------------ numbers never guessed


@pytest.mark.parametrize(
    ("field", "text", "reason"),
    [
        ("sft_necrosis_percent", "<10%", "inexact"),
        ("sft_necrosis_percent", "＜10%", "inexact"),
        ("sft_necrosis_percent", "less than 10 %", "inexact"),
        ("sft_necrosis_percent", "不足10%", "inexact"),
        ("sft_necrosis_percent", "10%以下", "inexact"),
        ("sft_necrosis_percent", "10-20%", "range"),
        ("sft_mitoses_per_2mm2", "<1/10HPF", "inexact"),
        ("sft_mitoses_per_2mm2", "≤ 5", "inexact"),
        ("sft_mitoses_per_2mm2", ">4", "inexact"),
        ("sft_mitoses_per_2mm2", "3-5", "range"),
        ("sft_mitoses_per_2mm2", "3~5", "range"),
        ("sft_mitoses_per_2mm2", "4/50 HPF", "other_area"),
        ("sft_mitoses_per_2mm2", "4/HPF", "other_area"),
        ("tumor_size_cm", "<5cm", "inexact"),
        ("tumor_size_cm", "5–10 cm", "range"),
        ("tumor_size_cm", "10-12 cm", "range"),
        ("tumor_size_cm", "more than 10 cm", "inexact"),
        ("age_years", ">4", "inexact"),
        ("age_years", "55-60", "range"),
        ("sft_risk_score", "≥6", "inexact"),
    ],
)
def test_inexact_numbers_are_asked_again(field: str, text: str, reason: str) -> None:
    """A bound, a range or another area's count is never turned into a number."""
    result = read_answer(FLOW.question(field), text)
    assert isinstance(result, Rejected), result
    assert result.reason == reason
    assert result.params["field"] == field  # the re-prompt names what the value decides


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("sft_necrosis_percent", "about 20 %", 20.0),
        ("sft_necrosis_percent", "~20%", 20.0),
        ("sft_necrosis_percent", "约20%", 20.0),
        ("sft_necrosis_percent", "20%左右", 20.0),
        ("age_years", "about 60", 60),
        ("tumor_size_cm", "approx. 12 cm", 12.0),
    ],
)
def test_approximations_are_read_and_flagged(field: str, text: str, value: float) -> None:
    """ "About 20 %" is 20, flagged so that the reply says how it was read."""
    assert read_answer(FLOW.question(field), text) == Parsed(value, approximate=True)


@pytest.mark.parametrize(
    ("text", "value"),
    [("4/10 HPF", 4), ("4 per 2 mm2", 4), ("4个/2mm²", 4), ("4", 4), ("0", 0)],
)
def test_mitoses_per_the_questions_own_area_are_read(text: str, value: int) -> None:
    """2 mm² (about 10 HPF) is the question's own area: the count is the number before it."""
    assert read_answer(FLOW.question("sft_mitoses_per_2mm2"), text) == Parsed(value)


@pytest.mark.parametrize(
    ("text", "options"),
    [("95", (9.5, 95.0)), ("45", (4.5, 45.0)), ("31", (3.1, 31.0)), ("250", (25.0,))],
)
def test_a_size_without_unit_above_30_asks_mm_or_cm(text: str, options: tuple[float, ...]) -> None:
    """ "95" may be 95 mm (a 9.5 cm LMS fails INC-05) or 95 cm: the surgeon says which."""
    assert read_answer(FLOW.question("tumor_size_cm"), text) == Unclear("size_unit", options)


@pytest.mark.parametrize(("text", "value"), [("30", 30.0), ("12", 12.0), ("9.5", 9.5)])
def test_a_plausible_size_without_unit_is_centimetres(text: str, value: float) -> None:
    assert read_answer(FLOW.question("tumor_size_cm"), text) == Parsed(value)


@pytest.mark.parametrize("text", ["Li Wei", "张三", "wang xiaoming", "Zhang San 12", "王五3"])
def test_a_name_as_screening_number_is_confirmed_first(text: str) -> None:
    """A screening number with no digit, with Chinese characters or two words is questioned."""
    assert looks_like_name(text)
    assert read_answer(FLOW.question("screening_number"), text) == Unclear(
        "looks_like_name", (text,)
    )


@pytest.mark.parametrize("text", ["S-3", "ZS-2026-0012", "NAT 12", "0007"])
def test_screening_numbers_are_taken(text: str) -> None:
    assert read_answer(FLOW.question("screening_number"), text) == Parsed(text)


_NUMERIC_FIELDS = ["age_years", "tumor_size_cm", "sft_mitoses_per_2mm2", "sft_necrosis_percent"]
_NUMBER = st.from_regex(r"[0-9]{1,3}([.,][0-9])?", fullmatch=True)
_UNIT = st.sampled_from(["", " ", "%", " cm", "mm", " hpf", "岁", " years"])


@given(
    st.sampled_from(_NUMERIC_FIELDS),
    _NUMBER,
    st.sampled_from(
        ["<", ">", "≤", "≥", "<=", ">=", "＜", "＞", "less than ", "over ", "不足", "超过"]
    ),
    _UNIT,
    st.booleans(),
)
def test_no_comparison_is_ever_read_as_a_number(
    field: str, number: str, sign: str, unit: str, before: bool
) -> None:
    """Whatever the number, unit and sign, a bounded value is never taken as the value."""
    text = f"{sign}{number}{unit}" if before else f"{number}{unit}{sign}"
    assert not isinstance(read_answer(FLOW.question(field), text), Parsed)


@given(
    st.sampled_from(_NUMERIC_FIELDS),
    _NUMBER,
    _NUMBER,
    st.sampled_from(["-", "–", "—", "~", "～", " to ", " or ", "到", "至"]),
    _UNIT,
)
def test_no_range_is_ever_read_as_a_number(
    field: str, low: str, high: str, dash: str, unit: str
) -> None:
    """ "3-5", "5–10 cm", "3 to 5": never one of its ends."""
    assert not isinstance(read_answer(FLOW.question(field), f"{low}{dash}{high}{unit}"), Parsed)


# ------------------------------------------------------------------ exact outcomes (mutation)


_MITOSES = "sft_mitoses_per_2mm2"


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("age_years", "-3", Rejected("out_of_range", {"bound": "ge", "limit": 0})),
        ("tumor_size_cm", "0", Rejected("out_of_range", {"bound": "gt", "limit": 0.0})),
        # 250 mm or 2500 cm: neither fits, so the larger reading's range is named.
        ("tumor_size_cm", "2500", Rejected("out_of_range", {"bound": "le", "limit": 200.0})),
        ("age_years", "60 61", Rejected("one_number")),
        ("sft_necrosis_percent", "1,234", Rejected("one_number")),
        ("tumor_size_cm", "12.5%", Rejected("not_a_number")),
        ("tumor_size_cm", "cm", Rejected("not_a_number")),
        ("tumor_size_cm", "12 inches", Rejected("not_a_number")),
        ("sft_mitoses_per_2mm2", "4/2 hpf", Rejected("other_area", {"field": _MITOSES})),
        ("note", "x" * 501, Rejected("too_long", {"max": 500})),
        ("age_years", "1" * 2001, Rejected("too_long", {"max": 500})),
        ("tumor_size_cm", "12.34 mm", Parsed(1.23)),
        ("tumor_size_cm", "31.27", Unclear("size_unit", (3.13, 31.27))),
        ("asa_class", "ASAIII", Parsed(3)),
        ("sft_mitoses_per_2mm2", "4/2.0 mm2", Parsed(4)),
        ("sft_mitoses_per_2mm2", "4/10高倍视野", Parsed(4)),
        ("sft_mitoses_per_2mm2", "4/10 hp", Parsed(4)),
        ("origin", "gi_tract", Parsed("gi_tract")),  # the stored value itself
        ("prior_resection", "true", Parsed(True)),
        ("prior_resection", "是。", Parsed(True)),  # Chinese full stop
        ("screening_number", "S 3 A", Parsed("S 3 A")),  # one-letter words are no name
        ("screening_number", "Li Wu 3", Unclear("looks_like_name", ("Li Wu 3",))),
        ("note", "x" * 500, Parsed("x" * 500)),
    ],
)  # fmt: skip
def test_exact_outcomes(field: str, text: str, expected: object) -> None:
    """The reason and what it quotes, not only that something was refused."""
    assert read_answer(FLOW.question(field), text) == expected


def test_the_length_limit_is_four_times_the_longest_text() -> None:
    """2,000 characters are still read (and refused for what they say), 2,001 are too long."""
    assert read_answer(FLOW.question("age_years"), "1" * 2000) != Rejected("too_long", {"max": 500})
