"""The dialogue engine: from the flow and the answers so far, what to ask next.

Pure: no Telegram, no database, no clock. A `DialogueState` is a referral's progress (kept in the
referral's own row by the store); each function takes one and returns a new one:

    current(flow, state)              the question to ask, or None when the review is due
    answer(flow, state, text=…)       a typed answer → Accepted(new state) or Rejected(reason)
    answer(flow, state, choice=i)     a pressed button (i = -1: "not known yet")
    back(flow, state)                 undo the last answer (or leave an edit)
    edit(flow, state, field)          change one answer from the review screen
    to_referral(flow, state, …)       the Referral the engine evaluates

Answers hidden by a changed `show_if` are cleared; newly shown questions are asked next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from .answers import Parsed, Rejected, read_answer
from .eligibility import Assessment
from .flow import Flow, Question, Value
from .referral import Referral

__all__ = [
    "Accepted",
    "DialogueState",
    "answer",
    "back",
    "current",
    "edit",
    "extras",
    "new_failures",
    "progress",
    "to_referral",
    "visible",
]

UNKNOWN_CHOICE = -1


class DialogueState(BaseModel):
    """A referral's progress through the dialogue; JSON-serialisable, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: dict[str, Value | None] = {}
    order: tuple[str, ...] = ()  # fields in the order answered, for Back
    editing: str | None = None  # a field being changed from the review screen
    acknowledged: tuple[str, ...] = ()  # failed criteria the surgeon chose to continue past


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer was taken; `state` holds it."""

    state: DialogueState
    question: Question
    value: Value | None


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
) -> Accepted | Rejected:
    """Apply a typed answer or a button press to the current question."""
    question = current(flow, state)
    if question is None:
        return Rejected("no_question")
    if choice is not None:
        if choice == UNKNOWN_CHOICE and question.allows_unknown:
            parsed: Parsed | Rejected = Parsed(None)
        elif 0 <= choice < len(question.choices):
            parsed = Parsed(question.choices[choice].value)
        else:
            return Rejected("not_a_choice")
    else:
        parsed = read_answer(question, text or "")
    if isinstance(parsed, Rejected):
        return parsed
    return Accepted(_record(flow, state, question, parsed.value), question, parsed.value)


def _record(
    flow: Flow, state: DialogueState, question: Question, value: Value | None
) -> DialogueState:
    answers = {**state.answers, question.field: value}
    order = (*(f for f in state.order if f != question.field), question.field)
    answers, order = _prune(flow, answers, order)
    return state.model_copy(update={"answers": answers, "order": order, "editing": None})


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
    """Leave an edit, or forget the last answer so that its question is asked again."""
    if state.editing is not None:
        return state.model_copy(update={"editing": None})
    if not state.order:
        return state
    last = state.order[-1]
    answers = {k: v for k, v in state.answers.items() if k != last}
    answers, order = _prune(flow, answers, state.order[:-1])
    return state.model_copy(update={"answers": answers, "order": order})


def edit(flow: Flow, state: DialogueState, field: str) -> DialogueState | Rejected:
    """Start changing one shown question's answer (from the review screen)."""
    if field not in {q.field for q in visible(flow, state)}:
        return Rejected("not_editable")
    return state.model_copy(update={"editing": field})


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
