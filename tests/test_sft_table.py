"""The SFT risk table itself
(natars_bot/protocol/sft.py), beside the criterion tests that go through the
engine: ranges, categories, the score computed from its parts. Added for the mutants that the
engine-level tests let survive (issue #19)."""

from __future__ import annotations

from typing import Any

import pytest

from natars_bot.protocol.criteria import default_protocol
from natars_bot.protocol.sft import ScoreRange

TABLE = default_protocol().sft_risk
ALL_KNOWN = {
    "age_years": 60,  # 1
    "tumor_size_cm": 12.0,  # 2
    "sft_mitoses_per_2mm2": 2,  # 1
    "sft_necrosis_percent": 20.0,  # 1
}


def test_a_range_reads_as_the_score_or_low_to_high() -> None:
    assert str(ScoreRange(4, 4)) == "4"
    assert str(ScoreRange(1, 4)) == "1–4"
    assert ScoreRange(2, 2).exact and not ScoreRange(2, 3).exact


@pytest.mark.parametrize(
    ("score", "name"),
    [(0, "low"), (3, "low"), (4, "intermediate"), (5, "intermediate"), (6, "high"), (7, "high")],
)
def test_each_score_has_its_category(score: int, name: str) -> None:
    assert TABLE.category(score) == name


def test_a_score_above_the_table_is_in_its_top_category() -> None:
    """Defensive: a table whose categories stop short is refused at load, but a score past the
    last bound still reads as the last category, never an earlier one."""
    assert TABLE.category(9) == "high"


def test_the_score_is_computed_only_when_every_part_is_known() -> None:
    assert TABLE.computed_score(ALL_KNOWN) == 5
    for missing in ALL_KNOWN:
        facts: dict[str, Any] = {**ALL_KNOWN, missing: None}
        assert TABLE.computed_score(facts) is None, missing
    assert TABLE.computed_score({}) is None


def test_assess_names_a_category_only_when_the_whole_range_lies_in_one() -> None:
    exact = TABLE.assess(ALL_KNOWN)
    assert (exact.range, exact.score, exact.category) == (ScoreRange(5, 5), 5, "intermediate")
    assert exact.category_label is not None and exact.category_label["en"] == "intermediate risk"
    # Necrosis unknown: 4 or 5, intermediate either way; no single score.
    within = TABLE.assess({**ALL_KNOWN, "sft_necrosis_percent": None})
    assert (within.range, within.score, within.category) == (ScoreRange(4, 5), None, "intermediate")
    open_range = TABLE.assess({"age_years": 60, "tumor_size_cm": 16.0})  # 4 + [0, 3]: 4–7
    assert (open_range.range, open_range.category, open_range.category_label) == (
        ScoreRange(4, 7),
        None,
        None,
    )
    low = TABLE.assess({"age_years": 40, "tumor_size_cm": 3.0, "sft_mitoses_per_2mm2": 0})
    assert (low.range, low.category) == (ScoreRange(0, 1), "low")  # 0–1: low either way


def test_a_given_score_narrows_or_contradicts() -> None:
    agreeing = TABLE.assess({"age_years": 60, "tumor_size_cm": 16.0, "sft_risk_score": 6})
    assert (agreeing.range, agreeing.contradiction, agreeing.category) == (
        ScoreRange(6, 6),
        False,
        "high",
    )
    contradicting = TABLE.assess({**ALL_KNOWN, "sft_risk_score": 7})
    assert (contradicting.range, contradicting.parts, contradicting.contradiction) == (
        ScoreRange(5, 5),
        ScoreRange(5, 5),
        True,
    )
    assert (contradicting.category, contradicting.score) == (None, None)
