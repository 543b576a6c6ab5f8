"""Issue #18 end to end, through the real python-telegram-bot stack and the local Bot API server:
the exclusion checklist gives the same referral as the questions one by one, ticks show their
exclusion at once, rows screens, the review that fits a phone, progress that only goes forward,
and Back naming what it undid."""

from __future__ import annotations

import asyncio
import copy
import re
from typing import Any

from natars_bot.store import Store

from .harness import ROW_KEY, BotUnderTest, Person, answer_all, answer_until, screen_kind
from .test_e2e_triage import BY_HISTOLOGY, COMMON

CHECKLIST_ITEMS = [
    "prior_resection", "prior_chemotherapy", "prior_radiotherapy", "prior_targeted_therapy",
    "second_malignancy", "crosses_diaphragm", "chest_cavity_protrusion",
    "severe_event_last_6_months", "infection_or_bleeding_surgery_last_month",
    "unwilling_contraception", "psychological_condition",
]  # fmt: skip
DDLPS = {**COMMON, **BY_HISTOLOGY["DDLPS"]}


async def _stored(bot: BotUnderTest, surgeon_id: int) -> tuple[dict[str, Any], str | None]:
    """The surgeon's latest referral: its answers and its stored verdict."""
    store = await Store.open(bot.database)
    try:
        referral = (await store.referrals_of(surgeon_id))[0]
    finally:
        await store.close()
    return dict(referral.state.answers), referral.verdict


async def _submit(surgeon: Person, answers: dict[str, str]) -> dict[str, Any]:
    """/new, every screen from `answers`, then "Submit to MDT" on the review; the review."""
    await surgeon.says("/new")
    review = await answer_all(surgeon, answers)
    assert screen_kind(review) == "review", review["text"]
    await surgeon.presses("✅ Submit to MDT", review)
    return review


async def _one_by_one(surgeon: Person, answers: dict[str, str]) -> None:
    """The same referral with the checklist's items asked one by one ("Some not known yet")."""
    await surgeon.says("/new")
    checklist = await answer_until(surgeon, answers, "prior_resection")
    assert "Some not known yet" not in surgeon.buttons(checklist)  # asked one by one now
    await _submit_rest(surgeon, answers)


async def _submit_rest(surgeon: Person, answers: dict[str, str]) -> None:
    review = await answer_all(surgeon, answers)
    await surgeon.presses("✅ Submit to MDT", review)


async def test_none_of_the_checklist_is_the_same_referral_as_every_no(bot: BotUnderTest) -> None:
    """All "None of the others applies": the stored answers and verdict equal those of the
    same DDLPS referral answered No by No after "Some not known yet"."""
    for surgeon_id in (1001, 1002):
        await bot.register(surgeon_id)
    await _submit(bot.person(1001), DDLPS)
    await _one_by_one(bot.person(1002), DDLPS)
    grouped, single = await _stored(bot, 1001), await _stored(bot, 1002)
    assert grouped == single
    assert grouped[1] == "eligible"
    assert all(grouped[0][field] is False for field in CHECKLIST_ITEMS)


async def test_two_ticks_one_exclusion_shown_at_once(bot: BotUnderTest) -> None:
    """Ticking "Previous resection" shows INC-02 at once (stop, continue or change); after
    Continue the checklist shows it ☑; a second tick failing the same criterion is not
    announced again; the referral equals the one answered one by one."""
    for surgeon_id in (1001, 1002):
        await bot.register(surgeon_id)
    answers = {**DDLPS, "prior_resection": "Yes", "prior_radiotherapy": "Yes"}
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    checklist = await _to_checklist(surgeon, answers)
    failed = await surgeon.presses("☐ Previous resection", checklist)
    assert "This patient cannot be enrolled" in failed["text"] and "INC-02" in failed["text"]
    assert "✏ Change this answer" in surgeon.buttons(failed)
    checklist = await surgeon.presses("Continue to a full record", failed)
    assert "☑ Previous resection" in surgeon.buttons(checklist)
    checklist = await surgeon.presses("☐ Previous radiotherapy", checklist)
    assert screen_kind(checklist) == "checklist"  # INC-02 was seen already
    assert "☑ Previous radiotherapy" in surgeon.buttons(checklist)
    await surgeon.presses("None of the others applies ✓", checklist)
    await _submit_rest(surgeon, answers)
    await _one_by_one_with_continue(bot.person(1002), answers)
    grouped, single = await _stored(bot, 1001), await _stored(bot, 1002)
    assert grouped == single and grouped[1] == "ineligible"


async def _to_checklist(surgeon: Person, answers: dict[str, str]) -> dict[str, Any]:
    """Answer from `answers` up to the checklist; its message."""
    origin = await answer_until(surgeon, answers, "origin")
    checklist = await surgeon.presses("Retroperitoneum", origin)
    assert screen_kind(checklist) == "checklist", checklist["text"]
    return checklist


