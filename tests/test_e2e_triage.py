"""The surgeon's dialogue end to end: real python-telegram-bot, local Bot API server, SQLite."""

from __future__ import annotations

import sqlite3

import pytest

from natars_bot.store import Store

from .harness import BotUnderTest, answer_all, answer_all_until, draft_answers

SURGEON = 1001


async def test_an_unregistered_user_is_refused_politely(bot: BotUnderTest) -> None:
    """A stranger gets a refusal that says whom to ask, and no referral is started."""
    stranger = bot.person(4242)
    reply = await stranger.says("/new")
    assert "trial coordinator" in reply["text"]
    assert "4242" in reply["text"]
    await stranger.says("62")  # nor does typing an answer start or fill one
    assert await _stored(bot, 4242) == []
    with sqlite3.connect(bot.database) as db:
        assert db.execute("SELECT COUNT(*) FROM referrals").fetchone() == (0,)


async def test_a_referral_starts_with_the_screening_number(bot: BotUnderTest) -> None:
    """/new opens NAT-YYYY-0001 and asks the first question with buttons."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    reply = await surgeon.says("/new")
    assert "NAT-" in reply["text"]
    assert "screening number" in reply["text"]
    assert surgeon.buttons() == ["No number yet"]


COMMON = {
    "screening_number": "PKU-0042",
    "age_years": "58",
    "sex": "Male",
    "histologically_proven": "Yes",
    "tumor_size_cm": "18 cm",
    "origin": "Retroperitoneum",
    "prior_resection": "No",
    "prior_chemotherapy": "No",
    "prior_radiotherapy": "No",
    "prior_targeted_therapy": "No",
    "second_malignancy": "No",
    "crosses_diaphragm": "No",
    "chest_cavity_protrusion": "No",
    "metastasis": "None",
    "pet_ct_done": "Yes",
    "organ_function": "Normal",
    "asa_class": "ASA II",
    "severe_event_last_6_months": "No",
    "infection_or_bleeding_surgery_last_month": "No",
    "unwilling_contraception": "No",
    "psychological_condition": "No",
    "r0_r1_resectable": "Yes",
    "fit_for_chemo_and_surgery": "Yes",
    "consent": "Signed",
    "note": "Large left-sided mass, <b>not</b> a name & fine",
}
BY_HISTOLOGY = {
    "DDLPS": {
        "histology": "DDLPS",
        "grade": "G2",
        "ihc_mdm2": "Positive",
        "ihc_cdk4": "Positive",
        "fish_mdm2": "Amplified",
    },
    "LMS": {"histology": "leiomyosarcoma", "tumor_size_cm": "120 mm"},
    "UPS": {"histology": "UPS"},
    "SFT": {"histology": "SFT", "sft_mitoses_per_2mm2": "5", "sft_necrosis_percent": "20%"},
}


async def _stored(bot: BotUnderTest, surgeon_id: int) -> list[dict]:
    store = await Store.open(bot.database)
    try:
        return [
            {
                "public_id": r.public_id,
                "status": r.status,
                "verdict": r.verdict,
                "answers": r.state.answers,
            }
            for r in await store.referrals_of(surgeon_id)
        ]
    finally:
        await store.close()


SCREENS = {
    "en": ("Please check referral NAT-", "See the verdict ➜", "Eligible on the information given"),
    "zh": ("请核对转诊 NAT-", "查看筛选结果 ➜", "根据所填信息，符合入组条件"),
}


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("histology", sorted(BY_HISTOLOGY))
async def test_a_complete_referral_for_each_histology(
    bot: BotUnderTest, histology: str, language: str
) -> None:
    """Buttons and typed answers through to the review, the verdict with reasons, and submission,
    in English and in Chinese."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON, language="zh-hans" if language == "zh" else "en")
    await surgeon.says("/new")
    review = await answer_all(surgeon, {**COMMON, **BY_HISTOLOGY[histology]}, language=language)
    review_title, verdict_button, eligible = SCREENS[language]
    assert review_title in review["text"]
    assert "PKU-0042" in review["text"]
    verdict = await surgeon.presses(verdict_button, review)
    assert eligible in verdict["text"], verdict["text"]
    submit = surgeon.buttons(verdict)[0]
    submitted = await surgeon.presses(submit, verdict)
    assert "NAT-2026-0001" in submitted["text"]
    [stored] = await _stored(bot, SURGEON)
    assert (stored["status"], stored["verdict"]) == ("submitted", "eligible")
    assert stored["answers"]["note"] == COMMON["note"]
    assert set(bot.server.commands) == {None, "zh"}  # the command menu, in both languages


