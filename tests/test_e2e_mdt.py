"""The MDT group end to end: summary, votes, quorum, decisions back to the surgeon, resubmission."""

from __future__ import annotations

from typing import Any

from natars_bot.audit.chain import verify_chain
from natars_bot.store import Store

from .harness import MDT_CHAT, BotUnderTest, Person, answer_all
from .test_e2e_triage import BY_HISTOLOGY, COMMON

SURGEON, REVIEWER_1, REVIEWER_2, REVIEWER_3 = 1001, 3001, 3002, 3003
APPROVE, NOT_ELIGIBLE, DISCUSS, MORE_INFO = (
    "✅ Approve for enrolment",
    "⛔ Not eligible",
    "💬 Discuss at meeting",
    "❓ Need more information",
)


async def _team(bot: BotUnderTest) -> tuple[Person, Person, Person]:
    await bot.register(SURGEON)
    for reviewer in (REVIEWER_1, REVIEWER_2, REVIEWER_3):
        await bot.register(reviewer, role="reviewer")
    return bot.person(SURGEON), bot.person(REVIEWER_1, "Dr Chen"), bot.person(REVIEWER_2, "Dr Liu")


async def complete_and_submit(surgeon: Person, histology: str = "UPS", **answers: str) -> None:
    """Answer every question of a new referral and submit it to the MDT."""
    await surgeon.says("/new")
    review = await answer_all(surgeon, {**COMMON, **BY_HISTOLOGY[histology], **answers})
    verdict = await surgeon.presses("See the verdict ➜", review)
    await surgeon.presses("✅ Submit to MDT", verdict)


async def submit(bot: BotUnderTest, surgeon: Person, **answers: str) -> dict[str, Any]:
    """Complete and submit a referral; returns its MDT summary once posted."""
    before = len(_summaries(bot))
    await complete_and_submit(surgeon, **answers)
    # Posted first, then given its vote buttons once its message id is known (delivery.py).
    await bot.server.wait_for(
        lambda: (
            len(_summaries(bot)) > before
            and bool(bot.server.bot_messages(MDT_CHAT)[-1].get("reply_markup"))
        )
    )
    return _summaries(bot)[-1]


def _summaries(bot: BotUnderTest) -> list[dict[str, Any]]:
    return [m for m in bot.server.bot_messages(MDT_CHAT) if "NATARS referral" in m.get("text", "")]


def _summary(bot: BotUnderTest) -> dict[str, Any] | None:
    summaries = _summaries(bot)
    return summaries[-1] if summaries else None


async def vote(
    bot: BotUnderTest, reviewer: Person, label: str, reason: str | None = None
) -> dict[str, Any]:
    """Press a vote button under the latest summary (and reply with a reason when asked)."""
    # A summary gets its buttons by an edit once it is posted (delivery.py): wait for them.
    await bot.server.wait_for(lambda: bool((_summary(bot) or {}).get("reply_markup")))
    summary = _summary(bot)
    assert summary is not None
    update_id = await bot.server.user_presses(reviewer.user, summary, label)
    await bot.handled(update_id)
    if reason is not None:
        prompt = bot.server.bot_messages(MDT_CHAT)[-1]
        assert "reply to this message" in prompt["text"]
        update_id = await bot.server.user_says(reviewer.user, reason, MDT_CHAT, reply_to=prompt)
        await bot.handled(update_id)
    return summary


async def settled(bot: BotUnderTest, predicate: Any) -> None:
    """Wait for the outbox to deliver what makes `predicate` true."""
    await bot.server.wait_for(predicate, timeout=15)


async def _referral_status(bot: BotUnderTest) -> str:
    store = await Store.open(bot.database)
    try:
        [referral] = await store.referrals_of(SURGEON)
        return referral.status
    finally:
        await store.close()


