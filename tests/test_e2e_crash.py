"""A killed bot loses no acknowledged answer and answers nothing twice (real process, SIGKILL)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from natars_bot.sandbox.local_api import Disconnect, LocalBotApi
from natars_bot.store import Store

from .harness import TOKEN, BotUnderTest, draft_answers

SURGEON = 2002
USER = {"id": SURGEON, "is_bot": False, "first_name": "Dr Wang", "language_code": "en"}


class BotProcess:
    """`natars-bot run` in its own process, pointed at the local server."""

    def __init__(self, base_url: str, database: Path) -> None:
        self.env = {
            **os.environ,
            "NATARS_TELEGRAM_TOKEN": TOKEN,
            "NATARS_BOT_API_URL": base_url,
            "NATARS_DATABASE": str(database),
            "NATARS_RATE_LIMIT": "false",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "natars_bot", "run"], env=self.env, stderr=subprocess.PIPE
        )

    def kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
async def server() -> AsyncIterator[LocalBotApi]:
    """A local Bot API server alone (the bot runs in another process)."""
    api = LocalBotApi(TOKEN)
    await api.start()
    yield api
    await api.stop()


async def _reply(server: LocalBotApi, text: str, count: int) -> dict:
    """Say `text` and wait until the bot has `count` messages in the chat."""
    await server.user_says(USER, text)
    await server.wait_for(lambda: len(server.bot_messages(SURGEON)) >= count, timeout=30)
    return server.bot_messages(SURGEON)[-1]


async def _register(database: Path) -> None:
    store = await Store.open(database)
    await store.add_user(
        SURGEON, "surgeon", site="Shanghai Zhongshan Hospital", name=None, actor="test"
    )
    await store.close()


async def test_a_killed_bot_resumes_with_every_acknowledged_answer(
    server: LocalBotApi, tmp_path: Path
) -> None:
    """SIGKILL right after a reply: the restarted bot resumes at the next question."""
    database = tmp_path / "natars.sqlite3"
    await _register(database)
    bot = BotProcess(f"http://127.0.0.1:{server.port}/bot", database)
    bot.start()
    try:
        await server.wait_for(
            lambda: any(m == "setMyCommands" for m, _ in server.calls), timeout=30
        )
        await _reply(server, "/new", 1)
        await _reply(server, "S-17", 2)
        reply = await _reply(server, "58", 3)
        assert "✓ Age: 58" in reply["text"]
        bot.kill()  # the reply was sent after the commit: both answers must survive
        bot.start()
        reply = await _reply(server, "/start", 4)
        assert "in progress (2 answers saved)" in reply["text"], reply["text"]
        assert "Sex?" in reply["text"]
    finally:
        bot.kill()
    assert await draft_answers(database, SURGEON) == {
        "screening_number": "S-17",
        "age_years": 58,
    }


async def test_an_update_delivered_again_after_a_crash_is_not_applied_twice(
    bot: BotUnderTest,
) -> None:
    """Telegram redelivers unconfirmed updates; a typed answer must not answer the next question."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    update_id = await bot.server.user_says(surgeon.user, "S-3")
    await bot.handled(update_id)
    await bot.restart()
    await bot.server.redeliver(update_id)  # as if the bot had died before confirming it
    await asyncio.sleep(0.3)
    reply = await surgeon.says("61")
    assert "✓ Age: 61" in reply["text"]
    store = await Store.open(bot.database)
    draft = await store.draft_of(SURGEON)
    await store.close()
    assert draft is not None and draft.state.answers == {"screening_number": "S-3", "age_years": 61}


async def test_a_kill_between_commit_and_reply_never_answers_an_unseen_question(
    server: LocalBotApi, tmp_path: Path
) -> None:
    """SIGKILL at the precise moment: the answer "45" (screening number) is committed, the
    next question is on its way to Telegram and never arrives. The surgeon, seeing no question,
    types "45" again: it must not become the age. After the bot shows where the surgeon is,
    the next "45" is the age."""
    database = tmp_path / "natars.sqlite3"
    await _register(database)
    bot = BotProcess(f"http://127.0.0.1:{server.port}/bot", database)
    committed: list[object] = []

    def kill_before_the_reply(method: str, params: dict[str, object]) -> None:
        if method == "sendMessage" and "Patient's age" in str(params.get("text")) and not committed:
            with sqlite3.connect(database) as db:
                (state,) = db.execute("SELECT state FROM referrals").fetchone()
            committed.append(json.loads(state)["answers"])
            bot.kill()
            raise Disconnect()

    bot.start()
    try:
        await server.wait_for(
            lambda: any(m == "setMyCommands" for m, _ in server.calls), timeout=30
        )
        await _reply(server, "/new", 1)
        server.faults.append(kill_before_the_reply)
        await server.user_says(USER, "45")
        await server.wait_for(lambda: bool(committed), timeout=30)
        assert committed == [{"screening_number": "45"}]  # saved before the reply was sent
        server.faults.clear()
        # No question came: the surgeon types "45" again while the bot is down.
        await server.user_says(USER, "45")
        bot.start()
        await server.wait_for(
            lambda: any("Saved: Screening number: 45" in m["text"]
                        for m in server.bot_messages(SURGEON)),
            timeout=30,
        )  # fmt: skip
        reply = server.bot_messages(SURGEON)[-1]
        assert "was not taken as an answer" in reply["text"] and "Patient's age" in reply["text"]
        count = len(server.bot_messages(SURGEON))
        reply = await _reply(server, "45", count + 1)  # typed after seeing the question
        assert "✓ Age: 45" in reply["text"]
    finally:
        bot.kill()
    assert await draft_answers(database, SURGEON) == {"screening_number": "45", "age_years": 45}
