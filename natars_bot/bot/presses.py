"""The surgeon's buttons: decoded by the codec, checked against the screen on show, then acted on.

A press counts only if it was made on the screen the draft is on now (its screen number), is a
button that screen has, and came at least `read_delay` after that screen appeared. Anything
else changes nothing and gets an alert saying what is current: presses on older messages, on
messages edited since, a press delivered twice, and the second tap of a double tap, which lands
on whatever the first tap brought to the same spot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup
from telegram import Message, Update
from telegram.constants import ParseMode

from natars_bot.bot.answering import accept
from natars_bot.bot.callbacks import (
    Answer,
    Back,
    Continue,
    Discard,
    Done,
    Edit,
    Info,
    Language,
    Pick,
    Review,
    ScreenPress,
    Section,
    Stop,
    Submit,
    Toggle,
    Verdict,
    decode,
)
from natars_bot.bot.cases import surgeon_name
from natars_bot.bot.delivery import kick
from natars_bot.bot.mdt_screens import compose_summary
from natars_bot.bot.people import plain, surgeon_or_refuse
from natars_bot.bot.screens import (
    Screen,
    answer_text,
    group_record,
    question_screen,
    referral_label,
    review_screen,
    section_screen,
    verdict_screen,
)
from natars_bot.bot.services import BotContext, Services
from natars_bot.bot.showing import assess, current_screen, show_screen
from natars_bot.dialogue.engine import (
    Accepted,
    DialogueState,
    answer,
    back,
    current,
    edit,
    members,
    on_screen,
    open_section,
    pick,
    progress,
    shown,
    undone_fields,
)
from natars_bot.dialogue.groups import Confirmed, Unticked, confirm, toggle
from natars_bot.store import Outgoing, ReferralRow, SubmissionRow

__all__ = ["on_button", "on_invalid_button"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Press:
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


async def on_button(update: Update, context: BotContext) -> None:
    """Every inline button of the surgeon's dialogue (MDT and coordinators' buttons have their
    own handlers, by the codec's prefixes)."""
    query = update.callback_query
    if query is None:
        return
    data = decode(query.data)
    if isinstance(data, Language):
        await _set_language(update, context, data.language)
        return
    surgeon = await surgeon_or_refuse(update, context)
    if surgeon is None or surgeon.chat_id is None:
        return
    services, language = context.services, surgeon.language
    wording = services.wording
    if not isinstance(data, ScreenPress):
        await on_invalid_button(update, context)
        return
    # Only the surgeon's referral in progress takes presses; any other (theirs, submitted or
    # discarded since, or another surgeon's) is stale.
    referral = surgeon.draft if surgeon.draft and surgeon.draft.id == data.referral else None
    if referral is None:
        await query.answer(plain(wording.text(language, "stale_button")), show_alert=True)
        return
    if data.screen != referral.state.screen:
        await query.answer(_where_now(services, language, referral.state), show_alert=True)
        return
    if not _fits(services, data, referral.state):
        # The current screen has no such button: a forged press (the data of an action the
        # surgeon was never offered, e.g. "submit" with questions unanswered). Audited.
        await services.store.record(
            str(surgeon.telegram_id),
            "press_refused",
            {"referral": referral.public_id, "press": data.code, "view": referral.state.view},
        )
        await query.answer(_where_now(services, language, referral.state), show_alert=True)
        return
    seen = services.shown_at.get(referral.id)
    if (
        seen is not None
        and seen[0] == data.screen
        and services.clock() - seen[1] < services.read_delay
    ):
        await query.answer(plain(wording.text(language, "read_first")), show_alert=True)
        return
    press = _Press(
        context=context,
        referral=referral,
        language=language,
        actor=str(surgeon.telegram_id),
        chat_id=surgeon.chat_id,
        message=query.message if isinstance(query.message, Message) else None,
        data=data,
    )
    if isinstance(data, Info):
        # A row's heading: its question in full, as an alert; nothing changes.
        await query.answer(_info(services, language, data), show_alert=True)
        return
    # CallbackQueries need to be answered, even if no notification to the user is needed.
    # The answer and the work behind the press are independent: in flight together, the bot
    # waits on Telegram once per press rather than twice, and the spinner stops sooner.
    await asyncio.gather(query.answer(), _ACTIONS[type(data)](press))


