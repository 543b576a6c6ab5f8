"""Progress that only goes forward: a percentage and the section on show.

A count of the questions shown ("question 31 of 30") jumps both ways as answers open and close
branches. The percentage here is the place of the current screen in the whole flow — the
first open question's position among all questions asked in order, or the first question of
the group on show — so it never decreases while the surgeon answers: the dialogue always asks
the first open question, and an answer changes only which *later* questions are shown (a
`show_if` reads earlier questions only). Skipped branches make it jump forward, never back.
Only Back (and changing an answer from the review) moves it back, as it moves the surgeon.
"""

from __future__ import annotations

from dataclasses import dataclass

from natars_bot.dialogue.engine import DialogueState, current, members, on_screen
from natars_bot.dialogue.flow import Flow, Section

__all__ = ["Progress", "measure"]


@dataclass(frozen=True, slots=True)
class Progress:
    """Where the dialogue is: the percentage done, and the current section (1-based place
    among `sections`); at the review, 100 % and no section."""

    percent: int
    section: Section | None
    place: int
    sections: int


def measure(flow: Flow, state: DialogueState) -> Progress:
    """The progress of `state` (while changing an answer: of the dialogue as it stands)."""
    in_order = [q for q in flow.questions if q.asked == "in_order"]
    forward = state.model_copy(update={"editing": None})
    group = on_screen(flow, forward)
    question = members(flow, forward, group)[0] if group is not None else current(flow, forward)
    if question is None:
        return Progress(100, None, len(flow.sections), len(flow.sections))
    position = next(n for n, q in enumerate(in_order) if q.field == question.field)
    percent = position * 100 // len(in_order)
    for place, section in enumerate(flow.sections, start=1):
        if question.field in section.fields:
            return Progress(percent, section, place, len(flow.sections))
    return Progress(percent, None, 0, len(flow.sections))
