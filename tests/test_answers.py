"""Typed answers read the way surgeons type them; anything else gets a reason to re-prompt."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from natars_bot.answers import Parsed, Rejected, read_answer
from natars_bot.flow import default_flow
from natars_bot.referral import Referral

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
        ("age_years", "about 60", "not_a_number"),
        ("tumor_size_cm", "12 inches", "not_a_number"),
        ("tumor_size_cm", "0", "out_of_range"),
        ("tumor_size_cm", "-3", "out_of_range"),
        ("tumor_size_cm", "150", "size_unit"),
        ("grade", "4", "out_of_range"),
        ("grade", "2.5", "whole_number"),
        ("grade", "1 or 2", "one_number"),
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
    assert isinstance(result, Parsed | Rejected)
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
    """Number-like input in every style gets a value or a reason."""
    assert isinstance(read_answer(FLOW.question(field), text), Parsed | Rejected)
