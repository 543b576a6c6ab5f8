"""Handlers of the surgeon's triage dialogue: commands and typed answers, thin, in the order
update → engine → store → reply. The buttons are `presses.py`.

The dialogue's state is the referral's own row, committed before every reply, rather than
ptb's ConversationHandler state: ConversationHandler keeps its state in memory and its
persistence writes only every `update_interval`, so after a crash the two copies would
disagree. Here a restarted bot reads the row and shows the screen the row says is on show.

What the surgeon saw is recorded too: `store.set_message` notes each screen whose message
reached the chat. A typed answer is taken only for a screen so noted — after a crash or a
failed reply between saving an answer and showing the next question, the surgeon's next text
gets the saved answer and the current screen shown again, and answers nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ParseMode
from telegram.error import BadRequest

from natars_bot.bot.callbacks import Language, encode
from natars_bot.bot.screens import (
    Screen,
    answer_text,
    answered_text,
    cancel_screen,
    confirm_screen,
    failed_now_screen,
    question_screen,
    referral_label,
    verdict_screen,
)
from natars_bot.bot.services import BotContext, Services
from natars_bot.dialogue.answers import Rejected
from natars_bot.dialogue.engine import Accepted, DialogueState, Unsure, answer, new_failures, shown
from natars_bot.dialogue.engine import to_referral as dialogue_referral
from natars_bot.protocol.eligibility import Assessment, evaluate
from natars_bot.store import ReferralRow, UserRow

__all__ = [
    "accept",
    "assess",
    "current_screen",
    "on_cancel",
    "on_help",
    "on_language",
    "on_new",
    "on_not_text",
    "on_private_only",
    "on_start",
    "on_status",
    "on_text",
    "plain",
    "show_again",
    "show_screen",
    "surgeon_or_refuse",
    "user_language",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ helpers


async def user_language(services: Services, update: Update) -> str:
    """The language to answer this update's user in."""
    user = update.effective_user
    stored = await services.store.language_of(user.id) if user is not None else None
    return _language(services, user, stored)


def _language(services: Services, user: User | None, stored: str | None) -> str:
    """The language chosen with /language, else Chinese for a Chinese Telegram, else English."""
    if stored:
        return stored
    code = ((user.language_code if user is not None else None) or "").lower()
    return (
        "zh"
        if code.startswith("zh") and "zh" in services.flow.languages
        else services.flow.languages[0]
    )


async def surgeon_or_refuse(update: Update, context: BotContext) -> tuple[UserRow, str] | None:
    """The registered surgeon behind this update, or None after a polite refusal."""
    services = context.services
    user = update.effective_user
    roles, stored = await services.store.person(user.id) if user else ({}, None)
    language = _language(services, user, stored)
    if user is not None and "surgeon" in roles:
        return roles["surgeon"], language
    refusal = services.wording.text(language, "refused", user_id=user.id if user else "?")
    if update.callback_query is not None:
        await update.callback_query.answer(plain(refusal), show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(refusal, parse_mode=ParseMode.HTML)
    return None


def plain(html: str) -> str:
    """Callback alerts are plain text of at most 200 characters."""
    for tag in ("<b>", "</b>", "<i>", "</i>", "<code>", "</code>"):
        html = html.replace(tag, "")
    return html[:200]


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


async def _draft_and_chat(
    update: Update, context: BotContext
) -> tuple[UserRow, str, ReferralRow | None, int] | None:
    """The surgeon, their language, their draft (if any) and the chat; None after a refusal."""
    found = await surgeon_or_refuse(update, context)
    if found is None or update.effective_chat is None:
        return None
    user, language = found
    draft = await context.services.store.draft_of(user.telegram_id)
    return user, language, draft, update.effective_chat.id


async def _reply(update: Update, text: str) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML)


# ------------------------------------------------------------------ commands


async def on_start(update: Update, context: BotContext) -> None:
    """/start: greet, and resume a referral in progress."""
    found = await _draft_and_chat(update, context)
    if found is None:
        return
    _, language, draft, chat_id = found
    if draft is None:
        await _reply(update, context.services.wording.text(language, "welcome"))
        return
    await _resume(context, draft, language, chat_id)


async def _resume(context: BotContext, draft: ReferralRow, language: str, chat_id: int) -> None:
    services = context.services
    notice = services.wording.text(
        language, "resumed", referral=draft.public_id, answered=len(draft.state.answers)
    )
    await show_screen(context, draft, chat_id, current_screen(services, language, draft, notice))


