"""The pure dialogue engine: what is asked, in which order, and what editing does."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.taps import walk as walk_engine
from natars_bot.dialogue.answers import Rejected
from natars_bot.dialogue.engine import (
    UNKNOWN_CHOICE,
    Accepted,
    DialogueState,
    Pending,
    Unsure,
    answer,
    back,
    current,
    edit,
    extras,
    new_failures,
    open_section,
    pick,
    progress,
    shown,
    to_referral,
    undone,
    visible,
)
from natars_bot.dialogue.flow import Question, default_flow
from natars_bot.dialogue.groups import Confirmed, Unticked, confirm, toggle
from natars_bot.protocol.eligibility import Verdict, evaluate

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
    """Answer every screen shown (benchmarks.taps.walk: a button if one matches, else typed;
    "not known yet" where allowed, else the first button; checklists ticked and confirmed).
    Returns the state and the fields asked one by one or by row, in order."""
    done = walk_engine(FLOW, answers, state)
    return done.state, list(done.asked)


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
        st.tuples(st.just("toggle"), st.sampled_from([q.field for q in FLOW.questions])),
        st.tuples(st.just("row"), st.sampled_from([q.field for q in FLOW.questions])),
        st.tuples(st.just("confirm"), st.booleans()),
        st.tuples(st.just("section"), st.sampled_from([s.name for s in FLOW.sections])),
    ),
    max_size=60,
)


@given(ACTIONS)
def test_any_sequence_of_actions_keeps_the_state_consistent(actions: list[tuple[str, Any]]) -> None:
    """Typed text, buttons, toggles, rows, confirmations, sections, back and edit in any order
    never raise, only shown questions keep answers, and every step is a new screen."""
    state = DialogueState()
    for kind, argument in actions:
        if kind == "text":
            result: Any = answer(FLOW, state, text=argument)
        elif kind == "choice":
            result = answer(FLOW, state, choice=argument)
        elif kind == "back":
            result = back(FLOW, state)
        elif kind == "toggle":
            result = toggle(FLOW, state, argument)
        elif kind == "row":
            result = answer(FLOW, state, choice=0, field=argument)
        elif kind == "confirm":
            result = confirm(FLOW, state, rest_no=argument)
        elif kind == "section":
            result = open_section(FLOW, state, argument)
        else:
            result = edit(FLOW, state, argument)
        before = state.screen
        if isinstance(result, Accepted | Unticked | Confirmed):
            state = result.state
        elif isinstance(result, DialogueState):
            state = result
        assert state.screen in (before, before + 1)
        shown = {q.field for q in visible(FLOW, state)}
        assert set(state.answers) <= shown
        assert set(state.order) == set(state.answers)
        assert set(state.joined) <= set(state.order)
        question = current(FLOW, state)
        assert question is None or question.field in shown
        evaluate(to_referral(FLOW, state))


# ------------------------------------------------------------------ screens and confirmations


def _at(field: str) -> DialogueState:
    """The state with every question before `field` answered "not known" (or first button)."""
    state = DialogueState()
    while (question := current(FLOW, state)) is not None and question.field != field:
        choice = UNKNOWN_CHOICE if question.allows_unknown else 0
        result = answer(FLOW, state, choice=choice)
        assert isinstance(result, Accepted)
        state = result.state
    return state


def test_an_accepted_answer_says_what_it_took() -> None:
    """The question, the value, and whether "about" was read; a new screen for what follows."""
    state = _at("age_years")
    result = answer(FLOW, state, text="about 60")
    assert isinstance(result, Accepted)
    assert (result.question.field, result.value, result.approximate) == ("age_years", 60, True)
    assert (result.state.screen, result.state.view) == (state.screen + 1, "ask")
    exact = answer(FLOW, state, text="60")
    assert isinstance(exact, Accepted) and exact.approximate is False
    pressed = answer(FLOW, _at("sex"), choice=1)
    assert isinstance(pressed, Accepted)
    assert (pressed.question.field, pressed.value) == ("sex", "male")


def test_answers_are_refused_with_their_reason() -> None:
    """No question left for a button, one that is not there, a screen that asks for a decision
    first; on the review a typed text is the note, written beside the verdict."""
    state, _ = walk({})
    assert answer(FLOW, state, choice=0) == Rejected("no_question")
    note = answer(FLOW, state, text="60")
    assert isinstance(note, Accepted) and (note.question.field, note.value) == ("note", "60")
    assert current(FLOW, note.state) is None  # the review again, with the note
    assert answer(FLOW, _at("sex"), choice=7) == Rejected("not_a_choice")
    assert answer(FLOW, _at("sex"), choice=UNKNOWN_CHOICE) == Rejected("not_a_choice")
    for view in ("verdict", "failed", "cancel"):
        waiting = shown(_at("age_years"), view)  # type: ignore[arg-type]
        assert answer(FLOW, waiting, text="60") == Rejected("decide_first")
        assert answer(FLOW, waiting, choice=0) == Rejected("decide_first")


def test_a_size_read_two_ways_is_confirmed_before_it_is_stored() -> None:
    """ "95": the state shows the confirmation with both readings and stores no size yet; the
    surgeon's pick is the answer; "retype" or a typed text starts again."""
    state = _at("tumor_size_cm")
    result = answer(FLOW, state, text="95")
    assert isinstance(result, Unsure)
    assert (result.question.field, result.options, result.text) == (
        "tumor_size_cm",
        (9.5, 95.0),
        "95",
    )
    confirming = result.state
    assert (confirming.view, confirming.screen) == ("confirm", state.screen + 1)
    assert confirming.pending == Pending(
        field="tumor_size_cm", text="95", reason="size_unit", options=(9.5, 95.0)
    )
    assert "tumor_size_cm" not in confirming.answers
    assert answer(FLOW, confirming, choice=0) == Rejected("decide_first")  # no button of it
    picked = pick(FLOW, confirming, 0)
    assert isinstance(picked, Accepted)
    assert (picked.question.field, picked.value) == ("tumor_size_cm", 9.5)
    assert picked.state.answers["tumor_size_cm"] == 9.5
    assert (picked.state.view, picked.state.pending) == ("ask", None)
    assert picked.state.screen == confirming.screen + 1
    assert pick(FLOW, confirming, -1) == Rejected("retype")
    assert pick(FLOW, confirming, 2) == Rejected("retype")
    assert pick(FLOW, state, 0) == Rejected("decide_first")  # not on a confirmation
    retyped = answer(FLOW, confirming, text="95 mm")
    assert isinstance(retyped, Accepted) and retyped.value == 9.5
    left = back(FLOW, confirming)
    assert (left.view, left.pending, left.answers) == ("ask", None, confirming.answers)
    assert undone(confirming) is None


