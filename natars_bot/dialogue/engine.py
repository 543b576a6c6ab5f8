"""The dialogue engine: from the flow and the answers so far, what to ask next.

Pure: no Telegram, no database, no clock. A `DialogueState` is a referral's progress (kept in the
referral's own row by the store); each function takes one and returns a new one:

    current(flow, state)              the question to ask, or None when the review is due
    answer(flow, state, text=…)       a typed answer → Accepted(new state), Unsure(state that
                                      asks to confirm a reading) or Rejected(reason)
    answer(flow, state, choice=i)     a pressed button (i = -1: "not known yet")
    pick(flow, state, option)         confirm one reading of an Unsure answer
    back(flow, state)                 undo the last step (or leave an edit)
    edit(flow, state, field)          change one answer from the review screen
    open_section(flow, state, name)   list one section's answers to change, from the review
    on_screen(flow, state)            the group whose screen is on show, if any
    shown(state, view)                the state with another screen shown (verdict, …)
    to_referral(flow, state, …)       the Referral the engine evaluates

Answers hidden by a changed `show_if` are cleared; newly shown questions are asked next.
The checklist and rows screens of `groups.py` use the same state and record the same answers.

A *step* is what one Back undoes: one answer, or the several a checklist's "None of the others
applies" or a rows screen's shortcut records at once (`joined` marks the fields recorded with
the one before them). An answer of such a step changed later is a step of its own; the rest of
its old step stays one.

Every new state is a new *screen*: `state.screen` counts them, and `state.view` says which
kind is on screen ("ask" the current question, or the review once none is left; "verdict";
"failed", the stop-or-continue choice after an excluding answer; "cancel", the discard
confirmation; "confirm", a typed answer read two ways; "section", one section's answers listed
to change, from the review). The Telegram adapter binds every button to the screen number it
was shown with, so a press on any other screen changes nothing. A group screen is a new screen
at every toggle or row answered, too: a double tap lands on a stale screen instead of ticking
twice (untick), and a confirmation pressed on an older copy of the checklist is refused, so
only the ticks the surgeon saw are confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from natars_bot.dialogue.answers import Parsed, Rejected, Unclear, read_answer
from natars_bot.dialogue.flow import Flow, Group, Question, Value
from natars_bot.protocol.eligibility import Assessment
from natars_bot.protocol.referral import Referral

__all__ = [
    "Accepted",
    "DialogueState",
    "Pending",
    "Unsure",
    "View",
    "answer",
    "back",
    "current",
    "edit",
    "extras",
    "members",
    "new_failures",
    "on_screen",
    "open_section",
    "pick",
    "progress",
    "shown",
    "to_referral",
    "undone",
    "undone_fields",
    "visible",
    "with_verdict",
]

UNKNOWN_CHOICE = -1
View = Literal["ask", "verdict", "failed", "cancel", "confirm", "section"]


class Pending(BaseModel):
    """A typed answer that reads two ways (or looks like a name): the readings to choose from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    text: str  # what the surgeon typed
    reason: str  # the message key that says why we ask
    options: tuple[Value, ...]


class DialogueState(BaseModel):
    """A referral's progress through the dialogue; JSON-serialisable, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: dict[str, Value | None] = {}
    order: tuple[str, ...] = ()  # fields in the order answered, for Back
    editing: str | None = None  # a field being changed from the review screen
    acknowledged: tuple[str, ...] = ()  # failed criteria the surgeon has been shown
    screen: int = 0  # the number of the screen on show; every new state is a new screen
    view: View = "ask"
    failing: tuple[str, ...] = ()  # the criteria shown on the "failed" screen
    pending: Pending | None = None  # the answer to confirm on the "confirm" screen
    group: str | None = None  # a group screen kept on show until it is confirmed
    one_by_one: tuple[str, ...] = ()  # checklist items to ask one at a time ("some not known")
    joined: tuple[str, ...] = ()  # fields recorded in one step with the field before them
    section: str | None = None  # the section listed on the "section" screen


def shown(state: DialogueState, view: View, **changes: Any) -> DialogueState:
    """`state` with a new screen of kind `view` on show (and `changes` made)."""
    update: dict[str, Any] = {"failing": (), "pending": None, **changes}
    return state.model_copy(update={**update, "view": view, "screen": state.screen + 1})


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer was taken; `state` holds it. `approximate`: read from "about 20 %"."""

    state: DialogueState
    question: Question
    value: Value | None
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class Unsure:
    """The typed answer was not taken yet: `state` asks the surgeon to confirm a reading.

    `options` are the readings; for a text that looks like a name they are *not* in `state`
    (nothing name-like is stored before the surgeon confirms it): the caller holds them and
    hands them back to `pick`.
    """

    state: DialogueState
    question: Question
    options: tuple[Value, ...]
    text: str