async def on_new(update: Update, context: BotContext) -> None:
    """/new: start a referral (or continue the one in progress)."""
    found = await _draft_and_chat(update, context)
    if found is None:
        return
    user, language, draft, chat_id = found
    services = context.services
    if draft is not None:
        await _resume(context, draft, language, chat_id)
        return
    draft = await services.store.start_referral(user.telegram_id, user.site)
    notice = services.wording.text(language, "started", referral=draft.public_id)
    await show_screen(context, draft, chat_id, question_screen(services, language, draft, notice))


async def on_cancel(update: Update, context: BotContext) -> None:
    """/cancel: ask first whether to discard the referral in progress (presses.py discards)."""
    found = await _draft_and_chat(update, context)
    if found is None:
        return
    user, language, draft, chat_id = found
    services = context.services
    if draft is None:
        await _reply(update, services.wording.text(language, "no_draft"))
        return
    if draft.state.view != "cancel":
        draft = await services.store.save_state(
            draft,
            shown(draft.state, "cancel"),
            actor=str(user.telegram_id),
            action="cancel_asked",
            detail={},
        )
    await show_screen(context, draft, chat_id, cancel_screen(services, language, draft))


async def on_help(update: Update, context: BotContext) -> None:
    """/help: the commands and how to answer."""
    if update.effective_message is None:
        return
    language = await user_language(context.services, update)
    await update.effective_message.reply_text(context.services.wording.text(language, "help"))


async def on_status(update: Update, context: BotContext) -> None:
    """/status: the surgeon's latest referrals, each with the surgeon's own screening number."""
    found = await surgeon_or_refuse(update, context)
    if found is None or update.effective_message is None:
        return
    user, language = found
    services = context.services
    referrals = await services.store.referrals_of(user.telegram_id)
    if not referrals:
        await update.effective_message.reply_text(services.wording.text(language, "status_none"))
        return
    rows = [
        {
            "public_id": referral_label(services, language, r.public_id, r.state),
            "status_text": services.wording.text(language, f"status_{r.status}"),
            "date": r.updated_at[:10],
        }
        for r in referrals
    ]
    await update.effective_message.reply_text(
        services.wording.render("status.html.j2", language, rows=rows), parse_mode=ParseMode.HTML
    )


async def on_language(update: Update, context: BotContext) -> None:
    """/language: choose English or Chinese."""
    if update.effective_message is None:
        return
    language = await user_language(context.services, update)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("English", callback_data=encode(Language(language="en"))),
                InlineKeyboardButton("中文", callback_data=encode(Language(language="zh"))),
            ]
        ]
    )
    await update.effective_message.reply_text(
        context.services.wording.text(language, "language_prompt"), reply_markup=keyboard
    )


async def on_private_only(update: Update, context: BotContext) -> None:
    """/new or /start in a group: referrals belong in a private chat."""
    if update.effective_message is None:
        return
    language = await user_language(context.services, update)
    await update.effective_message.reply_text(
        context.services.wording.text(language, "private_only")
    )


# ------------------------------------------------------------------ typed answers


async def on_text(update: Update, context: BotContext) -> None:
    """A typed answer to the question on screen: accepted and saved, or re-prompted."""
    found = await _draft_and_chat(update, context)
    message = update.effective_message
    if found is None or message is None:
        return
    user, language, draft, chat_id = found
    services = context.services
    if draft is None:
        await message.reply_text(services.wording.text(language, "no_draft"))
        return
    if draft.shown_screen != draft.state.screen or message.message_id < _seen_from(draft):
        # The screen the state is on never reached the chat (a crash or a failed reply after
        # the last answer was saved), or this text was written before it did (message ids
        # grow through a chat, the surgeon's and the bot's alike): it answers a question the
        # surgeon has not seen.
        await show_screen(
            context,
            draft,
            chat_id,
            current_screen(services, language, draft, _saved(services, language, draft)),
        )
        return
    result = answer(services.flow, draft.state, text=message.text or "")
    if isinstance(result, Rejected):
        notice = Markup("⚠️ ") + reprompt(services, language, result)
        if result.reason == "no_question":
            notice = services.wording.text(language, "reprompt_no_question")
        await show_screen(
            context, draft, chat_id, current_screen(services, language, draft, notice)
        )
        return
    actor = str(user.telegram_id)
    if isinstance(result, Unsure):
        draft = await services.store.save_state(
            draft,
            result.state,
            actor=actor,
            action="answer_unclear",
            detail={"field": result.question.field, "reason": result.state.pending.reason}
            if result.state.pending
            else {"field": result.question.field},
        )
        if result.state.pending is not None and not result.state.pending.options:
            services.held[draft.id] = (draft.state.screen, result.text)
        await show_screen(context, draft, chat_id, confirm_screen(services, language, draft))
        return
    await accept(context, draft, result, language, actor, chat_id, message.text or "")


