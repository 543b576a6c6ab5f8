"""Votes in the MDT group through the real stack: a vote's callback answer no longer holds the
group's next press, and the votes are still recorded, tallied and decided in their order."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from natars_bot.store import Store

from .harness import MDT_CHAT, BotUnderTest
from .test_e2e_mdt import APPROVE, DISCUSS, _team, settled, submit


async def test_votes_are_answered_off_the_groups_queue_and_kept_in_order(
    bot: BotUnderTest,
) -> None:
    """Three presses at once: Dr Chen's Discuss, then Dr Chen's Approve, then Dr Liu's Approve.
    Telegram is slow to take the first press's answer (it waits for the other two answers to
    be sent, 5 s at most): the other presses are handled meanwhile, and the record keeps the
    order they came in — Dr Chen's latest vote is Approve, so two approvals decide."""
    surgeon, chen, liu = await _team(bot)
    summary = await submit(bot, surgeon)
    answers: list[str] = []  # callback answers, in the order they reached Telegram
    later = asyncio.Event()

    async def slow_first_answer(method: str, params: dict[str, Any]) -> None:
        if method != "answerCallbackQuery":
            return
        text = str(params.get("text", ""))
        if "Discuss" in text:
            # Held like this, a group whose queue waited on each answer would be stuck here.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(later.wait(), timeout=5)
        else:
            answers.append(text)
            if len(answers) == 2:
                later.set()

    def answered(method: str, params: dict[str, Any]) -> None:
        if method == "answerCallbackQuery" and "Discuss" in str(params.get("text", "")):
            answers.append(str(params["text"]))

    bot.server.faults.append(slow_first_answer)
    bot.server.observers.append(answered)
    presses = [
        await bot.server.user_presses(chen.user, summary, DISCUSS),
        await bot.server.user_presses(chen.user, summary, APPROVE),
        await bot.server.user_presses(liu.user, summary, APPROVE),
    ]
    for update_id in presses:
        await bot.handled(update_id)
    # Every press answered; the first one's answer last, after the two pressed after it.
    assert answers == ["Recorded: ✅ Approve for enrolment"] * 2 + [
        "Recorded: 💬 Discuss at meeting"
    ]
    await settled(
        bot,
        lambda: "Decision:" in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"],
    )
    tally = bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"]
    assert "Decision: ✅ Approved for enrolment" in tally
    assert "✅ 2 · ⛔ 0 · 💬 0" in tally
    store = await Store.open(bot.database)
    try:
        rows = [r for r in await store.audit_rows() if r.action == "vote"]
        [submission] = await store.submissions_of(1)
        ballots = {b.reviewer_id: b.vote.value for b in await store.ballots(submission.id)}
    finally:
        await store.close()
    # Recorded in the order pressed: Chen's Discuss, Chen's Approve, Liu's Approve.
    assert [(r.actor, r.detail.get("vote")) for r in rows] == [
        (str(chen.chat_id), "discuss"),
        (str(chen.chat_id), "approve"),
        (str(liu.chat_id), "approve"),
    ]
    assert ballots == {chen.chat_id: "approve", liu.chat_id: "approve"}