async def _one_by_one_with_continue(surgeon: Person, answers: dict[str, str]) -> None:
    await surgeon.says("/new")
    await answer_until(surgeon, answers, "prior_resection")
    failed = await surgeon.presses("Yes")
    assert "INC-02" in failed["text"]
    await surgeon.presses("Continue to a full record", failed)
    await _submit_rest(surgeon, answers)


async def test_some_not_known_falls_back_to_one_by_one(bot: BotUnderTest) -> None:
    """One tick, then "Some not known yet": each unticked item is asked with its "Not known
    yet" button; the referral equals the one answered one by one; INC-02 stays open."""
    for surgeon_id in (1001, 1002):
        await bot.register(surgeon_id)
    answers = {**DDLPS, "prior_chemotherapy": "Not known yet", "crosses_diaphragm": "Yes"}
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    checklist = await _to_checklist(surgeon, answers)
    failed = await surgeon.presses("☐ Crosses the diaphragm", checklist)
    assert "INC-08" in failed["text"]
    checklist = await surgeon.presses("Continue to a full record", failed)
    asked = await surgeon.presses("Some not known yet", checklist)
    assert "previous surgical resection" in asked["text"]
    assert "Not known yet" in surgeon.buttons(asked)
    record = bot.server.chats[1001].messages[checklist["message_id"]]
    assert "Crosses the diaphragm: <b>Yes</b>" in record["html"]  # the chat keeps the ticks
    assert not record.get("reply_markup")
    await _submit_rest(surgeon, answers)
    await bot.person(1002).says("/new")
    await answer_until(bot.person(1002), answers, "crosses_diaphragm")
    await bot.person(1002).presses("Yes")
    await bot.person(1002).presses("Continue to a full record")
    await _submit_rest(bot.person(1002), answers)
    grouped, single = await _stored(bot, 1001), await _stored(bot, 1002)
    assert grouped == single
    assert grouped[0]["prior_chemotherapy"] is None


