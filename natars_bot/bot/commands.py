"""The surgeon's commands: /start, /new, /cancel, /status, /language, /help.

The dialogue's state is the referral's own row, committed before every reply, rather than
ptb's ConversationHandler state: ConversationHandler keeps its state in memory and its
persistence writes only every `update_interval`, so after a crash the two copies would
disagree. Here a restarted bot reads the row and shows the screen the row says is on show.
Who is asking, in which language and with which draft, was resolved before (people.py).
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from natars_bot.bot.callbacks import Language, encode
from natars_bot.bot.people import surgeon_or_refuse
from natars_bot.bot.screens import cancel_screen, question_screen, referral_label
from natars_bot.bot.services import BotContext
from natars_bot.bot.showing import current_screen, show_screen
from natars_bot.dialogue.engine import shown
from natars_bot.reports.times import local_moment
from natars_bot.store import ReferralRow

__all__ = [
    "on_cancel",
    "on_help",
    "on_language",
    "on_new",
    "on_private_only",
    "on_start",
    "on_status",
    "on_wrong_place",
    "reply",
]


async def reply(update: Update, text: str) -> None:
    """Answer the update's message with `text` (HTML)."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML)


async def on_start(update: Update, context: BotContext) -> None:
    """/start: greet, and resume a referral in progress."""
    surgeon = await surgeon_or_refuse(update, context)
    if surgeon is None or surgeon.chat_id is None:
        return
    if surgeon.draft is None:
        await reply(update, context.services.wording.text(surgeon.language, "welcome"))
        return
    await _resume(context, surgeon.draft, surgeon.language, surgeon.chat_id)


async def _resume(context: BotContext, draft: ReferralRow, language: str, chat_id: int) -> None:
    services = context.services
    notice = services.wording.text(
        language, "resumed", referral=draft.public_id, answered=len(draft.state.answers)
    )
    await show_screen(context, draft, chat_id, current_screen(services, language, draft, notice))


async def on_new(update: Update, context: BotContext) -> None:
    """/new: start a referral (or continue the one in progress)."""
    surgeon = await surgeon_or_refuse(update, context)
    if surgeon is None or surgeon.chat_id is None or surgeon.telegram_id is None:
        return
    services, language = context.services, surgeon.language
    if surgeon.draft is not None:
        await _resume(context, surgeon.draft, language, surgeon.chat_id)
        return
    draft = await services.store.start_referral(surgeon.telegram_id, surgeon.roles["surgeon"].site)
    notice = services.wording.text(language, "started", referral=draft.public_id)
    await show_screen(
        context, draft, surgeon.chat_id, question_screen(services, language, draft, notice)
    )


async def on_cancel(update: Update, context: BotContext) -> None:
    """/cancel: ask first whether to discard the referral in progress (presses.py discards)."""
    surgeon = await surgeon_or_refuse(update, context)
    if surgeon is None or surgeon.chat_id is None:
        return
    services, language, draft = context.services, surgeon.language, surgeon.draft
    if draft is None:
        await reply(update, services.wording.text(language, "no_draft"))
        return
    if draft.state.view != "cancel":
        draft = await services.store.save_state(
            draft,
            shown(draft.state, "cancel"),
            actor=str(surgeon.telegram_id),
            action="cancel_asked",
            detail={},
        )
    await show_screen(context, draft, surgeon.chat_id, cancel_screen(services, language, draft))


async def on_help(update: Update, context: BotContext) -> None:
    """/help: the commands and how to answer, with the parts for each role the person holds."""
    if update.effective_message is None:
        return
    person, wording = context.person, context.services.wording
    parts = [wording.text(person.language, "help")]
    if person.has("coordinator", "admin"):
        parts.append(wording.text(person.language, "help_coordinator"))
    if person.has("reviewer"):
        parts.append(wording.text(person.language, "help_reviewer"))
    await update.effective_message.reply_text("\n\n".join(str(part) for part in parts))


async def on_wrong_place(update: Update, context: BotContext) -> None:
    """A private-chat command sent in a group: say where it works."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command = message.text.split()[0].lstrip("/").split("@")[0]
    text = context.services.wording.text(
        context.person.language, "wrong_place_private", command=command
    )
    await message.reply_text(text)


async def on_status(update: Update, context: BotContext) -> None:
    """/status: the surgeon's latest referrals, each with the surgeon's own screening number."""
    surgeon = await surgeon_or_refuse(update, context)
    if surgeon is None or surgeon.telegram_id is None or update.effective_message is None:
        return
    services, language = context.services, surgeon.language
    referrals = await services.store.referrals_of(surgeon.telegram_id)
    if not referrals:
        await update.effective_message.reply_text(services.wording.text(language, "status_none"))
        return
    rows = [
        {
            "public_id": referral_label(services, language, r.public_id, r.state),
            "status_text": services.wording.text(language, f"status_{r.status}"),
            "date": local_moment(r.updated_at, services.zone).date().isoformat(),
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
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("English", callback_data=encode(Language(language="en"))),
                InlineKeyboardButton("中文", callback_data=encode(Language(language="zh"))),
            ]
        ]
    )
    await update.effective_message.reply_text(
        context.services.wording.text(context.person.language, "language_prompt"),
        reply_markup=keyboard,
    )


async def on_private_only(update: Update, context: BotContext) -> None:
    """/new or /start in a group: referrals belong in a private chat."""
    if update.effective_message is None:
        return
    await update.effective_message.reply_text(
        context.services.wording.text(context.person.language, "private_only")
    )
