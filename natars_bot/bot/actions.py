"""What each of the surgeon's buttons does to the draft, once presses.py has found the press
valid: answer, tick, confirm, a rows screen's shortcut, open a section, go back, change an
answer, stop, continue, discard. Each action saves the new state (with its audit row) and
shows what follows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup
from telegram import Message

from natars_bot.bot.answering import accept
from natars_bot.bot.callbacks import (
    Answer,
    Back,
    Continue,
    Discard,
    Done,
    Edit,
    Pick,
    Review,
    ScreenPress,
    Section,
    Shortcut,
    Stop,
    Toggle,
    Verdict,
)
from natars_bot.bot.screen_parts import answer_pair
from natars_bot.bot.screens import (
    Screen,
    answer_text,
    group_record,
    question_screen,
    referral_label,
    review_screen,
    section_screen,
)
from natars_bot.bot.services import BotContext, Services
from natars_bot.bot.showing import assess, current_screen, show_screen
from natars_bot.dialogue.engine import (
    Accepted,
    DialogueState,
    answer,
    back,
    edit,
    on_screen,
    open_section,
    pick,
    shown,
    undone_fields,
)
from natars_bot.dialogue.groups import Confirmed, Unticked, confirm, toggle, use_shortcut
from natars_bot.store import ReferralRow

__all__ = ["ACTIONS", "Press"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Press:
    """A valid press on a surgeon's own draft, with what every action needs."""

    context: BotContext
    referral: ReferralRow
    language: str
    actor: str
    chat_id: int
    message: Message | None
    data: ScreenPress

    @property
    def services(self) -> Services:
        return self.context.services

    @property
    def state(self) -> DialogueState:
        return self.referral.state

    async def save(self, state: DialogueState, action: str, **detail: object) -> ReferralRow:
        return await self.services.store.save_state(
            self.referral, state, actor=self.actor, action=action, detail=detail
        )

    async def show(
        self, screen: Screen, referral: ReferralRow | None = None, keep: str | None = None
    ) -> None:
        await show_screen(
            self.context,
            referral or self.referral,
            self.chat_id,
            screen,
            edit_message=self.message,
            keep=keep,
        )

    def failed_text(self) -> str:
        """The exclusion screen's text (its criteria and reasons), rendered again from the
        state: what stays in the chat whatever the surgeon chose there."""
        return current_screen(self.services, self.language, self.referral)[0]


async def _answer(press: Press) -> None:
    assert isinstance(press.data, Answer)
    flow = press.services.flow
    field = flow.questions[press.data.question].field
    group = on_screen(flow, press.state)
    result = answer(flow, press.state, choice=press.data.choice, field=field)
    if isinstance(result, Accepted):
        # A row answered on a rows screen: the same message shows the choice (edited).
        await _accept(press, result, in_place=group is not None)


async def _accept(press: Press, result: Accepted, in_place: bool = False) -> None:
    await accept(
        press.context,
        press.referral,
        result,
        press.language,
        press.actor,
        press.chat_id,
        pressed=press.message,
        in_place=in_place,
    )


async def _toggle(press: Press) -> None:
    """Tick a checklist item (an answer, yes: saved and audited like any, an exclusion it
    causes shown at once) or untick it; the checklist is edited to show it."""
    assert isinstance(press.data, Toggle)
    services = press.services
    field = services.flow.questions[press.data.question].field
    result = toggle(services.flow, press.state, field)
    if isinstance(result, Accepted):
        await _accept(press, result, in_place=True)
    elif isinstance(result, Unticked):
        referral = await press.save(result.state, "untick", field=field)
        await press.show(question_screen(services, press.language, referral), referral)


async def _done(press: Press) -> None:
    """Confirm a group's screen: the checklist's unticked items answered no in one step (or,
    "some not known yet", asked one by one), or a rows screen done. The screen stays in the
    chat as the record of what was answered; what follows comes below it."""
    assert isinstance(press.data, Done)
    services, language = press.services, press.language
    result = confirm(services.flow, press.state, rest_no=press.data.rest_no)
    if not isinstance(result, Confirmed):
        await press.show(question_screen(services, language, press.referral))
        return
    await _confirmed(press, result)


