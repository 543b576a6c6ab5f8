"""How many inputs a referral takes: taps and typed answers, counted from the dialogue engine.

    python -m benchmarks.taps [--markdown]

A simulated surgeon answers the example referrals of tests/helpers.py (one eligible referral per
histology: DDLPS, LMS, UPS, SFT) through the pure dialogue engine — the same functions the bot
calls for each press and text — as a surgeon would: a button where one matches the answer, the
value typed otherwise (age, size, counts, the screening number). Every call that takes an input
is counted; nothing is counted by hand. From /new (not counted) to "Submit to MDT" (counted):

- before: the flow one question at a time, as before issue #18 — the same questions with their
  groups taken apart and the note asked in order ("Nothing to add" when there is none), then
  "See the verdict ➜" and "Submit to MDT" on the verdict;
- after: the shipped flow — the exclusion checklist (tick the yeses, then "None of the others
  applies"), rows screens (their shortcut, one tap, when the referral's answers are its usual
  result; else a tap per row and one to confirm), the note typed on the review only when there
  is one, and "Submit to MDT" on the review itself.

`walk` is also the tests' way through the engine (tests/test_dialogue.py, test_properties.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from natars_bot.dialogue.engine import (
    UNKNOWN_CHOICE,
    Accepted,
    DialogueState,
    answer,
    current,
    members,
    on_screen,
    with_verdict,
)
from natars_bot.dialogue.flow import Flow, Group, Question, default_flow
from natars_bot.dialogue.groups import (
    Confirmed,
    confirm,
    shortcut_offered,
    ticked,
    toggle,
    use_shortcut,
)
from tests.helpers import ELIGIBLE  # the tests' examples: the benchmark counts the same ones

__all__ = ["Walk", "before_flow", "count", "main", "walk"]

EXAMPLE_NOTE = "Large left-sided mass, seen at our MDT"


@dataclass(frozen=True)
class Walk:
    """Where a simulated surgeon got to: the state, the inputs made, the fields asked one by
    one (in order) and the screens passed through."""

    state: DialogueState
    inputs: int
    asked: tuple[str, ...]
    states: tuple[DialogueState, ...]


def before_flow(flow: Flow) -> Flow:
    """The flow as it was asked before groups: every question on its own, the note in order."""
    questions = tuple(replace(q, group=None, asked="in_order") for q in flow.questions)
    return replace(flow, questions=questions, groups=())


def _choice(question: Question, value: Any) -> int | None:
    if value is None and question.allows_unknown:
        return UNKNOWN_CHOICE
    for index, choice in enumerate(question.choices):
        if choice.value == value and type(choice.value) is type(value):
            return index
    return None


def _text(value: Any) -> str:
    return "not known yet" if value is None else str(value)


def walk(
    flow: Flow,
    answers: Mapping[str, Any],
    state: DialogueState | None = None,
    limit: int = 200,
    shortcuts: bool = True,
) -> Walk:
    """Answer until the review (or an excluding answer's screen): `answers` by field (None:
    "not known yet"); a question without one gets "not known yet" where allowed, else its
    first button; on the review, the note when `answers` has one. A checklist gets its yeses
    ticked, then "None of the others applies" — or
    "Some not known yet" when an item has no answer or an unknown one, and those one by
    one. A rows screen gets its shortcut when `answers` are its usual result (unless
    `shortcuts` is False), else a tap per row and its confirmation."""
    state = state or DialogueState()
    inputs, states = 0, [state]
    asked: list[str] = []

    def step(result: object) -> None:
        nonlocal state, inputs
        if not isinstance(result, Accepted | Confirmed):
            raise AssertionError(f"not taken: {result!r}")
        state = result.state
        inputs += 1
        states.append(state)

    for _ in range(limit):
        if state.view != "ask":
            break
        group = on_screen(flow, state)
        if group is not None and group.kind == "checklist":
            step(_checklist_input(flow, state, group, answers))
            continue
        if group is not None and shortcuts and _usual(flow, state, group, answers):
            asked.extend(q.field for q in members(flow, state, group))
            step(use_shortcut(flow, state))
            continue
        if group is not None:
            rows = [q for q in members(flow, state, group) if q.field not in state.answers]
            if not rows:
                step(confirm(flow, state))
                continue
            question = rows[0]
        else:
            found = current(flow, state)
            if found is None:
                note = with_verdict(flow)
                if note is None or not answers.get(note.field) or note.field in state.answers:
                    break
                found = note  # the review: the note, typed there when there is one
            question = found
        asked.append(question.field)
        value = answers.get(question.field)
        index = _choice(question, value) if question.field in answers else None
        if index is None and question.field not in answers:
            index = UNKNOWN_CHOICE if question.allows_unknown else 0
        field = question.field if group is not None else None
        if index is not None:
            step(answer(flow, state, choice=index, field=field))
        else:
            step(answer(flow, state, text=_text(value), field=field))
    return Walk(state, inputs, tuple(asked), tuple(states))


def _checklist_input(
    flow: Flow, state: DialogueState, group: Group, answers: Mapping[str, Any]
) -> object:
    """The next input on the checklist: tick the next yes, else "None of the others applies"
    (or "Some not known yet" when an unticked item has no answer or an unknown one)."""
    items = members(flow, state, group)
    wanted = next((q for q in items if answers.get(q.field) is True and not ticked(state, q)), None)
    if wanted is not None:
        return toggle(flow, state, wanted.field)
    rest_no = all(answers.get(q.field) is not None for q in items if not ticked(state, q))
    return confirm(flow, state, rest_no=rest_no)


def _usual(flow: Flow, state: DialogueState, group: Group, answers: Mapping[str, Any]) -> bool:
    """Whether the rows screen on show offers its shortcut and `answers` are what it records."""
    if group.shortcut is None or not shortcut_offered(flow, state, group):
        return False
    usual = group.shortcut.answers
    return all(
        q.field in answers
        and answers[q.field] == usual[q.field]
        and type(answers[q.field]) is type(usual[q.field])
        for q in members(flow, state, group)
    )


def count(
    flow: Flow, answers: Mapping[str, Any], before: bool = False, shortcuts: bool = True
) -> int:
    """Inputs from /new to "Submit to MDT" for one referral (see the module's docstring;
    `shortcuts` False: the rows screens answered row by row, as without their shortcuts)."""
    if before:
        old = before_flow(flow)
        done = walk(old, {"note": None, **answers})
        return done.inputs + 2  # "See the verdict ➜", then "Submit to MDT"
    return walk(flow, answers, shortcuts=shortcuts).inputs + 1  # "Submit to MDT", on the review


def examples() -> dict[str, dict[str, Any]]:
    """The eligible example referrals of the tests, as answers (with a screening number)."""
    return {
        histology: {
            "screening_number": "PKU-0042",
            **{k: v for k, v in referral.items() if k not in ("referral_id", "site")},
        }
        for histology, referral in ELIGIBLE.items()
    }


def table(flow: Flow | None = None) -> list[tuple[str, str, int, int, int, int]]:
    """Per example: histology, sex, inputs before and after, without and with a note."""
    flow = flow or default_flow()
    rows = []
    for histology, answers in examples().items():
        with_note = {**answers, "note": EXAMPLE_NOTE}
        rows.append(
            (
                histology,
                str(answers.get("sex")),
                count(flow, answers, before=True),
                count(flow, answers),
                count(flow, with_note, before=True),
                count(flow, with_note),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the table (as Markdown with --markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args(argv)
    rows = table()
    if args.markdown:
        print("| referral | before | after | before, with a note | after, with a note |")
        print("|---|---|---|---|---|")
        for histology, sex, old, new, old_note, new_note in rows:
            print(f"| eligible {histology} ({sex}) | {old} | {new} | {old_note} | {new_note} |")
        return
    for histology, sex, old, new, old_note, new_note in rows:
        notes = f"with a note {old_note} → {new_note}"
        print(f"{histology:6} {sex:7} before {old:3}  after {new:3}  ({notes})")


if __name__ == "__main__":
    main()