async def test_the_summary_carries_what_reviewers_need_and_no_identifiers(
    bot: BotUnderTest,
) -> None:
    """Pseudonymous id, site, histology, size, verdict with cited criteria, the note; no screening
    number, and four vote buttons."""
    surgeon, _, _ = await _team(bot)
    summary = await submit(bot, surgeon, consent="Not yet", r0_r1_resectable="MDT to assess")
    text = summary["text"]
    assert "NATARS referral NAT-2026-0001 (version 1)" in text
    assert "Peking University First Hospital" in text
    assert "Histology: UPS" in text and "Largest diameter: 18 cm" in text
    assert "Needs MDT review" in text
    assert "INC-09 R0/R1 resection possible, per preoperative MDT discussion" in text
    assert "INC-13" in text
    assert "Surgeon's note: Large left-sided mass, <b>not</b> a name & fine" in text
    assert "PKU-0042" not in text and "Screening number" not in text
    labels = [b["text"] for row in summary["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == [APPROVE, NOT_ELIGIBLE, DISCUSS, MORE_INFO]


async def test_two_approvals_decide_and_the_surgeon_is_told(bot: BotUnderTest) -> None:
    """The tally is edited live; at quorum the buttons go and the surgeon hears privately."""
    surgeon, chen, liu = await _team(bot)
    summary = await submit(bot, surgeon, screening_number="ZS-0042")
    await vote(bot, chen, APPROVE)
    await settled(
        bot, lambda: "✅ 1 ·" in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"]
    )
    await vote(bot, liu, APPROVE)
    message = bot.server.chats[MDT_CHAT].messages[summary["message_id"]]
    await settled(
        bot,
        lambda: "Decision:" in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"],
    )
    message = bot.server.chats[MDT_CHAT].messages[summary["message_id"]]
    assert "Decision: ✅ Approved for enrolment" in message["text"]
    assert "reply_markup" not in message
    assert "Dr" in message["text"] or "reviewer 3001" in message["text"]
    await settled(bot, lambda: "MDT decision on NAT-2026-0001" in surgeon.last()["text"])
    assert "Approved for enrolment" in surgeon.last()["text"]
    # The surgeon sees their own screening number beside the NAT id; the group never does.
    assert "NAT-2026-0001 (your no. ZS-0042)" in surgeon.last()["text"]
    assert not any("ZS-0042" in m.get("text", "") for m in bot.server.messages(MDT_CHAT))
    status = await surgeon.says("/status")
    assert "NAT-2026-0001 (your no. ZS-0042)" in status["text"]
    assert await _referral_status(bot) == "approved"
    store = await Store.open(bot.database)
    rows = [
        (
            r.id,
            r.at,
            r.actor,
            r.action,
            r.referral,
            __import__("json").dumps(r.detail, ensure_ascii=False, sort_keys=True),
            r.prev_hash,
            r.hash,
        )
        for r in await store.audit_rows()
    ]
    await store.close()
    assert verify_chain(rows) is None
    assert [r[3] for r in rows].count("vote") == 2 and "decision" in [r[3] for r in rows]


async def test_an_outsider_vote_changes_nothing(bot: BotUnderTest) -> None:
    """Anyone not registered as a reviewer gets an alert; nothing is recorded."""
    surgeon, _, _ = await _team(bot)
    summary = await submit(bot, surgeon)
    outsider = bot.person(9999, "Someone")
    before = dict(bot.server.chats[MDT_CHAT].messages[summary["message_id"]])
    await vote(bot, outsider, APPROVE)
    await vote(bot, surgeon, APPROVE)  # a surgeon is not a reviewer either
    assert sum("Only registered MDT reviewers" in text for text in outsider.alerts()) == 2
    store = await Store.open(bot.database)
    [submission] = await store.submissions_of(1)
    assert await store.ballots(submission.id) == []
    await store.close()
    assert bot.server.chats[MDT_CHAT].messages[summary["message_id"]] == before


async def test_votes_can_be_changed_and_count_once(bot: BotUnderTest) -> None:
    """A reviewer's latest vote counts; pressing twice is one vote."""
    surgeon, chen, liu = await _team(bot)
    summary = await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await vote(bot, chen, APPROVE)
    await vote(bot, chen, DISCUSS)
    await settled(
        bot,
        lambda: (
            "✅ 0 · ⛔ 0 · 💬 1"
            in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"]
        ),
    )
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await settled(
        bot,
        lambda: "Decision:" in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"],
    )
    assert await _referral_status(bot) == "approved"


async def test_two_not_eligible_votes_with_reasons_decline(bot: BotUnderTest) -> None:
    """Not eligible asks for a reason by reply; two decline; the surgeon gets the reasons."""
    surgeon, chen, liu = await _team(bot)
    summary = await submit(bot, surgeon)
    await vote(bot, chen, NOT_ELIGIBLE, reason="Peritoneal nodules on CT")
    await settled(
        bot,
        lambda: (
            "Peritoneal nodules on CT"
            in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"]
        ),
    )
    assert await _referral_status(bot) == "submitted"
    await vote(bot, liu, NOT_ELIGIBLE, reason="agree, likely metastatic")
    await settled(bot, lambda: "MDT decision on" in surgeon.last()["text"])
    notice = surgeon.last()["text"]
    assert (
        "Not eligible" in notice
        and "Peritoneal nodules on CT" in notice
        and "likely metastatic" in notice
    )
    assert await _referral_status(bot) == "declined"


async def test_more_information_goes_back_and_a_new_version_is_voted_afresh(
    bot: BotUnderTest,
) -> None:
    """Need more information → the surgeon updates → version 2 shows what changed; votes reset."""
    surgeon, chen, liu = await _team(bot)
    await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, MORE_INFO, reason="Please confirm the ASA class")
    await settled(bot, lambda: "More information needed" in surgeon.last()["text"])
    notice = surgeon.last()
    assert "Please confirm the ASA class" in notice["text"]
    review = await surgeon.presses("✏ Update the referral", notice)
    assert "open again as version 2" in review["text"]
    question = await surgeon.presses("✏ ASA class", review)
    review = await surgeon.presses("III", question)
    verdict = await surgeon.presses("See the verdict ➜", review)
    await surgeon.presses("✅ Submit to MDT", verdict)
    await settled(bot, lambda: "(version 2)" in (_summary(bot) or {}).get("text", ""))
    second = _summary(bot)
    assert second is not None
    assert "Changed since version 1" in second["text"] and "ASA class: II → III" in second["text"]
    assert "✅ 0 · ⛔ 0 · 💬 0 · ❓ 0" in second["text"]
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await settled(bot, lambda: "Approved for enrolment" in surgeon.last()["text"])
    assert await _referral_status(bot) == "approved"


async def test_the_configured_quorum_is_the_one_applied(bot: BotUnderTest) -> None:
    """NATARS_APPROVALS_NEEDED=3: two approvals leave the case open (and say "2 of 3"), the
    third approves. NATARS_DECLINES_NEEDED=1: one reasoned Not eligible declines."""
    await bot.restart(approvals_needed=3, declines_needed=1)
    surgeon, chen, liu = await _team(bot)
    wu = bot.person(REVIEWER_3, "Dr Wu")
    summary = await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await settled(
        bot, lambda: "✅ 2 ·" in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"]
    )
    assert await _referral_status(bot) == "submitted"
    await vote(bot, wu, APPROVE)
    await settled(bot, lambda: "MDT decision on" in surgeon.last()["text"])
    assert await _referral_status(bot) == "approved"

    summary = await submit(bot, surgeon)
    await vote(bot, chen, NOT_ELIGIBLE, reason="Peritoneal nodules on CT")
    await settled(bot, lambda: "Not eligible" in surgeon.last()["text"])
    store = await Store.open(bot.database)
    try:
        [second] = await store.referrals_of(SURGEON, limit=1)
    finally:
        await store.close()
    assert second.status == "declined"
