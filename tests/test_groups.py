"""Group screens and progress in the pure engine: the exclusion checklist, rows screens, Back over
them, and a percentage that only goes forward."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.taps import before_flow, count, examples, walk
from natars_bot.dialogue.answers import Rejected
from natars_bot.dialogue.engine import (
    UNKNOWN_CHOICE,
    Accepted,
    DialogueState,
    answer,
    back,
    current,
    edit,
    members,
    new_failures,
    on_screen,
    to_referral,
    undone_fields,
)
from natars_bot.dialogue.flow import Flow, Group, default_flow, parse_flow
from natars_bot.dialogue.groups import (
    Confirmed,
    Unticked,
    confirm,
    shortcut_offered,
    ticked,
    toggle,
    use_shortcut,
)
from natars_bot.dialogue.progress import measure
from natars_bot.protocol.eligibility import evaluate
from natars_bot.resources import resource_dir

FLOW = default_flow()
ONE_BY_ONE = before_flow(FLOW)
CHECKLIST = FLOW.group("exclusions")
DDLPS = examples()["DDLPS"]


def at_group(name: str, answers: dict[str, Any] | None = None, flow: Flow = FLOW) -> DialogueState:
    """The state on the screen of group `name`, earlier questions answered from DDLPS (and
    `answers`), in `flow`."""
    state = DialogueState()
    known = {**DDLPS, **(answers or {})}
    while (group := on_screen(flow, state)) is None or group.name != name:
        question = current(flow, state)
        assert question is not None, f"{name} never shown"
        state = walk(flow, {question.field: known.get(question.field)}, state, limit=1).state
    return state


def _referral(flow: Any, answers: dict[str, Any]) -> Any:
    return to_referral(flow, walk(flow, answers).state, referral_id="T", site="X")


def test_the_checklist_answers_as_the_questions_one_by_one() -> None:
    """All "None of the others applies": the same referral and verdict as every No one by one."""
    for histology, answers in examples().items():
        grouped, single = _referral(FLOW, answers), _referral(ONE_BY_ONE, answers)
        assert grouped == single, histology
        assert evaluate(grouped).verdict == evaluate(single).verdict


def test_the_checklist_shows_only_what_the_flow_asks_for_this_patient() -> None:
    """A man's checklist has no pregnancy item; a woman's has; every item is a checklist one."""
    man = members(FLOW, at_group("exclusions", {"sex": "male"}), CHECKLIST)
    woman = members(FLOW, at_group("exclusions", {"sex": "female"}), CHECKLIST)
    assert {q.field for q in woman} - {q.field for q in man} == {"pregnant_or_breastfeeding"}
    assert len(woman) == 12 and all(q.type == "yes_no" for q in woman)


def test_a_tick_is_a_yes_and_shows_its_exclusion_at_once() -> None:
    """Two ticks: each is recorded yes on a new screen, the checklist stays on show, and the
    criterion each makes fail is new at that tick; the rest confirmed are no."""
    state = at_group("exclusions")
    before = evaluate(to_referral(FLOW, state))
    first = toggle(FLOW, state, "prior_radiotherapy")
    assert isinstance(first, Accepted) and first.value is True
    assert first.state.screen == state.screen + 1
    assert on_screen(FLOW, first.state) == CHECKLIST
    after_first = evaluate(to_referral(FLOW, first.state))
    assert new_failures(before, after_first, first.state) == ("INC-02",)
    second = toggle(FLOW, first.state, "second_malignancy")
    assert isinstance(second, Accepted)
    after_second = evaluate(to_referral(FLOW, second.state))
    assert new_failures(after_first, after_second, second.state) == ("INC-03",)
    done = confirm(FLOW, second.state)
    assert isinstance(done, Confirmed)
    assert done.values == {
        q.field: False
        for q in members(FLOW, state, CHECKLIST)
        if q.field not in ("prior_radiotherapy", "second_malignancy")
    }
    ticked_path = {**DDLPS, "prior_radiotherapy": True, "second_malignancy": True}
    assert _referral(FLOW, ticked_path) == _referral(ONE_BY_ONE, ticked_path)


def test_untick_forgets_the_yes_and_a_double_tap_is_two_screens() -> None:
    """Toggling twice unticks: the answer is gone (not no), each toggle a screen of its own."""
    state = at_group("exclusions")
    tick = toggle(FLOW, state, "prior_resection")
    assert isinstance(tick, Accepted)
    untick = toggle(FLOW, tick.state, "prior_resection")
    assert isinstance(untick, Unticked)
    assert "prior_resection" not in untick.state.answers
    assert untick.state.screen == state.screen + 2
    assert toggle(FLOW, state, "metastasis") == Rejected("not_on_screen")
    assert answer(FLOW, state, text="no") == Rejected("use_buttons")


def test_some_not_known_asks_the_unticked_ones_one_by_one() -> None:
    """A tick, then "Some not known yet": the unticked items are asked each with its "not
    known" button, in order; Back on the first of them returns to the checklist."""
    state = at_group("exclusions")
    tick = toggle(FLOW, state, "crosses_diaphragm")
    assert isinstance(tick, Accepted)
    some = confirm(FLOW, tick.state, rest_no=False)
    assert isinstance(some, Confirmed) and some.values == {}
    question = current(FLOW, some.state)
    assert question is not None and question.field == "prior_resection"
    assert on_screen(FLOW, some.state) is None and question.allows_unknown
    returned = back(FLOW, some.state)
    assert on_screen(FLOW, returned) == CHECKLIST and ticked(
        returned, FLOW.question("crosses_diaphragm")
    )
    answered = answer(FLOW, some.state, choice=UNKNOWN_CHOICE)
    assert isinstance(answered, Accepted)
    nxt = current(FLOW, answered.state)
    assert nxt is not None and nxt.field == "prior_chemotherapy"
    # The same referral as answering everything one at a time.
    fallback = {**DDLPS, "crosses_diaphragm": True, "prior_resection": None}
    grouped = walk(FLOW, fallback).state
    single = walk(ONE_BY_ONE, fallback).state
    assert to_referral(FLOW, grouped) == to_referral(ONE_BY_ONE, single)


