"""What every screen of the dialogue is made of: an answer in words, the referral's label,
buttons carrying the codec's data, the progress line, a question's prompt, the verdict of a
draft. Shared by screens.py, group_screens.py and review_screens.py.
"""

from __future__ import annotations

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from natars_bot.bot.callbacks import (
    encode,
)
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import (
    DialogueState,
)
from natars_bot.dialogue.engine import to_referral as dialogue_referral
from natars_bot.dialogue.flow import Question, Value
from natars_bot.dialogue.progress import measure
from natars_bot.protocol.eligibility import Assessment, CriterionResult, Outcome, evaluate
from natars_bot.store import ReferralRow

__all__ = [
    "Screen",
    "answer_pair",
    "answer_text",
    "answered_text",
    "assess_draft",
    "button",
    "button_rows",
    "by_outcome",
    "progress_context",
    "prompt_text",
    "referral_label",
]

Screen = tuple[str, InlineKeyboardMarkup | None]


_UNITS = {"size_cm": " cm", "percent": " %"}


def answer_text(services: Services, language: str, question: Question, value: Value | None) -> str:
    """An answer as the surgeon would say it: the button label, or the number with its unit."""
    if value is None:
        if question.unknown:
            return question.unknown.get(language) or services.wording.text(
                language, "unknown_answer"
            )
        return services.wording.text(language, "unknown_answer")
    for choice in question.choices:
        if choice.value == value and type(choice.value) is type(value):
            return choice.label.get(language) or str(value)
    if isinstance(value, float):
        return f"{value:g}{_UNITS.get(question.parse or '', '')}"
    return str(value)


def answer_pair(services: Services, language: str, question: Question, value: Value | None) -> str:
    """ "Label: answer" as plain text (a button's caption, a list of answers), with the
    language's colon ("：" in Chinese)."""
    label = question.label.get(language, question.field)
    colon = services.wording.text(language, "colon")
    return f"{label}{colon}{answer_text(services, language, question, value)}"


def referral_label(services: Services, language: str, public_id: str, state: DialogueState) -> str:
    """The pseudonymous id with the surgeon's own screening number beside it, for the surgeon's
    private chat only (never the group, never exports)."""
    number = state.answers.get("screening_number")
    if not number:
        return public_id
    return str(services.wording.text(language, "with_number", referral=public_id, number=number))


def button(text: str, press: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=encode(press))  # type: ignore[arg-type]


def answered_text(
    services: Services, language: str, question: Question, value: Value | None
) -> str:
    """A question's message once answered by button: its prompt and the answer, no buttons,
    so that the chat stays the surgeon's record of what they said."""
    flow = services.flow
    prompt = Markup(question.prompt.get(language, question.prompt[flow.languages[0]]))
    answer = services.wording.text(
        language, "answered_as", value=answer_text(services, language, question, value)
    )
    return str(Markup("<b>{}</b>\n{}").format(prompt, answer))


def button_rows(
    buttons: list[InlineKeyboardButton], width: int
) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def progress_context(services: Services, language: str, state: DialogueState) -> dict[str, object]:
    """The progress line's parameters: the section on show and a percentage that never
    decreases while the surgeon answers (dialogue/progress.py)."""
    done = measure(services.flow, state)
    section = done.section.label.get(language, done.section.name) if done.section else ""
    return {
        "section": section,
        "place": done.place,
        "sections": done.sections,
        "percent": done.percent,
    }


def prompt_text(services: Services, language: str, question: Question) -> Markup:
    # Prompts and help are reviewed wording from conversations/ and may use <i>/<b>.
    return Markup(question.prompt.get(language, question.prompt[services.flow.languages[0]]))


def assess_draft(services: Services, referral: ReferralRow) -> Assessment:
    fixed = {"referral_id": referral.public_id, "site": referral.site}
    return evaluate(dialogue_referral(services.flow, referral.state, **fixed), services.protocol)


def by_outcome(assessment: Assessment, outcome: Outcome) -> list[CriterionResult]:
    return [r for r in assessment.results if r.outcome is outcome]
