"""The WHO SFT metastasis risk score: every band edge, categories, given versus computed."""

from __future__ import annotations

import pytest

from natars_bot.eligibility import Outcome

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
    assert (risk.score, risk.given) == (score, False)


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
    """Scores 0–3 are low, 4–5 intermediate, 6–7 high; NATARS takes 6 and above."""
    assessment = assess("SFT", sft_risk_score=score, sft_mitoses_per_2mm2=None)
    assert assessment.sft_risk is not None
    assert (assessment.sft_risk.score, assessment.sft_risk.category) == (score, category)
    assert assessment.sft_risk.given
    assert assessment.result("INC-07").outcome is outcome


def test_a_given_score_wins_and_a_disagreement_is_warned() -> None:
    """A pathologist's score overrides the parts; the MDT is told when the two disagree."""
    assessment = assess("SFT", sft_risk_score=7, sft_mitoses_per_2mm2=0)  # parts add up to 4
    assert assessment.sft_risk is not None and assessment.sft_risk.score == 7
    assert [w.id for w in assessment.warnings] == ["INC-07"]
    assert "7 differs from 4" in assessment.warnings[0].text


def test_no_risk_is_reported_for_other_histologies() -> None:
    """sft_risk is null unless the histology is SFT, even when the parts are all known."""
    assert assess("UPS", sft_mitoses_per_2mm2=5, sft_necrosis_percent=20.0).sft_risk is None


def test_an_incomplete_score_is_unknown() -> None:
    """Without the score or all four parts, INC-07 is unknown and no risk is reported."""
    assessment = assess("SFT", sft_mitoses_per_2mm2=None)
    assert assessment.sft_risk is None
    assert assessment.result("INC-07").outcome is Outcome.unknown
