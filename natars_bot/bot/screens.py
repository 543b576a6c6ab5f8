"""Screens of the triage dialogue: Telegram HTML text from the templates, and inline keyboards.

Every button's data comes from the codec in `callbacks.py` and carries the referral's id and the
number of the screen it is shown on (`DialogueState.screen`), so that a press is only ever read
against the screen it was pressed on. `screen_for` gives the screen the state says is on show.
"""

from __future__ import annotations

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from natars_bot.bot.callbacks import (
    Answer,
    Back,
    Continue,
    Discard,
    Done,
    Edit,
    Info,
    Pick,
    Review,
    Section,
    Stop,
    Submit,
    Toggle,
    Verdict,
    encode,
)
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import (
    UNKNOWN_CHOICE,
    DialogueState,
    current,
    members,
    on_screen,
    visible,
    with_verdict,
)
from natars_bot.dialogue.engine import to_referral as dialogue_referral
from natars_bot.dialogue.flow import Group, Question, Value
from natars_bot.dialogue.groups import ticked
from natars_bot.dialogue.progress import measure
from natars_bot.dialogue.wording import TELEGRAM_TEXT_LIMIT, Wording, plain_length
from natars_bot.protocol.eligibility import Assessment, CriterionResult, Outcome, evaluate
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


def referral_label(services: Services, language: str, public_id: str, state: DialogueState) -> str:
    """The pseudonymous id with the surgeon's own screening number beside it, for the surgeon's
    private chat only (never the group, never exports)."""
    number = state.answers.get("screening_number")
    if not number:
        return public_id
    return str(services.wording.text(language, "with_number", referral=public_id, number=number))


def _button(text: str, press: object) -> InlineKeyboardButton:
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


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def _progress(services: Services, language: str, state: DialogueState) -> dict[str, object]:
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


def _prompt(services: Services, language: str, question: Question) -> Markup:
    # Prompts and help are reviewed wording from conversations/ and may use <i>/<b>.
    return Markup(question.prompt.get(language, question.prompt[services.flow.languages[0]]))


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
        **_progress(services, language, state),
        prompt=_prompt(services, language, question),
        help=Markup(question.help[language]) if question.help else None,
        currently=currently,
    )
    ids = {"referral": referral.id, "screen": state.screen}
    choices = [
        _button(
            choice.label.get(language, str(choice.value)),
            Answer(**ids, question=question.index, choice=n),
        )
        for n, choice in enumerate(question.choices)
    ]
    longest = max((len(b.text) for b in choices), default=0)
    keyboard = _rows(choices, 1 if longest > 18 else 2 if longest > 8 else 3)
    last_row = []
    if question.unknown:
        last_row.append(
            _button(
                question.unknown[language],
                Answer(**ids, question=question.index, choice=UNKNOWN_CHOICE),
            )
        )
    if state.order or state.editing or state.one_by_one:
        last_row.insert(0, _button(wording.text(language, "back"), Back(**ids)))
    if last_row:
        keyboard.append(last_row)
    return text, InlineKeyboardMarkup(keyboard) if keyboard else None


