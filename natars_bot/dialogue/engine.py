"""The dialogue engine: from the flow and the answers so far, what to ask next.

Pure: no Telegram, no database, no clock. A `DialogueState` is a referral's progress (kept in the
referral's own row by the store); each function takes one and returns a new one:

    current(flow, state)              the question to ask, or None when the review is due
    answer(flow, state, text=…)       a typed answer → Accepted(new state), Unsure(state that
                                      asks to confirm a reading) or Rejected(reason)
    answer(flow, state, choice=i)     a pressed button (i = -1: "not known yet")
    pick(flow, state, option)         confirm one reading of an Unsure answer
    back(flow, state)                 undo the last answer (or leave an edit)
    edit(flow, state, field)          change one answer from the review screen
    shown(state, view)                the state with another screen shown (verdict, …)
    to_referral(flow, state, …)       the Referral the engine evaluates

Answers hidden by a changed `show_if` are cleared; newly shown questions are asked next.

Every new state is a new *screen*: `state.screen` counts them, and `state.view` says which
kind is on screen ("ask" the current question, or the review once none is left; "verdict";
"failed", the stop-or-continue choice after an excluding answer; "cancel", the discard
confirmation; "confirm", a typed answer read two ways). The Telegram adapter binds every button
to the screen number it was shown with, so a press on any other screen changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from natars_bot.dialogue.answers import Parsed, Rejected, Unclear, read_answer
from natars_bot.dialogue.flow import Flow, Question, Value
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
    "new_failures",
    "pick",
    "progress",
    "shown",
    "to_referral",
    "undone",
    "visible",
]

UNKNOWN_CHOICE = -1
View = Literal["ask", "verdict", "failed", "cancel", "confirm"]


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


def current(flow: Flow, state: DialogueState) -> Question | None:
    """The question to ask now: the one being edited, else the first unanswered one shown."""
    if state.editing is not None:
        return flow.question(state.editing)
    for question in visible(flow, state):
        if question.field not in state.answers:
            return question
    return None


def progress(flow: Flow, state: DialogueState) -> tuple[int, int]:
    """(answered, shown) question counts, for "question 7 of 24"."""
    shown = visible(flow, state)
    return sum(q.field in state.answers for q in shown), len(shown)


def answer(
    flow: Flow, state: DialogueState, *, text: str | None = None, choice: int | None = None
) -> Accepted | Unsure | Rejected:
    """Apply a typed answer or a button press to the current question.

    Only the "ask" screen takes a button's answer; a typed one is also taken on the "confirm"
    screen, as the surgeon's retyped answer. On any other screen the surgeon has a decision to
    make first (`Rejected("decide_first")`).
    """
    if state.view != "ask" and not (state.view == "confirm" and choice is None):
        return Rejected("decide_first")
    question = current(flow, state)
    if question is None:
        return Rejected("no_question")
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
    return Accepted(
        _record(flow, state, question, parsed.value), question, parsed.value, parsed.approximate
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
        return Rejected("no_question")
    options = pending.options or held
    if not 0 <= option < len(options):
        return Rejected("retype")
    value = options[option]
    return Accepted(_record(flow, state, question, value), question, value)


def _record(
    flow: Flow, state: DialogueState, question: Question, value: Value | None
) -> DialogueState:
    answers = {**state.answers, question.field: value}
    order = (*(f for f in state.order if f != question.field), question.field)
    answers, order = _prune(flow, answers, order)
    return shown(state, "ask", answers=answers, order=order, editing=None)


def _prune(
    flow: Flow, answers: dict[str, Value | None], order: tuple[str, ...]
) -> tuple[dict[str, Value | None], tuple[str, ...]]:
    """Drop answers to questions no longer shown (show_if reads only earlier questions)."""
    facts = _facts(flow, answers)
    for question in flow.questions:
        if question.field in answers and not question.shown(facts):
            del answers[question.field]
            facts[question.field] = None
    return answers, tuple(f for f in order if f in answers)


def back(flow: Flow, state: DialogueState) -> DialogueState:
    """Leave an edit or a confirmation, or forget the last answer so that its question is
    asked again (from the exclusion screen too: "change this answer")."""
    if state.view == "confirm":
        return shown(state, "ask")
    if state.editing is not None:
        return shown(state, "ask", editing=None)
    if not state.order:
        return shown(state, "ask")
    last = state.order[-1]
    answers = {k: v for k, v in state.answers.items() if k != last}
    answers, order = _prune(flow, answers, state.order[:-1])
    # A criterion that failed on the undone answer is no longer "seen": if the new answer
    # makes it fail again, it is shown again.
    acknowledged = tuple(c for c in state.acknowledged if c not in state.failing)
    return shown(state, "ask", answers=answers, order=order, acknowledged=acknowledged)


def undone(state: DialogueState) -> str | None:
    """The field that `back` would forget (None when it would only leave a screen)."""
    if state.view == "confirm" or state.editing is not None or not state.order:
        return None
    return state.order[-1]


def edit(flow: Flow, state: DialogueState, field: str) -> DialogueState | Rejected:
    """Start changing one shown question's answer (from the review screen)."""
    if field not in {q.field for q in visible(flow, state)}:
        return Rejected("not_editable")
    return shown(state, "ask", editing=field)


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
