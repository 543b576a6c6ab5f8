"""Only what the surgeon saw and meant is recorded (issue #17), through the real
python-telegram-bot stack and the local Bot API server: double taps, presses on old screens,
updates delivered twice, numbers read with care, the exclusion screen, /cancel, names typed as
screening numbers, and a crash or a failed reply between saving an answer and showing the next."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from typing import Any

from natars_bot.sandbox.local_api import ApiError, LocalBotApi
from natars_bot.store import Store

from .harness import MDT_CHAT, TOKEN, BotUnderTest, Person, answer_all_until, draft_answers

SURGEON = 1001


async def _draft_answers(bot: BotUnderTest) -> dict[str, Any]:
    return await draft_answers(bot.database, SURGEON)


async def _surgeon(bot: BotUnderTest) -> Person:
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    return surgeon


def _press_answered(bot: BotUnderTest) -> list[str]:
    return [a.get("text", "") for a in bot.server.callback_answers.values() if a.get("answered")]


async def _alert_after(bot: BotUnderTest, update_id: int) -> str:
    await bot.handled(update_id)
    return _press_answered(bot)[-1]


async def test_a_double_tap_answers_exactly_one_question(bot: BotUnderTest) -> None:
    """Tap "No"; the next question appears; 0.15 s later a second tap at the same spot — on the
    same message (as the phone still shows it) or on the new question now under the finger —
    records nothing."""
    surgeon = await _surgeon(bot)
    await answer_all_until(surgeon, "prior_radiotherapy")
    await bot.restart(read_delay_seconds=1.0)  # the harness's users press without reading
    await surgeon.says("/start")
    before = await _draft_answers(bot)
    await asyncio.sleep(1.05)  # a person reads the question first
    question = copy.deepcopy(surgeon.last())
    await surgeon.presses("No", question)
    assert "targeted therapy" in surgeon.last()["text"]
    await asyncio.sleep(0.15)
    # The same message as it was on screen, with its "No" still there: stale.
    alert = await _alert_after(bot, await bot.server.user_presses(surgeon.user, question, "No"))
    assert "Already answered" in alert
    # The new question's "No", at the same spot: too soon after it appeared.
    alert = await _alert_after(
        bot, await bot.server.user_presses(surgeon.user, surgeon.last(), "No")
    )
    assert "read the question" in alert
    after = await _draft_answers(bot)
    assert set(after) - set(before) == {"prior_radiotherapy"}
    # The pressed question stays readable in the chat: its prompt and the answer, no buttons.
    shown = bot.server.chats[SURGEON].messages[question["message_id"]]
    assert "radiotherapy" in shown["text"] and "→ No" in shown["text"]
    assert not shown.get("reply_markup")
    # Read, then pressed: taken.
    await asyncio.sleep(1.05)
    await surgeon.presses("No")
    assert set(await _draft_answers(bot)) - set(before) == {
        "prior_radiotherapy",
        "prior_targeted_therapy",
    }


async def test_presses_on_every_older_screen_record_nothing(bot: BotUnderTest) -> None:
    """Each earlier screen's buttons, pressed as the phone still shows them, change nothing and
    get an alert naming the question that is current."""
    surgeon = await _surgeon(bot)
    screens = [copy.deepcopy(surgeon.last())]
    await surgeon.says("S-8")
    screens.append(copy.deepcopy(surgeon.last()))
    await surgeon.says("61")
    screens.append(copy.deepcopy(surgeon.last()))
    await surgeon.presses("Female")
    screens.append(copy.deepcopy(surgeon.last()))  # histology, on screen now
    await surgeon.presses("UPS")
    answers = await _draft_answers(bot)
    for screen in screens:
        label = surgeon.buttons(screen)[0]
        alert = await _alert_after(bot, await bot.server.user_presses(surgeon.user, screen, label))
        assert "Already answered — you are on question 5 now" in alert, alert
    assert await _draft_answers(bot) == answers


async def test_a_press_delivered_twice_records_once(bot: BotUnderTest) -> None:
    """Telegram delivering the same press again (after a restart) applies it once and shows
    the current screen again instead of silence."""
    surgeon = await _surgeon(bot)
    await surgeon.says("S-8")
    await surgeon.says("61")
    update_id = await bot.server.user_presses(surgeon.user, surgeon.last(), "Male")
    await bot.handled(update_id)
    await bot.restart()
    before = len(bot.server.bot_messages(SURGEON))
    await bot.server.redeliver(update_id)
    await bot.handled(update_id)
    await bot.server.wait_for(lambda: len(bot.server.bot_messages(SURGEON)) > before)
    assert "Here is where you are now" in surgeon.last()["text"]
    assert "Histology" in surgeon.last()["text"]
    assert await _draft_answers(bot) == {
        "screening_number": "S-8",
        "age_years": 61,
        "sex": "male",
    }


async def test_a_redelivered_text_is_not_taken_by_the_next_question(bot: BotUnderTest) -> None:
    """ "45" as the screening number, delivered again after a restart: the age question would
    accept it, but it is recognised and answers nothing."""
    surgeon = await _surgeon(bot)
    update_id = await bot.server.user_says(surgeon.user, "45")
    await bot.handled(update_id)
    await bot.restart()
    await bot.server.redeliver(update_id)
    await bot.handled(update_id)
    assert await _draft_answers(bot) == {"screening_number": "45"}
    reply = await surgeon.says("61")
    assert "✓ Age: 61" in reply["text"]


async def test_a_new_server_numbering_updates_from_1_skips_nothing(bot: BotUnderTest) -> None:
    """A restarted local server (or Telegram after a quiet week) reuses update ids: new updates
    with old ids are new, and every one of them is handled."""
    surgeon = await _surgeon(bot)
    await surgeon.says("S-8")
    await bot.stop()
    await bot.server.stop()
    bot.server = LocalBotApi(TOKEN)
    await bot.server.start()
    bot.processed.clear()  # the harness's record of ids handled: they start again too
    await bot.restart()
    surgeon = bot.person(SURGEON)
    reply = await surgeon.says("/start")  # update id 1 again, on the same database
    assert "in progress" in reply["text"] and "Patient's age" in reply["text"]
    reply = await surgeon.says("61")
    assert "✓ Age: 61" in reply["text"]
    await surgeon.presses("Male")
    assert await _draft_answers(bot) == {
        "screening_number": "S-8",
        "age_years": 61,
        "sex": "male",
    }


def _committed_before_reply(bot: BotUnderTest, field: str, seen: list[Any]) -> Any:
    """A fault on the surgeon's sendMessage: the answer must already be in the database."""

    def fault(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and int(params["chat_id"]) == SURGEON and not seen:
            with sqlite3.connect(bot.database) as db:
                (state,) = db.execute(
                    "SELECT state FROM referrals WHERE surgeon_id = ? AND status = 'draft'",
                    (SURGEON,),
                ).fetchone()
            seen.append(__import__("json").loads(state)["answers"].get(field))

    return fault


async def test_an_answer_is_committed_before_the_reply(bot: BotUnderTest) -> None:
    """Deterministically, not by kill timing: when the next question is sent, the answer is
    already in the database (read by another connection, as after a crash)."""
    surgeon = await _surgeon(bot)
    seen: list[Any] = []
    bot.server.faults.append(_committed_before_reply(bot, "screening_number", seen))
    await surgeon.says("S-5")
    assert seen == ["S-5"]
    seen.clear()
    bot.server.faults[-1] = _committed_before_reply(bot, "age_years", seen)
    await surgeon.says("61")
    assert seen == [61]
    seen.clear()
    bot.server.faults[-1] = _committed_before_reply(bot, "sex", seen)
    await surgeon.presses("Male")
    assert seen == ["male"]


async def test_a_failed_reply_never_lets_the_next_text_answer_an_unseen_question(
    bot: BotUnderTest,
) -> None:
    """One 502 on the reply after "45" (the screening number): the surgeon, seeing no question,
    types "45" again. It is not taken as the age; the bot shows what it saved and the question."""
    surgeon = await _surgeon(bot)
    failed: list[str] = []

    def fault(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and not failed and "Patient's age" in params.get("text", ""):
            failed.append(method)
            raise ApiError(502, "Bad Gateway")

    bot.server.faults.append(fault)
    await surgeon.says("45")
    assert failed
    reply = await surgeon.says("45")
    assert "Saved: Screening number: 45" in reply["text"]
    assert "was not taken as an answer" in reply["text"] and "Patient's age" in reply["text"]
    assert await _draft_answers(bot) == {"screening_number": "45"}
    reply = await surgeon.says("45")  # now that the question was seen: it is the age
    assert "✓ Age: 45" in reply["text"]


async def test_inexact_numbers_are_asked_again_with_their_reason(bot: BotUnderTest) -> None:
    """ "<10%" necrosis is not 10 %: the bot says the exact value decides a point of the score;
    "about 20 %" is read as 20 % and said so."""
    surgeon = await _surgeon(bot)
    await surgeon.says("S-1")
    await surgeon.says("61")
    await surgeon.presses("Female")
    await surgeon.presses("SFT")
    await answer_all_until(surgeon, "sft_mitoses_per_2mm2")
    reply = await surgeon.says("<1/10HPF")
    assert "exact value" in reply["text"] and "4 or more score 2" in reply["text"]
    reply = await surgeon.says("4/50 HPF")
    assert "per 2 mm²" in reply["text"]
    reply = await surgeon.says("3-5")
    assert "not a range" in reply["text"]
    await surgeon.says("3")
    reply = await surgeon.says("<10%")
    assert "10 % necrosis scores a point" in reply["text"]
    reply = await surgeon.says("about 20 %")
    assert "(“about 20 %” read as 20 %)" in reply["text"]
    answers = await _draft_answers(bot)
    assert (answers["sft_mitoses_per_2mm2"], answers["sft_necrosis_percent"]) == (3, 20.0)


async def test_a_size_without_unit_asks_mm_or_cm(bot: BotUnderTest) -> None:
    """ "95" for the diameter: 95 mm or 95 cm, two buttons; typing at that screen retypes."""
    surgeon = await _surgeon(bot)
    await answer_all_until(surgeon, "tumor_size_cm")
    reply = await surgeon.says("95")
    assert "no unit" in reply["text"]
    assert surgeon.buttons(reply) == ["95 mm = 9.5 cm", "95 cm", "✏ Retype"]
    assert "tumor_size_cm" not in await _draft_answers(bot)
    await surgeon.presses("95 mm = 9.5 cm", reply)
    assert (await _draft_answers(bot))["tumor_size_cm"] == 9.5


async def test_typing_at_the_exclusion_screen_answers_nothing(bot: BotUnderTest) -> None:
    """While "⛔ … stop or continue?" is shown, typed text is no answer; "Change this answer"
    undoes the excluding answer, saying so, and the reason stays in the chat."""
    surgeon = await _surgeon(bot)
    await answer_all_until(surgeon, "origin")
    failed = await surgeon.presses("GI tract")
    assert "EXC-01" in failed["text"]
    reply = await surgeon.says("No")
    assert "Please choose with the buttons first" in reply["text"]
    assert "EXC-01" in reply["text"]
    answers = await _draft_answers(bot)
    assert answers["origin"] == "gi_tract" and "prior_resection" not in answers
    reply = await surgeon.presses("✏ Change this answer", reply)
    assert "↩ Undid: Origin: GI tract" in reply["text"]
    assert "origin" not in await _draft_answers(bot)
    kept = bot.server.chats[SURGEON].messages[reply["message_id"] - 1]
    assert "EXC-01" in kept["text"] and not kept.get("reply_markup")
    reply = await surgeon.presses("Retroperitoneum", reply)
    assert "previous surgical resection" in reply["text"]


async def test_a_name_as_screening_number_needs_its_confirmation(bot: BotUnderTest) -> None:
    """ "Li Wei" is questioned and not stored; "Retype" asks again; confirmed, it is stored."""
    surgeon = await _surgeon(bot)
    reply = await surgeon.says("Li Wei")
    assert "looks like a name" in reply["text"]
    assert surgeon.buttons(reply) == ["It is the number", "✏ Retype"]
    with sqlite3.connect(bot.database) as db:
        stored = " ".join(str(row) for row in db.execute("SELECT * FROM referrals"))
        stored += " ".join(str(row) for row in db.execute("SELECT * FROM audit"))
    assert "Li Wei" not in stored
    reply = await surgeon.presses("✏ Retype", reply)
    assert "screening number" in reply["text"]
    reply = await surgeon.says("张三")
    await surgeon.presses("It is the number", reply)
    assert await _draft_answers(bot) == {"screening_number": "张三"}


async def test_every_input_gets_an_answer(bot: BotUnderTest) -> None:
    """Stickers, photos, locations get a line saying what is expected; forged or malformed
    button data get "This button is no longer valid", never Python's words."""
    surgeon = await _surgeon(bot)
    for content in (
        {"sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1,
                     "height": 1, "is_animated": False, "is_video": False}},
        {"location": {"latitude": 31.2, "longitude": 121.5}},
        {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]},
    ):  # fmt: skip
        await bot.handled(await bot.server.user_sends(surgeon.user, content))
        assert "I can only read typed text" in surgeon.last()["text"]
    question = surgeon.last()
    for data in (
        "o:abc", "a:99999999999999999999:1:1:1", "a:1:0:0", "m:1:zz", "k:-1:x:y:0", "garbage",
        "a:1:0:0:0:0", "e:-1:0:99999", "d:1:0:2", "l:xx", "s:1:nan",
    ):  # fmt: skip
        alert = await _alert_after(bot, await bot.server.press_data(surgeon.user, question, data))
        assert (
            alert
            in (
                "This button is no longer valid.",
                "That button belongs to a referral that is no longer in progress.",
            )
            or "coordinators" in alert
        )
        assert "Error" not in alert and "invalid literal" not in alert
    assert await _draft_answers(bot) == {}


