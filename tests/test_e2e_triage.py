"""The surgeon's dialogue end to end: real python-telegram-bot, local Bot API server, SQLite."""

from __future__ import annotations

import pytest

from natars_bot.store import Store

from .harness import BotUnderTest, answer_all

SURGEON = 1001


async def test_an_unregistered_user_is_refused_politely(bot: BotUnderTest) -> None:
    """A stranger gets a refusal that says whom to ask, and no referral is started."""
    stranger = bot.person(4242)
    reply = await stranger.says("/new")
    assert "trial coordinator" in reply["text"]
    assert "4242" in reply["text"]


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


@pytest.mark.parametrize("histology", sorted(BY_HISTOLOGY))
async def test_a_complete_referral_for_each_histology(bot: BotUnderTest, histology: str) -> None:
    """Buttons and typed answers through to the review, the verdict with reasons, and submission."""
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    review = await answer_all(surgeon, {**COMMON, **BY_HISTOLOGY[histology]})
    assert "Please check referral NAT-" in review["text"]
    assert "Screening number: PKU-0042" in review["text"]
    verdict = await surgeon.presses("See the verdict ➜", review)
    assert "Eligible on the information given" in verdict["text"], verdict["text"]
    assert "24" not in verdict["text"] or "criteria met" in verdict["text"]
    submitted = await surgeon.presses("✅ Submit to MDT", verdict)
    assert "submitted to the MDT" in submitted["text"]
    [stored] = await _stored(bot, SURGEON)
    assert (stored["status"], stored["verdict"]) == ("submitted", "eligible")
    assert stored["answers"]["note"] == COMMON["note"]