def test_the_chemotherapy_follow_up_is_asked_after_the_checklist() -> None:
    """Ticking chemotherapy opens the anthracycline question, asked once the checklist is
    confirmed; no chemotherapy hides it (it takes its when_hidden no)."""
    state = at_group("exclusions")
    tick = toggle(FLOW, state, "prior_chemotherapy")
    assert isinstance(tick, Accepted)
    done = confirm(FLOW, tick.state)
    assert isinstance(done, Confirmed)
    question = current(FLOW, done.state)
    assert question is not None and question.field == "prior_anthracycline_or_ifosfamide"
    none = confirm(FLOW, state)
    assert isinstance(none, Confirmed)
    question = current(FLOW, none.state)
    assert question is not None and question.field == "metastasis"
    assert to_referral(FLOW, none.state).prior_anthracycline_or_ifosfamide is False


def test_back_undoes_the_whole_confirmation_in_one_step() -> None:
    """After "None of the others applies", one Back forgets every no it recorded (and names
    them), and the checklist is on show again with its ticks."""
    state = at_group("exclusions")
    tick = toggle(FLOW, state, "psychological_condition")
    assert isinstance(tick, Accepted)
    done = confirm(FLOW, tick.state)
    assert isinstance(done, Confirmed)
    assert set(undone_fields(done.state)) == set(done.values)
    again = back(FLOW, done.state)
    assert on_screen(FLOW, again) == CHECKLIST
    assert again.answers.get("psychological_condition") is True
    assert not set(done.values) & set(again.answers)


