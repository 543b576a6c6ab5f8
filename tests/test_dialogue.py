"""The pure dialogue engine: what is asked, in which order, and what editing does."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from natars_bot.answers import Rejected
from natars_bot.dialogue import (
    UNKNOWN_CHOICE,
    Accepted,
    DialogueState,
    answer,
    back,
    current,
    edit,
    extras,
    new_failures,
    progress,
    to_referral,
    visible,
)
from natars_bot.eligibility import Verdict, evaluate
from natars_bot.flow import Question, default_flow

from .helpers import ELIGIBLE

FLOW = default_flow()


def _choice_index(question: Question, value: Any) -> int | None:
    for index, choice in enumerate(question.choices):
        if choice.value == value and type(choice.value) is type(value):
            return index
    return None


def walk(
    answers: dict[str, Any], state: DialogueState | None = None
) -> tuple[DialogueState, list[str]]:
    """Answer every question asked: from `answers` (a button if one matches, else typed),
    otherwise "not known yet" where allowed, else the first button. Returns the state and the
    fields asked, in order."""
    state = state or DialogueState()
    asked = []
    while (question := current(FLOW, state)) is not None:
        asked.append(question.field)
        if question.field in answers:
            value = answers[question.field]
            index = _choice_index(question, value)
            result = (
                answer(FLOW, state, choice=index)
                if index is not None
                else answer(FLOW, state, text=str(value) if value is not None else "not known yet")
            )
        elif question.allows_unknown:
            result = answer(FLOW, state, choice=UNKNOWN_CHOICE)
        else:
            result = answer(FLOW, state, choice=0)
        assert isinstance(result, Accepted), (question.field, result)
        state = result.state
    return state, asked


def test_a_complete_referral_for_each_histology_is_eligible() -> None:
    """Answering the flow with the eligible test referrals reproduces them exactly."""
    for histology, expected in ELIGIBLE.items():
        state, _ = walk({k: v for k, v in expected.items() if k not in ("referral_id", "site")})
        referral = to_referral(FLOW, state, site=expected["site"], referral_id="T-1")
        assessment = evaluate(referral)
        assert assessment.verdict is Verdict.eligible, (
            histology,
            assessment.unknown,
            assessment.failed,
        )


def test_only_questions_that_matter_are_asked() -> None:
    """IHC, FISH, grade for DDLPS only; mitoses, necrosis for SFT only; no pregnancy for men."""
    _, ddlps = walk({"histology": "DDLPS", "sex": "female"})
    _, lms = walk({"histology": "LMS", "sex": "male"})
    sft_parts = {"histology": "SFT", "sex": "male", "age_years": 60, "tumor_size_cm": 16}
    _, sft = walk({**sft_parts, "sft_mitoses_per_2mm2": 3, "sft_necrosis_percent": 20})
    assert {"grade", "ihc_mdm2", "ihc_cdk4", "fish_mdm2", "pregnant_or_breastfeeding"} <= set(ddlps)
    assert not {"grade", "ihc_mdm2", "sft_mitoses_per_2mm2", "pregnant_or_breastfeeding"} & set(lms)
    assert {"sft_mitoses_per_2mm2", "sft_necrosis_percent"} <= set(sft)
    assert "sft_risk_score" not in sft  # every part known: the score is computed
    # Spec revision 2: the score is asked only while the parts known leave INC-07 open.
    _, open_range = walk({**sft_parts, "sft_mitoses_per_2mm2": None, "sft_necrosis_percent": 20})
    assert "sft_risk_score" in open_range  # 1 + 3 + ? + 1: 5 to 7
    _, decided = walk(
        {**sft_parts, "age_years": 40, "tumor_size_cm": 6, "sft_mitoses_per_2mm2": None}
    )
    assert "sft_risk_score" not in decided  # 0 + 1 + ? + ?: at most 4, fails either way


def test_no_previous_chemotherapy_implies_no_anthracycline() -> None:
    """The anthracycline question is skipped after "no chemotherapy", and EXC-05 can still pass."""
    state, asked = walk({"prior_chemotherapy": False, "prior_targeted_therapy": False})
    assert "prior_anthracycline_or_ifosfamide" not in asked
    assert to_referral(FLOW, state).prior_anthracycline_or_ifosfamide is False
    state, asked = walk({"prior_chemotherapy": True})
    assert "prior_anthracycline_or_ifosfamide" in asked


def test_editing_histology_clears_hidden_answers_and_asks_new_ones() -> None:
    """DDLPS → SFT from the review: IHC answers go, mitoses and necrosis are asked next."""
    state, _ = walk({"histology": "DDLPS", "ihc_mdm2": "positive", "grade": 2})
    assert current(FLOW, state) is None
    state = edit(FLOW, state, "histology")
    assert isinstance(state, DialogueState)
    assert current(FLOW, state).field == "histology"
    result = answer(FLOW, state, text="SFT")
    assert isinstance(result, Accepted)
    state = result.state
    assert not {"grade", "ihc_mdm2", "ihc_cdk4", "fish_mdm2"} & set(state.answers)
    assert current(FLOW, state).field == "sft_mitoses_per_2mm2"
    assert state.answers["tumor_size_cm"] is None  # other answers stay


def test_back_forgets_the_last_answer() -> None:
    """Back re-asks the previous question; at the start it forgets nothing."""
    start = back(FLOW, DialogueState())
    assert (start.answers, start.order, start.view) == ({}, (), "ask")
    state = answer(FLOW, DialogueState(), text="S-1").state
    state = answer(FLOW, state, text="62").state
    assert current(FLOW, state).field == "sex"
    state = back(FLOW, state)
    assert current(FLOW, state).field == "age_years"
    assert state.answers == {"screening_number": "S-1"}


def test_back_during_an_edit_returns_to_the_review() -> None:
    """Leaving an edit keeps the old answer."""
    state, _ = walk({"age_years": 62})
    editing = edit(FLOW, state, "age_years")
    assert isinstance(editing, DialogueState)
    left = back(FLOW, editing)
    assert (left.answers, left.order, left.editing) == (state.answers, state.order, None)
    assert left.screen > editing.screen > state.screen  # each a screen of its own


def test_a_rejected_answer_changes_nothing() -> None:
    """A bad answer leaves the state as it was, so nothing already entered is lost."""
    state = answer(FLOW, DialogueState(), text="S-1").state
    result = answer(FLOW, state, text="sixty")
    assert result == Rejected("not_a_number")
    assert current(FLOW, state).field == "age_years"


def test_hidden_questions_cannot_be_edited() -> None:
    """Only questions shown for these answers can be changed."""
    state, _ = walk({"histology": "LMS"})
    assert edit(FLOW, state, "grade") == Rejected("not_editable")


def test_new_failures_are_reported_once() -> None:
    """The first answer that makes a criterion fail is flagged; acknowledged ones are not."""
    state = DialogueState()
    before = evaluate(to_referral(FLOW, state))
    state, _ = walk({"origin": "gi_tract"})
    after = evaluate(to_referral(FLOW, state))
    assert "EXC-01" in new_failures(before, after, state)
    acknowledged = state.model_copy(update={"acknowledged": ("EXC-01",)})
    assert "EXC-01" not in new_failures(before, after, acknowledged)


def test_extras_stay_out_of_the_referral() -> None:
    """The screening number and the note are kept apart from the referral the MDT sees."""
    state, _ = walk({"screening_number": "S-77", "note": "large mass"})
    assert extras(FLOW, state) == {"screening_number": "S-77", "note": "large mass"}
    assert "S-77" not in to_referral(FLOW, state).model_dump_json()


def test_progress_counts_shown_questions() -> None:
    """Progress is answered / shown, and reaches its total at the review."""
    state, asked = walk({"histology": "UPS", "sex": "male"})
    assert progress(FLOW, state) == (len(asked), len(asked))


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.text(max_size=20)),
        st.tuples(st.just("choice"), st.integers(-2, 7)),
        st.tuples(st.just("back"), st.none()),
        st.tuples(st.just("edit"), st.sampled_from([q.field for q in FLOW.questions])),
    ),
    max_size=60,
)


@given(ACTIONS)
def test_any_sequence_of_actions_keeps_the_state_consistent(actions: list[tuple[str, Any]]) -> None:
    """Typed text, buttons, back and edit in any order never raise, and only shown questions
    keep answers."""
    state = DialogueState()
    for kind, argument in actions:
        if kind == "text":
            result: Any = answer(FLOW, state, text=argument)
        elif kind == "choice":
            result = answer(FLOW, state, choice=argument)
        elif kind == "back":
            result = back(FLOW, state)
        else:
            result = edit(FLOW, state, argument)
        if isinstance(result, Accepted):
            state = result.state
        elif isinstance(result, DialogueState):
            state = result
        shown = {q.field for q in visible(FLOW, state)}
        assert set(state.answers) <= shown
        assert set(state.order) == set(state.answers)
        question = current(FLOW, state)
        assert question is None or question.field in shown
        evaluate(to_referral(FLOW, state))
