"""Reasons never vanish (issue #16, item 1; reason prompts under faults, issue #13): asked
privately when the reviewer has a chat with the bot, in the group otherwise; a reason typed
without replying reaches the vote; nothing a reviewer types to the bot is silently dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from natars_bot.sandbox.local_api import Disconnect
from natars_bot.store import Store

from .harness import MDT_CHAT, BotUnderTest, Person
from .test_e2e_mdt import NOT_ELIGIBLE, REVIEWER_1, REVIEWER_2, _summary, _team, submit

PRIVATE_PROMPT = "Reply here with your reason for “⛔ Not eligible” on NAT-2026-0001"


async def _press(bot: BotUnderTest, reviewer: Person, label: str) -> str:
    await bot.server.wait_for(lambda: bool((_summary(bot) or {}).get("reply_markup")))
    summary = _summary(bot)
    assert summary is not None
    update_id = await bot.server.user_presses(reviewer.user, summary, label)
    await bot.handled(update_id)
    return next(
        answer["text"]
        for answer in reversed(bot.server.callback_answers.values())
        if answer.get("text")
    )


async def _ballots(bot: BotUnderTest) -> list[tuple[int, str, str | None]]:
    store = await Store.open(bot.database)
    try:
        [submission] = await store.submissions_of(1)
        return [(b.reviewer_id, b.vote.value, b.reason) for b in await store.ballots(submission.id)]
    finally:
        await store.close()


async def _says_in_group(
    bot: BotUnderTest, person: Person, text: str, reply_to: dict[str, Any]
) -> dict[str, Any]:
    update_id = await bot.server.user_says(person.user, text, MDT_CHAT, reply_to=reply_to)
    await bot.handled(update_id)
    return bot.server.bot_messages(MDT_CHAT)[-1]


async def test_a_reviewer_with_a_private_chat_is_asked_there_and_just_types_the_reason(
    bot: BotUnderTest,
) -> None:
    surgeon, chen, _ = await _team(bot)
    await chen.says("/help")  # Dr Chen has a private chat with the bot
    await submit(bot, surgeon)
    group_before = len(bot.server.bot_messages(MDT_CHAT))
    toast = await _press(bot, chen, NOT_ELIGIBLE)
    assert toast == "I asked you for the reason in our private chat."
    prompt = chen.last()
    assert prompt["text"].startswith(PRIVATE_PROMPT)
    assert len(bot.server.bot_messages(MDT_CHAT)) == group_before  # no prompt in the group
    reply = await chen.says("Tumour crosses the diaphragm on the CT")  # no reply needed
    assert reply["text"] == "✓ Recorded: “⛔ Not eligible” on NAT-2026-0001, with your reason."
    assert await _ballots(bot) == [
        (REVIEWER_1, "not_eligible", "Tumour crosses the diaphragm on the CT")
    ]
    # Once taken, the next text is not a reason again.
    reply = await chen.says("thanks")
    assert reply["text"].startswith("Sorry, this bot is only for clinicians")  # not a surgeon
    assert len(await _ballots(bot)) == 1


async def test_without_a_private_chat_the_group_prompt_takes_a_reply_to_the_summary_too(
    bot: BotUnderTest,
) -> None:
    """Dr Chen never opened a chat with the bot: the prompt is in the group; he replies to
    the summary rather than the prompt, and the reason still reaches the vote."""
    surgeon, chen, _ = await _team(bot)
    summary = await submit(bot, surgeon)
    toast = await _press(bot, chen, NOT_ELIGIBLE)
    assert toast == "Please reply to my message with your reason."
    assert "reply to this message" in bot.server.bot_messages(MDT_CHAT)[-1]["text"]
    await _says_in_group(bot, chen, "Metastatic on PET-CT", summary)
    assert await _ballots(bot) == [(REVIEWER_1, "not_eligible", "Metastatic on PET-CT")]


async def test_replies_that_cannot_be_taken_get_a_word_not_silence(bot: BotUnderTest) -> None:
    surgeon, chen, liu = await _team(bot)
    summary = await submit(bot, surgeon)
    await _press(bot, chen, NOT_ELIGIBLE)
    prompt = bot.server.bot_messages(MDT_CHAT)[-1]
    answer = await _says_in_group(bot, liu, "I agree with Chen", prompt)
    assert answer["text"].startswith("This question was for another reviewer")
    answer = await _says_in_group(bot, liu, "Looks fine to me", summary)
    assert answer["text"].startswith("This was not recorded: I take a reason only when")
    assert await _ballots(bot) == []
    # an empty-looking reason is asked for again, and the reviewer's real one then counts
    answer = await _says_in_group(bot, chen, "   ", prompt)
    await _says_in_group(bot, chen, "Second malignancy in 2023", prompt)
    assert await _ballots(bot) == [(REVIEWER_1, "not_eligible", "Second malignancy in 2023")]


async def test_a_prompt_whose_connection_dropped_after_sending_is_sent_again(
    bot: BotUnderTest,
) -> None:
    """Telegram delivered the private prompt, the answer never came back: the bot sends it
    again (a duplicate prompt is harmless); the reviewer's one reason counts once."""
    surgeon, chen, _ = await _team(bot)
    await chen.says("/help")
    await submit(bot, surgeon)
    server = bot.server
    dropped: list[int] = []

    async def processed_then_dropped(method: str, params: dict[str, Any]) -> None:
        if method != "sendMessage" or int(params["chat_id"]) != REVIEWER_1 or dropped:
            return
        sent = await server._api_sendmessage(params)  # Telegram has it …
        dropped.append(sent["message_id"])
        raise Disconnect()  # … and the connection drops before the answer

    server.faults.append(processed_then_dropped)
    toast = await _press(bot, chen, NOT_ELIGIBLE)
    assert toast == "I asked you for the reason in our private chat."
    prompts = [m for m in chen_messages(bot) if m["text"].startswith(PRIVATE_PROMPT)]
    assert len(prompts) == 2 and dropped == [prompts[0]["message_id"]]
    await chen.says("Unresectable: SMA encased")
    await asyncio.sleep(0.3)
    assert await _ballots(bot) == [(REVIEWER_1, "not_eligible", "Unresectable: SMA encased")]


