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

from telegram import CallbackQuery, Message, Update
from telegram.error import TelegramError

from natars_bot.bot.actions import ACTIONS as DRAFT_ACTIONS
from natars_bot.bot.actions import Press
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
    Shortcut,
    Stop,
    Submit,
    Toggle,
    Verdict,
    decode,
)
from natars_bot.bot.people import plain, surgeon_or_refuse
from natars_bot.bot.services import BotContext, Services
from natars_bot.bot.submission import submit
from natars_bot.dialogue.engine import (
    DialogueState,
    current,
    members,
    on_screen,
    progress,
)
from natars_bot.dialogue.groups import shortcut_offered

__all__ = ["answer_quietly", "on_button", "on_invalid_button"]

# Every press the surgeon's screens carry, to its action (actions.py, submission.py).
ACTIONS: dict[type[ScreenPress], Callable[[Press], Awaitable[None]]] = {
    **DRAFT_ACTIONS,
    Submit: submit,
}

log = logging.getLogger(__name__)


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
        and not _another_item(services, referral.id, data)
    ):
        await query.answer(plain(wording.text(language, "read_first")), show_alert=True)
        return
    if isinstance(data, Toggle | Answer) and on_screen(services.flow, referral.state):
        services.group_item[referral.id] = (data.screen, data.question)
    else:
        services.group_item.pop(referral.id, None)
    press = Press(
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
    await asyncio.gather(answer_quietly(query), ACTIONS[type(data)](press))


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


async def answer_quietly(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a press; a failure there (the query too old after downtime, a timeout) only
    leaves a spinner, so it is logged, never raised: raised beside the action, it would tell
    the surgeon "something went wrong, try again" for a press that was applied."""
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.info("press not answered (%s): its action stands", exc)


def _another_item(services: Services, referral_id: int, data: ScreenPress) -> bool:
    """A tick or a row's answer on a checklist or rows screen that the press before it (on
    the screen just before, a tick or a row of the same screen) edited in place: its buttons
    stayed where they were, so a double tap's second tap lands on the same item — another
    item, however soon, is meant (three rows answered in a second from the report)."""
    last = services.group_item.get(referral_id)
    return (
        isinstance(data, Toggle | Answer)
        and last is not None
        and last[0] + 1 == data.screen
        and last[1] != data.question
    )


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
    if isinstance(data, Shortcut):
        # Offered by a rows screen that has one, while none of its rows is chosen.
        return group is not None and shortcut_offered(flow, state, group)
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
