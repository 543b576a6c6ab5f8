"""Screens of the triage dialogue: Telegram HTML text from the templates, and inline keyboards.

Every button's data comes from the codec in `callbacks.py` and carries the referral's id and the
number of the screen it is shown on (`DialogueState.screen`), so that a press is only ever read
against the screen it was pressed on. `screen_for` gives the screen the state says is on show.
"""

from __future__ import annotations

from markupsafe import Markup
from telegram import InlineKeyboardMarkup

from natars_bot.bot.callbacks import (
    Answer,
    Back,
    Continue,
    Discard,
    Pick,
    Review,
    Stop,
    Submit,
)
from natars_bot.bot.group_screens import checklist_screen, group_record, rows_screen
from natars_bot.bot.review_screens import review_screen, section_screen
from natars_bot.bot.screen_parts import (
    Screen,
    answer_text,
    answered_text,
    button,
    button_rows,
    by_outcome,
    progress_context,
    prompt_text,
    referral_label,
)
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import (
    UNKNOWN_CHOICE,
    current,
    on_screen,
)
from natars_bot.dialogue.wording import TELEGRAM_TEXT_LIMIT, Wording, plain_length
from natars_bot.protocol.eligibility import Assessment, CriterionResult, Outcome
from natars_bot.store import ReferralRow

__all__ = [
    "Screen",
    "answer_text",
    "answered_text",
    "cancel_screen",
    "confirm_screen",
    "failed_now_screen",
    "group_record",
    "question_screen",
    "referral_label",
    "review_screen",
    "section_screen",
    "verdict_screen",
    "verdict_text",
]


def question_screen(
    services: Services, language: str, referral: ReferralRow, notice: Markup | None = None
) -> Screen:
    """The current question with its buttons (a group's screen, or the review, when that is
    what is on show)."""
    flow, wording, state = services.flow, services.wording, referral.state
    group = on_screen(flow, state)
    if group is not None:
        if group.kind == "checklist":
            return checklist_screen(services, language, referral, group, notice)
        return rows_screen(services, language, referral, group, notice)
    question = current(flow, state)
    if question is None:
        return review_screen(services, language, referral, notice)
    currently = None
    if state.editing is not None:
        currently = answer_text(services, language, question, state.answers.get(question.field))
    text = wording.render(
        "question.html.j2",
        language,
        notice=notice,
        referral=referral.public_id,
        **progress_context(services, language, state),
        prompt=prompt_text(services, language, question),
        help=Markup(question.help[language]) if question.help else None,
        currently=currently,
    )
    ids = {"referral": referral.id, "screen": state.screen}
    choices = [
        button(
            choice.label.get(language, str(choice.value)),
            Answer(**ids, question=question.index, choice=n),
        )
        for n, choice in enumerate(question.choices)
    ]
    longest = max((len(b.text) for b in choices), default=0)
    keyboard = button_rows(choices, 1 if longest > 18 else 2 if longest > 8 else 3)
    last_row = []
    if question.unknown:
        last_row.append(
            button(
                question.unknown[language],
                Answer(**ids, question=question.index, choice=UNKNOWN_CHOICE),
            )
        )
    if state.order or state.editing or state.one_by_one:
        last_row.insert(0, button(wording.text(language, "back"), Back(**ids)))
    if last_row:
        keyboard.append(last_row)
    return text, InlineKeyboardMarkup(keyboard) if keyboard else None


def verdict_text(
    wording: Wording, language: str, public_id: str, assessment: Assessment, submittable: bool
) -> str:
    """The verdict's text: every failed and open criterion with its interpretation — also for
    those open only for an unanswered question, unless that would not fit in one message (a
    referral with most questions unanswered); then those interpretations are left out."""
    for every_interpretation in (True, False):
        text = wording.render(
            "verdict.html.j2",
            language,
            referral=public_id,
            assessment=assessment,
            failed=by_outcome(assessment, Outcome.failed),
            unknown=by_outcome(assessment, Outcome.unknown),
            passed=len(by_outcome(assessment, Outcome.passed)),
            not_applicable=len(by_outcome(assessment, Outcome.not_applicable)),
            submittable=submittable,
            every_interpretation=every_interpretation,
        )
        if plain_length(text) <= TELEGRAM_TEXT_LIMIT:
            break
    return text