async def test_forged_presses_of_buttons_never_offered_record_nothing(bot: BotUnderTest) -> None:
    """The current screen's number with an action it does not offer — submit with 2 of 28
    answers, stop with nothing failing, a verdict mid-dialogue, a rows screen's shortcut on a
    question of its own — is refused and audited."""
    surgeon = await _surgeon(bot)
    await surgeon.says("S-1")
    await surgeon.says("61")
    question = surgeon.last()
    store = await Store.open(bot.database)
    try:
        draft = await store.draft_of(SURGEON)
    finally:
        await store.close()
    assert draft is not None
    for code in ("s", "x", "c", "v", "r", "f"):
        data = f"{code}:{draft.id}:{draft.state.screen}"
        alert = await _alert_after(bot, await bot.server.press_data(surgeon.user, question, data))
        assert "you are on question 3 now" in alert
    store = await Store.open(bot.database)
    try:
        draft_after = await store.draft_of(SURGEON)
        refused = [r for r in await store.audit_rows() if r.action == "press_refused"]
    finally:
        await store.close()
    assert draft_after is not None and draft_after.status == "draft"
    assert draft_after.state == draft.state
    assert [r.detail["press"] for r in refused] == ["s", "x", "c", "v", "r", "f"]
    assert bot.server.bot_messages(MDT_CHAT) == []  # nothing reached the MDT


async def test_handled_updates_are_forgotten_after_two_days(bot: BotUnderTest) -> None:
    """The table of handled updates stays bounded while the bot runs: an hourly job drops the
    records older than two days (Telegram redelivers for at most one)."""
    assert bot.application is not None and bot.application.job_queue is not None
    [job] = bot.application.job_queue.get_jobs_by_name("forget_handled")
    surgeon = await _surgeon(bot)
    await surgeon.says("S-1")
    with sqlite3.connect(bot.database) as db:
        db.execute("UPDATE handled_updates SET handled_at = '2026-01-01T00:00:00+00:00'")
        (before,) = db.execute("SELECT COUNT(*) FROM handled_updates").fetchone()
    assert before >= 2
    await job.run(bot.application)  # what the JobQueue runs hourly
    with sqlite3.connect(bot.database) as db:
        assert db.execute("SELECT COUNT(*) FROM handled_updates").fetchone() == (0,)
