"""Group screens: a checklist of yes/no toggles, and rows of short choices on one screen.

Pure, like the engine whose state they change (`engine.on_screen` says which group is on show):

    toggle(flow, state, field)           tick a checklist item (its answer: yes) or untick it
    confirm(flow, state, rest_no=True)   the checklist's "None of the others applies": every
                                         unticked item shown is answered no, in one step
    confirm(flow, state, rest_no=False)  "Some not known yet": the unticked items are asked
                                         one by one, each with its "not known" answer
    confirm(flow, state)                 on a rows screen: done, once every row is answered
    use_shortcut(flow, state)            a rows screen's shortcut, while no row is chosen:
                                         every row its usual answer and confirmed, one step

A row's choice is an ordinary `engine.answer(…, choice=i, field=row)`. A tick is an answer like
any other (`Accepted`: the adapter saves it with its audit row and shows an exclusion it causes
at once); what confirming records is returned as `Confirmed.values`. Every toggle, row and
confirmation is a new screen (see the engine), so the adapter's screen check refuses a second
tap of a double tap and a confirmation from an older copy of the screen.

The shortcut records what answering each row with the shortcut's buttons and confirming would
(the same answers, hidden answers pruned by the same `record_step`), as one step: one Back
undoes it, and the rows screen is on show again with its shortcut.
"""

from __future__ import annotations

from dataclasses import dataclass

from natars_bot.dialogue.answers import Rejected
from natars_bot.dialogue.engine import (
    Accepted,
    DialogueState,
    members,
    on_screen,
    record_step,
    shown,
)
from natars_bot.dialogue.flow import Flow, Group, Question, Value

__all__ = [
    "Confirmed",
    "Unticked",
    "confirm",
    "shortcut_offered",
    "ticked",
    "toggle",
    "use_shortcut",
]


@dataclass(frozen=True, slots=True)
class Unticked:
    """A checklist item ticked by mistake, unticked: its answer is forgotten (not "no": that
    is for the confirmation to record)."""

    state: DialogueState
    question: Question


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A group's screen confirmed: `values` are the answers recorded by the confirmation (the
    checklist's unticked items, no); empty when it records nothing new."""

    state: DialogueState
    group: Group
    values: dict[str, Value | None]


def ticked(state: DialogueState, question: Question) -> bool:
    """Whether a checklist item shows ☑: its answer is yes."""
    return state.answers.get(question.field) is True


def toggle(flow: Flow, state: DialogueState, field: str) -> Accepted | Unticked | Rejected:
    """Tick (answer yes) or untick one item of the checklist on show."""
    group = on_screen(flow, state)
    if state.view != "ask" or group is None or group.kind != "checklist":
        return Rejected("decide_first")
    items = {q.field: q for q in members(flow, state, group)}
    question = items.get(field)
    if question is None:
        return Rejected("not_on_screen")
    if ticked(state, question):
        answers = {k: v for k, v in state.answers.items() if k != field}
        order = tuple(f for f in state.order if f != field)
        joined = tuple(f for f in state.joined if f != field)
        untick = shown(state, "ask", answers=answers, order=order, joined=joined, group=group.name)
        return Unticked(untick, question)
    return Accepted(record_step(flow, state, {field: True}, group=group.name), question, True)


def confirm(flow: Flow, state: DialogueState, rest_no: bool = True) -> Confirmed | Rejected:
    """Confirm the group screen on show (see the module's docstring)."""
    group = on_screen(flow, state)
    if state.view != "ask" or group is None:
        return Rejected("decide_first")
    open_items = [q for q in members(flow, state, group) if q.field not in state.answers]
    if group.kind == "rows":
        if open_items:
            return Rejected("rows_open")
        return Confirmed(shown(state, "ask", group=None), group, {})
    if not open_items:
        # Everything ticked: nothing is left to say no to, or to ask.
        return Confirmed(shown(state, "ask", group=None), group, {})
    if not rest_no:
        later = tuple(q.field for q in open_items)
        return Confirmed(shown(state, "ask", group=None, one_by_one=later), group, {})
    values: dict[str, Value | None] = {q.field: False for q in open_items}
    return Confirmed(record_step(flow, state, values, group=None), group, values)


def shortcut_offered(flow: Flow, state: DialogueState, group: Group) -> bool:
    """Whether `group`'s screen offers its shortcut now: a rows screen with one, on show, no
    row of it chosen yet (once one is, the rows are the way on), and every row of it shown —
    the button says every answer it records, so a row hidden for this patient would make it
    say one it does not."""
    if group.kind != "rows" or group.shortcut is None or state.view != "ask":
        return False
    if on_screen(flow, state) != group:
        return False
    rows = members(flow, state, group)
    if len(rows) != len(group.fields):
        return False
    return not any(q.field in state.answers for q in rows)


def use_shortcut(flow: Flow, state: DialogueState) -> Confirmed | Rejected:
    """The shortcut of the rows screen on show: every row shown gets the shortcut's answer and
    the screen is confirmed, in one step; `Confirmed.values` are the answers recorded."""
    group = on_screen(flow, state)
    if state.view != "ask" or group is None:
        return Rejected("decide_first")
    if group.shortcut is None or group.kind != "rows":
        return Rejected("use_buttons")
    if not shortcut_offered(flow, state, group):
        return Rejected("rows_started")
    answers = group.shortcut.answers
    rows = members(flow, state, group)
    values: dict[str, Value | None] = {q.field: answers[q.field] for q in rows}
    return Confirmed(record_step(flow, state, values, group=None), group, values)
