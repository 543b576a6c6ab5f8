"""Reliable delivery: the Bot API failing in every way Telegram does, and every MDT summary
still posted exactly once; reminders that survive a restart."""

from __future__ import annotations

import asyncio
from typing import Any

from natars_bot.sandbox.local_api import ApiError, Disconnect
from natars_bot.store import Store

from .harness import MDT_CHAT, BotUnderTest
from .test_e2e_mdt import APPROVE, _team, complete_and_submit, submit, vote


def _summaries(bot: BotUnderTest) -> list[dict[str, Any]]:
    return [m for m in bot.server.bot_messages(MDT_CHAT) if "NATARS referral" in m.get("text", "")]


def _failing(failures: list[Any]) -> Any:
    """A fault that makes MDT posts fail with each of `failures` in turn, then lets them through."""

    def fault(method: str, params: dict[str, Any]) -> Any:
        if method == "sendMessage" and str(params.get("chat_id")) == str(MDT_CHAT) and failures:
            failure = failures.pop(0)
            if isinstance(failure, float):
                return asyncio.sleep(failure)  # slow, but it arrives
            raise failure
        return None

    return fault


async def _outbox(bot: BotUnderTest) -> dict[str, int]:
    store = await Store.open(bot.database)
    try:
        return await store.outbox_counts()
    finally:
        await store.close()


async def test_502_429_and_dropped_connections_delay_but_never_lose_or_double(
    bot: BotUnderTest,
) -> None:
    """Bad gateway twice, a 429 with retry_after, a dropped connection: then one summary."""
    surgeon, _, _ = await _team(bot)
    failures: list[Any] = [
        ApiError(502, "Bad Gateway"),
        ApiError(502, "Bad Gateway"),
        ApiError(429, "Too Many Requests: retry after 1", retry_after=1),
        Disconnect(),
    ]
    bot.server.faults.append(_failing(failures))
    await submit(bot, surgeon)
    await asyncio.sleep(1.0)  # any duplicate would have arrived by now
    assert failures == []
    assert len(_summaries(bot)) == 1
    assert (await _outbox(bot)).get("sent") == 2  # the summary and the edit adding its buttons


async def test_an_unreachable_api_gets_the_summary_when_it_comes_back(bot: BotUnderTest) -> None:
    """Connection refused for a while (the server is down), then one summary."""
    surgeon, _, _ = await _team(bot)
    gate: list[Any] = [ApiError(502, "Bad Gateway")] * 100
    bot.server.faults.append(_failing(gate))
    await complete_and_submit(surgeon)
    await bot.server.go_offline()
    gate.clear()
    await asyncio.sleep(1.5)  # the outbox keeps trying against a closed port
    assert _summaries(bot) == []
    await bot.server.come_back()
    await bot.server.wait_for(lambda: len(_summaries(bot)) == 1, timeout=30)
    await asyncio.sleep(0.5)
    assert len(_summaries(bot)) == 1


async def test_a_slow_answer_is_maybe_delivered_and_never_posted_twice(bot: BotUnderTest) -> None:
    """A read timeout: the post is marked uncertain, not resent as it is; that copy never got
    its buttons, and the summary comes again, saying so, as the one copy to vote on."""
    await bot.restart(request_timeout_seconds=1.0, uncertain_repost_seconds=1.0)
    surgeon, chen, liu = await _team(bot)
    bot.server.faults.append(_failing([2.0]))
    await complete_and_submit(surgeon)
    await bot.server.wait_for(lambda: len(_summaries(bot)) == 1, timeout=15)
    [first] = _summaries(bot)
    await asyncio.sleep(0.5)
    assert (await _outbox(bot)).get("uncertain") == 1
    assert "reply_markup" not in bot.server.chats[MDT_CHAT].messages[first["message_id"]]
    await bot.server.wait_for(
        lambda: len(_summaries(bot)) == 2 and bool(_summaries(bot)[1].get("reply_markup")),
        timeout=15,
    )
    first_copy, live = _summaries(bot)
    assert live["text"].startswith("Re-posted: the first copy may not have arrived.")
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await bot.server.wait_for(
        lambda: "Decision:" in bot.server.chats[MDT_CHAT].messages[live["message_id"]]["text"],
        timeout=15,
    )
    assert len(_summaries(bot)) == 2
    assert "Decision:" not in first_copy["text"]


async def test_a_pending_outbox_is_delivered_after_a_restart(bot: BotUnderTest) -> None:
    """Submitted while posting fails; the bot stops; the restarted bot posts it, once."""
    surgeon, _, _ = await _team(bot)
    failures: list[Any] = [ApiError(502, "Bad Gateway")] * 1000
    bot.server.faults.append(_failing(failures))
    await complete_and_submit(surgeon, "LMS")
    await bot.stop()
    assert (await _outbox(bot)).get("pending") == 1
    failures.clear()
    await bot.restart()
    await bot.server.wait_for(lambda: len(_summaries(bot)) == 1, timeout=15)
    await asyncio.sleep(0.5)  # the delivery is recorded just after the post
    assert (await _outbox(bot)).get("sent") == 2  # the summary and the edit adding its buttons
    assert len(_summaries(bot)) == 1


async def test_undecided_cases_are_reminded_and_reminders_survive_a_restart(
    bot: BotUnderTest,
) -> None:
    """After the reminder delay the case is re-announced with its tally, again after a restart."""
    await bot.restart(reminder_hours=1.5 / 3600)  # 1.5 s
    surgeon, chen, _ = await _team(bot)
    summary = await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)

    def reminders() -> list[dict[str, Any]]:
        return [
            m for m in bot.server.bot_messages(MDT_CHAT) if "Still undecided" in m.get("text", "")
        ]

    await bot.server.wait_for(lambda: len(reminders()) >= 1, timeout=15)
    first = reminders()[0]
    assert "NAT-2026-0001 (version 1)" in first["text"] and "✅ 1" in first["text"]
    assert first["reply_to_message"]["message_id"] == summary["message_id"]
    await bot.restart()
    await bot.server.wait_for(lambda: len(reminders()) >= 2, timeout=15)
