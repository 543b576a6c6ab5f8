"""What the engine hands on besides the outcome: each reason in both languages, whether an open
criterion waits only for an answer, the warnings' texts. Added for the mutants that outcome-level
tests let survive (issue #19)."""

# ruff: noqa: E501 - a table of whole bilingual reasons reads best one reason a line

from __future__ import annotations

import copy

import pytest
import yaml

from natars_bot.protocol.criteria import parse_protocol
from natars_bot.protocol.eligibility import Outcome, evaluate

from .helpers import assess, referral
from .test_protocol_definition import SHIPPED


@pytest.mark.parametrize(
    ("criterion", "base", "changes", "en", "zh"),
    [
        ("INC-04", "LMS", {}, "applies to DDLPS only; histology is LMS", "仅适用于DDLPS；本例病理类型为LMS"),
        (
            "INC-04", "UPS", {"histology": "other"},
            "applies to DDLPS only; histology is another type", "仅适用于DDLPS；本例病理类型为其他类型",
        ),
        (
            "INC-07", "UPS", {"histology": None},
            "applies to SFT only; histology not known yet", "仅适用于SFT；病理类型尚不清楚",
        ),
        ("INC-07", "SFT", {}, "SFT risk score 6 (high risk, ≥ 6)", "SFT转移风险分层评分6分（高危，≥ 6分）"),
        ("INC-07", "SFT", {"sft_mitoses_per_2mm2": 0}, "SFT risk score 4; needs ≥ 6", "SFT转移风险分层评分4分；须 ≥ 6分"),
        (
            "INC-07", "SFT", {"sft_mitoses_per_2mm2": None},
            "SFT risk score 4–6 from the answers so far: give the missing parts or the score",
            "按已填信息，SFT转移风险分层评分为4–6分，尚不能判断：请补充缺少的项目或直接填写评分",
        ),
        (
            "INC-07", "SFT", {"sft_mitoses_per_2mm2": None, "sft_risk_score": 7},
            "the given SFT risk score 7 contradicts its parts: age, size, mitoses and necrosis give 4–6",
            "所填SFT转移风险分层评分7分与各项不符：按年龄、肿瘤大小、核分裂象及坏死计算为4–6分",
        ),
        (
            "INC-07", "SFT", {"sft_risk_score": 2},
            "the given SFT risk score 2 contradicts its parts: age, size, mitoses and necrosis give 6",
            "所填SFT转移风险分层评分2分与各项不符：按年龄、肿瘤大小、核分裂象及坏死计算为6分",
        ),
        ("INC-04", "DDLPS", {"grade": None}, "grade not stated", "未填写FNCLCC分级"),
    ],
)  # fmt: skip
def test_reasons_in_both_languages(
    criterion: str, base: str, changes: dict[str, object], en: str, zh: str
) -> None:
    result = assess(base, **changes).result(criterion)
    assert result.reasons == {"en": en, "zh": zh}
    assert result.reason == en


def test_an_open_criterion_says_whether_it_waits_only_for_an_answer() -> None:
    """Unanswered → the surgeon can close it; an equivocal IHC needs the MDT's judgement."""
    waiting = assess("DDLPS", grade=None).result("INC-04")
    assert (waiting.outcome, waiting.unanswered) == (Outcome.unknown, True)
    judged = assess("DDLPS", ihc_mdm2="equivocal").result("INC-04")
    assert (judged.outcome, judged.unanswered) == (Outcome.unknown, False)
    passed = assess("DDLPS").result("INC-04")
    assert (passed.outcome, passed.unanswered) == (Outcome.passed, False)
    failed = assess("DDLPS", grade=1).result("INC-04")
    assert (failed.outcome, failed.unanswered) == (Outcome.failed, False)


def test_a_warning_carries_its_texts_and_kind() -> None:
    [warning] = assess("DDLPS", fish_mdm2="not_done").warnings
    assert (warning.id, warning.kind) == ("INC-04", "recommended")
    assert warning.texts == {
        "en": "MDM2 FISH is highly recommended and was not done",
        "zh": "强烈推荐MDM2 FISH检测，本例未做",
    }
    assert warning.text == warning.texts["en"]
    assert warning.text_in("zh") == warning.texts["zh"]
    assert warning.text_in("fr") == warning.text  # a language the protocol lacks: English


def test_an_unknown_criterion_id_is_named() -> None:
    with pytest.raises(KeyError) as raised:
        assess("UPS").result("INC-99")
    assert raised.value.args == ("INC-99",)


def test_the_derived_sft_facts_are_there_for_a_protocol_revision() -> None:
    """The shipped criteria decide on the score's range; the other derived facts (the parts'
    range, the exact score and its category) are documented for revisions to use: a revised
    INC-07 that warns with all of them gets the right values."""
    data = copy.deepcopy(SHIPPED)
    inc07 = next(c for c in data["criteria"] if c["id"] == "INC-07")
    text = "{sft_score} {sft_category} {sft_parts_min} {sft_parts_max}"
    inc07.setdefault("warn", []).append(
        {
            "when": {
                "all": [
                    {"field": "sft_score", "ge": 0},
                    {"field": "sft_parts_min", "ge": 0},
                    {"field": "sft_parts_max", "ge": 0},
                ]
            },
            "reason": {"en": text, "zh": text},
            "kind": "recommended",
        }
    )
    revised = parse_protocol(yaml.safe_dump(data, allow_unicode=True), source="revised.yaml")
    warned = evaluate(referral("SFT"), revised).warnings
    assert [w.text for w in warned if w.id == "INC-07"] == ["6 high risk 6 6"]
    open_range = evaluate(referral("SFT", sft_mitoses_per_2mm2=None), revised).warnings
    assert [w for w in open_range if w.id == "INC-07"] == []  # no exact score: no sft_score