async def _answers(bot: BotUnderTest, surgeon_id: int) -> dict:
    return (await _stored(bot, surgeon_id))[0]["answers"]


async def test_wrong_answers_are_reprompted_then_accepted(bot: BotUnderTest) -> None:
    """A bad answer gets the reason and the same question again; nothing entered is lost."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    await surgeon.says("S-1")
    reply = await surgeon.says("sixty")
    assert "Please type a number." in reply["text"]
    assert "Patient's age in years?" in reply["text"]
    reply = await surgeon.says("130")
    assert "at most 120" in reply["text"]
    reply = await surgeon.says("62 years")
    assert "✓ Age: 62" in reply["text"] and "Sex?" in reply["text"]
    reply = await surgeon.says("maybe")
    assert "Please choose one of the buttons" in reply["text"]
    assert await _answers(bot, SURGEON) == {"screening_number": "S-1", "age_years": 62}


async def test_only_the_current_question_keeps_its_buttons(bot: BotUnderTest) -> None:
    """After a typed answer the old question's buttons are removed; pressing an old one is stale
    and records nothing."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    first = await surgeon.says("/new")
    await surgeon.says("S-1")
    assert "reply_markup" not in bot.server.bot_messages(SURGEON)[0]
    # `first` is the message as it was delivered, buttons and all: a press the phone still shows.
    await bot.server.user_presses(surgeon.user, first, "No number yet")
    await bot.server.wait_for(
        lambda: any(a.get("answered") for a in bot.server.callback_answers.values())
    )
    assert any("already answered" in text.lower() for text in surgeon.alerts())
    assert await draft_answers(bot.database, SURGEON) == {"screening_number": "S-1"}


async def test_back_and_edit_from_the_review(bot: BotUnderTest) -> None:
    """Back re-asks; changing histology at the review asks the newly relevant questions."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    await surgeon.says("S-9")
    await surgeon.says("45")
    reply = await surgeon.presses("⬅ Back")
    assert "Patient's age in years?" in reply["text"]
    await surgeon.says("46")
    review = await answer_all(surgeon, {**COMMON, "age_years": "46", "histology": "UPS"})
    assert "Histology: <b>UPS</b>" in review["html"]
    reply = await surgeon.presses("✏ Histology", review)
    assert "Currently: UPS" in reply["text"]
    reply = await surgeon.presses("DDLPS", reply)
    assert "FNCLCC grade?" in reply["text"]  # newly shown
    review = await answer_all(
        surgeon, {"grade": "G3", "ihc_mdm2": "Positive", "ihc_cdk4": "Positive"}
    )
    assert "Histology: <b>DDLPS</b>" in review["html"]
    assert "FNCLCC grade: <b>G3</b>" in review["html"]
    answers = await _answers(bot, SURGEON)
    assert (answers["age_years"], answers["grade"], answers["histology"]) == (46, 3, "DDLPS")


async def test_a_restart_mid_dialogue_resumes_exactly(bot: BotUnderTest) -> None:
    """Stopped and started again, the bot asks the first unanswered question; old buttons work."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    await surgeon.says("S-5")
    await surgeon.says("70")
    before = await surgeon.presses("Female")
    await bot.restart()
    reply = await surgeon.presses("LMS", before)  # a button sent before the restart
    assert "✓ Histology: LMS" in reply["text"]
    await bot.restart()
    reply = await surgeon.says("/start")
    assert "in progress (4 answers saved)" in reply["text"]
    assert "Is the histology proven on biopsy" in reply["text"]
    assert await _answers(bot, SURGEON) == {
        "screening_number": "S-5",
        "age_years": 70,
        "sex": "female",
        "histology": "LMS",
    }


