"""The floor for the load benchmark: a bare python-telegram-bot bot that answers everything.

It replies to every message with its text and one button, and answers every button press by
editing the message — the same calls natars-bot makes per update, with no work of its own.
Run as `python -m benchmarks.echo_bot` with NATARS_TELEGRAM_TOKEN and NATARS_BOT_API_URL set.
"""

from __future__ import annotations

import os

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from natars_bot.bot.app import MAX_CONCURRENT_UPDATES
from natars_bot.bot.connections import bot_api_request
from natars_bot.bot.updates import PerChatUpdateProcessor

BUTTON = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say the text back, with a button."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            update.effective_message.text or "-", reply_markup=BUTTON
        )


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press and edit the message (as natars-bot edits its question in place, or
    a summary's tally)."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    if query.message is not None:
        await query.edit_message_text(f"pressed {query.id}", reply_markup=BUTTON)


def floor_application(*, natars_pool: bool = False) -> Application:  # type: ignore[type-arg]
    """A bare Application polling the server in the environment, with natars-bot's concurrency
    (chats at once, each chat in order); the benchmark's floors add their handlers.

    Its Bot API calls go through python-telegram-bot's own HTTPXRequest, unless `natars_pool`
    (or FLOOR_POOL=natars in the environment, for a comparison): natars-bot's request with its
    connection pool (natars_bot/bot/connections.py)."""
    builder = (
        ApplicationBuilder()
        .token(os.environ["NATARS_TELEGRAM_TOKEN"])
        .base_url(os.environ["NATARS_BOT_API_URL"])
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
    )
    if natars_pool or os.environ.get("FLOOR_POOL") == "natars":
        builder = builder.request(bot_api_request(read_timeout=5.0, write_timeout=5.0))
    return builder.build()


def main() -> None:
    """Poll until killed."""
    application = floor_application()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(pressed))
    application.run_polling(allowed_updates=["message", "callback_query"])


if __name__ == "__main__":
    main()