def test_a_name_like_screening_number_is_held_outside_the_state() -> None:
    """Nothing that looks like a name is stored before it is confirmed: not in the state."""
    state = DialogueState()
    result = answer(FLOW, state, text="Li Wei")
    assert isinstance(result, Unsure)
    assert (result.options, result.text) == (("Li Wei",), "Li Wei")
    assert result.state.pending == Pending(
        field="screening_number", text="", reason="looks_like_name", options=()
    )
    assert "Li Wei" not in result.state.model_dump_json()
    assert pick(FLOW, result.state, 0) == Rejected("retype")  # the held text is gone
    confirmed = pick(FLOW, result.state, 0, ("Li Wei",))
    assert isinstance(confirmed, Accepted)
    assert confirmed.state.answers == {"screening_number": "Li Wei"}


def test_back_says_what_it_undoes_and_forgets_the_failure_with_it() -> None:
    """From the exclusion screen Back undoes the excluding answer; its criterion is no longer
    "seen", so answering it again shows it again."""
    state = _at("origin")
    result = answer(FLOW, state, text="GI tract")
    assert isinstance(result, Accepted)
    failed = shown(result.state, "failed", failing=("EXC-01",), acknowledged=("EXC-01",))
    assert undone(failed) == "origin"
    undid = back(FLOW, failed)
    assert (undid.view, undid.failing, undid.acknowledged) == ("ask", (), ())
    assert "origin" not in undid.answers
    assert undid.screen == failed.screen + 1
    editing = edit(FLOW, _at("origin"), "age_years")
    assert isinstance(editing, DialogueState)
    assert undone(editing) is None
    assert undone(DialogueState()) is None
    left = back(FLOW, editing)
    assert (left.view, left.editing) == ("ask", None)


def test_every_new_screen_has_its_own_number() -> None:
    """shown() moves to a new screen and forgets the last screen's failures and confirmation."""
    pending = Pending(field="tumor_size_cm", text="95", reason="size_unit", options=(9.5,))
    state = DialogueState(screen=4, view="confirm", failing=("EXC-01",), pending=pending)
    verdict = shown(state, "verdict")
    assert (verdict.screen, verdict.view, verdict.failing, verdict.pending) == (
        5,
        "verdict",
        (),
        None,
    )
    assert shown(state, "ask", editing="age_years").editing == "age_years"


def test_new_failures_leave_out_what_was_seen_before() -> None:
    """A criterion that failed before this answer, or was acknowledged, is not new."""
    state, _ = walk({"origin": "gi_tract", "prior_resection": True})
    after = evaluate(to_referral(FLOW, state))
    assert set(new_failures(None, after, DialogueState())) >= {"EXC-01", "INC-02"}
    before_state, _ = walk({"origin": "gi_tract"})
    before = evaluate(to_referral(FLOW, before_state))
    assert "EXC-01" not in new_failures(before, after, DialogueState())
    assert "INC-02" in new_failures(before, after, DialogueState())
    assert new_failures(None, after, DialogueState(acknowledged=after.failed)) == ()
