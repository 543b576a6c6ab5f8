"""/cases and /case for coordinators: paging, filters, a button per case, versions with votes,
reasons and local times, criteria named; nobody else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from natars_bot.dialogue.engine import DialogueState
from natars_bot.mdt.rules import Decision, Vote
from natars_bot.store import Store

from .harness import BotUnderTest
from .helpers import ELIGIBLE

COORDINATOR = 5001
# 17:00 UTC on 2 December is 01:00 on 3 December in Shanghai (NATARS_TIMEZONE's default).
OPENED = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)


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


async def seed_two_versions(database: Path) -> None:
    """NAT-2026-0001 (LMS, 12 cm, ASA II) opened at OPENED; version 1 sent back for more
    information at +10 min ("Please confirm the ASA class"), version 2 (ASA III) approved at
    +2 h. Times come from the store's clock, as the bot's would."""
    now = [OPENED]

    def clock() -> datetime:
        return now[0]

    store = await Store.open(database, clock=clock)
    try:
        await store.add_user(3001, "reviewer", site=None, name="Dr Chen", actor="test")
        await store.add_user(3002, "reviewer", site=None, name="Dr Liu", actor="test")
        answers: dict[str, Any] = {
            k: v for k, v in ELIGIBLE["LMS"].items() if k not in ("referral_id", "site")
        }
        answers |= {"screening_number": "PKU-0042", "note": "left-sided mass"}
        draft = await store.start_referral(1001, "Beijing Friendship Hospital")
        draft = await store.save_state(
            draft, DialogueState(answers=answers), actor="t", action="answer", detail={}
        )
        now[0] = OPENED + timedelta(minutes=5)
        first = await store.submit(
            draft, verdict="eligible", failed=(), unknown=(), protocol="v2",
            remind_at=datetime(2030, 1, 1, tzinfo=UTC), compose=lambda _: [], actor="t",
        )  # fmt: skip
        await store.record_vote(first, 3001, Vote.approve, None, decision=None, outgoing=[])
        now[0] = OPENED + timedelta(minutes=10)
        await store.record_vote(
            first, 3002, Vote.more_info, "Please confirm the ASA class",
            decision=Decision.more_info, outgoing=[],
        )  # fmt: skip
        reopened = await store.reopen(await store.referral(first.referral_id), actor="t")
        reopened = await store.save_state(
            reopened,
            reopened.state.model_copy(update={"answers": {**answers, "asa_class": 3}}),
            actor="t",
            action="answer",
            detail={},
        )
        now[0] = OPENED + timedelta(hours=1)
        second = await store.submit(
            reopened, verdict="needs_review", failed=(), unknown=("INC-13",), protocol="v2",
            remind_at=datetime(2030, 1, 1, tzinfo=UTC), compose=lambda _: [], actor="t",
        )  # fmt: skip
        await store.record_vote(second, 3001, Vote.approve, None, decision=None, outgoing=[])
        now[0] = OPENED + timedelta(hours=2)
        await store.record_vote(
            second, 3002, Vote.approve, None, decision=Decision.approved, outgoing=[]
        )
    finally:
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


async def test_a_case_opens_from_the_list_and_leads_back_to_it(bot: BotUnderTest) -> None:
    """Each line of /cases has a button with its id; pressing it shows that case in the list's
    place, and "Back to the list" shows the same page again."""
    await bot.register(COORDINATOR, role="coordinator")
    await _seed(bot, 12)
    coordinator = bot.person(COORDINATOR)
    page = await coordinator.says("/cases")
    page = await coordinator.presses("Older ➜", page)
    assert coordinator.buttons(page)[:2] == ["NAT-2026-0002", "NAT-2026-0001"]
    case = await coordinator.presses("NAT-2026-0001", page)
    assert case["message_id"] == page["message_id"]  # edited in place
    assert case["text"].startswith("NAT-2026-0001 · Beijing Friendship Hospital")
    assert "Decision: ✅ Approved for enrolment" in case["text"]
    back = await coordinator.presses("⬅ Back to the list", case)
    assert "Referrals 11–12," in back["text"]


async def test_case_shows_what_the_case_is_and_every_version_in_local_time(
    bot: BotUnderTest,
) -> None:
    """/case: histology, size, status and verdict in words; both versions, the reason of the
    request for more information, criteria named, every time in Shanghai time with its zone;
    never the screening number."""
    await bot.register(COORDINATOR, role="coordinator")
    await seed_two_versions(bot.database)
    coordinator = bot.person(COORDINATOR)
    text = (await coordinator.says("/case nat-2026-0001"))["text"]
    assert text.startswith("NAT-2026-0001 · Beijing Friendship Hospital · approved by the MDT")
    assert "Opened 2026-12-03 01:00 CST" in text
    assert "Histology: LMS" in text and "Largest diameter: 12 cm" in text
    assert "FNCLCC grade" not in text  # not asked for LMS
    assert "Version 1, submitted 2026-12-03 01:05 CST" in text
    assert "Bot pre-screen: ✅ Eligible on the information given" in text
    assert "❓ Dr Liu · 12-03 01:10 CST — Please confirm the ASA class" in text
    assert "Decision: ❓ More information needed · 2026-12-03 01:10 CST" in text
    assert "Version 2, submitted 2026-12-03 02:00 CST" in text
    assert "Bot pre-screen: 🟡 Needs MDT review" in text
    assert "❔ INC-13 Fully understands the information and consents" in text
    assert "Decision: ✅ Approved for enrolment · 2026-12-03 03:00 CST" in text
    assert "needs_review" not in text and "UTC" not in text and "PKU-0042" not in text
    assert "no referral NAT-2026-0999" in (await coordinator.says("/case NAT-2026-0999"))["text"]


async def test_case_reads_in_chinese_for_a_chinese_coordinator(bot: BotUnderTest) -> None:
    """Labels, verdicts, decisions and criteria in Chinese; times still local with the zone."""
    await bot.register(COORDINATOR, role="coordinator")
    await seed_two_versions(bot.database)
    coordinator = bot.person(COORDINATOR, language="zh")
    text = (await coordinator.says("/case NAT-2026-0001"))["text"]
    assert "病理类型：LMS 平滑肌肉瘤" in text and "最大径：12 cm" in text
    assert "第1版，提交于 2026-12-03 01:05 北京时间" in text
    assert "❔ INC-13 充分知情并同意参加研究" in text
    assert "决定：❓ 需补充信息 · 2026-12-03 01:10 北京时间" in text


async def test_others_cannot_list_cases(bot: BotUnderTest) -> None:
    """A surgeon asking for /cases is refused."""
    await bot.register(1001)
    reply = await bot.person(1001).says("/cases")
    assert "document" not in reply and "Referrals" not in reply["text"]