def chen_messages(bot: BotUnderTest) -> list[dict[str, Any]]:
    return bot.server.bot_messages(REVIEWER_1)


async def test_a_surgeon_who_reviews_answers_whichever_question_came_last(
    bot: BotUnderTest,
) -> None:
    """Dr Chen reviews and refers: asked for a reason, his text is the reason; once he starts
    a referral of his own after that, his texts answer its questions."""
    surgeon, chen, _ = await _team(bot)
    await bot.register(REVIEWER_1, "surgeon")
    await chen.says("/help")
    await submit(bot, surgeon)
    await _press(bot, chen, NOT_ELIGIBLE)
    await chen.says("/new")  # his own referral's first question comes after the prompt
    reply = await chen.says("S-77")
    assert "S-77" in reply["text"] or "✓" in reply["text"]
    assert await _ballots(bot) == []


async def test_a_private_reason_and_a_group_reply_at_once_are_both_counted(
    bot: BotUnderTest,
) -> None:
    """Dr Chen's reason comes in his private chat while Dr Liu's comes in the group: the two
    chats are handled concurrently, yet both votes are counted against each other — the second
    of two "Not eligible" declines the case."""
    surgeon, chen, liu = await _team(bot)
    await chen.says("/help")
    await submit(bot, surgeon)
    await _press(bot, chen, NOT_ELIGIBLE)  # asked privately
    await _press(bot, liu, NOT_ELIGIBLE)  # asked in the group
    prompt = bot.server.bot_messages(MDT_CHAT)[-1]
    first = await bot.server.user_says(chen.user, "Peritoneal spread")
    second = await bot.server.user_says(liu.user, "Liver metastasis", MDT_CHAT, reply_to=prompt)
    await bot.handled(first)
    await bot.handled(second)
    assert sorted(await _ballots(bot)) == [
        (REVIEWER_1, "not_eligible", "Peritoneal spread"),
        (REVIEWER_2, "not_eligible", "Liver metastasis"),
    ]
    store = await Store.open(bot.database)
    try:
        [submission] = await store.submissions_of(1)
        assert submission.decision == "declined"
    finally:
        await store.close()


async def test_a_prompt_asked_in_the_group_is_not_answered_by_private_text(
    bot: BotUnderTest,
) -> None:
    """Dr Chen, who also refers, was asked in the group (no private chat then); what he then
    types privately — his own patient's screening number — answers his own referral, never
    the MDT's question (it would reach the group's tally)."""
    surgeon, chen, _ = await _team(bot)
    await bot.register(REVIEWER_1, "surgeon")
    await submit(bot, surgeon)
    assert await _press(bot, chen, NOT_ELIGIBLE) == "Please reply to my message with your reason."
    await chen.says("/new")
    reply = await chen.says("S-77")
    assert "Recorded" not in reply["text"] and "S-77" in reply["text"]
    assert await _ballots(bot) == []
    assert "S-77" not in "".join(m["text"] for m in bot.server.bot_messages(MDT_CHAT))


async def test_a_reply_to_another_cases_summary_is_not_this_cases_reason(
    bot: BotUnderTest,
) -> None:
    """A reason pending on NAT-2026-0001; Dr Chen replies to NAT-2026-0002's summary: a
    comment on one case is never recorded as the reason on another."""
    surgeon, chen, _ = await _team(bot)
    await submit(bot, surgeon)
    await _press(bot, chen, NOT_ELIGIBLE)  # asked in the group, about NAT-2026-0001
    second = await submit(bot, surgeon)
    assert "NAT-2026-0002" in second["text"]
    answer = await _says_in_group(bot, chen, "This one looks fine", second)
    assert answer["text"].startswith("This was not recorded")
    assert await _ballots(bot) == []


async def test_two_private_prompts_are_answered_one_after_the_other(bot: BotUnderTest) -> None:
    """Asked privately on two cases: the first text answers the latest question, and the bot
    asks the other one again, so that the next text is knowingly its reason."""
    surgeon, chen, _ = await _team(bot)
    await chen.says("/help")
    await submit(bot, surgeon)
    await _press(bot, chen, NOT_ELIGIBLE)
    await submit(bot, surgeon)
    await _press(bot, chen, NOT_ELIGIBLE)
    await chen.says("Liver metastases")
    again = chen.last()
    assert again["text"].startswith(
        "Reply here with your reason for “⛔ Not eligible” on NAT-2026-0001"
    )
    await chen.says("Peritoneal spread")
    store = await Store.open(bot.database)
    try:
        reasons = {}
        for referral in (1, 2):
            [submission] = await store.submissions_of(referral)
            reasons[submission.public_id] = [b.reason for b in await store.ballots(submission.id)]
    finally:
        await store.close()
    assert reasons == {
        "NAT-2026-0001": ["Peritoneal spread"],
        "NAT-2026-0002": ["Liver metastases"],
    }
