"""Properties of the engine over any valid referral (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from natars_bot.eligibility import Outcome, Verdict, evaluate
from natars_bot.protocol import default_protocol
from natars_bot.referral import Referral

from .strategies import ANSWERABLE, FIELD_VALUES, referrals

CRITERIA = [c.id for c in default_protocol().criteria]


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


# A given SFT score overrides the score computed from its parts (shared/spec/criteria.md), so
# answering `sft_risk_score` may legitimately turn INC-07's fail into a pass; every other
# answer must keep every fail.
MONOTONE_FIELDS = [name for name in ANSWERABLE if name != "sft_risk_score"]


@given(referrals(), st.data())
def test_answering_an_open_question_never_removes_a_fail(
    referral: Referral, data: st.DataObject
) -> None:
    """Filling in any unknown answer keeps every existing fail."""
    open_questions = [name for name in MONOTONE_FIELDS if getattr(referral, name) is None]
    if not open_questions:
        return
    field = data.draw(st.sampled_from(open_questions), label="field")
    value = data.draw(FIELD_VALUES[field], label="value")
    before = evaluate(referral)
    after = evaluate(referral.model_copy(update={field: value}))
    assert set(before.failed) <= set(after.failed)
