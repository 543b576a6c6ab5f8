"""How outcomes add up to a verdict, and what the assessment lists."""

from __future__ import annotations

from natars_bot.protocol.criteria import default_protocol
from natars_bot.protocol.eligibility import Outcome, Verdict, evaluate
from natars_bot.protocol.referral import Referral

from .helpers import assess

PROTOCOL_ORDER = [c.id for c in default_protocol().criteria]


def test_any_fail_makes_the_referral_ineligible() -> None:
    """One fail is enough, whatever else is unknown."""
    assessment = assess("UPS", origin="gi_tract", consent=None)
    assert assessment.verdict is Verdict.ineligible
    assert assessment.failed == ("EXC-01",)
    assert assessment.unknown == ("INC-13",)


def test_unknowns_without_fails_need_review() -> None:
    """No fail but an unknown: the MDT has to look."""
    assessment = assess("UPS", r0_r1_resectable="not_assessed", consent="pending")
    assert assessment.verdict is Verdict.needs_review
    assert assessment.failed == ()
    assert assessment.unknown == ("INC-09", "INC-13")


def test_eligible_only_when_every_criterion_passes_or_does_not_apply() -> None:
    """Eligible means every criterion is pass or not_applicable."""
    assessment = assess("LMS")
    assert assessment.verdict is Verdict.eligible
    assert {r.outcome for r in assessment.results} == {Outcome.passed, Outcome.not_applicable}


def test_ids_are_listed_in_protocol_order() -> None:
    """failed and unknown keep the protocol's order: inclusion INC-01… first, then EXC-01…."""
    assessment = assess(
        "UPS", psychological_condition=True, age_years=80, origin="uterus", asa_class=None
    )
    assert assessment.failed == ("INC-14", "EXC-01")
    assert assessment.unknown == ("INC-12", "EXC-10")
    assert [r.id for r in assessment.results] == PROTOCOL_ORDER


def test_an_empty_referral_needs_review_and_cites_every_open_criterion() -> None:
    """Nothing known yet: needs_review, histology-specific criteria not applicable."""
    assessment = evaluate(Referral())
    assert assessment.verdict is Verdict.needs_review
    not_applicable = {r.id for r in assessment.results if r.outcome is Outcome.not_applicable}
    assert not_applicable == {"INC-04", "INC-05", "INC-06", "INC-07"}
    assert set(assessment.unknown) == set(PROTOCOL_ORDER) - not_applicable


def test_warnings_never_change_the_verdict() -> None:
    """Missing FISH and PET-CT are listed as warnings, and the referral stays eligible."""
    assessment = assess("DDLPS", fish_mdm2="not_done", pet_ct_done=False)
    assert assessment.verdict is Verdict.eligible
    assert [(w.id, w.text) for w in assessment.warnings] == [
        ("INC-04", "MDM2 FISH is highly recommended and was not done"),
        ("EXC-04", "PET-CT is highly recommended and was not done"),
    ]


def test_the_protocol_version_is_cited() -> None:
    """Every assessment names the protocol definition it was made against."""
    assert assess().protocol_version == "NATARS registry entry, criteria v2 (spec revision 2)"


def test_memoised_decisions_equal_fresh_ones() -> None:
    """A decision served from the memo is the one a cold engine would make."""
    referral = Referral(histology="LMS", tumor_size_cm=9.5, age_years=40, consent="pending")
    warm = evaluate(referral)
    for criterion in default_protocol().criteria:
        criterion.memo.clear()
    cold = evaluate(referral)
    assert [(r.id, r.outcome, r.reason) for r in warm.results] == [
        (r.id, r.outcome, r.reason) for r in cold.results
    ]


def test_data_checks_and_recommended_tests_are_told_apart() -> None:
    """A given SFT score against its parts is a data check; PET-CT not done a recommended test;
    each kind is listed on its own, in protocol order, and neither changes the verdict."""
    assessment = assess("SFT", sft_risk_score=7, sft_mitoses_per_2mm2=0, pet_ct_done=False)
    assert [(w.id, w.kind) for w in assessment.warnings] == [
        ("INC-07", "data_check"),
        ("EXC-04", "recommended"),
    ]
    assert [w.id for w in assessment.warnings_of("data_check")] == ["INC-07"]
    assert [w.id for w in assessment.warnings_of("recommended")] == ["EXC-04"]
    assert assessment.verdict is Verdict.needs_review and assessment.unknown == ("INC-07",)
    assert assessment.warnings[1].text_in("zh") == "强烈推荐PET-CT检查，本例未做"


def test_reasons_come_in_every_language() -> None:
    """Each result carries its reason in English (what check prints) and in Chinese."""
    result = assess("UPS", origin="gi_tract").result("EXC-01")
    assert (result.reason, result.reason_in("zh")) == (
        "originates from the GI tract",
        "原发于消化道",
    )
    assert result.reason_in("fr") == result.reason  # a language the protocol lacks: English
    assert result.criterion.summary_in("zh") == "原发于消化道、子宫或泌尿系统的肉瘤"