def test_a_rows_screen_takes_each_row_then_its_confirmation() -> None:
    """IHC and FISH on one screen: each row answered (a new screen each, the screen kept),
    confirm refused while a row is open, then the next question."""
    state = at_group("pathology_tests")
    group = FLOW.group("pathology_tests")
    assert confirm(FLOW, state) == Rejected("rows_open")
    for field, choice in (("fish_mdm2", 0), ("ihc_mdm2", 0), ("ihc_cdk4", 1)):
        result = answer(FLOW, state, choice=choice, field=field)
        assert isinstance(result, Accepted) and result.question.field == field
        assert on_screen(FLOW, result.state) == group
        state = result.state
    assert answer(FLOW, state, choice=0, field="origin") == Rejected("not_on_screen")
    done = confirm(FLOW, state)
    assert isinstance(done, Confirmed)
    question = current(FLOW, done.state)
    assert question is not None and question.field == "tumor_size_cm"
    assert (state.answers["ihc_cdk4"], state.answers["fish_mdm2"]) == ("equivocal", "amplified")


def _rows_then_confirm(flow: Any, state: DialogueState, values: dict[str, Any]) -> Any:
    """The rows screen on show answered row by row with `values`' buttons, then confirmed."""
    group = on_screen(flow, state)
    assert group is not None
    for question in members(flow, state, group):
        choice = next(
            n
            for n, c in enumerate(question.choices)
            if c.value == values[question.field] and type(c.value) is type(values[question.field])
        )
        result = answer(flow, state, choice=choice, field=question.field)
        assert isinstance(result, Accepted), result
        state = result.state
    done = confirm(flow, state)
    assert isinstance(done, Confirmed)
    return done.state


@pytest.mark.parametrize("name", ["pathology_tests", "mdt_assessment"])
def test_the_shortcut_records_what_the_rows_and_their_confirmation_would(name: str) -> None:
    """On a rows screen with no row chosen, the shortcut is one new screen that records every
    row's usual answer and confirms: the same answers, the same next question and the same
    verdict as each row pressed and then "Confirm"."""
    state = at_group(name)
    group = FLOW.group(name)
    assert group.shortcut is not None and shortcut_offered(FLOW, state, group)
    result = use_shortcut(FLOW, state)
    assert isinstance(result, Confirmed) and result.group == group
    assert result.values == dict(group.shortcut.answers)
    assert set(result.values) == set(group.fields)
    assert result.state.screen == state.screen + 1
    rows = _rows_then_confirm(FLOW, state, dict(group.shortcut.answers))
    assert result.state.answers == rows.answers
    assert current(FLOW, result.state) == current(FLOW, rows)
    assert on_screen(FLOW, result.state) == on_screen(FLOW, rows) != group
    referral = to_referral(FLOW, result.state)
    assert referral == to_referral(FLOW, rows)
    assert evaluate(referral) == evaluate(to_referral(FLOW, rows))


def test_the_shortcut_path_gives_every_example_the_rows_paths_referral() -> None:
    """Each eligible example walked with the shortcuts and row by row: the same referral and
    verdict, in fewer inputs (the DDLPS has two shortcuts, the others one)."""
    for histology, answers in examples().items():
        short, rows = walk(FLOW, answers), walk(FLOW, answers, shortcuts=False)
        assert short.state.answers == rows.state.answers, histology
        grouped = to_referral(FLOW, short.state, referral_id="T", site="X")
        assert grouped == to_referral(FLOW, rows.state, referral_id="T", site="X")
        assert evaluate(grouped).verdict.value == "eligible", histology
        # A shortcut is one tap for a tap per row and the confirmation: the DDLPS's IHC/FISH
        # screen (three rows) and the MDT's (two); the others have only the MDT's.
        saved = {"DDLPS": (3 + 1 - 1) + (2 + 1 - 1)}.get(histology, 2 + 1 - 1)
        assert rows.inputs - short.inputs == saved, histology


