"""Authority checked on the server: forged and misplaced presses on MDT votes count nothing,
each refusal is one line to the presser and one audit row (strangers' rows rate-limited)."""

from __future__ import annotations

from typing import Any

from natars_bot.audit.chain import verify_chain
from natars_bot.store import AuditRow, Store

from .harness import MDT_CHAT, BotUnderTest, Person
from .test_e2e_mdt import (
    APPROVE,
    NOT_ELIGIBLE,
    REVIEWER_1,
    REVIEWER_3,
    SURGEON,
    _team,
    settled,
    submit,
    vote,
)

OTHER_GROUP = -1009999


def _approve_data(summary: dict[str, Any]) -> str:
    [button] = [
        b for row in summary["reply_markup"]["inline_keyboard"] for b in row if b["text"] == APPROVE
    ]
    return str(button["callback_data"])


async def _press(bot: BotUnderTest, person: Person, message: dict[str, Any], data: str) -> str:
    """Press `data` under `message` (as any client can forge); returns the one-line answer."""
    before = len(bot.server.callback_answers)
    update_id = await bot.server.press_data(person.user, message, data)
    await bot.handled(update_id)
    answers = list(bot.server.callback_answers.values())[before:]
    assert len(answers) == 1 and answers[0].get("answered")
    return str(answers[0]["text"])


async def _audit(bot: BotUnderTest, action: str | None = None) -> list[AuditRow]:
    store = await Store.open(bot.database)
    try:
        rows = await store.audit_rows()
        chain = await store.audit_chain()
    finally:
        await store.close()
    assert verify_chain(chain) is None
    return [r for r in rows if action is None or r.action == action]


async def _ballots(bot: BotUnderTest) -> list[tuple[int, str]]:
    store = await Store.open(bot.database)
    try:
        [referral, *_] = await store.referrals_of(SURGEON)
        submissions = await store.submissions_of(referral.id)
        return [(b.reviewer_id, b.vote.value) for b in await store.ballots(submissions[-1].id)]
    finally:
        await store.close()


async def _status(bot: BotUnderTest) -> str:
    store = await Store.open(bot.database)
    try:
        [referral, *_] = await store.referrals_of(SURGEON)
        return referral.status
    finally:
        await store.close()


async def test_votes_from_another_group_or_a_private_chat_count_nothing(bot: BotUnderTest) -> None:
    """The summary's own button pressed on a copy in another group or in a private chat is
    refused with one line and one audit row each; no ballot is recorded."""
    surgeon, chen, _ = await _team(bot)
    summary = await submit(bot, surgeon)
    data = _approve_data(summary)
    other = {**summary, "chat": bot.server.group(OTHER_GROUP, "Not the MDT")}
    private = {**summary, "chat": bot.server.private_chat(chen.user)}
    for message in (other, private):
        answer = await _press(bot, chen, message, data)
        assert answer == "Votes count only in the MDT group. Nothing was recorded."
    assert await _ballots(bot) == []
    refused = await _audit(bot, "vote_refused")
    assert [(r.actor, r.detail["reason"], r.detail["chat_id"]) for r in refused] == [
        (str(REVIEWER_1), "wrong_chat", OTHER_GROUP),
        (str(REVIEWER_1), "wrong_chat", REVIEWER_1),
    ]
    assert refused[0].referral == "NAT-2026-0001"


async def test_a_vote_on_any_other_message_counts_nothing(bot: BotUnderTest) -> None:
    """Forged data naming the submission, pressed on another message of the MDT chat, is
    refused: only the stored summary message carries the vote."""
    surgeon, chen, _ = await _team(bot)
    summary = await submit(bot, surgeon)
    elsewhere = {**summary, "message_id": summary["message_id"] + 500}
    answer = await _press(bot, chen, elsewhere, _approve_data(summary))
    assert answer == "Please vote under the case's current summary. Nothing was recorded."
    assert await _ballots(bot) == []
    [refused] = await _audit(bot, "vote_refused")
    assert refused.detail["reason"] == "wrong_message"
    # The real summary still takes the same press.
    assert await _press(bot, chen, summary, _approve_data(summary)) == (
        "Recorded: ✅ Approve for enrolment"
    )
    assert await _ballots(bot) == [(REVIEWER_1, "approve")]


async def test_a_forged_submission_id_counts_nothing(bot: BotUnderTest) -> None:
    """A vote for a submission that does not exist is refused as decided, and audited."""
    surgeon, chen, _ = await _team(bot)
    summary = await submit(bot, surgeon)
    answer = await _press(bot, chen, summary, "m:987654:a")
    assert answer == "This case is already decided."
    [refused] = await _audit(bot, "vote_refused")
    assert refused.detail["reason"] == "decided" and refused.referral is None


