"""A second floor for the load benchmark: natars-bot's Telegram traffic, without natars-bot.

The echo bot answers every update with the smallest message that will do. natars-bot's own
messages are larger (a question with its buttons, a review with one button per answer, an MDT
summary) and it makes more calls (the old question's keyboard taken away when an answer is
typed; per referral a "submitted" notice and the MDT summary; per decision a notice to the
surgeon). This bot makes the same calls with natars-bot's own messages, recorded from a replay
of natars-bot (`record_screens`), and does nothing else: no dialogue engine, no store, no
templates, no outbox; its calls go through natars-bot's own HTTP stack (bot/connections.py).
In the load benchmark, then,

- natars-bot / mimic is what natars-bot's own processing costs;
- mimic / echo is what the Telegram traffic of its user interface costs python-telegram-bot.

Run as `python -m benchmarks.mimic_bot` with NATARS_TELEGRAM_TOKEN, NATARS_BOT_API_URL,
NATARS_MDT_CHAT_ID, MIMIC_SCREENS (the JSON file `record_screens` wrote) and
MIMIC_PRESSES_PER_REFERRAL (a surgeon's presses per referral in natars-bot's run).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from benchmarks.echo_bot import floor_application

__all__ = ["Mimic", "build", "main", "record_screens"]

Screen = tuple[str, InlineKeyboardMarkup | None]


def _screens(recorded: list[dict[str, Any]]) -> list[Screen]:
    """Recorded message parameters as ptb objects, built once (natars-bot builds its own)."""
    return [
        (
            str(message["text"]),
            InlineKeyboardMarkup.de_json(message["reply_markup"], None)
            if message.get("reply_markup")
            else None,
        )
        for message in recorded
    ]


@dataclass
class Mimic:
    """What the mimic keeps between updates: where each chat is in the recorded screens."""

    private: list[Screen]
    group: list[Screen]
    mdt_chat_id: int
    presses_per_referral: int
    surgeons: list[int] = field(default_factory=list)
    _positions: dict[int, Iterator[Screen]] = field(default_factory=dict)
    _keyboards: dict[int, int] = field(default_factory=dict)  # chat → message with buttons
    _presses: Counter[int] = field(default_factory=Counter)
    _votes: int = 0

    def next_screen(self, chat_id: int) -> Screen:
        """The chat's next recorded screen, round and round."""
        screens = self.private if chat_id > 0 else self.group
        position = self._positions.setdefault(chat_id, itertools.cycle(screens))
        return next(position)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A typed answer: the next screen as a new message, the old keyboard taken away."""
        message = update.effective_message
        if message is None:
            return
        chat_id = message.chat.id
        text, markup = self.next_screen(chat_id)
        if chat_id < 0:
            await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
            return
        if chat_id not in self.surgeons:
            self.surgeons.append(chat_id)
        sent, _ = await asyncio.gather(
            context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup),
            self._strip(context, chat_id, self._keyboards.get(chat_id)),
        )
        self._keyboards[chat_id] = sent.message_id

    async def _strip(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, message_id: int | None
    ) -> None:
        if message_id is None:
            return
        with contextlib.suppress(BadRequest):
            await context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A press, as natars-bot handles it: in a private chat answered while the pressed
        message is edited to its record and the next screen sent below, a referral's last
        press then sending the
        "submitted" notice, with the MDT summary left to a task (natars-bot's outbox); in the
        group a vote answered, its tally edited by a task, and every second vote deciding,
        the surgeon told by that task too."""
        query = update.callback_query
        if query is None or not isinstance(query.message, Message):
            return
        chat_id = query.message.chat.id
        text, markup = self.next_screen(chat_id)
        if chat_id < 0:
            await query.answer()
            self._votes += 1
            context.application.create_task(
                self._tally(context, query.message, text, markup, self._votes % 2 == 0)
            )
            return
        # natars-bot keeps an answered question readable (its text and the answer, no buttons)
        # and sends the next screen below it, as a new message.
        _, _, sent = await asyncio.gather(
            query.answer(),
            query.message.edit_text(
                query.message.text_html or ".", parse_mode=ParseMode.HTML, reply_markup=None
            ),
            context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup),
        )
        self._keyboards[chat_id] = sent.message_id
        self._presses[chat_id] += 1
        if self._presses[chat_id] % self.presses_per_referral == 0:
            summary, keyboard = self.next_screen(self.mdt_chat_id)
            context.application.create_task(
                context.bot.send_message(
                    self.mdt_chat_id, summary, parse_mode=ParseMode.HTML, reply_markup=keyboard
                )
            )
            notice, _ = self.next_screen(chat_id)
            await context.bot.send_message(chat_id, notice, parse_mode=ParseMode.HTML)

    async def _tally(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        message: Message,
        text: str,
        markup: InlineKeyboardMarkup | None,
        decided: bool,
    ) -> None:
        await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
        if decided and self.surgeons:
            surgeon = self.surgeons[(self._votes // 2) % len(self.surgeons)]
            notice, _ = self.next_screen(surgeon)
            await context.bot.send_message(surgeon, notice, parse_mode=ParseMode.HTML)


def build(
    application: Application,  # type: ignore[type-arg]
    screens: dict[str, list[dict[str, Any]]],
    mdt_chat_id: int,
    presses_per_referral: int,
) -> Mimic:
    """Add the mimic's handlers to `application`."""
    mimic = Mimic(
        _screens(screens["private"]),
        _screens(screens["group"]),
        mdt_chat_id,
        max(1, presses_per_referral),
    )
    application.add_handler(MessageHandler(filters.TEXT, mimic.on_text))
    application.add_handler(CallbackQueryHandler(mimic.on_press))
    return mimic


def record_screens(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """natars-bot's messages, in the order it sent them, from a local server's call log."""
    screens: dict[str, list[dict[str, Any]]] = {"private": [], "group": []}
    for method, params in calls:
        if method not in ("sendMessage", "editMessageText") or "text" not in params:
            continue
        if method == "editMessageText" and not params.get("reply_markup"):
            continue  # an answered question's record: the mimic makes that edit itself
        kind = "private" if int(params["chat_id"]) > 0 else "group"
        screens[kind].append({"text": params["text"], "reply_markup": params.get("reply_markup")})
    return screens


def main() -> None:
    """Poll until killed."""
    # natars-bot's Bot API calls through natars-bot's HTTP stack: what differs is its work.
    application = floor_application(natars_pool=True)
    build(
        application,
        json.loads(Path(os.environ["MIMIC_SCREENS"]).read_text()),
        int(os.environ["NATARS_MDT_CHAT_ID"]),
        int(os.environ["MIMIC_PRESSES_PER_REFERRAL"]),
    )
    application.run_polling(allowed_updates=["message", "callback_query"])


if __name__ == "__main__":
    main()