def _pack(buttons: list[InlineKeyboardButton], short: int = 16) -> list[list[InlineKeyboardButton]]:
    """Buttons two to a row where both labels are short, else one: toggles stay readable."""
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        if rows and len(rows[-1]) == 1 and len(rows[-1][0].text) <= short >= len(button.text):
            rows[-1].append(button)
        else:
            rows.append([button])
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
        **_progress(services, language, state),
        prompt=Markup(group.prompt[language]),
        items=[
            {"ticked": ticked(state, q), "prompt": _prompt(services, language, q)} for q in items
        ],
    )
    ids = {"referral": referral.id, "screen": state.screen}
    toggles = [
        _button(
            f"{'☑' if ticked(state, q) else '☐'} {q.label.get(language, q.field)}",
            Toggle(**ids, question=q.index),
        )
        for q in items
    ]
    keyboard = _pack(toggles)
    anything = any(ticked(state, q) for q in items)
    none = "checklist_none" if anything else "checklist_none_at_all"
    keyboard.append([_button(wording.text(language, none), Done(**ids, rest_no=True))])
    last_row = [
        _button(wording.text(language, "checklist_some_unknown"), Done(**ids, rest_no=False))
    ]
    if state.order:
        last_row.insert(0, _button(wording.text(language, "back"), Back(**ids)))
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
    once every row is answered."""
    flow, wording, state = services.flow, services.wording, referral.state
    rows = members(flow, state, group)
    open_rows = [q for q in rows if q.field not in state.answers]
    text = wording.render(
        "rows.html.j2",
        language,
        notice=notice,
        referral=referral.public_id,
        **_progress(services, language, state),
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
    )
    ids = {"referral": referral.id, "screen": state.screen}
    keyboard: list[list[InlineKeyboardButton]] = []
    for question in rows:
        given = question.field in state.answers
        value = state.answers.get(question.field)
        heading = question.label.get(language, question.field)
        keyboard.append([_button(f"▾ {heading}", Info(**ids, question=question.index))])
        buttons = []
        for n, choice in enumerate(question.choices):
            chosen = given and choice.value == value and type(choice.value) is type(value)
            label = choice.label.get(language, str(choice.value))
            buttons.append(
                _button(
                    f"• {label}" if chosen else label,
                    Answer(**ids, question=question.index, choice=n),
                )
            )
        if question.unknown:
            label = question.unknown[language]
            buttons.append(
                _button(
                    f"• {label}" if given and value is None else label,
                    Answer(**ids, question=question.index, choice=UNKNOWN_CHOICE),
                )
            )
        keyboard.extend(_rows(buttons, 2 if len(buttons) > 3 else 3))
    last_row = []
    if state.order:
        last_row.append(_button(wording.text(language, "back"), Back(**ids)))
    if not open_rows:
        last_row.append(_button(wording.text(language, "rows_confirm"), Done(**ids, rest_no=True)))
    if last_row:
        keyboard.append(last_row)
    return text, InlineKeyboardMarkup(keyboard)


def group_record(services: Services, language: str, group: Group, state: DialogueState) -> str:
    """A confirmed group's screen as it stays in the chat: its prompt and the answers given
    (the chat is the surgeon's record of what they said), no buttons."""
    answered = [q for q in members(services.flow, state, group) if q.field in state.answers]
    lines = [Markup("<b>{}</b>").format(Markup(group.prompt[language]))]
    lines += _answer_lines(services, language, answered, state)
    if len(answered) < len(members(services.flow, state, group)):
        lines.append(services.wording.text(language, "checklist_one_by_one"))
    return "\n".join(str(line) for line in lines)


def _answer_lines(
    services: Services,
    language: str,
    questions: list[Question],
    state: DialogueState,
    lead: int = 0,
) -> list[Markup]:
    """Answers as review lines: "Label: value" packed a few to a line, and a checklist's noes
    folded into one "None of: …" line (its yeses and unknowns listed as answers)."""
    wording = services.wording
    noes = [
        (q.short or q.label).get(language, q.field)
        for q in questions
        if q.group is not None
        and services.flow.group(q.group).kind == "checklist"
        and state.answers.get(q.field) is False
    ]
    parts = [
        Markup("{}: <b>{}</b>").format(
            q.label.get(language, q.field),
            answer_text(services, language, q, state.answers.get(q.field)),
        )
        for q in questions
        if q.asked == "in_order"
        and not (
            q.group is not None
            and services.flow.group(q.group).kind == "checklist"
            and state.answers.get(q.field) is False
        )
    ]
    lines: list[Markup] = []
    for part in parts:
        # Two short answers share a line; a long one has its own (a phone's width: ~40).
        # (`lead`: the characters before the first line, the section's name on the review.)
        used = plain_length(lines[-1]) + (lead if len(lines) == 1 else 0) if lines else 0
        if lines and used + plain_length(part) + 3 <= _LINE:
            lines[-1] = Markup("{} · {}").format(lines[-1], part)
        else:
            lines.append(part)
    if noes:
        separator = "、" if language == "zh" else ", "
        lines.append(wording.text(language, "checklist_record_none", items=separator.join(noes)))
    return lines


_LINE = 40  # visible characters of a review line that two answers may share (a phone: ~40)


def review_screen(
    services: Services, language: str, referral: ReferralRow, notice: Markup | None = None
) -> Screen:
    """The review, made to fit a phone: the verdict line (with the failed and open criteria's
    ids), the answers by section, what the MDT will see and the note; "Submit to MDT" on it,
    a button per section to change its answers, and the verdict in full."""
    flow, wording, state = services.flow, services.wording, referral.state
    assessment = _assess(services, referral)
    shown = visible(flow, state)
    sections = []
    for section in flow.sections or ():
        # The screening number is in the title already (the surgeon's chat only).
        questions = [
            q
            for q in shown
            if q.field in section.fields and q.asked == "in_order" and q.field != "screening_number"
        ]
        if questions:
            label = section.label.get(language, section.name)
            lead = len(label) + 3  # "Tumour · " leads the section's first line
            sections.append(
                {"label": label, "lines": _answer_lines(services, language, questions, state, lead)}
            )
    if not flow.sections:
        questions = [q for q in shown if q.asked == "in_order"]
        sections.append({"label": "", "lines": _answer_lines(services, language, questions, state)})
    note_question = with_verdict(flow)
    note = state.answers.get(note_question.field) if note_question is not None else None
    text = wording.render(
        "review.html.j2",
        language,
        notice=notice,
        referral=referral_label(services, language, referral.public_id, state),
        verdict=assessment.verdict.value,
        failed=list(assessment.failed),
        unknown=list(assessment.unknown),
        sections=sections,
        note=note,
        asks_note=note_question is not None,
    )
    ids = {"referral": referral.id, "screen": state.screen}
    keyboard = [[_button(wording.text(language, "submit"), Submit(**ids))]]
    edits = [
        _button(
            str(
                wording.text(
                    language, "edit_section", section=section.label.get(language, section.name)
                )
            ),
            Section(**ids, section=n),
        )
        for n, section in enumerate(flow.sections)
        if any(q.field in section.fields and q.asked == "in_order" for q in shown)
    ]
    keyboard += _rows(edits, 2)
    keyboard.append([_button(wording.text(language, "review_verdict"), Verdict(**ids))])
    return text, InlineKeyboardMarkup(keyboard)


def section_screen(services: Services, language: str, referral: ReferralRow) -> Screen:
    """One section's answers as buttons, each to change that answer; Back to the review."""
    flow, wording, state = services.flow, services.wording, referral.state
    section = flow.section(state.section or "")
    label = section.label.get(language, section.name)
    text = wording.render("section.html.j2", language, section=label)
    ids = {"referral": referral.id, "screen": state.screen}
    keyboard = [
        [
            _button(
                f"{q.label.get(language, q.field)}: "
                f"{answer_text(services, language, q, state.answers.get(q.field))}",
                Edit(**ids, question=q.index),
            )
        ]
        for q in visible(flow, state)
        if q.field in section.fields and q.asked == "in_order"
    ]
    keyboard.append([_button(wording.text(language, "section_back"), Back(**ids))])
    return text, InlineKeyboardMarkup(keyboard)


def _assess(services: Services, referral: ReferralRow) -> Assessment:
    fixed = {"referral_id": referral.public_id, "site": referral.site}
    return evaluate(dialogue_referral(services.flow, referral.state, **fixed), services.protocol)


def _by_outcome(assessment: Assessment, outcome: Outcome) -> list[CriterionResult]:
    return [r for r in assessment.results if r.outcome is outcome]


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
            failed=_by_outcome(assessment, Outcome.failed),
            unknown=_by_outcome(assessment, Outcome.unknown),
            passed=len(_by_outcome(assessment, Outcome.passed)),
            not_applicable=len(_by_outcome(assessment, Outcome.not_applicable)),
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
        [_button(wording.text(language, "submit"), Submit(**ids))],
        [_button(wording.text(language, "change_answers"), Review(**ids))],
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
            _button(wording.text(language, "stop_here"), Stop(**ids)),
            _button(wording.text(language, "continue_full"), Continue(**ids)),
        ],
        [_button(wording.text(language, "change_answer"), Back(**ids))],
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
            _button(wording.text(language, "cancel_yes"), Discard(**ids, confirmed=True)),
            _button(wording.text(language, "cancel_no"), Discard(**ids, confirmed=False)),
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
            buttons.append(_button(str(label), Pick(**ids, option=n)))
    else:
        buttons.append(_button(wording.text(language, "it_is_the_number"), Pick(**ids, option=0)))
    keyboard = [buttons, [_button(wording.text(language, "retype"), Pick(**ids, option=-1))]]
    body = f"{notice}\n\n{text}" if notice else str(text)
    return body, InlineKeyboardMarkup(keyboard)
