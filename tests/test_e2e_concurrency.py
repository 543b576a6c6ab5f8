"""Under Telegram's latency, surgeons do not wait behind each other; one chat stays in order."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .harness import BotUnderTest, Person

LATENCY = 0.2  # seconds per Bot API call, as a slow Telegram would answer


async def _at_the_age_question(bot: BotUnderTest, user_id: int) -> Person:
    await bot.register(user_id)
    surgeon = bot.person(user_id)
    await surgeon.says("/new")
    await surgeon.says(f"S-{user_id}")
    return surgeon


async def test_two_surgeons_answers_overlap(bot: BotUnderTest) -> None:
    """Two answers sent together are each answered in one round trip (plus a little), not one
    after the other: the second surgeon does not wait for the first one's Bot API calls."""
    first = await _at_the_age_question(bot, 1001)
    second = await _at_the_age_question(bot, 1002)
    bot.server.latency_seconds = LATENCY
    replied: dict[int, float] = {}

    async def answer(surgeon: Person, text: str) -> None:
        before = len(bot.server.bot_messages(surgeon.chat_id))
        started = time.monotonic()
        await bot.server.user_says(surgeon.user, text)
        await bot.server.wait_for(
            lambda: len(bot.server.bot_messages(surgeon.chat_id)) > before, timeout=10
        )
        replied[surgeon.chat_id] = time.monotonic() - started

    await asyncio.gather(answer(first, "61"), answer(second, "62"))
    # One round trip is the reply (sent while the old keyboard is stripped); handled one after
    # the other, the second reply would come after at least two.
    assert max(replied.values()) < 2 * LATENCY, replied
    assert "✓ Age: 61" in first.last()["text"] and "✓ Age: 62" in second.last()["text"]


async def test_one_chats_updates_stay_in_order(bot: BotUnderTest) -> None:
    """The first of two commands is slow to answer (its reply takes 0.4 s): the second still
    waits for it, so the surgeon's chat reads in the order they asked."""
    surgeon = await _at_the_age_question(bot, 1001)
    other = await _at_the_age_question(bot, 1002)
    slowed: list[str] = []

    async def slow_first_reply(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and int(params["chat_id"]) == 1001 and not slowed:
            slowed.append(str(params["text"]))
            await asyncio.sleep(0.4)

    bot.server.faults.append(slow_first_reply)
    before = len(bot.server.bot_messages(1001))
    await bot.server.user_says(surgeon.user, "/help")
    await bot.server.user_says(surgeon.user, "/status")
    await bot.server.user_says(other.user, "/status")  # another chat: not held up
    await bot.server.wait_for(lambda: len(bot.server.bot_messages(1002)) > 2, timeout=10)
    assert len(bot.server.bot_messages(1001)) == before  # the slow reply is still on its way
    await bot.server.wait_for(lambda: len(bot.server.bot_messages(1001)) >= before + 2, timeout=10)
    help_reply, status_reply = bot.server.bot_messages(1001)[before : before + 2]
    assert "/new" in help_reply["text"]
    assert "NAT-" in status_reply["text"]
