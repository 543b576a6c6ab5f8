"""Screens of the triage dialogue: Telegram HTML text from the templates, and inline keyboards.

Callback data stay short and resolvable from the database after a restart (no in-memory
callback cache): `a:<referral>:<question>:<choice>` answers, `b:` goes back, `e:` edits from the
review, `v:` shows the verdict, `r:` the review, `s:` submits, `x:` stops, `c:` continues.
Telegram allows 1–64 bytes; these use under 20.
"""

from __future__ import annotations

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from ..dialogue import UNKNOWN_CHOICE, current, progress, visible
from ..eligibility import Assessment, CriterionResult, Outcome
from ..flow import Question, Value
from ..store import ReferralRow
from .services import Services

__all__ = [
    "Screen",
    "answer_text",
    "failed_now_screen",
    "question_screen",
    "review_screen",
    "verdict_screen",
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


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def question_screen(
    services: Services, language: str, referral: ReferralRow, notice: Markup | None = None
) -> Screen:
    """The current question with its buttons (the caller checks there is one)."""
    flow, wording, state = services.flow, services.wording, referral.state
    question = current(flow, state)
    if question is None:
        return review_screen(services, language, referral)
    answered, total = progress(flow, state)
    currently = None
    if state.editing is not None:
        currently = answer_text(services, language, question, state.answers.get(question.field))
    text = wording.render(
        "question.html.j2",
        language,
        notice=notice,
        referral=referral.public_id,
        number=min(answered + 1, total),
        total=total,
        # Prompts and help are reviewed wording from conversations/ and may use <i>/<b>.
        prompt=Markup(question.prompt.get(language, question.prompt[flow.languages[0]])),
        help=Markup(question.help[language]) if question.help else None,
        currently=currently,
    )
    prefix = f"{referral.id}:{question.index}"
    choices = [
        InlineKeyboardButton(
            choice.label.get(language, str(choice.value)), callback_data=f"a:{prefix}:{n}"
        )
        for n, choice in enumerate(question.choices)
    ]
    longest = max((len(b.text) for b in choices), default=0)
    keyboard = _rows(choices, 1 if longest > 18 else 2 if longest > 8 else 3)
    last_row = []
    if question.unknown:
        last_row.append(
            InlineKeyboardButton(
                question.unknown[language], callback_data=f"a:{prefix}:{UNKNOWN_CHOICE}"
            )
        )
    if state.order or state.editing:
        last_row.insert(
            0, InlineKeyboardButton(wording.text(language, "back"), callback_data=f"b:{prefix}")
        )
    if last_row:
        keyboard.append(last_row)
    return text, InlineKeyboardMarkup(keyboard) if keyboard else None


def review_screen(services: Services, language: str, referral: ReferralRow) -> Screen:
    """Every answer, with a button to change each, and the way on to the verdict."""
    flow, wording, state = services.flow, services.wording, referral.state
    questions = visible(flow, state)
    rows = [
        {
            "label": q.label.get(language, q.field),
            "value": answer_text(services, language, q, state.answers.get(q.field)),
        }
        for q in questions
    ]
    text = wording.render("review.html.j2", language, referral=referral.public_id, rows=rows)
    edits = [
        InlineKeyboardButton(
            f"{wording.text(language, 'edit_prefix')} {q.label.get(language, q.field)}",
            callback_data=f"e:{referral.id}:{q.index}",
        )
        for q in questions
    ]
    keyboard = _rows(edits, 2)
    keyboard.append(
        [
            InlineKeyboardButton(
                wording.text(language, "review_verdict"), callback_data=f"v:{referral.id}"
            )
        ]
    )
    return text, InlineKeyboardMarkup(keyboard)


def _by_outcome(assessment: Assessment, outcome: Outcome) -> list[CriterionResult]:
    return [r for r in assessment.results if r.outcome is outcome]


def verdict_screen(
    services: Services,
    language: str,
    referral: ReferralRow,
    assessment: Assessment,
    submittable: bool,
) -> Screen:
    """The verdict with the criteria that decided it; Submit and Change buttons while a draft."""
    wording = services.wording
    text = wording.render(
        "verdict.html.j2",
        language,
        referral=referral.public_id,
        assessment=assessment,
        failed=_by_outcome(assessment, Outcome.failed),
        unknown=_by_outcome(assessment, Outcome.unknown),
        passed=len(_by_outcome(assessment, Outcome.passed)),
        not_applicable=len(_by_outcome(assessment, Outcome.not_applicable)),
        submittable=submittable,
    )
    if not submittable:
        return text, None
    keyboard = [
        [InlineKeyboardButton(wording.text(language, "submit"), callback_data=f"s:{referral.id}")],
        [
            InlineKeyboardButton(
                wording.text(language, "change_answers"), callback_data=f"r:{referral.id}"
            )
        ],
    ]
    return text, InlineKeyboardMarkup(keyboard)


def failed_now_screen(
    services: Services,
    language: str,
    referral: ReferralRow,
    answered: Markup,
    failed: list[CriterionResult],
) -> Screen:
    """An answer has made the referral certainly ineligible: stop, or continue to a full record."""
    wording = services.wording
    text = wording.render("failed_now.html.j2", language, answered=answered, failed=failed)
    keyboard = [
        [
            InlineKeyboardButton(
                wording.text(language, "stop_here"), callback_data=f"x:{referral.id}"
            ),
            InlineKeyboardButton(
                wording.text(language, "continue_full"), callback_data=f"c:{referral.id}"
            ),
        ]
    ]
    return text, InlineKeyboardMarkup(keyboard)
