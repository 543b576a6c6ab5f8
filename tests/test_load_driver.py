"""The load benchmark's driver (natars_bot.sandbox.driver): replies matched, timed and returned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
)
from telegram.ext import filters as ptb_filters

from benchmarks.echo_bot import echo, pressed
from benchmarks.load import free_port
from benchmarks.server import ScreenServer
from benchmarks.users import MDT, REVIEWERS, Driver, Run, echo_votes
from natars_bot.sandbox.driver import DrivenServer

from .harness import TOKEN


@pytest.fixture
async def driven(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The driven server with the benchmark's echo bot polling it; the driver's base URL."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    port = free_port()
    server = DrivenServer(TOKEN, reply_timeout=10)
    server.api.group(MDT, "MDT")
    await server.start(port)
    application: Application = (  # type: ignore[type-arg]
        ApplicationBuilder().token(TOKEN).base_url(f"http://127.0.0.1:{port}/bot").build()
    )
    application.add_handler(MessageHandler(ptb_filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(pressed))
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0)
        await application.start()
        try:
            yield f"http://127.0.0.1:{port + 1}/driver"
        finally:
            await application.updater.stop()
            await application.stop()
    await server.stop()


def _user(n: int) -> dict[str, Any]:
    return {"id": 100 + n, "is_bot": False, "first_name": f"Surgeon {n}"}


async def test_say_and_press_return_the_reply_and_its_latency(driven: str) -> None:
    """A message returns once the bot replied in that chat; a press once it was answered and
    the private chat's screen edited."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{driven}/say", json={"user": _user(1), "text": "hello"}) as said:
            reply = await said.json()
        assert reply["latency_ms"] > 0
        assert reply["chat"][-1]["text"] == "hello"
        message = reply["chat"][-1]
        body = {"user": _user(1), "chat_id": 101, "message_id": message["message_id"], "data": "ok"}
        async with http.post(f"{driven}/press", json=body) as press:
            after = await press.json()
        assert after["latency_ms"] > 0
        assert after["chat"][-1]["text"].startswith("pressed ")
        async with http.get(f"{driven}/calls") as counted:
            calls = await counted.json()
        assert calls["sendMessage"] == 1
        assert calls["answerCallbackQuery"] == 1
        assert calls["editMessageText"] == 1
        assert calls["getUpdates"] >= 2


async def test_concurrent_users_each_get_their_own_reply(driven: str) -> None:
    """Twenty users at once: each call waits for the reply in its own chat, none is lost."""
    async with aiohttp.ClientSession() as http:

        async def say(n: int) -> dict[str, Any]:
            body = {"user": _user(n), "text": f"from {n}"}
            async with http.post(f"{driven}/say", json=body) as response:
                assert response.status == 200
                return dict(await response.json())

        replies = await asyncio.gather(*(say(n) for n in range(20)))
    assert [r["chat"][-1]["text"] for r in replies] == [f"from {n}" for n in range(20)]


async def test_the_echo_bots_mdt_phase_has_natars_bots_shape(driven: str) -> None:
    """The echo bot's share of the MDT phase: two reviewers pressing in the group, one press
    after another each, every press answered and its message edited (as a tally is)."""
    port = int(driven.removeprefix("http://127.0.0.1:").partition("/")[0]) - 1
    run = Run("echo")
    async with aiohttp.ClientSession() as http:
        driver = Driver(http, port, run)
        await asyncio.gather(*(echo_votes(driver, r, 4) for r in REVIEWERS))
        calls = await driver.calls()
    assert run.errors == 0
    assert (run.says, run.presses, run.updates) == (2, 6, 8)
    assert calls["answerCallbackQuery"] == 6
    assert calls["editMessageText"] == 6
    assert calls["sendMessage"] == 2


async def test_the_benchmarks_server_times_a_press_to_its_next_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """benchmarks.server: a press whose old message is edited to its record before the next
    screen is sent (as natars-bot's answered questions are) returns that next screen, timed to
    it; the callback answer's own time is returned beside it."""

    async def record_then_next(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer()
        await query.edit_message_text("answered: ok")  # the record, no buttons
        await asyncio.sleep(0.2)
        button = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
        await context.bot.send_message(query.message.chat.id, "next question", reply_markup=button)

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    port = free_port()
    server = ScreenServer(TOKEN, reply_timeout=10)
    await server.start(port)
    application: Application = (  # type: ignore[type-arg]
        ApplicationBuilder().token(TOKEN).base_url(f"http://127.0.0.1:{port}/bot").build()
    )
    application.add_handler(MessageHandler(ptb_filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(record_then_next))
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0)
        await application.start()
        try:
            base = f"http://127.0.0.1:{port + 1}/driver"
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{base}/say", json={"user": _user(1), "text": "hi"}) as said:
                    message = (await said.json())["chat"][-1]
                body = {"user": _user(1), "chat_id": 101, "message_id": message["message_id"]}
                async with http.post(f"{base}/press", json={**body, "data": "ok"}) as pressed:
                    reply = await pressed.json()
        finally:
            await application.updater.stop()
            await application.stop()
    await server.stop()
    assert reply["chat"][-1]["text"] == "next question"
    assert reply["latency_ms"] >= reply["answered_ms"] + 150  # the screen came 0.2 s later
