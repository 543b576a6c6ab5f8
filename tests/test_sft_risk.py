"""The WHO SFT metastasis risk score: every band edge, categories, and (spec revision 2) the
score's range from the parts known, with a given score that agrees with it or contradicts it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from natars_bot.protocol.checking import sft_risk_json
from natars_bot.protocol.eligibility import Outcome

from .helpers import assess

# Parts scoring zero: age 30, size 3 cm, no mitoses, no necrosis.
ZERO = {
    "age_years": 30,
    "tumor_size_cm": 3.0,
    "sft_mitoses_per_2mm2": 0,
    "sft_necrosis_percent": 0.0,
}


@pytest.mark.parametrize(
    ("changes", "score"),
    [
        ({}, 0),
        ({"age_years": 54}, 0),
        ({"age_years": 55}, 1),
        ({"tumor_size_cm": 4.9}, 0),
        ({"tumor_size_cm": 5.0}, 1),
        ({"tumor_size_cm": 9.9}, 1),
        ({"tumor_size_cm": 10.0}, 2),
        ({"tumor_size_cm": 14.9}, 2),
        ({"tumor_size_cm": 15.0}, 3),
        ({"sft_mitoses_per_2mm2": 1}, 1),
        ({"sft_mitoses_per_2mm2": 3}, 1),
        ({"sft_mitoses_per_2mm2": 4}, 2),
        ({"sft_necrosis_percent": 9.9}, 0),
        ({"sft_necrosis_percent": 10.0}, 1),
        (
            {
                "age_years": 70,
                "tumor_size_cm": 20.0,
                "sft_mitoses_per_2mm2": 10,
                "sft_necrosis_percent": 50.0,
            },
            7,
        ),
    ],
)
def test_each_band_edge_scores_as_the_who_table(changes: dict[str, float], score: int) -> None:
    """Each part's points change exactly at the WHO table's thresholds."""
    risk = assess("SFT", **{**ZERO, **changes}).sft_risk
    assert risk is not None
    assert (risk.score, risk.given, risk.contradiction) == (score, None, False)


@pytest.mark.parametrize(
    ("score", "category", "outcome"),
    [
        (0, "low", Outcome.failed),
        (3, "low", Outcome.failed),
        (4, "intermediate", Outcome.failed),
        (5, "intermediate", Outcome.failed),
        (6, "high", Outcome.passed),
        (7, "high", Outcome.passed),
    ],
)
def test_categories_and_the_natars_threshold(score: int, category: str, outcome: Outcome) -> None:
    """Scores 0–3 are low, 4–5 intermediate, 6–7 high; NATARS takes 6 and above. (With no part
    known every score is inside the range [0, 7], so the given score is the score.)"""
    assessment = assess("SFT", sft_risk_score=score, **dict.fromkeys(ZERO))
    assert assessment.sft_risk is not None
    assert (assessment.sft_risk.score, assessment.sft_risk.category) == (score, category)
    assert assessment.sft_risk.given == score
    assert assessment.result("INC-07").outcome is outcome


def test_a_given_score_that_contradicts_its_parts_is_open_and_flagged() -> None:
    """A given 6 with parts computing to 4: open, the reason showing both, and a data-check
    warning (not a recommended test) asking what to check."""
    assessment = assess("SFT", sft_risk_score=6, sft_mitoses_per_2mm2=0)  # parts: 1 + 3 + 0 + 0
    result = assessment.result("INC-07")
    assert result.outcome is Outcome.unknown
    assert "given SFT risk score 6" in result.reason and "give 4" in result.reason
    assert "6分" in result.reason_in("zh") and "4分" in result.reason_in("zh")
    [warning] = assessment.warnings_of("data_check")
    assert warning.id == "INC-07" and "6" in warning.text and "(4)" in warning.text
    assert sft_risk_json(assessment.sft_risk) == {"range": [4, 4], "given": 6}


@pytest.mark.parametrize(
    ("answers", "outcome", "risk"),
    [
        # shared/spec/criteria.md, "SFT risk score", its four examples
        (
            {"age_years": 60, "tumor_size_cm": 20.0, "sft_mitoses_per_2mm2": 6},
            Outcome.passed,
            {"range": [6, 7]},
        ),
        ({"age_years": 40, "tumor_size_cm": 6.0}, Outcome.failed, {"range": [1, 4]}),
        (
            {**ZERO, "age_years": 60, "tumor_size_cm": 12.0, "sft_mitoses_per_2mm2": 1,
             "sft_risk_score": 6},
            Outcome.unknown,
            {"range": [4, 4], "given": 6},
        ),
        ({}, Outcome.unknown, {"range": [0, 7]}),
        # a given score inside the range narrows it to itself
        ({"age_years": 60, "tumor_size_cm": 20.0, "sft_risk_score": 5}, Outcome.failed,
         {"score": 5, "category": "intermediate"}),
    ],
)  # fmt: skip
def test_the_spec_examples(answers: dict[str, Any], outcome: Outcome, risk: Any) -> None:
    """The spec's examples give its outcomes, and `check`'s sft_risk is the range until exact."""
    parts = {"age_years": None, "tumor_size_cm": None, "sft_mitoses_per_2mm2": None}
    assessment = assess("SFT", **{**parts, "sft_necrosis_percent": None, **answers})
    assert assessment.result("INC-07").outcome is outcome
    assert sft_risk_json(assessment.sft_risk) == risk


AGES = [None, 40, 55]
SIZES = [None, 4.9, 5.0, 10.0, 15.0]
MITOSES = [None, 0, 1, 4]
NECROSIS = [None, 9.9, 10.0]
TOP = {"age_years": 1, "tumor_size_cm": 3, "sft_mitoses_per_2mm2": 2, "sft_necrosis_percent": 1}


def _points(field: str, value: float) -> int:
    """The WHO table (shared/spec/criteria.md), written out again independently of the YAML."""
    if field == "age_years":
        return int(value >= 55)
    if field == "tumor_size_cm":
        return 0 if value < 5 else 1 if value < 10 else 2 if value < 15 else 3
    if field == "sft_mitoses_per_2mm2":
        return 0 if value == 0 else 1 if value <= 3 else 2
    return int(value >= 10)


@pytest.mark.parametrize(
    ("age", "size", "mitoses", "necrosis"), list(itertools.product(AGES, SIZES, MITOSES, NECROSIS))
)
def test_every_part_missing_or_known_with_every_given_score(
    age: int | None, size: float | None, mitoses: int | None, necrosis: float | None
) -> None:
    """For every combination of parts known and missing, and every given score 0–7 or none:
    the range is the spec's, a score inside it decides by the threshold, one outside is open."""
    parts = {
        "age_years": age,
        "tumor_size_cm": size,
        "sft_mitoses_per_2mm2": mitoses,
        "sft_necrosis_percent": necrosis,
    }
    low = sum(_points(f, v) for f, v in parts.items() if v is not None)
    high = low + sum(TOP[f] for f, v in parts.items() if v is None)
    for given in [None, *range(8)]:
        assessment = assess("SFT", **parts, sft_risk_score=given)
        result = assessment.result("INC-07").outcome
        risk = assessment.sft_risk
        assert risk is not None and (risk.parts.low, risk.parts.high) == (low, high)
        if given is not None and not low <= given <= high:
            assert result is Outcome.unknown and risk.contradiction
            assert [w.kind for w in assessment.warnings if w.id == "INC-07"] == ["data_check"]
            continue
        lo, hi = (given, given) if given is not None else (low, high)
        expected = Outcome.passed if lo >= 6 else Outcome.failed if hi < 6 else Outcome.unknown
        assert result is expected, (parts, given)
        assert not risk.contradiction and not assessment.warnings_of("data_check")
        if low >= 6 or high < 6:
            # The parts decide already: a given score inside the range changes nothing.
            assert result is assess("SFT", **parts).result("INC-07").outcome


def test_no_risk_is_reported_for_other_histologies() -> None:
    """sft_risk is null unless the histology is SFT, even when the parts are all known."""
    assert assess("UPS", sft_mitoses_per_2mm2=5, sft_necrosis_percent=20.0).sft_risk is None


def test_an_incomplete_score_is_a_range() -> None:
    """Without the score or all four parts, INC-07 is decided by the range, open if it spans 6."""
    assessment = assess("SFT", sft_mitoses_per_2mm2=None)  # 1 + 3 + [0, 2] + 0
    assert assessment.sft_risk is not None and assessment.sft_risk.score is None
    assert sft_risk_json(assessment.sft_risk) == {"range": [4, 6]}
    assert assessment.result("INC-07").outcome is Outcome.unknown
    assert assessment.result("INC-07").reason.startswith("SFT risk score 4–6 from the answers")