# Readings kept out of the stored state until confirmed.
HELD_REASONS = frozenset({"looks_like_name"})


def _facts(flow: Flow, answers: dict[str, Value | None]) -> dict[str, Any]:
    facts: dict[str, Any] = dict.fromkeys((q.field for q in flow.questions), None)
    facts.update(answers)
    return facts


def visible(flow: Flow, state: DialogueState) -> list[Question]:
    """The questions shown for these answers, in order."""
    facts = _facts(flow, state.answers)
    return [q for q in flow.questions if q.shown(facts)]


def _open(flow: Flow, state: DialogueState) -> Question | None:
    """The first shown question without an answer, in flow order (the note asked with the
    verdict aside)."""
    for question in visible(flow, state):
        if question.field not in state.answers and question.asked == "in_order":
            return question
    return None


def members(flow: Flow, state: DialogueState, group: Group) -> list[Question]:
    """The questions of `group` shown for these answers, in order."""
    return [q for q in visible(flow, state) if q.group == group.name]


def on_screen(flow: Flow, state: DialogueState) -> Group | None:
    """The group whose screen is on show: the one kept on show until confirmed, else the group
    of the first open question — unless the surgeon chose to answer that checklist item one by
    one. None while an answer is being changed from the review (edits are one by one)."""
    if state.editing is not None:
        return None
    if state.group is not None:
        group = flow.group(state.group)
        if members(flow, state, group):
            return group
    question = _open(flow, state)
    if question is None or question.group is None or question.field in state.one_by_one:
        return None
    return flow.group(question.group)


def current(flow: Flow, state: DialogueState) -> Question | None:
    """The question to ask now: the one being edited, else the first unanswered one shown.

    On a group's screen: its first unanswered question (its first question once all are
    answered), so that None still means that the review is due.
    """
    if state.editing is not None:
        return flow.question(state.editing)
    group = on_screen(flow, state)
    if group is not None:
        shown_members = members(flow, state, group)
        unanswered = [q for q in shown_members if q.field not in state.answers]
        return (unanswered or shown_members)[0]
    return _open(flow, state)


def with_verdict(flow: Flow) -> Question | None:
    """The question asked on the review, beside the verdict (the note), if the flow has one."""
    for question in flow.questions:
        if question.asked == "with_verdict":
            return question
    return None


def progress(flow: Flow, state: DialogueState) -> tuple[int, int]:
    """(answered, shown) question counts: "you are on question 7" in a stale press's alert."""
    shown = [q for q in visible(flow, state) if q.asked == "in_order"]
    return sum(q.field in state.answers for q in shown), len(shown)


def answer(
    flow: Flow,
    state: DialogueState,
    *,
    text: str | None = None,
    choice: int | None = None,
    field: str | None = None,
) -> Accepted | Unsure | Rejected:
    """Apply a typed answer or a button press to the current question (`field`, when given,
    names it: a row of a rows screen, or else the current question itself).

    Only the "ask" screen takes a button's answer; a typed one is also taken on the "confirm"
    screen, as the surgeon's retyped answer. On any other screen the surgeon has a decision to
    make first (`Rejected("decide_first")`). A text typed on the review is the note asked with
    the verdict; a group's screen takes only its buttons.
    """
    if state.view != "ask" and not (state.view == "confirm" and choice is None):
        return Rejected("decide_first")
    group = on_screen(flow, state)
    question = current(flow, state)
    if group is not None:
        # A group's screen takes its own buttons only: a toggle (groups.toggle) or a row's
        # choice, for the row named by `field` (its first open row by default).
        if choice is None or group.kind == "checklist":
            return Rejected("use_buttons")
        rows = {q.field: q for q in members(flow, state, group)}
        question = rows.get(field) if field is not None else question
        if question is None:
            return Rejected("not_on_screen")
    elif field is not None and (question is None or question.field != field):
        return Rejected("not_on_screen")
    if question is None:
        note = with_verdict(flow)
        if note is None or choice is not None or state.view != "ask":
            return Rejected("no_question")
        question = note  # typed on the review: the note, written beside the verdict
    if choice is not None:
        if choice == UNKNOWN_CHOICE and question.allows_unknown:
            parsed: Parsed | Unclear | Rejected = Parsed(None)
        elif 0 <= choice < len(question.choices):
            parsed = Parsed(question.choices[choice].value)
        else:
            return Rejected("not_a_choice")
    else:
        parsed = read_answer(question, text or "")
    if isinstance(parsed, Rejected):
        return parsed
    if isinstance(parsed, Unclear):
        held = parsed.reason in HELD_REASONS
        pending = Pending(
            field=question.field,
            text="" if held else text or "",
            reason=parsed.reason,
            options=() if held else parsed.options,
        )
        return Unsure(
            shown(state, "confirm", pending=pending), question, parsed.options, text or ""
        )
    kept = group.name if group is not None else None  # a rows screen stays until confirmed
    return Accepted(
        _record(flow, state, question, parsed.value, group=kept),
        question,
        parsed.value,
        parsed.approximate,
    )


