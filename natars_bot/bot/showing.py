"""Putting the draft's screen in the surgeon's chat, and recording that it got there.

Shared by the commands, typed answers and buttons: which screen the draft's state says is on
show (`current_screen`), and showing it (`show_screen`) so that only one set of buttons is
live and `store.set_message` notes the screen that reached the chat. A typed answer is taken
only for a screen so noted (answering.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from markupsafe import Markup
from telegram import Message
from telegram.constants import ParseMode
from telegram.error import BadRequest

from natars_bot.bot.screens import (
    Screen,
    cancel_screen,
    confirm_screen,
    failed_now_screen,
    question_screen,
    verdict_screen,
)
from natars_bot.bot.services import BotContext, Services
from natars_bot.dialogue.engine import DialogueState
from natars_bot.dialogue.engine import to_referral as dialogue_referral
from natars_bot.protocol.eligibility import Assessment, evaluate
from natars_bot.store import ReferralRow

__all__ = ["assess", "current_screen", "show_screen"]


def assess(
    services: Services, referral: ReferralRow, state: DialogueState | None = None
) -> Assessment:
    """The engine's verdict on a draft's answers (`state`, or the stored ones)."""
    state = state if state is not None else referral.state
    fixed: dict[str, Any] = {"referral_id": referral.public_id, "site": referral.site}
    return evaluate(dialogue_referral(services.flow, state, **fixed), services.protocol)


def current_screen(
    services: Services, language: str, referral: ReferralRow, notice: Markup | None = None
) -> Screen:
    """The screen the draft's state says is on show, under `notice`."""
    state = referral.state
    if state.view == "verdict":
        text, markup = verdict_screen(
            services, language, referral, assess(services, referral), True
        )
    elif state.view == "failed":
        assessment = assess(services, referral)
        results = [assessment.result(c) for c in state.failing]
        return failed_now_screen(services, language, referral, notice or Markup(""), results)
    elif state.view == "cancel":
        text, markup = cancel_screen(services, language, referral)
    elif state.view == "confirm":
        return confirm_screen(services, language, referral, notice)
    else:
        return question_screen(services, language, referral, notice=notice)
    return (f"{notice}\n\n{text}" if notice else text), markup


async def show_screen(
    context: BotContext,
    referral: ReferralRow,
    chat_id: int,
    screen: Screen,
    *,
    edit_message: Message | None = None,
    keep: str | None = None,
) -> ReferralRow:
    """Show the draft's current screen, then record that it reached the chat.

    With `edit_message` (the pressed message): edited in place; or, with `keep`, the pressed
    message is edited to `keep` (its buttons removed: what was answered stays readable) and the
    screen sent as a new message. Without: sent as a new message, and the buttons of the
    message that showed the previous screen are taken off, so that only one set is live.
    """
    services = context.services
    text, markup = screen
    if edit_message is not None and keep is None:
        try:
            await edit_message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise
        message_id = edit_message.message_id
    else:
        # Two independent calls in flight together: one wait for Telegram instead of two.
        tidy = (
            _edit_quietly(edit_message, keep)
            if edit_message is not None and keep is not None
            else _strip_buttons(context, chat_id, referral.message_id)
        )
        sent, _ = await asyncio.gather(
            context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup),
            tidy,
        )
        message_id = sent.message_id
    screen_number = referral.state.screen
    services.shown_at[referral.id] = (screen_number, services.clock())
    if referral.status != "draft":
        return referral
    return await services.store.set_message(referral, message_id, screen_number)


async def _edit_quietly(message: Message, text: str) -> None:
    """Turn a pressed screen into its record (no buttons); a failure there loses nothing."""
    with contextlib.suppress(BadRequest):
        await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=None)


async def _strip_buttons(context: BotContext, chat_id: int, message_id: int | None) -> None:
    """Take the buttons off an earlier screen, so that only one set is live."""
    if message_id is None:
        return
    # Already without buttons, or deleted by the surgeon: nothing to tidy then.
    with contextlib.suppress(BadRequest):
        await context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
