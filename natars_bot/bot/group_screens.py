"""The screens of a group of questions (issue #18): the exclusion checklist (☐/☑ toggles and
"None of the others applies"), a rows screen (a row of buttons per short question and a
confirm; above them, while no row is chosen, the shortcut that records the usual result of
every row), and the record each leaves in the chat once answered.
"""

from __future__ import annotations

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from natars_bot.bot.callbacks import (
    Answer,
    Back,
    Done,
    Info,
    Shortcut,
    Toggle,
)
from natars_bot.bot.review_screens import answer_lines
from natars_bot.bot.screen_parts import (
    Screen,
    answer_pair,
    answer_text,
    button,
    button_rows,
    progress_context,
    prompt_text,
)
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import (
    UNKNOWN_CHOICE,
    DialogueState,
    members,
)
from natars_bot.dialogue.flow import Group
from natars_bot.dialogue.groups import shortcut_offered, ticked
from natars_bot.store import ReferralRow

__all__ = ["checklist_screen", "group_record", "rows_screen"]


def _pack(buttons: list[InlineKeyboardButton], short: int = 16) -> list[list[InlineKeyboardButton]]:
    """Buttons two to a row where both labels are short, else one: toggles stay readable."""
    rows: list[list[InlineKeyboardButton]] = []
    for each in buttons:
        if rows and len(rows[-1]) == 1 and len(rows[-1][0].text) <= short >= len(each.text):
            rows[-1].append(each)
        else:
            rows.append([each])
    return rows


def checklist_screen(
    services: Services,
    language: str,
    referral: ReferralRow,
    group: Group,
    notice: Markup | None = None,
) -> Screen:
    """The checklist: every item shown for this patient as a ☐/☑ toggle, then "None of the
    others applies" (unticked: no) or "Some not known yet" (unticked: asked one by one)."""
    flow, wording, state = services.flow, services.wording, referral.state
    items = members(flow, state, group)
    text = wording.render(
        "checklist.html.j2",
        language,
        notice=notice,
        referral=referral.public_id,
        **progress_context(services, language, state),
        prompt=Markup(group.prompt[language]),
        items=[
            {"ticked": ticked(state, q), "prompt": prompt_text(services, language, q)}
            for q in items
        ],
    )
    ids = {"referral": referral.id, "screen": state.screen}
    toggles = [
        button(
            f"{'☑' if ticked(state, q) else '☐'} {q.label.get(language, q.field)}",
            Toggle(**ids, question=q.index),
        )
        for q in items
    ]
    keyboard = _pack(toggles)
    anything = any(ticked(state, q) for q in items)
    none = "checklist_none" if anything else "checklist_none_at_all"
    keyboard.append([button(wording.text(language, none), Done(**ids, rest_no=True))])
    last_row = [
        button(wording.text(language, "checklist_some_unknown"), Done(**ids, rest_no=False))
    ]
    if state.order:
        last_row.insert(0, button(wording.text(language, "back"), Back(**ids)))
    keyboard.append(last_row)
    return text, InlineKeyboardMarkup(keyboard)


def rows_screen(
    services: Services,
    language: str,
    referral: ReferralRow,
    group: Group,
    notice: Markup | None = None,
) -> Screen:
    """Short questions read together, one screen: per question a heading button (its question
    in full when pressed) and a row of its choices, the current one marked; then confirm,
    once every row is answered. First, while no row is chosen, the screen's shortcut (if the
    flow gives it one): "✓" and what it records, in one tap."""
    flow, wording, state = services.flow, services.wording, referral.state
    rows = members(flow, state, group)
    open_rows = [q for q in rows if q.field not in state.answers]
    shortcut = group.shortcut if shortcut_offered(flow, state, group) else None
    records = None
    if shortcut is not None:
        # What the button records, said in the rows' own labels and answers: the caption is
        # short to fit a phone; this line is what it means, and cannot say otherwise.
        separator = "；" if language == "zh" else "; "
        records = separator.join(
            answer_pair(services, language, q, shortcut.answers[q.field]) for q in rows
        )
    text = wording.render(
        "rows.html.j2",
        language,
        notice=notice,
        referral=referral.public_id,
        **progress_context(services, language, state),
        prompt=Markup(group.prompt[language]),
        rows=[
            {
                "label": q.label.get(language, q.field),
                "value": answer_text(services, language, q, state.answers[q.field])
                if q.field in state.answers
                else wording.text(language, "row_unset"),
                "help": Markup(q.help[language]) if q.help else None,
            }
            for q in rows
        ],
        open=bool(open_rows),
        shortcut=records,
    )
    ids = {"referral": referral.id, "screen": state.screen}
    keyboard: list[list[InlineKeyboardButton]] = []
    if shortcut is not None:
        keyboard.append([button(f"✓ {shortcut.label[language]}", Shortcut(**ids))])
    for question in rows:
        given = question.field in state.answers
        value = state.answers.get(question.field)
        heading = question.label.get(language, question.field)
        keyboard.append([button(f"▾ {heading}", Info(**ids, question=question.index))])
        buttons = []
        for n, choice in enumerate(question.choices):
            chosen = given and choice.value == value and type(choice.value) is type(value)
            label = choice.label.get(language, str(choice.value))
            buttons.append(
                button(
                    f"• {label}" if chosen else label,
                    Answer(**ids, question=question.index, choice=n),
                )
            )
        if question.unknown:
            label = question.unknown[language]
            buttons.append(
                button(
                    f"• {label}" if given and value is None else label,
                    Answer(**ids, question=question.index, choice=UNKNOWN_CHOICE),
                )
            )
        keyboard.extend(button_rows(buttons, 2 if len(buttons) > 3 else 3))
    last_row = []
    if state.order:
        last_row.append(button(wording.text(language, "back"), Back(**ids)))
    if not open_rows:
        last_row.append(button(wording.text(language, "rows_confirm"), Done(**ids, rest_no=True)))
    if last_row:
        keyboard.append(last_row)
    return text, InlineKeyboardMarkup(keyboard)


def group_record(services: Services, language: str, group: Group, state: DialogueState) -> str:
    """A confirmed group's screen as it stays in the chat: its prompt and the answers given
    (the chat is the surgeon's record of what they said), no buttons."""
    answered = [q for q in members(services.flow, state, group) if q.field in state.answers]
    lines = [Markup("<b>{}</b>").format(Markup(group.prompt[language]))]
    lines += answer_lines(services, language, answered, state)
    if len(answered) < len(members(services.flow, state, group)):
        lines.append(services.wording.text(language, "checklist_one_by_one"))
    return "\n".join(str(line) for line in lines)