def test_the_shortcut_only_while_no_row_is_chosen() -> None:
    """Once a row is chosen the rows are the way on: no shortcut offered, and a shortcut
    refused; nor on the checklist, nor on a question of its own."""
    state = at_group("pathology_tests")
    group = FLOW.group("pathology_tests")
    row = answer(FLOW, state, choice=0, field="fish_mdm2")
    assert isinstance(row, Accepted)
    assert not shortcut_offered(FLOW, row.state, group)
    assert use_shortcut(FLOW, row.state) == Rejected("rows_started")
    checklist = at_group("exclusions")
    assert use_shortcut(FLOW, checklist) == Rejected("use_buttons")
    assert not shortcut_offered(FLOW, checklist, group)
    # A question of its own on show (an answer awaiting "did you mean…"): nothing to shortcut.
    unsure = answer(FLOW, DialogueState(), text="S")
    assert unsure.state.view == "confirm"
    assert use_shortcut(FLOW, unsure.state) == Rejected("decide_first")
    assert not shortcut_offered(FLOW, unsure.state, group)


def test_back_undoes_the_shortcut_in_one_step_and_offers_it_again() -> None:
    """One Back forgets every answer the shortcut recorded (the step names them all): the
    rows screen is on show again, no row chosen, the shortcut offered."""
    state = at_group("mdt_assessment")
    group = FLOW.group("mdt_assessment")
    result = use_shortcut(FLOW, state)
    assert isinstance(result, Confirmed)
    assert undone_fields(result.state) == group.fields
    again = back(FLOW, result.state)
    assert on_screen(FLOW, again) == group
    assert not set(group.fields) & set(again.answers)
    assert again.answers == state.answers
    assert shortcut_offered(FLOW, again, group)


def test_an_excluding_shortcut_fails_what_its_rows_would() -> None:
    """A flow whose shortcut's answers exclude (negative IHC, no amplification): the same
    criteria newly fail as after the rows answered one by one."""
    raw = yaml.safe_load((resource_dir("conversations") / "triage.yaml").read_text("utf-8"))
    group = next(g for g in raw["groups"] if g["name"] == "pathology_tests")
    excluding = {"ihc_mdm2": "negative", "ihc_cdk4": "negative", "fish_mdm2": "not_amplified"}
    group["shortcut"] = {
        "label": {
            "en": "MDM2 negative · CDK4 negative · FISH not amplified",
            "zh": "MDM2阴性 · CDK4阴性 · FISH无扩增",
        },
        "answers": excluding,
    }
    flow = parse_flow(copy.deepcopy(raw), source="triage.yaml")
    state = at_group("pathology_tests", flow=flow)
    before = evaluate(to_referral(flow, state))
    result = use_shortcut(flow, state)
    assert isinstance(result, Confirmed) and result.values == excluding
    rows = _rows_then_confirm(flow, state, excluding)
    short_fails = new_failures(before, evaluate(to_referral(flow, result.state)), result.state)
    row_fails = new_failures(before, evaluate(to_referral(flow, rows)), rows)
    assert short_fails and short_fails == row_fails


def test_a_typical_eligible_ddlps_takes_fewer_inputs() -> None:
    """The benchmark's count: fewer than before for every example, and the DDLPS figure."""
    for histology, answers in examples().items():
        assert count(FLOW, answers) < count(FLOW, answers, before=True) - 8, histology
    assert count(FLOW, DDLPS) == 17
    assert count(FLOW, DDLPS, shortcuts=False) == 22
    assert count(FLOW, DDLPS, before=True) == 33


def _groups(flow: Any) -> list[Group]:
    return list(flow.groups)


@st.composite
def dialogues(draw: st.DrawFn) -> list[DialogueState]:
    """A dialogue answered forward with random answers: branches open and close (histology,
    the SFT parts, chemotherapy), checklist items ticked and unticked, rows in any order."""
    state = DialogueState()
    states = [state]
    for _ in range(120):
        group = on_screen(FLOW, state)
        result: Any
        if group is not None and group.kind == "checklist":
            items = members(FLOW, state, group)
            move = draw(st.sampled_from(["toggle", "none", "some"]))
            if move == "toggle":
                result = toggle(FLOW, state, draw(st.sampled_from(items)).field)
            else:
                result = confirm(FLOW, state, rest_no=move == "none")
        elif group is not None:
            open_rows = [q for q in members(FLOW, state, group) if q.field not in state.answers]
            if not open_rows:
                result = confirm(FLOW, state)
            else:
                row = draw(st.sampled_from(open_rows))
                result = answer(FLOW, state, choice=0, field=row.field)
        else:
            question = current(FLOW, state)
            if question is None:
                break
            choices = list(range(len(question.choices)))
            if question.allows_unknown:
                choices.append(UNKNOWN_CHOICE)
            if choices:
                result = answer(FLOW, state, choice=draw(st.sampled_from(choices)))
            else:
                typed = {"age_years": "61", "tumor_size_cm": "12 cm"}.get(question.field)
                number = str(draw(st.integers(0, 20)))
                result = answer(FLOW, state, text=typed or number)
        assert isinstance(result, Accepted | Unticked | Confirmed), result
        state = result.state
        states.append(state)
    return states


