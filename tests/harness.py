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
        """Press a button (on the last bot message with buttons, by default) and wait.

        On a rows screen returned by `answer_until` for one of its rows, the button is the one
        in that row (the same label may be in several rows: "Not done"). "✏ <label>" on the
        review, which has a button per section, changes that answer: the section's button,
        then the answer's (what one "✏" per answer did)."""
        message = message or self.with_buttons()
        row = message.get(ROW_KEY)
        if row is not None:
            data = _row_button(message, row, label)
            if data is not None:
                return await self.presses_data(data, message)
        if label.startswith("✏ ") and label not in self.buttons(message):
            edited = await self._edit_from_review(label[2:], message)
            if edited is not None:
                return edited
        update_id = await self.bot.server.user_presses(self.user, message, label)
        await self.bot.handled(update_id)
        return self.last()

    async def presses_data(self, data: str, message: dict[str, Any]) -> dict[str, Any]:
        """Press the button carrying `data` under `message` and wait."""
        update_id = await self.bot.server.press_data(self.user, message, data)
        await self.bot.handled(update_id)
        return self.last()

    async def _edit_from_review(self, label: str, review: dict[str, Any]) -> dict[str, Any] | None:
        """Change the answer labelled `label` from the review: its section, then the answer."""
        flow = default_flow()
        for language in flow.languages:
            for question in flow.questions:
                if question.label[language] != label:
                    continue
                section = flow.section(question.section)
                button = f"✏ {section.label[language]}"
                if button not in self.buttons(review):
                    continue
                listed = await self.presses(button, review)
                for text in self.buttons(listed):
                    if text.startswith(f"{label}: "):
                        return await self.presses(text, listed)
        return None

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


ROW_KEY = "harness_row"  # on a message answer_until returns: the rows screen's row asked for
CHECKLIST_DONE = {"None of the others applies ✓", "None of these applies ✓", "其余各项均不适用 ✓",
                  "以上均不适用 ✓"}  # fmt: skip
SOME_NOT_KNOWN = {"en": "Some not known yet", "zh": "部分暂不清楚"}
ROWS_CONFIRM = {"en": "Confirm ✓", "zh": "确认 ✓"}
ROW_HEADING = "▾ "
NOTE_ASKED = ("The MDT will see these answers", "MDT将看到以上回答")


