"""Properties of the engine over any valid referral (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from natars_bot.protocol.criteria import default_protocol
from natars_bot.protocol.eligibility import Outcome, Verdict, evaluate
from natars_bot.protocol.referral import Referral

from .strategies import ANSWERABLE, FIELD_VALUES

CRITERIA = [c.id for c in default_protocol().criteria]


@st.composite
def referrals(draw: st.DrawFn) -> Referral:
    """A valid referral with a random subset of its questions answered. (strategies.referrals
    predates spec revision 2, under which a man recorded as pregnant is invalid input.)"""
    answers = {name: draw(st.none() | strategy) for name, strategy in FIELD_VALUES.items()}
    if answers["sex"] == "male" and answers["pregnant_or_breastfeeding"] is True:
        answers["pregnant_or_breastfeeding"] = draw(st.sampled_from([None, False]))
    return Referral(**answers)


def _answer(referral: Referral, field: str, value: object) -> Referral | None:
    """The referral with one more answer, or None if that answer makes it invalid input."""
    answers = {**referral.model_dump(), field: value}
    if answers["sex"] == "male" and answers["pregnant_or_breastfeeding"] is True:
        return None
    return Referral(**answers)


@given(referrals())
def test_every_referral_gets_one_outcome_per_criterion(referral: Referral) -> None:
    """Every criterion appears once, in protocol order, with a non-empty reason."""
    assessment = evaluate(referral)
    assert [r.id for r in assessment.results] == CRITERIA
    assert all(r.reason for r in assessment.results)
    assert list(assessment.failed) == [
        r.id for r in assessment.results if r.outcome is Outcome.failed
    ]
    assert list(assessment.unknown) == [
        r.id for r in assessment.results if r.outcome is Outcome.unknown
    ]


@given(referrals())
def test_the_verdict_follows_from_the_outcomes(referral: Referral) -> None:
    """eligible ⇔ no fail and no unknown; ineligible ⇔ some fail."""
    assessment = evaluate(referral)
    outcomes = {r.outcome for r in assessment.results}
    if assessment.verdict is Verdict.eligible:
        assert not outcomes & {Outcome.failed, Outcome.unknown}
    assert (assessment.verdict is Verdict.ineligible) == (Outcome.failed in outcomes)


@given(referrals(), st.data())
def test_answering_an_open_question_never_removes_a_fail(
    referral: Referral, data: st.DataObject
) -> None:
    """Filling in any unknown answer keeps every existing fail — except that an answer which
    makes a given SFT score contradict its parts turns INC-07 into an open data check (spec
    revision 2: a contradiction is `unknown`, the reason showing both)."""
    open_questions = [name for name in ANSWERABLE if getattr(referral, name) is None]
    if not open_questions:
        return
    field = data.draw(st.sampled_from(open_questions), label="field")
    answered = _answer(referral, field, data.draw(FIELD_VALUES[field], label="value"))
    if answered is None:
        return
    before, after = evaluate(referral), evaluate(answered)
    removed = set(before.failed) - set(after.failed)
    if removed:
        assert removed == {"INC-07"}
        assert after.sft_risk is not None and after.sft_risk.contradiction
        assert after.result("INC-07").outcome is Outcome.unknown
        assert [w.kind for w in after.warnings if w.id == "INC-07"] == ["data_check"]


@given(referrals(), st.data())
def test_a_given_score_inside_the_range_never_changes_a_decided_outcome(
    referral: Referral, data: st.DataObject
) -> None:
    """For an SFT whose parts already decide INC-07, any given score inside their range gives
    the same outcome; one outside it is a contradiction, never a pass or a fail."""
    sft = referral.model_copy(update={"histology": "SFT", "sft_risk_score": None})
    parts = evaluate(sft)
    assert parts.sft_risk is not None
    low, high = parts.sft_risk.range.low, parts.sft_risk.range.high
    score = data.draw(st.integers(0, 7), label="given")
    given = evaluate(sft.model_copy(update={"sft_risk_score": score}))
    outcome = given.result("INC-07").outcome
    if not low <= score <= high:
        assert outcome is Outcome.unknown and given.sft_risk is not None
        assert given.sft_risk.contradiction
    elif parts.result("INC-07").outcome is not Outcome.unknown:
        assert outcome is parts.result("INC-07").outcome
    else:
        assert outcome is (Outcome.passed if score >= 6 else Outcome.failed)
