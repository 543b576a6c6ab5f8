"""Who is talking: the person behind an update, resolved once, before any handler runs.

`resolve_person` runs in handler group -1 (app.py). python-telegram-bot runs the groups in
ascending order and builds one CallbackContext per update, shared by all of them, so what it
puts on the context is there for whichever handler takes the update: the user's roles, the
language to answer in and, for a surgeon in their private chat, the referral in progress.
Handlers keep only what is theirs; none asks the store who the user is again.

Read fresh from the store for every update (one query for roles and language, one for the
draft), so a change made by another process — `natars-bot users remove` — holds from the very
next update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram import Update, User
from telegram.constants import ChatType, ParseMode

from natars_bot.store import ReferralRow, UserRow

if TYPE_CHECKING:
    from natars_bot.bot.services import BotContext, Services

__all__ = ["Person", "language_for", "plain", "resolve_person", "surgeon_or_refuse"]


@dataclass(frozen=True)
class Person:
    """The sender of the update being handled, as the store knows them."""

    telegram_id: int | None
    roles: Mapping[str, UserRow]  # role name → the row granting it; empty for strangers
    language: str  # the language to answer in
    chat_id: int | None  # the chat the update came from
    private: bool  # whether that chat is the user's private chat with the bot
    draft: ReferralRow | None = None  # a surgeon's referral in progress (private chats only)
    chosen_language: str | None = None  # the language chosen with /language, if any

    def has(self, *roles: str) -> bool:
        """Whether the person holds any of `roles` now."""
        return any(role in self.roles for role in roles)


def language_for(services: Services, user: User | None, stored: str | None) -> str:
    """The language chosen with /language, else Chinese for a Chinese Telegram, else English."""
    if stored:
        return stored
    code = ((user.language_code if user is not None else None) or "").lower()
    return (
        "zh"
        if code.startswith("zh") and "zh" in services.flow.languages
        else services.flow.languages[0]
    )


async def resolve_person(update: Update, services: Services) -> Person:
    """Who sent `update`: their roles, language and (a surgeon in private) open draft."""
    user, chat = update.effective_user, update.effective_chat
    roles, stored = await services.store.person(user.id) if user is not None else ({}, None)
    private = chat is not None and chat.type == ChatType.PRIVATE
    draft = None
    if user is not None and private and "surgeon" in roles:
        draft = await services.store.draft_of(user.id)
    return Person(
        telegram_id=user.id if user is not None else None,
        roles=roles,
        language=language_for(services, user, stored),
        chat_id=chat.id if chat is not None else None,
        private=private,
        draft=draft,
        chosen_language=stored,
    )


async def surgeon_or_refuse(update: Update, context: BotContext) -> Person | None:
    """The person if they are a registered surgeon, or None after a polite refusal."""
    person = context.person
    if person.has("surgeon") and person.telegram_id is not None:
        return person
    refusal = context.services.wording.text(
        person.language, "refused", user_id=person.telegram_id or "?"
    )
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