async def test_a_stale_press_cannot_tick_twice_or_confirm_an_unseen_checklist(
    bot: BotUnderTest,
) -> None:
    """Every toggle is a new screen: the checklist as it was before a tick, pressed again (a
    double tap, an old copy), ticks nothing and confirms nothing; an alert says so."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    checklist = copy.deepcopy(await _to_checklist(surgeon, DDLPS))
    failed = await surgeon.presses("☐ Second malignancy", checklist)
    assert "INC-03" in failed["text"]
    for label in ("☐ Second malignancy", "None of these applies ✓"):
        await bot.handled(await bot.server.user_presses(surgeon.user, checklist, label))
    answers, _ = await _stored(bot, 1001)
    assert answers["second_malignancy"] is True
    assert "prior_resection" not in answers  # nothing confirmed from the old copy
    assert any("no longer current" in a or "Already answered" in a for a in surgeon.alerts())


async def test_the_review_fits_a_phone_and_submits_in_one_tap(bot: BotUnderTest) -> None:
    """A typical eligible DDLPS: the review starts with the verdict line, groups the answers by
    section with the checklist's noes in one line, asks for the note saying what the MDT sees,
    fits in 25 lines, and "Submit to MDT" on it submits."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    review = await answer_all(surgeon, {k: v for k, v in DDLPS.items() if k != "note"})
    lines = review["text"].split("\n")
    title = next(n for n, line in enumerate(lines) if line.startswith("Please check referral"))
    review_lines = lines[title:]  # the review, under the last answer's line
    assert len(review_lines) <= 25, review["text"]
    # And as a 390-pixel phone wraps them, about 40 characters a line.
    assert sum(max(1, -(-len(line) // 40)) for line in review_lines) <= 25, review["text"]
    assert lines[title + 1].startswith("✅ Eligible on the information given")
    assert "None of: resection, chemotherapy, radiotherapy" in review["text"]
    assert "The MDT will see these answers" in review["text"]
    assert surgeon.buttons(review)[0] == "✅ Submit to MDT"
    assert {"✏ Patient", "✏ Tumour", "✏ History", "✏ Staging and fitness"} <= set(
        surgeon.buttons(review)
    )
    noted = await surgeon.says("Seen at our MDT on Monday")
    assert "Note for the MDT: Seen at our MDT on Monday" in noted["text"]
    submitted = await surgeon.presses("✅ Submit to MDT", noted)
    assert "is submitted to the MDT" in submitted["text"]
    verdict = bot.server.chats[1001].messages[noted["message_id"]]  # the review, now the verdict
    assert "Eligible on the information given" in verdict["text"]
    assert not verdict.get("reply_markup")
    answers, verdict = await _stored(bot, 1001)
    assert (answers["note"], verdict) == ("Seen at our MDT on Monday", "eligible")


async def test_a_needs_review_verdict_names_its_open_criteria_on_the_review(
    bot: BotUnderTest,
) -> None:
    """🟡 with the open criteria's ids on the review's first lines."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    review = await answer_all(surgeon, {**DDLPS, "consent": "Not yet"})
    assert "🟡 Needs MDT review · open: INC-13" in review["text"]


PERCENT = re.compile(r"(\d+) % done")


async def test_progress_only_goes_forward_as_branches_open_and_close(bot: BotUnderTest) -> None:
    """DDLPS opens grade, IHC and FISH; chemotherapy "not known" opens the anthracycline
    question; a woman gets the pregnancy item: every screen's percentage is at least the one
    before, and no question count shows."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    answers = {**DDLPS, "sex": "Female", "prior_chemotherapy": "Not known yet"}
    await answer_all(surgeon, answers)
    texts = [
        str(params.get("text", ""))
        for method, params in bot.server.calls
        if method in ("sendMessage", "editMessageText")
    ]
    percents = [int(p) for text in texts for p in PERCENT.findall(text)]
    assert len(percents) > 10
    assert percents == sorted(percents), percents
    assert not any("Question " in text for text in texts)


async def test_back_names_what_it_undid_on_group_screens(bot: BotUnderTest) -> None:
    """On a rows screen, Back undoes the last row ("↩ Undid: MDM2 (FISH): Amplified"); after
    the checklist, one Back undoes all its noes and names them; on the first item asked one by
    one, Back returns to the checklist."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    rows = await answer_until(surgeon, DDLPS, "fish_mdm2")
    rows = await surgeon.presses("Amplified", rows)
    undone = await surgeon.presses("⬅ Back", rows)
    assert "↩ Undid: MDM2 (FISH): Amplified" in undone["text"]
    assert screen_kind(undone) == "rows"
    checklist = await _to_checklist(surgeon, DDLPS)
    after = await surgeon.presses("None of these applies ✓", checklist)
    undone = await surgeon.presses("⬅ Back", after)
    assert "↩ Undid: none of Previous resection" in undone["text"]
    assert screen_kind(undone) == "checklist"
    asked = await surgeon.presses("Some not known yet", undone)
    back = await surgeon.presses("⬅ Back", asked)
    assert "↩ Back to the checklist" in back["text"] and screen_kind(back) == "checklist"


async def test_a_section_lists_its_answers_to_change(bot: BotUnderTest) -> None:
    """ "✏ Staging and fitness" lists that section's answers; one pressed is asked again with
    its current answer; the review comes back with the change."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    review = await answer_all(surgeon, DDLPS)
    listed = await surgeon.presses("✏ Staging and fitness", review)
    assert "ASA class: II" in surgeon.buttons(listed)
    question = await surgeon.presses("ASA class: II", listed)
    assert "Currently: II" in question["text"]
    review = await surgeon.presses("III", question)
    assert "ASA class: <b>III</b>" in review["html"]
    answers, _ = await _stored(bot, 1001)
    assert answers["asa_class"] == 3


async def test_rows_answered_in_quick_succession_count_but_a_double_tap_does_not(
    bot: BotUnderTest,
) -> None:
    """With the double-tap guard on (1 s): three rows answered one after another from the
    report, each within a second of the last, all count; the same button tapped twice in a
    row (a double tap: the edited screen keeps it in the same place) counts once."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    rows = await answer_until(surgeon, DDLPS, "ihc_mdm2")
    await bot.restart(read_delay_seconds=1.0)  # the guard on from here
    await asyncio.sleep(1.1)  # read the screen
    rows = await surgeon.presses("Positive", {**rows, ROW_KEY: "ihc_mdm2"})
    rows = await surgeon.presses("Positive", {**rows, ROW_KEY: "ihc_cdk4"})
    await surgeon.presses("Amplified", {**rows, ROW_KEY: "fish_mdm2"})
    answers, _ = await _stored(bot, 1001)
    assert (answers["ihc_mdm2"], answers["ihc_cdk4"], answers["fish_mdm2"]) == (
        "positive",
        "positive",
        "amplified",
    )
    assert not any("read the question" in a for a in surgeon.alerts())
    # the same row's button again at once: the rest of a double tap, refused
    await surgeon.presses("Not amplified", {**surgeon.last(), ROW_KEY: "fish_mdm2"})
    await surgeon.presses("Amplified", {**surgeon.last(), ROW_KEY: "fish_mdm2"})
    assert any("read the question" in a for a in surgeon.alerts())


PATHOLOGY_SHORTCUT = "✓ MDM2, CDK4 positive · FISH amplified"
MDT_SHORTCUT = "✓ Both yes: R0/R1 resectable, fit"


async def _audit(bot: BotUnderTest, surgeon_id: int) -> list[tuple[str, dict[str, Any]]]:
    """The audit rows of the surgeon's latest referral: (action, detail)."""
    store = await Store.open(bot.database)
    try:
        referral = (await store.referrals_of(surgeon_id))[0]
        rows = await store.audit_rows(referral.public_id)
    finally:
        await store.close()
    return [(row.action, row.detail) for row in rows]


async def test_the_shortcuts_give_the_rows_referral_and_audit(bot: BotUnderTest) -> None:
    """A DDLPS with the usual IHC/FISH and MDT results: each rows screen's shortcut is one tap
    for the rows and their confirmation — the same stored answers and verdict as the rows
    pressed one by one, an "answer" audit row per row then the confirmation, and the screen
    left in the chat with its answers and no buttons."""
    for surgeon_id in (1001, 1002):
        await bot.register(surgeon_id)
    await _submit(bot.person(1001), DDLPS)
    surgeon = bot.person(1002)
    await surgeon.says("/new")
    rows = await answer_until(surgeon, DDLPS, "ihc_mdm2")
    assert surgeon.buttons(rows)[0] == PATHOLOGY_SHORTCUT
    # What the short caption records, said in the rows' own labels on the screen.
    assert (
        "Or ✓ below: the usual result in one tap, MDM2 (IHC): Positive; CDK4 (IHC): Positive;"
        " MDM2 (FISH): Amplified." in rows["text"]
    ), rows["text"]
    after = await surgeon.presses(PATHOLOGY_SHORTCUT, rows)
    assert after["message_id"] != rows["message_id"]  # the next question, below the record
    record = bot.server.chats[1002].messages[rows["message_id"]]
    assert not record.get("reply_markup")
    for line in ("MDM2 (IHC): <b>Positive</b>", "CDK4 (IHC): <b>Positive</b>"):
        assert line in record["html"], record["html"]
    assert "MDM2 (FISH): <b>Amplified</b>" in record["html"]
    mdt = await answer_until(surgeon, DDLPS, "r0_r1_resectable")
    assert surgeon.buttons(mdt)[0] == MDT_SHORTCUT
    await surgeon.presses(MDT_SHORTCUT, mdt)
    await _submit_rest(surgeon, DDLPS)
    assert await _stored(bot, 1002) == await _stored(bot, 1001)
    assert (await _stored(bot, 1002))[1] == "eligible"
    audit = await _audit(bot, 1002)
    start = audit.index(("answer", {"field": "ihc_mdm2", "value": "positive"}))
    assert audit[start : start + 4] == [
        ("answer", {"field": "ihc_mdm2", "value": "positive"}),
        ("answer", {"field": "ihc_cdk4", "value": "positive"}),
        ("answer", {"field": "fish_mdm2", "value": "amplified"}),
        ("group_confirmed", {"group": "pathology_tests", "shortcut": True}),
    ]
    assert ("group_confirmed", {"group": "mdt_assessment", "shortcut": True}) in audit


async def test_back_undoes_a_shortcut_and_an_old_copy_cannot_press_it(bot: BotUnderTest) -> None:
    """One Back after the MDT's shortcut names both answers it recorded and shows the rows
    screen again with its shortcut; once a row is chosen the shortcut is gone, and pressed
    from the copy of the screen before (a double tap, an old copy) it records nothing."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    mdt = await answer_until(surgeon, DDLPS, "r0_r1_resectable")
    after = await surgeon.presses(MDT_SHORTCUT, mdt)
    undone = await surgeon.presses("⬅ Back", after)
    assert "↩ Undid: R0/R1 resectable: Yes, " in undone["text"], undone["text"]
    assert screen_kind(undone) == "rows" and surgeon.buttons(undone)[0] == MDT_SHORTCUT
    answers, _ = await _stored(bot, 1001)
    assert "r0_r1_resectable" not in answers and "fit_for_chemo_and_surgery" not in answers
    old = copy.deepcopy(undone)
    chosen = await surgeon.presses("No", {**undone, ROW_KEY: "r0_r1_resectable"})
    assert MDT_SHORTCUT not in surgeon.buttons(chosen)
    assert "the usual result in one tap" not in chosen["text"]
    await bot.handled(await bot.server.user_presses(surgeon.user, old, MDT_SHORTCUT))
    answers, _ = await _stored(bot, 1001)
    assert answers["r0_r1_resectable"] == "no"
    assert "fit_for_chemo_and_surgery" not in answers
    assert any("no longer current" in a or "Already answered" in a for a in surgeon.alerts())