async def _shortcut(press: Press) -> None:
    """A rows screen's shortcut: every row its usual answer and the screen confirmed, in one
    step — audited as the rows answered one by one (an "answer" row each) and confirmed, and
    shown as a confirmation is (an exclusion one of them causes, the record in the chat)."""
    assert isinstance(press.data, Shortcut)
    services, language = press.services, press.language
    result = use_shortcut(services.flow, press.state)
    if not isinstance(result, Confirmed):
        await press.show(question_screen(services, language, press.referral))
        return
    await _confirmed(press, result, shortcut=True)


async def _confirmed(press: Press, result: Confirmed, shortcut: bool = False) -> None:
    """Save a group's confirmation (or a rows screen's shortcut) and show what follows: an
    exclusion it causes, else the next screen; the group's screen stays in the chat as the
    record of what was answered."""
    services, language = press.services, press.language
    before = assess(services, press.referral)
    after = assess(services, press.referral, result.state)
    state = result.state
    fresh = tuple(c for c in after.failed if c not in before.failed and c not in state.acknowledged)
    # Confirming records noes, which exclude no one today (a protocol might differ); a
    # shortcut's usual result excludes no one either, but any answer may: shown as at a row.
    if fresh:
        state = state.model_copy(
            update={
                "acknowledged": (*state.acknowledged, *fresh),
                "view": "failed",
                "failing": fresh,
            }
        )
    if shortcut:
        audits: list[tuple[str, dict[str, object]]] = [
            ("answer", {"field": field, "value": value}) for field, value in result.values.items()
        ]
        audits.append(("group_confirmed", {"group": result.group.name, "shortcut": True}))
        (action, detail), *also = audits
        referral = await services.store.save_state(
            press.referral, state, actor=press.actor, action=action, detail=detail, also=also
        )
    elif result.values:
        referral = await press.save(state, "answer", fields=result.values, group=result.group.name)
    elif isinstance(press.data, Done) and press.data.rest_no:
        referral = await press.save(state, "group_confirmed", group=result.group.name)
    else:
        referral = await press.save(state, "one_by_one", group=result.group.name)
    keep = group_record(services, language, result.group, result.state)
    await press.show(current_screen(services, language, referral), referral, keep=keep)


async def _section(press: Press) -> None:
    """From the review: one section's answers, each a button to change it."""
    assert isinstance(press.data, Section)
    services, flow = press.services, press.services.flow
    sections = flow.sections
    opened = (
        open_section(flow, press.state, sections[press.data.section].name)
        if 0 <= press.data.section < len(sections)
        else None
    )
    if not isinstance(opened, DialogueState):
        await press.show(review_screen(services, press.language, press.referral))
        return
    referral = await press.save(opened, "section_shown", section=opened.section)
    await press.show(section_screen(services, press.language, referral), referral)


async def _pick(press: Press) -> None:
    assert isinstance(press.data, Pick)
    services, state = press.services, press.state
    held = services.held.get(press.referral.id)
    kept = (held[1],) if held is not None and held[0] == state.screen else ()
    result = pick(services.flow, state, press.data.option, kept)
    if isinstance(result, Accepted):
        await _accept(press, result)
        return
    # "Retype" (or a name held in memory lost to a restart): ask the question again.
    services.held.pop(press.referral.id, None)
    referral = await press.save(back(services.flow, state), "retype")
    await press.show(question_screen(services, press.language, referral), referral)


async def _back(press: Press) -> None:
    """Back: undo the last answer (saying what was undone), leave an edit or a confirmation;
    on the exclusion screen, "change this answer"."""
    services, state, language = press.services, press.state, press.language
    after = back(services.flow, state)
    # Back from the first item asked one by one returns to the checklist, undoing nothing.
    returned = bool(state.one_by_one) and not after.one_by_one and after.answers == state.answers
    fields = () if returned else undone_fields(state)
    referral = await press.save(after, "back", field=fields[-1] if fields else None)
    notice = _undid(services, language, state, fields)
    if returned:
        notice = services.wording.text(language, "undid_one_by_one")
    screen = question_screen(services, language, referral, notice=notice)
    if state.view == "failed":
        # The excluding reason stays in the chat; the question comes again below it.
        await press.show(screen, referral, keep=press.failed_text())
    else:
        await press.show(screen, referral)


