"""The review that fits a phone: the verdict line first, the answers grouped by section
(the checklist's Noes folded into one line), edit buttons by section, "Submit to MDT" on
the review itself; and a section's answers opened to change one.
"""

from __future__ import annotations

from markupsafe import Markup
from telegram import InlineKeyboardMarkup

from natars_bot.bot.callbacks import (
    Back,
    Edit,
    Section,
    Submit,
    Verdict,
)
from natars_bot.bot.screen_parts import (
    Screen,
    answer_pair,
    answer_text,
    assess_draft,
    button,
    button_rows,
    referral_label,
)
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import (
    DialogueState,
    visible,
    with_verdict,
)
from natars_bot.dialogue.flow import Question
from natars_bot.dialogue.wording import plain_length
from natars_bot.store import ReferralRow

__all__ = ["review_screen", "section_screen"]


def answer_lines(
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
        Markup("{}{}<b>{}</b>").format(
            q.label.get(language, q.field),
            services.wording.text(language, "colon"),
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
    assessment = assess_draft(services, referral)
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
                {"label": label, "lines": answer_lines(services, language, questions, state, lead)}
            )
    if not flow.sections:
        questions = [q for q in shown if q.asked == "in_order"]
        sections.append({"label": "", "lines": answer_lines(services, language, questions, state)})
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
    keyboard = [[button(wording.text(language, "submit"), Submit(**ids))]]
    edits = [
        button(
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
    keyboard += button_rows(edits, 2)
    keyboard.append([button(wording.text(language, "review_verdict"), Verdict(**ids))])
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
            button(
                answer_pair(services, language, q, state.answers.get(q.field)),
                Edit(**ids, question=q.index),
            )
        ]
        for q in visible(flow, state)
        if q.field in section.fields and q.asked == "in_order"
    ]
    keyboard.append([button(wording.text(language, "section_back"), Back(**ids))])
    return text, InlineKeyboardMarkup(keyboard)