async def on_invalid_button(update: Update, context: BotContext) -> None:
    """A press whose data we never wrote (forged, or from an old release): one alert, one log
    line, no traceback."""
    query = update.callback_query
    if query is None:
        return
    person = context.person
    log.info("button data not ours from user %s: %r", person.telegram_id or "?", query.data)
    text = context.services.wording.text(person.language, "invalid_button")
    await query.answer(plain(text), show_alert=True)


def _fits(services: Services, data: ScreenPress, state: DialogueState) -> bool:
    """Whether the screen on show has this button (a forged press may name any action)."""
    flow = services.flow
    question = current(flow, state)
    group = on_screen(flow, state) if state.view == "ask" else None
    view = state.view
    if isinstance(data, Answer | Toggle | Info):
        if view != "ask" or question is None:
            return False
        if group is None:
            return isinstance(data, Answer) and question.index == data.question
        on_show = {q.index for q in members(flow, state, group)}
        kind = "checklist" if isinstance(data, Toggle) else "rows"
        return group.kind == kind and data.question in on_show
    if isinstance(data, Done):
        if group is None:
            return False
        # A rows screen offers its confirmation once every row is answered.
        open_rows = [q for q in members(flow, state, group) if q.field not in state.answers]
        return group.kind == "checklist" or (data.rest_no and not open_rows)
    if isinstance(data, Pick):
        return view == "confirm"
    if isinstance(data, Back):
        return view in ("ask", "confirm", "failed", "section")
    if isinstance(data, Edit):
        if view == "section" and state.section is not None:
            fields = flow.section(state.section).fields
            return 0 <= data.question < len(flow.questions) and (
                flow.questions[data.question].field in fields
            )
        return view == "ask" and question is None
    if isinstance(data, Verdict | Section):
        return view == "ask" and question is None
    if isinstance(data, Submit):
        # On the verdict, or on the review itself: confirming is one tap.
        return view in ("verdict", "ask") and question is None
    if isinstance(data, Review):
        return view == "verdict"
    if isinstance(data, Continue | Stop):
        return view == "failed" and bool(state.failing)
    if isinstance(data, Discard):
        return view == "cancel"
    return False


def _info(services: Services, language: str, data: Info) -> str:
    """A row heading's alert: the question as it would be asked one by one."""
    question = services.flow.questions[data.question]
    prompt = question.prompt.get(language, question.field)
    if question.help:
        prompt = f"{prompt}\n{question.help.get(language, '')}"
    return plain(prompt)


def _where_now(services: Services, language: str, state: DialogueState) -> str:
    """The alert for a press on a screen that is not the current one."""
    wording = services.wording
    if state.view == "ask" and current(services.flow, state) is not None:
        answered, total = progress(services.flow, state)
        return plain(wording.text(language, "stale_screen", number=min(answered + 1, total)))
    return plain(wording.text(language, "stale_other"))


# ------------------------------------------------------------------ the actions


async def _answer(press: _Press) -> None:
    assert isinstance(press.data, Answer)
    flow = press.services.flow
    field = flow.questions[press.data.question].field
    group = on_screen(flow, press.state)
    result = answer(flow, press.state, choice=press.data.choice, field=field)
    if isinstance(result, Accepted):
        # A row answered on a rows screen: the same message shows the choice (edited).
        await _accept(press, result, in_place=group is not None)


async def _accept(press: _Press, result: Accepted, in_place: bool = False) -> None:
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


async def _toggle(press: _Press) -> None:
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


async def _done(press: _Press) -> None:
    """Confirm a group's screen: the checklist's unticked items answered no in one step (or,
    "some not known yet", asked one by one), or a rows screen done. The screen stays in the
    chat as the record of what was answered; what follows comes below it."""
    assert isinstance(press.data, Done)
    services, language = press.services, press.language
    result = confirm(services.flow, press.state, rest_no=press.data.rest_no)
    if not isinstance(result, Confirmed):
        await press.show(question_screen(services, language, press.referral))
        return
    before = assess(services, press.referral)
    after = assess(services, press.referral, result.state)
    state = result.state
    fresh = tuple(c for c in after.failed if c not in before.failed and c not in state.acknowledged)
    if fresh:  # confirming records noes, which exclude no one today; a protocol might differ
        state = state.model_copy(
            update={
                "acknowledged": (*state.acknowledged, *fresh),
                "view": "failed",
                "failing": fresh,
            }
        )
    if result.values:
        referral = await press.save(state, "answer", fields=result.values, group=result.group.name)
    elif press.data.rest_no:
        referral = await press.save(state, "group_confirmed", group=result.group.name)
    else:
        referral = await press.save(state, "one_by_one", group=result.group.name)
    keep = group_record(services, language, result.group, result.state)
    await press.show(current_screen(services, language, referral), referral, keep=keep)


