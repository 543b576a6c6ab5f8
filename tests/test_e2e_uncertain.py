"""Uncertain deliveries are reconciled, not waited out: a summary that may not have arrived is
posted again (saying so) unless a press shows it did; a copy that is not the live one is
retired when pressed; an uncertain private notice is sent again; a kill during a post leaves at
most one live copy, which carries the tally."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from natars_bot.bot.callbacks import Vote, encode
from natars_bot.dialogue.engine import DialogueState
from natars_bot.sandbox.local_api import ApiError, Disconnect, LocalBotApi
from natars_bot.store import Outgoing, Store

from .harness import MDT_CHAT, BotUnderTest
from .test_e2e_crash import BotProcess
from .test_e2e_mdt import APPROVE, _team, complete_and_submit, settled

REPOSTED = "Re-posted: the first copy may not have arrived."


def _summaries(server: LocalBotApi) -> list[dict[str, Any]]:
    return [m for m in server.bot_messages(MDT_CHAT) if "NATARS referral" in m.get("text", "")]


def _live(server: LocalBotApi) -> list[dict[str, Any]]:
    """Messages in the MDT chat that still have vote buttons (a summary's last part)."""
    return [m for m in server.bot_messages(MDT_CHAT) if m.get("reply_markup")]


def _first_summary(effect: Callable[[str, dict[str, Any]], Any]) -> Any:
    """A fault applying `effect` to the first summary post only."""
    done: list[bool] = []

    def fault(method: str, params: dict[str, Any]) -> Any:
        text = str(params.get("text"))
        if method == "sendMessage" and "NATARS referral" in text and not done:
            done.append(True)
            return effect(method, params)
        return None

    return fault


async def _press(bot: BotUnderTest, person: Any, message: dict[str, Any], label: str) -> str:
    before = len(bot.server.callback_answers)
    update_id = await bot.server.user_presses(person.user, message, label)
    await bot.handled(update_id)
    return str(list(bot.server.callback_answers.values())[before:][0]["text"])


async def _stored_as(database: Path, message_id: int) -> None:
    """Wait until the bot has recorded `message_id` as the summary's (just after posting)."""
    for _ in range(100):
        with sqlite3.connect(database) as db:
            (stored,) = db.execute("SELECT mdt_message_id FROM submissions").fetchone()
        if stored == message_id:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the summary is stored as message {stored}, not {message_id}")


async def test_a_timed_out_summary_that_never_arrived_is_posted_again(bot: BotUnderTest) -> None:
    """A read timeout and no message: the summary comes again within the re-post delay,
    saying so, as the one live copy; votes under it decide."""
    await bot.restart(request_timeout_seconds=1.0, uncertain_repost_seconds=1.0)
    surgeon, chen, liu = await _team(bot)

    async def lost(method: str, params: dict[str, Any]) -> None:
        await asyncio.sleep(1.5)  # past the read timeout …
        raise ApiError(500, "Internal Server Error")  # … and never stored

    bot.server.faults.append(_first_summary(lost))
    await complete_and_submit(surgeon)
    await settled(bot, lambda: len(_summaries(bot.server)) == 1 and len(_live(bot.server)) == 1)
    [summary] = _summaries(bot.server)
    assert summary["text"].startswith(REPOSTED)
    await asyncio.sleep(0.5)
    assert len(_summaries(bot.server)) == 1
    for reviewer in (chen, liu):
        assert (await _press(bot, reviewer, summary, APPROVE)).startswith("Recorded")
    await settled(bot, lambda: "MDT decision on NAT-2026-0001" in surgeon.last()["text"])


async def test_an_uncertain_copy_that_arrived_never_has_buttons(bot: BotUnderTest) -> None:
    """The post timed out but arrived: a summary gets its vote buttons only once its message id
    is known, so that copy has none; the re-post is the one live copy and the votes under it
    decide."""
    await bot.restart(request_timeout_seconds=1.0, uncertain_repost_seconds=1.0)
    surgeon, chen, liu = await _team(bot)

    async def slow(method: str, params: dict[str, Any]) -> None:
        await asyncio.sleep(1.5)  # stored after ptb gave up waiting

    bot.server.faults.append(_first_summary(slow))
    await complete_and_submit(surgeon)
    await settled(bot, lambda: len(_summaries(bot.server)) == 2 and len(_live(bot.server)) == 1)
    first, second = _summaries(bot.server)
    assert "reply_markup" not in bot.server.chats[MDT_CHAT].messages[first["message_id"]]
    assert second["text"].startswith(REPOSTED)
    [live] = _live(bot.server)
    assert live["message_id"] == second["message_id"]
    for reviewer in (chen, liu):
        assert (await _press(bot, reviewer, live, APPROVE)).startswith("Recorded")
    await settled(bot, lambda: "MDT decision on NAT-2026-0001" in surgeon.last()["text"])
    assert "Decision:" not in bot.server.chats[MDT_CHAT].messages[first["message_id"]]["text"]


async def test_a_connection_dropped_after_the_post_leaves_one_live_copy(
    bot: BotUnderTest,
) -> None:
    """Telegram processed the post and the connection dropped before the answer: uncertain,
    re-posted after the delay. There is never a second copy to vote on: the first has no
    buttons; the tally goes on the live copy only."""
    await bot.restart(uncertain_repost_seconds=1.0)
    surgeon, chen, liu = await _team(bot)
    server = bot.server

    async def processed_then_dropped(method: str, params: dict[str, Any]) -> None:
        await server._api_sendmessage(params)  # Telegram has it …
        await server.go_offline()  # … and the connection drops before the answer
        asyncio.get_running_loop().call_later(
            0.3, lambda: asyncio.ensure_future(server.come_back())
        )
        raise Disconnect()

    server.faults.append(_first_summary(processed_then_dropped))
    await complete_and_submit(surgeon)
    await settled(bot, lambda: len(_summaries(server)) == 2 and len(_live(server)) == 1)
    first, second = _summaries(server)
    assert not first["text"].startswith(REPOSTED) and second["text"].startswith(REPOSTED)
    assert "reply_markup" not in server.chats[MDT_CHAT].messages[first["message_id"]]
    assert [m["message_id"] for m in _live(server)] == [second["message_id"]]
    live = server.chats[MDT_CHAT].messages[second["message_id"]]
    for reviewer in (chen, liu):
        assert (await _press(bot, reviewer, live, APPROVE)).startswith("Recorded")
    await settled(
        bot, lambda: "Decision:" in server.chats[MDT_CHAT].messages[second["message_id"]]["text"]
    )
    assert "Decision:" not in server.chats[MDT_CHAT].messages[first["message_id"]]["text"]


async def test_an_uncertain_decision_notice_is_delivered(bot: BotUnderTest) -> None:
    """The surgeon's decision notice times out and never arrives: it is sent again."""
    await bot.restart(request_timeout_seconds=1.0)
    surgeon, chen, liu = await _team(bot)
    await complete_and_submit(surgeon)
    await settled(bot, lambda: len(_live(bot.server)) == 1)
    [summary] = _summaries(bot.server)
    lost: list[bool] = []

    async def timeout_and_lose() -> None:
        await asyncio.sleep(1.5)
        raise ApiError(500, "Internal Server Error")

    def fault(method: str, params: dict[str, Any]) -> Any:
        if method == "sendMessage" and "MDT decision" in str(params.get("text")) and not lost:
            lost.append(True)
            return timeout_and_lose()
        return None

    bot.server.faults.append(fault)
    for reviewer in (chen, liu):
        await _press(bot, reviewer, summary, APPROVE)
    await settled(bot, lambda: "MDT decision on NAT-2026-0001" in surgeon.last()["text"])
    assert lost == [True]


async def test_a_kill_right_after_telegram_accepted_a_summary(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """`natars-bot run` is SIGKILLed the moment Telegram stored its summary post. The
    restarted bot does not post it again blindly: it re-posts it saying so; the first copy
    never got buttons; the tally goes on the live copy, the only one with buttons."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = LocalBotApi("123456789:TEST-token-never-in-logs")
    await server.start()
    server.group(MDT_CHAT, "NATARS MDT")
    database = tmp_path / "natars.sqlite3"
    store = await Store.open(database)
    try:
        await store.add_user(1001, "surgeon", site="A", name=None, actor="test")
        await store.add_user(3001, "reviewer", site=None, name="Dr Chen", actor="test")
        draft = await store.start_referral(1001, "A")
        draft = await store.save_state(
            draft, DialogueState(answers={"histology": "UPS"}), actor="t", action="a", detail={}
        )

        def compose(submission_id: int) -> list[Outgoing]:
            button = {"text": APPROVE, "callback_data": encode(Vote(submission_id, "a"))}
            markup = {"inline_keyboard": [[button]]}
            return [Outgoing(kind="summary", text="NATARS referral NAT-2026-0001", markup=markup)]

        await store.submit(
            draft, verdict="needs_review", failed=(), unknown=(), protocol="v1",
            remind_at=datetime(2030, 1, 1, tzinfo=UTC), compose=compose, actor="t",
        )  # fmt: skip
    finally:
        await store.close()
    bot = BotProcess(f"http://127.0.0.1:{server.port}/bot", database)
    bot.env.update({"NATARS_MDT_CHAT_ID": str(MDT_CHAT), "NATARS_UNCERTAIN_REPOST_SECONDS": "1"})

    async def accepted_then_killed(method: str, params: dict[str, Any]) -> None:
        await server._api_sendmessage(params)
        bot.kill()
        raise Disconnect()

    server.faults.append(_first_summary(accepted_then_killed))
    bot.start()
    try:
        await server.wait_for(lambda: len(_summaries(server)) == 1, timeout=30)
        await asyncio.sleep(0.5)
        assert bot.process is not None and bot.process.poll() is not None  # killed
        bot.start()
        [first] = _summaries(server)
        assert "reply_markup" not in first  # killed before its buttons were added
        await server.wait_for(lambda: len(_live(server)) == 1, timeout=30)
        [second] = _live(server)
        assert server.bot_messages(MDT_CHAT)[1]["text"].startswith(REPOSTED)
        await _stored_as(database, second["message_id"])
        chen = {"id": 3001, "is_bot": False, "first_name": "Dr Chen", "language_code": "en"}
        await server.user_presses(chen, second, "✅ Approve for enrolment")
        await server.wait_for(
            lambda: "✅ 1 ·" in server.chats[MDT_CHAT].messages[second["message_id"]]["text"],
            timeout=30,
        )
        assert [m["message_id"] for m in _live(server)] == [second["message_id"]]
    finally:
        bot.kill()
        await server.stop()