async def test_nobody_votes_on_a_referral_they_submitted(bot: BotUnderTest) -> None:
    """A surgeon who is also a reviewer is refused on their own referral."""
    surgeon, _, _ = await _team(bot)
    await bot.register(SURGEON, role="reviewer")
    summary = await submit(bot, surgeon)
    answer = await _press(bot, surgeon, summary, _approve_data(summary))
    assert answer == "You referred this patient, so you cannot vote on it. Nothing was recorded."
    assert await _ballots(bot) == []
    [refused] = await _audit(bot, "vote_refused")
    assert refused.detail["reason"] == "own_referral"


async def test_a_removed_reviewers_votes_stay_marked_and_stop_counting(bot: BotUnderTest) -> None:
    """Chen approves and is then removed: his vote is marked in the trail and shown struck
    through; Liu's approval alone does not approve; Chen's later vote is refused; Wu's
    approval then makes the quorum of current reviewers."""
    surgeon, chen, liu = await _team(bot)
    wu = bot.person(REVIEWER_3, "Dr Wu")
    summary = await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    store = await Store.open(bot.database)
    try:
        await store.remove_user(REVIEWER_1, "reviewer", actor="cli")
    finally:
        await store.close()
    [marked] = await _audit(bot, "vote_discounted")
    assert marked.referral == "NAT-2026-0001"
    assert marked.detail == {"version": 1, "reviewer_id": REVIEWER_1, "vote": "approve"}
    await vote(bot, liu, APPROVE)

    def shown() -> str:
        return str(bot.server.chats[MDT_CHAT].messages[summary["message_id"]].get("html", ""))

    await settled(bot, lambda: "✅ 1 ·" in shown() and "not counted" in shown())
    assert "<s>✅ reviewer 3001</s> · no longer a reviewer, not counted" in shown()
    assert await _status(bot) == "submitted"
    answer = await _press(bot, chen, summary, _approve_data(summary))
    assert answer == "Only registered MDT reviewers can vote. Nothing was recorded."
    await vote(bot, wu, APPROVE)
    await settled(bot, lambda: "Decision:" in shown())
    assert await _status(bot) == "approved"
    [decision] = await _audit(bot, "decision")
    assert decision.detail["decision"] == "approved"


async def test_a_reason_sent_after_the_role_was_removed_is_not_counted(bot: BotUnderTest) -> None:
    """The role is checked again when the vote is counted (the reason's reply), not only at
    the press: a reviewer removed in between is told in one line; nothing is recorded."""
    surgeon, chen, _ = await _team(bot)
    summary = await submit(bot, surgeon)
    update_id = await bot.server.user_presses(chen.user, summary, NOT_ELIGIBLE)
    await bot.handled(update_id)
    prompt = bot.server.bot_messages(MDT_CHAT)[-1]
    store = await Store.open(bot.database)
    try:
        await store.remove_user(REVIEWER_1, "reviewer", actor="cli")
    finally:
        await store.close()
    update_id = await bot.server.user_says(chen.user, "nodules", MDT_CHAT, reply_to=prompt)
    await bot.handled(update_id)
    assert bot.server.bot_messages(MDT_CHAT)[-1]["text"] == (
        "Your vote was not recorded: you are no longer a reviewer, or the case changed."
    )
    assert await _ballots(bot) == []
    [refused] = await _audit(bot, "vote_refused")
    assert refused.detail["reason"] == "at_count"


async def test_strangers_refusals_are_audited_once_an_hour_with_a_count(bot: BotUnderTest) -> None:
    """Fifty presses and five /cases from an unregistered user: each gets its one-line
    refusal, the audit trail one row for the hour."""
    surgeon, _, _ = await _team(bot)
    summary = await submit(bot, surgeon)
    stranger = bot.person(9999, "Someone")
    rows_before = len(await _audit(bot))
    for _ in range(50):
        answer = await _press(bot, stranger, summary, _approve_data(summary))
        assert answer == "Only registered MDT reviewers can vote. Nothing was recorded."
    for _ in range(5):
        reply = await stranger.says("/cases")
        assert "for trial coordinators" in reply["text"]
    rows = (await _audit(bot))[rows_before:]
    assert [(r.actor, r.action, r.detail["unrecorded"]) for r in rows] == [
        ("9999", "vote_refused", 0)
    ]