def verdict_screen(
    services: Services,
    language: str,
    referral: ReferralRow,
    assessment: Assessment,
    submittable: bool,
) -> Screen:
    """The verdict with the criteria that decided it; Submit and Change buttons while a draft."""
    wording = services.wording
    text = verdict_text(wording, language, referral.public_id, assessment, submittable)
    if not submittable:
        return text, None
    ids = {"referral": referral.id, "screen": referral.state.screen}
    keyboard = [
        [button(wording.text(language, "submit"), Submit(**ids))],
        [button(wording.text(language, "change_answers"), Review(**ids))],
    ]
    return text, InlineKeyboardMarkup(keyboard)


def failed_now_screen(
    services: Services,
    language: str,
    referral: ReferralRow,
    answered: Markup,
    failed: list[CriterionResult],
) -> Screen:
    """An answer has made the referral certainly ineligible: stop, continue to a full record,
    or change the answer (a slip of the finger)."""
    wording = services.wording
    text = wording.render("failed_now.html.j2", language, answered=answered, failed=failed)
    ids = {"referral": referral.id, "screen": referral.state.screen}
    keyboard = [
        [
            button(wording.text(language, "stop_here"), Stop(**ids)),
            button(wording.text(language, "continue_full"), Continue(**ids)),
        ],
        [button(wording.text(language, "change_answer"), Back(**ids))],
    ]
    return text, InlineKeyboardMarkup(keyboard)


def cancel_screen(services: Services, language: str, referral: ReferralRow) -> Screen:
    """/cancel asks first: discard the draft, or keep it."""
    wording = services.wording
    text = wording.text(
        language,
        "cancel_confirm",
        referral=referral.public_id,
        answered=len(referral.state.answers),
    )
    ids = {"referral": referral.id, "screen": referral.state.screen}
    keyboard = [
        [
            button(wording.text(language, "cancel_yes"), Discard(**ids, confirmed=True)),
            button(wording.text(language, "cancel_no"), Discard(**ids, confirmed=False)),
        ]
    ]
    return str(text), InlineKeyboardMarkup(keyboard)


def confirm_screen(
    services: Services, language: str, referral: ReferralRow, notice: Markup | None = None
) -> Screen:
    """A typed answer that reads two ways (or looks like a name): the surgeon picks or retypes."""
    wording, state = services.wording, referral.state
    pending = state.pending
    question = current(services.flow, state)
    if pending is None or question is None:
        return question_screen(services, language, referral, notice)
    ids = {"referral": referral.id, "screen": state.screen}
    held = services.held.get(referral.id)
    typed = pending.text or (held[1] if held is not None and held[0] == state.screen else "…")
    text = wording.text(language, f"confirm_{pending.reason}", text=typed)
    buttons = []
    if pending.reason == "size_unit":
        for n, option in enumerate(pending.options):
            shown = answer_text(services, language, question, option)
            label = (
                wording.text(language, "option_mm", text=typed, value=shown)
                if n == 0 and len(pending.options) > 1
                else wording.text(language, "option_cm", text=typed)
                if len(pending.options) > 1
                else Markup(shown)
            )
            buttons.append(button(str(label), Pick(**ids, option=n)))
    else:
        buttons.append(button(wording.text(language, "it_is_the_number"), Pick(**ids, option=0)))
    keyboard = [buttons, [button(wording.text(language, "retype"), Pick(**ids, option=-1))]]
    body = f"{notice}\n\n{text}" if notice else str(text)
    return body, InlineKeyboardMarkup(keyboard)