def pick(
    flow: Flow, state: DialogueState, option: int, held: tuple[Value, ...] = ()
) -> Accepted | Rejected:
    """Confirm one reading of the answer on the "confirm" screen (`held`: the readings kept out
    of the state, see `Unsure`)."""
    pending = state.pending
    if state.view != "confirm" or pending is None:
        return Rejected("decide_first")
    question = current(flow, state)
    if question is None or question.field != pending.field:
        note = with_verdict(flow)
        if note is None or note.field != pending.field:
            return Rejected("no_question")
        question = note
    options = pending.options or held
    if not 0 <= option < len(options):
        return Rejected("retype")
    value = options[option]
    return Accepted(_record(flow, state, question, value), question, value)


def _record(
    flow: Flow,
    state: DialogueState,
    question: Question,
    value: Value | None,
    *,
    group: str | None = None,
) -> DialogueState:
    """`state` with one answer recorded; `group` keeps that group's screen on show (a toggle or
    a row answered there), otherwise the next screen is whatever comes next."""
    return record_step(flow, state, {question.field: value}, group=group)


def record_step(
    flow: Flow,
    state: DialogueState,
    values: dict[str, Value | None],
    *,
    group: str | None = None,
    one_by_one: tuple[str, ...] | None = None,
) -> DialogueState:
    """`state` with `values` recorded as one step (one Back undoes them all), on a new screen."""
    answers = {**state.answers, **values}
    fields = tuple(values)
    order = (*(f for f in state.order if f not in values), *fields)
    answers, order, _ = _prune(flow, answers, order, ())
    joined = _links(state, order, fields)
    return shown(
        state,
        "ask",
        answers=answers,
        order=order,
        joined=joined,
        editing=None,
        group=group,
        one_by_one=state.one_by_one if one_by_one is None else one_by_one,
    )


def _links(state: DialogueState, order: tuple[str, ...], fresh: tuple[str, ...]) -> tuple[str, ...]:
    """The fields of `order` recorded in one step with the field before them: `fresh` (this
    step's) after its first, and an earlier step's field whose predecessor is still of its step.
    A field answered again (an edit from the review) leaves its old step: the rest of that step
    stays one step, and never joins the step before it (Back would undo an answer nobody
    chose to undo, and name it wrongly)."""
    step_of: dict[str, int] = {}
    step = -1
    for field in state.order:
        if field not in state.joined:
            step += 1
        step_of[field] = step
    joined = []
    for before, field in pairwise(order):
        if field in fresh:
            if before in fresh:
                joined.append(field)
        elif before not in fresh and step_of.get(field) == step_of.get(before):
            joined.append(field)
    return tuple(joined)


def _prune(
    flow: Flow, answers: dict[str, Value | None], order: tuple[str, ...], joined: tuple[str, ...]
) -> tuple[dict[str, Value | None], tuple[str, ...], tuple[str, ...]]:
    """Drop answers to questions no longer shown (show_if reads only earlier questions)."""
    facts = _facts(flow, answers)
    for question in flow.questions:
        if question.field in answers and not question.shown(facts):
            del answers[question.field]
            facts[question.field] = None
    return (
        answers,
        tuple(f for f in order if f in answers),
        tuple(f for f in joined if f in answers),
    )


