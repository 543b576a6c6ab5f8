"""The dialogue engine's screens one step at a time: Back from each kind of screen, a section's
list, answers bound to the row or question on screen, and the note confirmed on the review.
(The mutation benchmark found these unpinned by the unit tests: benchmarks/mutation.py.)"""

from __future__ import annotations

from benchmarks.taps import examples, walk
from natars_bot.dialogue.answers import Rejected
from natars_bot.dialogue.engine import (
    UNKNOWN_CHOICE,
    Accepted,
    DialogueState,
    Unsure,
    answer,
    back,
    current,
    edit,
    on_screen,
    open_section,
    pick,
    undone_fields,
)
from natars_bot.dialogue.flow import default_flow
from natars_bot.dialogue.groups import Confirmed, confirm, shortcut_offered, toggle, use_shortcut

from .test_groups import at_group

FLOW = default_flow()
DDLPS = examples()["DDLPS"]


def _review() -> DialogueState:
    done = walk(FLOW, DDLPS).state
    assert current(FLOW, done) is None and done.view == "ask"
    return done


def test_a_section_lists_its_answers_and_back_returns_to_the_review() -> None:
    """From the review (or an answer being changed), a section's list is its own screen with
    nothing being changed; Back returns to the review with every answer kept; an unknown
    section is refused."""
    review = _review()
    editing = edit(FLOW, review, "asa_class")
    assert isinstance(editing, DialogueState) and editing.editing == "asa_class"
    listed = open_section(FLOW, editing, "fitness")
    assert isinstance(listed, DialogueState)
    assert (listed.view, listed.section, listed.editing) == ("section", "fitness", None)
    assert undone_fields(listed) == ()  # Back here leaves the list, undoing nothing
    returned = back(FLOW, listed)
    assert (returned.view, returned.section) == ("ask", None)
    assert returned.answers == review.answers and current(FLOW, returned) is None
    assert open_section(FLOW, review, "no_such_section") == Rejected("not_editable")


def test_back_from_a_reading_to_confirm_asks_the_question_again() -> None:
    """A typed answer that reads two ways waits on a "did you mean" screen: Back returns to
    the question, nothing recorded, nothing pending."""
    state = walk(FLOW, {}, DialogueState(), limit=0).state
    unsure = answer(FLOW, state, text="S")
    assert isinstance(unsure, Unsure) and unsure.state.view == "confirm"
    assert undone_fields(unsure.state) == ()
    again = back(FLOW, unsure.state)
    assert (again.view, again.pending, again.answers) == ("ask", None, {})
    assert current(FLOW, again) == current(FLOW, state)


def test_back_on_a_rows_screen_keeps_the_screen_and_offers_the_shortcut_again() -> None:
    """A row answered, then Back: the same rows screen stays on show (not the next question),
    that row is open again, and with no row chosen the shortcut is offered again."""
    state = at_group("pathology_tests")
    group = FLOW.group("pathology_tests")
    row = answer(FLOW, state, choice=0, field="ihc_cdk4")
    assert isinstance(row, Accepted) and row.state.group == "pathology_tests"
    undone = back(FLOW, row.state)
    assert undone.group == "pathology_tests" and on_screen(FLOW, undone) == group
    assert "ihc_cdk4" not in undone.answers and undone.view == "ask"
    assert shortcut_offered(FLOW, undone, group)


def test_back_after_a_step_keeps_the_steps_before_it_whole() -> None:
    """The MDT's shortcut, then consent: one Back undoes consent only, and the next Back
    the shortcut's two answers together (their link survives the Back between)."""
    shortcut = use_shortcut(FLOW, at_group("mdt_assessment"))
    assert isinstance(shortcut, Confirmed)
    consent = answer(FLOW, shortcut.state, choice=0)
    assert isinstance(consent, Accepted) and consent.question.field == "consent"
    assert undone_fields(consent.state) == ("consent",)
    once = back(FLOW, consent.state)
    assert undone_fields(once) == ("r0_r1_resectable", "fit_for_chemo_and_surgery")
    twice = back(FLOW, once)
    assert on_screen(FLOW, twice) == FLOW.group("mdt_assessment")


def test_back_over_the_checklist_asked_one_by_one() -> None:
    """After "Some not known yet": Back on the first item returns to the checklist, undoing
    nothing; once an item is answered, Back undoes it and asks it again, still one by one."""
    checklist = at_group("exclusions")
    asked = confirm(FLOW, checklist, rest_no=False)
    assert isinstance(asked, Confirmed) and asked.state.one_by_one
    first = current(FLOW, asked.state)
    assert first is not None and on_screen(FLOW, asked.state) is None
    returned = back(FLOW, asked.state)
    assert returned.one_by_one == () and returned.group is None
    assert on_screen(FLOW, returned) == FLOW.group("exclusions")
    assert returned.answers == checklist.answers
    answered = answer(FLOW, asked.state, choice=1)  # No
    assert isinstance(answered, Accepted) and answered.question == first
    undone = back(FLOW, answered.state)
    assert undone.one_by_one == asked.state.one_by_one
    assert current(FLOW, undone) == first and on_screen(FLOW, undone) is None


def test_back_after_a_tick_keeps_the_checklist_on_show() -> None:
    checklist = at_group("exclusions")
    ticked = toggle(FLOW, checklist, "prior_radiotherapy")
    assert isinstance(ticked, Accepted) and ticked.state.group == "exclusions"
    undone = back(FLOW, ticked.state)
    assert undone.group == "exclusions" and "prior_radiotherapy" not in undone.answers


def test_an_answer_is_bound_to_the_row_or_question_on_screen() -> None:
    """A rows screen takes a button of one of its rows (the first open row when none is
    named), never a typed answer nor another question's field; the checklist takes only its
    toggles; a single question refuses an answer meant for another."""
    rows = at_group("pathology_tests")
    assert answer(FLOW, rows, choice=0, field="grade") == Rejected("not_on_screen")
    assert answer(FLOW, rows, text="positive") == Rejected("use_buttons")
    first = answer(FLOW, rows, choice=0)
    assert isinstance(first, Accepted) and first.question.field == "ihc_mdm2"
    assert answer(FLOW, at_group("exclusions"), choice=0) == Rejected("use_buttons")
    single = walk(FLOW, {}, DialogueState(), limit=0).state
    assert answer(FLOW, single, choice=0, field="age_years") == Rejected("not_on_screen")
    named = answer(FLOW, single, choice=UNKNOWN_CHOICE, field="screening_number")
    assert isinstance(named, Accepted) and named.value is None


def test_a_name_like_answer_is_confirmed_before_it_is_stored() -> None:
    """A screening number that looks like a name waits for confirmation without being kept in
    the state; picking it (the held reading handed back) records it; a reading that is not
    offered asks for the answer again; nothing is picked off the confirmation screen."""
    state = walk(FLOW, {}, DialogueState(), limit=0).state
    unsure = answer(FLOW, state, text="Wang")
    assert isinstance(unsure, Unsure), unsure
    assert unsure.state.pending is not None and unsure.state.pending.text == ""
    assert pick(FLOW, state, 0, held=unsure.options) == Rejected("decide_first")
    assert pick(FLOW, unsure.state, len(unsure.options), held=unsure.options) == Rejected("retype")
    picked = pick(FLOW, unsure.state, 0, held=unsure.options)
    assert isinstance(picked, Accepted) and picked.question.field == "screening_number"
    assert picked.state.answers == {"screening_number": unsure.options[0]}