@settings(max_examples=150, deadline=None)
@given(dialogues())
def test_progress_never_decreases_while_answering(states: list[DialogueState]) -> None:
    """Over any dialogue answered forward, the percentage and the section's place never go
    back, whichever branches the answers open or close; the review is 100 %."""
    measures = [measure(FLOW, state) for state in states]
    percents = [m.percent for m in measures]
    assert percents == sorted(percents)
    places = [m.place for m in measures]
    assert places == sorted(places)
    assert all(0 <= p <= 100 for p in percents)
    if current(FLOW, states[-1]) is None:
        assert percents[-1] == 100


@pytest.mark.parametrize(
    ("edited", "choice"),
    [("r0_r1_resectable", 1), ("ihc_mdm2", 1), ("prior_resection", 0)],
)
def test_an_answer_changed_from_the_review_leaves_its_step(edited: str, choice: int) -> None:
    """A shortcut (or "None of the others applies") records several answers as one step; one
    of them changed from the review becomes a step of its own, and the rest of the old step
    stays one step: Back after the change undoes the change, then each later step as it was
    taken — never an answer of an earlier step with one of the old step's (found in review:
    the third Back undid ASA class with "fit for chemotherapy")."""
    done = walk(FLOW, DDLPS)
    assert current(FLOW, done.state) is None  # the review
    steps = []
    state = done.state
    while undone_fields(state):
        steps.append(undone_fields(state))
        state = back(FLOW, state)
    # The several-answer steps stay whole over the later steps: the MDT's shortcut, the
    # IHC/FISH one and the checklist's "None of these applies".
    assert ("r0_r1_resectable", "fit_for_chemo_and_surgery") in steps
    assert ("ihc_mdm2", "ihc_cdk4", "fish_mdm2") in steps
    assert any(step[0] == "prior_resection" and len(step) > 10 for step in steps), steps
    editing = edit(FLOW, done.state, edited)
    assert isinstance(editing, DialogueState)
    changed = answer(FLOW, editing, choice=choice)
    assert isinstance(changed, Accepted), changed
    state, after = changed.state, []
    while undone_fields(state):
        after.append(undone_fields(state))
        state = back(FLOW, state)
    assert after[0] == (edited,)
    rest = [tuple(f for f in step if f != edited) for step in steps]
    assert after[1:] == [step for step in rest if step], after


def test_no_shortcut_while_a_row_of_it_is_hidden() -> None:
    """A flow where FISH is asked only for grade 3: at grade 2 the IHC/FISH screen has two rows,
    and the shortcut, whose button says "FISH amplified", is not offered (nor taken); at grade
    3 it is."""
    raw = yaml.safe_load((resource_dir("conversations") / "triage.yaml").read_text("utf-8"))
    fish = next(q for q in raw["questions"] if q["field"] == "fish_mdm2")
    fish["show_if"] = {"all": [fish["show_if"], {"field": "grade", "is": 3}]}
    flow = parse_flow(copy.deepcopy(raw), source="triage.yaml")
    group = flow.group("pathology_tests")
    for grade, offered in ((2, False), (3, True)):
        state = at_group("pathology_tests", {"grade": grade}, flow)
        assert len(members(flow, state, group)) == (3 if offered else 2)
        assert shortcut_offered(flow, state, group) is offered
        assert isinstance(use_shortcut(flow, state), Confirmed) is offered