def _undid(
    services: Services, language: str, state: DialogueState, fields: tuple[str, ...]
) -> Markup | None:
    """ "↩ Undid: Grade: G3"; for a checklist's noes undone together, "none of …"; for any
    other step of several answers (a rows screen's shortcut), each answer it recorded."""
    wording, flow = services.wording, services.flow
    if not fields:
        return None
    separator = "、" if language == "zh" else ", "
    questions = [flow.question(f) for f in fields]
    groups = {q.group for q in questions}
    checklist = (
        len(groups) == 1
        and questions[0].group is not None
        and flow.group(questions[0].group).kind == "checklist"
    )
    if len(fields) > 1 and checklist and all(state.answers.get(f) is False for f in fields):
        labels = separator.join(q.label.get(language, q.field) for q in questions)
        return wording.text(language, "undid_none_of", items=labels)
    if len(fields) > 1:
        items = separator.join(
            answer_pair(services, language, q, state.answers.get(q.field)) for q in questions
        )
        return wording.text(language, "undid_rows", items=items)
    question = questions[0]
    return wording.text(
        language,
        "undid",
        label=question.label.get(language, fields[0]),
        value=answer_text(services, language, question, state.answers.get(fields[0])),
    )


async def _edit(press: Press) -> None:
    assert isinstance(press.data, Edit)
    services, flow = press.services, press.services.flow
    index = press.data.question
    if not 0 <= index < len(flow.questions):
        await press.show(review_screen(services, press.language, press.referral))
        return
    editing = edit(flow, press.state, flow.questions[index].field)
    if not isinstance(editing, DialogueState):
        await press.show(review_screen(services, press.language, press.referral))
        return
    referral = await press.save(editing, "edit", field=editing.editing)
    await press.show(question_screen(services, press.language, referral), referral)


async def _verdict(press: Press) -> None:
    referral = await press.save(shown(press.state, "verdict"), "verdict_shown")
    await press.show(current_screen(press.services, press.language, referral), referral)


async def _review(press: Press) -> None:
    referral = await press.save(shown(press.state, "ask"), "review_shown")
    await press.show(review_screen(press.services, press.language, referral), referral)


async def _continue(press: Press) -> None:
    """Continue past an exclusion: the reason stays on screen, the next question comes below."""
    services, language = press.services, press.language
    referral = await press.save(shown(press.state, "ask"), "continued")
    keep = f"{press.failed_text()}\n\n{services.wording.text(language, 'continued')}"
    await press.show(current_screen(services, language, referral), referral, keep=keep)


async def _close(press: Press, status: Literal["screen_failed", "cancelled"]) -> ReferralRow:
    """Store the verdict and end the draft."""
    assessment = assess(press.services, press.referral)
    return await press.services.store.close_referral(
        press.referral,
        status,
        actor=press.actor,
        verdict=assessment.verdict.value,
        failed=assessment.failed,
        unknown=assessment.unknown,
        protocol=assessment.protocol_version,
    )


async def _stop(press: Press) -> None:
    """Stop at an exclusion: the reason stays on screen with the outcome under it. Only while
    a criterion fails (assessed again here: the record must say why it stopped)."""
    services, language = press.services, press.language
    if not assess(services, press.referral).failed:
        await press.show(current_screen(services, language, press.referral))
        return
    referral = await _close(press, "screen_failed")
    label = referral_label(services, language, referral.public_id, press.state)
    stopped = services.wording.text(language, "stopped", referral=label)
    await press.show((f"{press.failed_text()}\n\n{stopped}", None), referral)


async def _discard(press: Press) -> None:
    """The answer to /cancel's question: discard (audited), or keep going where it was."""
    assert isinstance(press.data, Discard)
    services, language = press.services, press.language
    label = referral_label(services, language, press.referral.public_id, press.state)
    if press.data.confirmed:
        referral = await _close(press, "cancelled")
        text = services.wording.text(language, "cancelled", referral=label)
        await press.show((str(text), None), referral)
        return
    referral = await press.save(shown(press.state, "ask"), "cancel_declined")
    keep = str(services.wording.text(language, "kept", referral=label))
    await press.show(current_screen(services, language, referral), referral, keep=keep)


ACTIONS: dict[type[ScreenPress], Callable[[Press], Awaitable[None]]] = {
    Answer: _answer,
    Pick: _pick,
    Back: _back,
    Edit: _edit,
    Verdict: _verdict,
    Review: _review,
    Continue: _continue,
    Stop: _stop,
    Discard: _discard,
    Toggle: _toggle,
    Done: _done,
    Shortcut: _shortcut,
    Section: _section,
}
