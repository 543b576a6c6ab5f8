"""/cases and /case for coordinators: paging, filters, versions and votes; nobody else."""

from __future__ import annotations

from datetime import UTC, datetime

from natars_bot.dialogue.engine import DialogueState
from natars_bot.mdt.rules import Decision, Vote
from natars_bot.store import Store

from .harness import BotUnderTest

COORDINATOR = 5001


async def _seed(bot: BotUnderTest, count: int) -> None:
    """`count` submitted referrals from two sites; the first is approved by two votes."""
    store = await Store.open(bot.database)
    await store.add_user(3001, "reviewer", site=None, name="Dr Chen", actor="test")
    await store.add_user(3002, "reviewer", site=None, name=None, actor="test")
    for n in range(count):
        surgeon = 100 + n
        site = "Shanghai Zhongshan Hospital" if n % 2 else "Beijing Friendship Hospital"
        draft = await store.start_referral(surgeon, site)
        histology = "SFT" if n % 3 == 0 else "UPS"
        draft = await store.save_state(
            draft,
            DialogueState(answers={"histology": histology}),
            actor="t",
            action="answer",
            detail={},
        )
        submission = await store.submit(
            draft, verdict="needs_review", failed=(), unknown=("INC-09",), protocol="v1",
            remind_at=datetime(2030, 1, 1, tzinfo=UTC), compose=lambda _: [], actor="t",
        )  # fmt: skip
        if n == 0:
            await store.record_vote(
                submission, 3001, Vote.approve, None, decision=None, outgoing=[]
            )
            await store.record_vote(
                submission, 3002, Vote.approve, None, decision=Decision.approved, outgoing=[]
            )
    await store.close()


async def test_cases_are_paged_newest_first(bot: BotUnderTest) -> None:
    """Ten a page with Older/Newer buttons; filters by status, histology and site."""
    await bot.register(COORDINATOR, role="coordinator")
    await _seed(bot, 12)
    coordinator = bot.person(COORDINATOR)
    page = await coordinator.says("/cases")
    assert "Referrals 1–10," in page["text"]
    assert page["text"].index("NAT-2026-0012") < page["text"].index("NAT-2026-0003")
    page = await coordinator.presses("Older ➜", page)
    assert "Referrals 11–12," in page["text"] and "NAT-2026-0001" in page["text"]
    page = await coordinator.presses("⬅ Newer", page)
    assert "Referrals 1–10," in page["text"]
    approved = await coordinator.says("/cases approved")
    assert "Referrals 1–1," in approved["text"] and "NAT-2026-0001" in approved["text"]
    sft = await coordinator.says("/cases sft zhongshan")
    assert "Referrals 1–2," in sft["text"] and "SFT" in sft["text"]  # 3 and 9: SFT at Zhongshan


async def test_case_shows_versions_votes_and_decision(bot: BotUnderTest) -> None:
    """/case NAT-… lists each version with its votes and the decision."""
    await bot.register(COORDINATOR, role="coordinator")
    await _seed(bot, 1)
    coordinator = bot.person(COORDINATOR)
    reply = await coordinator.says("/case nat-2026-0001")
    assert "Version 1, submitted" in reply["text"]
    assert "Dr Chen" in reply["text"] and "Decision: ✅ Approved for enrolment" in reply["text"]
    assert "no referral NAT-2026-0999" in (await coordinator.says("/case NAT-2026-0999"))["text"]


async def test_others_cannot_list_cases(bot: BotUnderTest) -> None:
    """A surgeon asking for /cases is refused."""
    await bot.register(1001)
    reply = await bot.person(1001).says("/cases")
    assert "for trial coordinators" in reply["text"]