def _seen_from(draft: ReferralRow) -> int:
    """The message id after which a typed text was written with the current screen in view:
    the first message that showed it — or its latest copy, when a new local Bot API server
    numbers messages from 1 again (Telegram never does)."""
    shown = [m for m in (draft.shown_from, draft.message_id) if m is not None]
    return min(shown, default=0)


def _saved(services: Services, language: str, draft: ReferralRow) -> Markup:
    """ "Saved: <the last answer>" above the screen shown again."""
    state = draft.state
    if not state.order:
        return services.wording.text(language, "saved_nothing")
    question = services.flow.question(state.order[-1])
    return services.wording.text(
        language,
        "saved_next",
        label=question.label.get(language, question.field),
        value=answer_text(services, language, question, state.answers.get(question.field)),
    )


def reprompt(services: Services, language: str, rejected: Rejected) -> Markup:
    """Why a typed answer was not taken, in the surgeon's language."""
    wording = services.wording
    key = f"reprompt_{rejected.reason}"
    if rejected.reason == "out_of_range":
        key += "_" + str(rejected.params.get("bound", "ge"))
    params = {k: v for k, v in rejected.params.items() if k not in ("bound", "field")}
    if rejected.reason in ("inexact", "range", "other_area"):
        why = f"why_exact_{rejected.params.get('field')}"
        params["why"] = wording.text(
            language, why if why in wording.messages else "why_exact_default"
        )
    return wording.text(language, key, **params)


async def accept(
    context: BotContext,
    draft: ReferralRow,
    accepted: Accepted,
    language: str,
    actor: str,
    chat_id: int,
    typed: str | None = None,
    pressed: Message | None = None,
) -> None:
    """Save an accepted answer, then show what follows: an early fail, a question, the review.

    A pressed question's message keeps its prompt and the answer (the chat is the surgeon's
    record); what follows is a new message below it.
    """
    services = context.services
    after = assess(services, draft, accepted.state)
    # Every fail an answer causes is shown at once, on a screen of its own that asks to stop,
    # continue or change the answer: the state alone says what the surgeon has seen.
    fresh = new_failures(None, after, accepted.state)
    state = accepted.state
    if fresh:
        state = state.model_copy(
            update={
                "acknowledged": (*state.acknowledged, *fresh),
                "view": "failed",
                "failing": fresh,
            }
        )
    draft = await services.store.save_state(
        draft,
        state,
        actor=actor,
        action="answer",
        detail={"field": accepted.question.field, "value": accepted.value},
    )
    services.held.pop(draft.id, None)
    value = answer_text(services, language, accepted.question, accepted.value)
    recorded = services.wording.text(
        language,
        "answer_recorded",
        label=accepted.question.label.get(language, accepted.question.field),
        value=value,
    )
    if accepted.approximate and typed:
        recorded += Markup(" ") + services.wording.text(
            language, "approximate", text=typed.strip(), value=value
        )
    keep = None
    if pressed is not None:
        keep = answered_text(services, language, accepted.question, accepted.value)
    if fresh:
        results = [after.result(criterion_id) for criterion_id in fresh]
        screen = failed_now_screen(services, language, draft, recorded, results)
    else:
        screen = current_screen(services, language, draft, recorded)
    await show_screen(context, draft, chat_id, screen, edit_message=pressed, keep=keep)


async def on_not_text(update: Update, context: BotContext) -> None:
    """A sticker, photo, voice note, location …: say what the bot can read."""
    found = await _draft_and_chat(update, context)
    if found is None:
        return
    _, language, draft, _ = found
    key = "not_text" if draft is not None else "no_draft"
    await _reply(update, context.services.wording.text(language, key))


async def show_again(update: Update, context: BotContext) -> None:
    """An update that was handled before (Telegram delivered it again after a crash): nothing is
    applied twice; in a surgeon's private chat the current screen is shown again."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None or chat.type != chat.PRIVATE:
        return
    services = context.services
    roles, stored = await services.store.person(user.id)
    if "surgeon" not in roles:
        return
    language = _language(services, user, stored)
    if update.callback_query is not None:
        # Old by now (the first delivery was answered, or expired): a failure here is no loss.
        with contextlib.suppress(BadRequest):
            await update.callback_query.answer()
    draft = await services.store.draft_of(user.id)
    if draft is None:
        return
    notice = services.wording.text(language, "again_current")
    await show_screen(context, draft, chat.id, current_screen(services, language, draft, notice))
