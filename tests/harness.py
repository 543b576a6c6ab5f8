"""End-to-end harness: the real Application polling the local Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, TypeHandler

from natars_bot.bot.app import build_application, shut_down, start_up
from natars_bot.dialogue.flow import default_flow
from natars_bot.sandbox.local_api import LocalBotApi
from natars_bot.settings import Settings
from natars_bot.store import Store

TOKEN = "123456789:TEST-token-never-in-logs"
MDT_CHAT = -1001234


@dataclass
class Person:
    """Someone chatting with the bot through the local server."""

    bot: BotUnderTest
    user: dict[str, Any]

    @property
    def chat_id(self) -> int:
        """The private chat's id (equal to the user's id, as on Telegram)."""
        return int(self.user["id"])

    async def says(self, text: str, chat_id: int | None = None) -> dict[str, Any]:
        """Send a message and wait for the bot to handle it; returns the bot's last message."""
        update_id = await self.bot.server.user_says(self.user, text, chat_id)
        await self.bot.handled(update_id)
        return self.last(chat_id)

    async def presses(self, label: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
        """Press a button (on the last bot message with buttons, by default) and wait."""
        message = message or self.with_buttons()
        update_id = await self.bot.server.user_presses(self.user, message, label)
        await self.bot.handled(update_id)
        return self.last()

    def last(self, chat_id: int | None = None) -> dict[str, Any]:
        """The bot's latest message in this chat."""
        return self.bot.server.bot_messages(chat_id if chat_id is not None else self.chat_id)[-1]

    def with_buttons(self) -> dict[str, Any]:
        """The bot's latest message that has buttons."""
        for message in reversed(self.bot.server.bot_messages(self.chat_id)):
            if message.get("reply_markup"):
                return message
        raise LookupError("no bot message with buttons")

    def buttons(self, message: dict[str, Any] | None = None) -> list[str]:
        """The labels of a message's buttons (the last one with buttons by default)."""
        message = message or self.with_buttons()
        return [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]

    def alerts(self) -> list[str]:
        """Texts of the callback answers shown to anyone (alerts and toasts)."""
        return [a["text"] for a in self.bot.server.callback_answers.values() if a.get("text")]


@dataclass
class BotUnderTest:
    """The server, the application and helpers to wait for updates to be handled."""

    server: LocalBotApi
    database: Path
    application: Application | None = None  # type: ignore[type-arg]
    processed: set[int] = field(default_factory=set)
    overrides: dict[str, Any] = field(default_factory=dict)
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def person(self, user_id: int, first_name: str = "Dr Li", language: str = "en") -> Person:
        """A Telegram user (not registered unless the test registers them)."""
        return Person(
            self,
            {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language},
        )

    async def register(
        self, user_id: int, role: str = "surgeon", site: str = "Peking University First Hospital"
    ) -> None:
        """Register a user directly in the database (what `natars-bot users add` does)."""
        store = await Store.open(self.database)
        try:
            await store.add_user(user_id, role, site=site, name=None, actor="test")  # type: ignore[arg-type]
        finally:
            await store.close()

    async def handled(self, update_id: int, timeout: float = 10.0) -> None:
        """Wait until the application has run every handler group for this update."""

        async def done() -> None:
            while update_id not in self.processed:
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(done(), timeout)

    async def start(self, base_url: str) -> None:
        """Build and start the real application, polling the local server."""
        settings = Settings(
            telegram_token=TOKEN,  # type: ignore[arg-type]
            bot_api_url=base_url,
            database=self.database,
            rate_limit=False,
            mdt_chat_id=MDT_CHAT,
            outbox_interval_seconds=0.2,
            reminder_check_seconds=0.2,
            # Tests press as fast as the bot replies; the double-tap guard has tests of its own.
            **{"read_delay_seconds": 0.0, **self.overrides},
        )
        application = build_application(settings)

        async def mark(update: Update, context: Any) -> None:
            self.processed.add(update.update_id)
            self._event.set()

        application.add_handler(TypeHandler(Update, mark), group=99)
        await application.initialize()
        await start_up(application)  # post_init runs only under run_polling
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=2)
        self.application = application

    async def stop(self) -> None:
        """Stop the application gracefully (as Ctrl-C would)."""
        application = self.application
        if application is None:
            return
        assert application.updater is not None
        await application.updater.stop()
        await application.stop()
        await shut_down(application)
        await application.shutdown()
        self.application = None

    async def restart(self, **overrides: Any) -> None:
        """Stop and start a fresh application on the same database and server."""
        await self.stop()
        self.overrides.update(overrides)
        await self.start(f"http://127.0.0.1:{self.server.port}/bot")


def question_in(message: dict[str, Any], language: str = "en") -> str | None:
    """The flow field whose prompt the message shows, if any."""
    text = message.get("text", "")
    for question in default_flow().questions:
        prompt = question.prompt[language]
        plain = prompt.replace("<i>", "").replace("</i>", "")
        if plain in text:
            return question.field
    return None


async def _answer(
    person: Person, message: dict[str, Any], field: str, answers: dict[str, str], language: str
) -> None:
    """Answer the question for `field` shown in `message`: the button whose label is the
    answer, else the answer typed; without an answer "not known yet", else the first button."""
    labels = person.buttons(message) if message.get("reply_markup") else []
    wanted, question = answers.get(field), default_flow().question(field)
    if wanted is not None and wanted in labels:
        await person.presses(wanted, message)
    elif wanted is not None:
        await person.says(wanted)
    elif question.unknown is not None:
        await person.presses(question.unknown[language], message)
    else:
        await person.presses(labels[0], message)


async def answer_all(
    person: Person, answers: dict[str, str], language: str = "en"
) -> dict[str, Any]:
    """Answer every question the bot asks from `answers` (see _answer). Returns the review."""
    for _ in range(60):
        message = person.last()
        field = question_in(message, language)
        if field is None:
            return message
        await _answer(person, message, field, answers, language)
    raise AssertionError("the dialogue did not reach the review")


async def answer_until(
    person: Person, answers: dict[str, str], field: str, language: str = "en"
) -> dict[str, Any]:
    """Answer from `answers` (see _answer) until the question for `field` is asked; returns
    that question's message."""
    for _ in range(40):
        message = person.last()
        asked = question_in(message, language)
        if asked == field:
            return message
        assert asked is not None, f"{field} was never asked: {message.get('text')}"
        await _answer(person, message, asked, answers, language)
    raise AssertionError(f"{field} was never asked")


async def answer_all_until(person: Person, field: str) -> None:
    """Answer "not known yet" (or the first button) until the question for `field` is asked."""
    await answer_until(person, {}, field)


async def draft_answers(database: Path, surgeon_id: int) -> dict[str, Any]:
    """The answers stored in the surgeon's draft, read as another process would (the draft
    must exist)."""
    store = await Store.open(database)
    try:
        draft = await store.draft_of(surgeon_id)
    finally:
        await store.close()
    assert draft is not None, f"surgeon {surgeon_id} has no draft"
    return dict(draft.state.answers)