async def _section(press: _Press) -> None:
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


async def _pick(press: _Press) -> None:
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


async def _back(press: _Press) -> None:
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
    """ "↩ Undid: Grade: G3" — or, for a checklist's noes undone together, "none of …"."""
    wording, flow = services.wording, services.flow
    if not fields:
        return None
    if len(fields) > 1:
        separator = "、" if language == "zh" else ", "
        labels = separator.join(flow.question(f).label.get(language, f) for f in fields)
        return wording.text(language, "undid_none_of", items=labels)
    question = flow.question(fields[0])
    return wording.text(
        language,
        "undid",
        label=question.label.get(language, fields[0]),
        value=answer_text(services, language, question, state.answers.get(fields[0])),
    )


async def _edit(press: _Press) -> None:
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


async def _verdict(press: _Press) -> None:
    referral = await press.save(shown(press.state, "verdict"), "verdict_shown")
    await press.show(current_screen(press.services, press.language, referral), referral)


async def _review(press: _Press) -> None:
    referral = await press.save(shown(press.state, "ask"), "review_shown")
    await press.show(review_screen(press.services, press.language, referral), referral)


async def _continue(press: _Press) -> None:
    """Continue past an exclusion: the reason stays on screen, the next question comes below."""
    services, language = press.services, press.language
    referral = await press.save(shown(press.state, "ask"), "continued")
    keep = f"{press.failed_text()}\n\n{services.wording.text(language, 'continued')}"
    await press.show(current_screen(services, language, referral), referral, keep=keep)


async def _close(press: _Press, status: Literal["screen_failed", "cancelled"]) -> ReferralRow:
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


async def _stop(press: _Press) -> None:
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


async def _discard(press: _Press) -> None:
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


async def _submit(press: _Press) -> None:
    """Submit to the MDT: the submission and its summary are committed together; the outbox
    worker posts the summary (now, or when Telegram is reachable again)."""
    services, referral = press.services, press.referral
    store = services.store
    assessment = assess(services, referral)
    versions = await store.submissions_of(referral.id)
    previous = versions[-1] if versions else None
    surgeon = await surgeon_name(services, referral.surgeon_id)
    submitted_at = services.clock()

    def compose(submission_id: int) -> list[Outgoing]:
        submission = SubmissionRow(
            id=submission_id,
            referral_id=referral.id,
            public_id=referral.public_id,
            surgeon_id=referral.surgeon_id,
            site=referral.site,
            version=referral.version,
            state=referral.state,
            verdict=assessment.verdict.value,
            failed=assessment.failed,
            unknown=assessment.unknown,
            protocol=assessment.protocol_version,
            submitted_at=submitted_at.isoformat(timespec="seconds"),
            mdt_chat_id=None,
            mdt_message_id=None,
            decision=None,
            decided_at=None,
            remind_at=None,
        )
        return compose_summary(services, submission, previous, surgeon)

    await store.submit(
        referral,
        verdict=assessment.verdict.value,
        failed=assessment.failed,
        unknown=assessment.unknown,
        protocol=assessment.protocol_version,
        remind_at=submitted_at + services.reminder_delay,
        compose=compose,
        actor=press.actor,
    )
    kick(press.context)
    submitted = await store.referral(referral.id)
    await press.show(
        verdict_screen(services, press.language, referral, assessment, False), submitted
    )
    label = referral_label(services, press.language, referral.public_id, referral.state)
    text = services.wording.text(press.language, "submitted", referral=label)
    await press.context.bot.send_message(press.chat_id, text, parse_mode=ParseMode.HTML)


_ACTIONS: dict[type[ScreenPress], Callable[[_Press], Awaitable[None]]] = {
    Answer: _answer,
    Pick: _pick,
    Back: _back,
    Edit: _edit,
    Verdict: _verdict,
    Review: _review,
    Continue: _continue,
    Stop: _stop,
    Discard: _discard,
    Submit: _submit,
    Toggle: _toggle,
    Done: _done,
    Section: _section,
}


async def _set_language(update: Update, context: BotContext, language: str) -> None:
    query = update.callback_query
    user = update.effective_user
    services = context.services
    if query is None or user is None or language not in services.flow.languages:
        return
    await services.store.set_language(user.id, language)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(services.wording.text(language, "language_set"))