async def test_an_answer_that_excludes_offers_to_stop(bot: BotUnderTest) -> None:
    """GI origin: the criterion is cited at once; Stop records the referral as not eligible."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    await answer_all_until(surgeon, "origin")
    reply = await surgeon.presses("GI tract")
    assert "This patient cannot be enrolled" in reply["text"]
    assert "EXC-01" in reply["text"] and "gi tract" in reply["text"].lower()
    assert "✏ Change this answer" in surgeon.buttons(reply)
    reply = await surgeon.presses("Stop here", reply)
    assert "recorded in the screening log as not eligible" in reply["text"]
    assert "EXC-01" in reply["text"]  # the reason stays in the chat with the outcome
    assert not reply.get("reply_markup")
    [stored] = await _stored(bot, SURGEON)
    assert (stored["status"], stored["verdict"]) == ("screen_failed", "ineligible")


async def test_continuing_after_an_exclusion_finishes_the_record(bot: BotUnderTest) -> None:
    """Continue goes on to the next question, and the fail is not announced again."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    await answer_all_until(surgeon, "origin")
    reply = await surgeon.presses("Uterus")
    reply = await surgeon.presses("Continue to a full record", reply)
    assert "previous surgical resection" in reply["text"]
    review = await answer_all(surgeon, COMMON | {"origin": "Uterus"})
    verdict = await surgeon.presses("See the verdict ➜", review)
    assert "Not eligible" in verdict["text"] and "EXC-01" in verdict["text"]


async def test_chinese_speakers_get_the_dialogue_in_chinese(bot: BotUnderTest) -> None:
    """Telegram's language code zh picks Chinese; typed English values still work."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON, language="zh-hans")
    reply = await surgeon.says("/new")
    assert "本中心该患者的筛选编号" in reply["text"]
    review = await answer_all(
        surgeon,
        {**COMMON, **BY_HISTOLOGY["SFT"], "sex": "女", "pregnant_or_breastfeeding": "否"},
        language="zh",
    )
    assert "请核对转诊" in review["text"]
    verdict = await surgeon.presses("查看筛选结果 ➜", review)
    assert "根据所填信息，符合入组条件" in verdict["text"]
    assert "7分（高危）" in verdict["text"] or "7（高危）" in verdict["text"]


async def test_language_can_be_switched(bot: BotUnderTest) -> None:
    """/language → 中文 makes the bot answer in Chinese from then on."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    reply = await surgeon.says("/language")
    reply = await surgeon.presses("中文", reply)
    assert reply["text"] == "已切换为中文。"
    reply = await surgeon.says("/new")
    assert "本中心该患者的筛选编号" in reply["text"]


async def test_referrals_are_private(bot: BotUnderTest) -> None:
    """/new in a group is pointed to a private chat; no referral is opened there."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    bot.server.group(-100200, "NATARS MDT")
    reply = await surgeon.says("/new", chat_id=-100200)
    assert "private chat" in reply["text"]
    assert await _stored(bot, SURGEON) == []


async def test_cancel_and_status(bot: BotUnderTest) -> None:
    """/cancel asks first: "Keep it" goes on where it was, "Discard it" discards (audited);
    /status lists referrals with their status."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    reply = await surgeon.says("/cancel")
    assert "no referral in progress" in reply["text"]
    await surgeon.says("/new")
    await surgeon.says("S-9")
    reply = await surgeon.says("/cancel")
    assert "Discard referral" in reply["text"]
    assert surgeon.buttons(reply) == ["🗑 Discard it", "Keep it"]
    [stored] = await _stored(bot, SURGEON)
    assert stored["status"] == "draft"  # nothing discarded by the command alone
    reply = await surgeon.presses("Keep it", reply)
    assert "Patient's age" in reply["text"]
    reply = await surgeon.says("/cancel")
    reply = await surgeon.presses("🗑 Discard it", reply)
    assert "discarded" in reply["text"]
    [stored] = await _stored(bot, SURGEON)
    assert stored["status"] == "cancelled"
    store = await Store.open(bot.database)
    try:
        actions = [row.action for row in await store.audit_rows(stored["public_id"])]
    finally:
        await store.close()
    assert actions[-4:] == ["cancel_asked", "cancel_declined", "cancel_asked", "referral_cancelled"]
    reply = await surgeon.says("/status")
    assert "NAT-" in reply["text"] and "discarded" in reply["text"]
    reply = await surgeon.says("/help")
    assert "/new" in reply["text"]


async def test_a_stranger_pressing_a_button_changes_nothing(bot: BotUnderTest) -> None:
    """Someone else's press on a surgeon's question gets the refusal as an alert."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    question = await surgeon.says("/new")
    stranger = bot.person(777)
    update_id = await bot.server.user_presses(stranger.user, question, "No number yet")
    await bot.handled(update_id)
    assert any("trial coordinator" in text for text in surgeon.alerts())
    assert await _answers(bot, SURGEON) == {}
