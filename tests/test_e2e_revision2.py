"""Spec revision 2 in the dialogue, end to end: a negative IHC waits for FISH before any early
stop, the IHC questions offer the equivocal answer, and the SFT score is asked only while the
parts answered leave INC-07 open."""

from __future__ import annotations

from .harness import ROW_KEY, ROWS_CONFIRM, BotUnderTest, answer_until, question_in

SURGEON = 1001


DDLPS = {"age_years": "58", "sex": "Female", "histology": "DDLPS", "grade": "G2"}


async def test_a_negative_ihc_is_not_stopped_before_fish(bot: BotUnderTest) -> None:
    """CDK4 negative on the IHC and FISH screen: no exclusion while FISH is open; FISH not
    amplified then excludes at once, citing INC-04 with its reason and interpretation."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    rows = await answer_until(surgeon, DDLPS, "ihc_mdm2")
    assert "Weak or focal" in surgeon.buttons(rows)
    await surgeon.presses("Positive", {**surgeon.last(), ROW_KEY: "ihc_mdm2"})
    after = await surgeon.presses("Negative", {**surgeon.last(), ROW_KEY: "ihc_cdk4"})
    assert "cannot be enrolled" not in after["text"]
    assert question_in(after) == "fish_mdm2", after["text"]
    await surgeon.presses("Not amplified", {**after, ROW_KEY: "fish_mdm2"})
    stop = surgeon.last()
    assert "This patient cannot be enrolled" in stop["text"]
    assert "CDK4 negative on IHC, and MDM2 FISH not amplified" in stop["text"]
    assert "Interpretation: grade 1 fails; a negative IHC fails only" in stop["text"]


async def test_fish_amplified_after_a_negative_ihc_goes_to_the_mdt(bot: BotUnderTest) -> None:
    """MDM2 negative but FISH amplified: no early stop, the dialogue goes on (INC-04 open)."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    answers = {**DDLPS, "ihc_mdm2": "Negative", "ihc_cdk4": "Positive"}
    rows = await answer_until(surgeon, answers, "fish_mdm2")
    await surgeon.presses("Negative", {**rows, ROW_KEY: "ihc_mdm2"})
    after = await surgeon.presses("Positive", {**surgeon.last(), ROW_KEY: "ihc_cdk4"})
    after = await surgeon.presses("Amplified", {**after, ROW_KEY: "fish_mdm2"})
    assert "cannot be enrolled" not in after["text"]
    nxt = await surgeon.presses(ROWS_CONFIRM["en"], after)
    assert question_in(nxt) == "tumor_size_cm", nxt["text"]


async def test_the_chinese_ihc_question_offers_weak_or_focal(bot: BotUnderTest) -> None:
    """The equivocal answer in Chinese: 弱阳性或灶阳性."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON, language="zh-hans")
    await surgeon.says("/new")
    answers = {"sex": "女", "histology": "DDLPS 去分化脂肪肉瘤", "grade": "二级"}
    ihc = await answer_until(surgeon, answers, "ihc_mdm2", language="zh")
    assert "弱阳性或灶阳性" in surgeon.buttons(ihc)


SFT = {"age_years": "60", "sex": "Female", "histology": "SFT", "tumor_size_cm": "20 cm"}


async def test_the_sft_score_is_skipped_when_the_parts_decide(bot: BotUnderTest) -> None:
    """60 years, 20 cm and 6 mitoses give at least 6: after necrosis ("not known") the dialogue
    moves on to the origin without asking for the score."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    necrosis = await answer_until(
        surgeon, {**SFT, "sft_mitoses_per_2mm2": "6"}, "sft_necrosis_percent"
    )
    await surgeon.presses("Not known yet", necrosis)
    assert question_in(surgeon.last()) == "origin", surgeon.last()["text"]


async def test_the_sft_score_is_asked_while_the_parts_leave_it_open(bot: BotUnderTest) -> None:
    """Without mitoses the score lies in [4, 7]: the score question is asked, and a score inside
    the range is taken."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    score = await answer_until(surgeon, SFT, "sft_risk_score")
    assert "do not decide the SFT risk score" in score["text"]
    await surgeon.says("6")
    assert question_in(surgeon.last()) == "origin", surgeon.last()["text"]