def back(flow: Flow, state: DialogueState) -> DialogueState:
    """Leave an edit, a confirmation or a section's list, or undo the last step so that its
    question (or screen) is asked again — from the exclusion screen too: "change this answer".
    On the first item asked one by one after "Some not known yet", Back returns to the
    checklist, undoing nothing."""
    if state.view == "confirm":
        return shown(state, "ask")
    if state.view == "section":
        return shown(state, "ask", section=None)
    if state.editing is not None:
        return shown(state, "ask", editing=None)
    if _leaves_one_by_one(flow, state):
        return shown(state, "ask", one_by_one=(), group=None)
    fields = undone_fields(state)
    if not fields:
        return shown(state, "ask")
    answers = {k: v for k, v in state.answers.items() if k not in fields}
    order = state.order[: len(state.order) - len(fields)]
    answers, order, joined = _prune(flow, answers, order, state.joined)
    # A group's screen stays on show while Back undoes its own answers (a row, a tick).
    group = (
        state.group
        if state.group is not None and fields[0] in _fields_of(flow, state.group)
        else None
    )
    # A criterion that failed on the undone answer is no longer "seen": if the new answer
    # makes it fail again, it is shown again.
    acknowledged = tuple(c for c in state.acknowledged if c not in state.failing)
    after = state.model_copy(update={"answers": answers, "editing": None, "group": group})
    first = _open(flow, after)
    # The one-by-one choice holds only while its items are being asked.
    one_by_one = state.one_by_one if first is not None and first.field in state.one_by_one else ()
    return shown(
        state,
        "ask",
        answers=answers,
        order=order,
        joined=joined,
        acknowledged=acknowledged,
        group=group,
        one_by_one=one_by_one,
    )


def _fields_of(flow: Flow, group: str) -> tuple[str, ...]:
    return flow.group(group).fields


def _leaves_one_by_one(flow: Flow, state: DialogueState) -> bool:
    """Whether Back, now, returns from the first item asked one by one to the checklist."""
    if state.view not in ("ask", "failed") or not state.one_by_one:
        return False
    question = current(flow, state)
    if question is None or question.field not in state.one_by_one:
        return False
    return not any(f in state.answers for f in state.one_by_one)


def undone_fields(state: DialogueState) -> tuple[str, ...]:
    """The fields of the last step, which `back` would forget (in the order recorded)."""
    if state.view in ("confirm", "section") or state.editing is not None or not state.order:
        return ()
    start = len(state.order) - 1
    while start > 0 and state.order[start] in state.joined:
        start -= 1
    return state.order[start:]


def undone(state: DialogueState) -> str | None:
    """The field that `back` would forget last (None when it would only leave a screen); see
    `undone_fields` for every field of that step."""
    fields = undone_fields(state)
    return fields[-1] if fields else None


def edit(flow: Flow, state: DialogueState, field: str) -> DialogueState | Rejected:
    """Start changing one shown question's answer (from the review or a section's list)."""
    if field not in {q.field for q in visible(flow, state)}:
        return Rejected("not_editable")
    return shown(state, "ask", editing=field, section=None)


def open_section(flow: Flow, state: DialogueState, name: str) -> DialogueState | Rejected:
    """List one section's answers, each to be changed (from the review)."""
    try:
        section = flow.section(name)
    except KeyError:
        return Rejected("not_editable")
    if not any(q.field in section.fields for q in visible(flow, state)):
        return Rejected("not_editable")
    return shown(state, "section", section=name, editing=None)


def to_referral(flow: Flow, state: DialogueState, **fixed: Any) -> Referral:
    """The referral these answers describe; hidden questions take their `when_hidden` value."""
    facts = _facts(flow, state.answers)
    values: dict[str, Any] = {}
    for question in flow.questions:
        if question.is_extra:
            continue
        if question.shown(facts):
            values[question.field] = state.answers.get(question.field)
        elif question.when_hidden is not None:
            values[question.field] = question.when_hidden
    return Referral.model_validate({**values, **fixed})


def extras(flow: Flow, state: DialogueState) -> dict[str, Value | None]:
    """The answers that are not referral fields (screening number, note)."""
    return {f: state.answers.get(f) for f in flow.extras}


def new_failures(
    before: Assessment | None, after: Assessment, state: DialogueState
) -> tuple[str, ...]:
    """Criteria that an answer has just made fail, and that the surgeon has not yet seen
    (`before`, when given, also counts as seen)."""
    earlier = set(state.acknowledged) | set(before.failed if before is not None else ())
    return tuple(c for c in after.failed if c not in earlier)