def _keyboard(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list((message.get("reply_markup") or {}).get("inline_keyboard", []))


def screen_kind(message: dict[str, Any]) -> str | None:
    """ "checklist" or "rows" for a group's screen, "review" for the review, else None."""
    labels = {b["text"] for row in _keyboard(message) for b in row}
    if labels & CHECKLIST_DONE:
        return "checklist"
    if any(label.startswith(ROW_HEADING) for label in labels):
        return "rows"
    if any(label in ("✅ Submit to MDT", "✅ 提交MDT") for label in labels) and any(
        label.startswith("✏") for label in labels
    ):
        return "review"
    return None


def _rows(message: dict[str, Any], language: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """A rows screen's rows: each question's field with its buttons (under its heading)."""
    flow = default_flow()
    by_label = {f"{ROW_HEADING}{q.label[language]}": q.field for q in flow.questions}
    rows: list[tuple[str, list[dict[str, Any]]]] = []
    for line in _keyboard(message):
        heading = line[0]["text"]
        if heading in by_label:
            rows.append((by_label[heading], []))
        elif (
            rows
            and heading not in ("⬅ Back", "⬅ 返回")
            and line[-1]["text"] not in (*ROWS_CONFIRM.values(),)
        ):
            rows[-1][1].extend(line)
    return rows


def _row_button(message: dict[str, Any], field: str, label: str) -> str | None:
    """The callback data of the button `label` in the row of `field` (chosen or not)."""
    for language in default_flow().languages:
        for row_field, buttons in _rows(message, language):
            if row_field == field:
                for button in buttons:
                    if button["text"] in (label, f"• {label}"):
                        return str(button["callback_data"])
    return None


def _open_row(message: dict[str, Any], language: str) -> str | None:
    """The first row of a rows screen without a chosen answer."""
    for row_field, buttons in _rows(message, language):
        if not any(b["text"].startswith("• ") for b in buttons):
            return row_field
    return None


def question_in(message: dict[str, Any], language: str = "en") -> str | None:
    """The flow field whose prompt the message shows, if any (a rows screen: its first open
    row; a checklist: None — see screen_kind)."""
    kind = screen_kind(message)
    if kind == "rows":
        return _open_row(message, language)
    if kind is not None:
        return None
    text = message.get("text", "")
    for question in default_flow().questions:
        prompt = question.prompt[language]
        plain = prompt.replace("<i>", "").replace("</i>", "")
        if plain in text:
            return question.field
    return None


def _wanted_label(field: str, answers: dict[str, str], language: str) -> str | None:
    """The button label `answers` gives for `field` (a typed value is no label)."""
    question = default_flow().question(field)
    wanted = answers.get(field)
    if wanted is None:
        return question.unknown[language] if question.unknown else None
    labels = [c.label[language] for c in question.choices]
    return wanted if wanted in labels else None


def _is_yes(answer: str | None) -> bool:
    return answer in ("Yes", "是", "yes", "y")


async def _checklist(
    person: Person,
    message: dict[str, Any],
    answers: dict[str, str],
    language: str,
    until: str | None = None,
) -> dict[str, Any] | None:
    """Answer the checklist as `answers` says: tick the yeses; then "None of the others
    applies" when every other item is a no, else "Some not known yet" (the items are then asked
    one by one). Returns the screen that ends the walk (an exclusion a tick caused), if any."""
    flow = default_flow()
    group = next(g for g in flow.groups if g.kind == "checklist")
    by_label = {flow.question(f).label[language]: f for f in group.fields}
    for _ in range(len(group.fields) + 1):
        unticked = {}
        for row in _keyboard(message):
            for button in row:
                text = button["text"]
                if text.startswith("☐ ") and text[2:] in by_label:
                    unticked[by_label[text[2:]]] = text
        # Walking to one item: every item is asked one by one, as before the checklist.
        tick = next((f for f in unticked if _is_yes(answers.get(f))), None)
        if tick is None or until in group.fields:
            break
        message = await person.presses(unticked[tick], message)
        if screen_kind(message) != "checklist":
            return message  # the exclusion the tick caused: the walk stops here, as one by one
    rest = [f for f in unticked if not _is_yes(answers.get(f))]
    no = ("No", "否", "no", "n")
    if until in group.fields or any(answers.get(f) not in no for f in rest):
        await person.presses(SOME_NOT_KNOWN[language], message)
    else:
        done = next(b["text"] for r in _keyboard(message) for b in r if b["text"] in CHECKLIST_DONE)
        await person.presses(done, message)
    return None


async def _answer(
    person: Person, message: dict[str, Any], field: str, answers: dict[str, str], language: str
) -> None:
    """Answer the question for `field` shown in `message`: the button whose label is the
    answer, else the answer typed; without an answer "not known yet", else the first button.
    On a rows screen: that row's button, and "Confirm" once no row is open."""
    if screen_kind(message) == "rows":
        label = _wanted_label(field, answers, language)
        question = default_flow().question(field)
        label = label or question.choices[0].label[language]
        data = _row_button(message, field, label)
        assert data is not None, f"no {label!r} in the row of {field}"
        message = await person.presses_data(data, message)
        if screen_kind(message) == "rows" and _open_row(message, language) is None:
            await person.presses(ROWS_CONFIRM[language], message)
        return
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


async def _note(person: Person, review: dict[str, Any], answers: dict[str, str]) -> dict[str, Any]:
    """On the review: type the note `answers` has (asked there, beside the verdict)."""
    if "note" in answers and any(text in review.get("text", "") for text in NOTE_ASKED):
        return await person.says(answers["note"])
    return review


async def answer_all(
    person: Person, answers: dict[str, str], language: str = "en"
) -> dict[str, Any]:
    """Answer every screen the bot shows from `answers` (see _answer, _checklist; the note on
    the review). Returns the review (or the exclusion screen an answer led to)."""
    for _ in range(60):
        message = person.last()
        kind = screen_kind(message)
        if kind == "checklist":
            stopped = await _checklist(person, message, answers, language)
            if stopped is not None:
                return stopped
            continue
        if kind == "review":
            return await _note(person, message, answers)
        field = question_in(message, language)
        if field is None:
            return message
        await _answer(person, message, field, answers, language)
    raise AssertionError("the dialogue did not reach the review")


async def answer_until(
    person: Person, answers: dict[str, str], field: str, language: str = "en"
) -> dict[str, Any]:
    """Answer from `answers` (see answer_all) until the question for `field` is asked; returns
    that question's message (a rows screen's: marked with the row, for `Person.presses`). A
    checklist item is asked one by one ("Some not known yet")."""
    for _ in range(40):
        message = person.last()
        if screen_kind(message) == "checklist":
            stopped = await _checklist(person, message, answers, language, until=field)
            assert stopped is None, f"{field} was never asked: {stopped.get('text')}"
            continue
        asked = question_in(message, language)
        if screen_kind(message) == "rows" and field in {f for f, _ in _rows(message, language)}:
            return {**message, ROW_KEY: field}
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
