"""Handlers of the MDT group: votes by button (reasons: reasons.py), and the surgeon's update after
"need more information". Thin: load → pure decision (natars_bot.mdt.rules) → one store transaction
that also queues the messages → kick the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from markupsafe import Markup
from telegram import CallbackQuery, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from natars_bot.bot.callbacks import Reopen, decode
from natars_bot.bot.callbacks import Vote as VotePress
from natars_bot.bot.mdt_screens import VOTE_CODES
from natars_bot.bot.people import plain, surgeon_or_refuse
from natars_bot.bot.presses import answer_quietly, on_invalid_button
from natars_bot.bot.reasons import ask_reason
from natars_bot.bot.screens import referral_label, review_screen
from natars_bot.bot.services import BotContext, Services
from natars_bot.bot.showing import show_screen
from natars_bot.bot.updates import hand_over
from natars_bot.bot.votes import record_vote
from natars_bot.errors import StoreError
from natars_bot.mdt.authority import Refusal, VoteFacts, vote_refusal
from natars_bot.store import SubmissionRow

__all__ = ["on_reopen", "on_vote"]

log = logging.getLogger(__name__)


async def on_vote(update: Update, context: BotContext) -> None:
    """A reviewer's button under a summary: recorded at once, or a reason asked for first.

    Authority comes from the stored state (natars_bot.mdt.authority), never from the button's data,
    which only names the submission and the vote; each refusal is one line to the presser and
    one audit row.
    """
    query = update.callback_query
    user = update.effective_user
    if query is None or query.data is None or user is None:
        return
    services = context.services
    wording, language = services.wording, services.mdt_language
    press = decode(query.data)
    vote = VOTE_CODES.get(press.vote) if isinstance(press, VotePress) else None
    if not isinstance(press, VotePress) or vote is None:
        await on_invalid_button(update, context)
        return
    roles = context.person.roles
    try:
        submission: SubmissionRow | None = await services.store.submission(press.submission)
    except StoreError:
        submission = None
    message = query.message if isinstance(query.message, Message) else None
    facts = await _facts(services, roles, submission, message, query.data, user.id)
    refusal = vote_refusal(facts)
    if refusal is not None or submission is None:  # no submission is refused as decided
        await _refuse(
            services, query, user.id, roles, refusal or Refusal.decided, submission, press
        )
        if refusal is Refusal.wrong_message and facts.carries_button and submission is not None:
            await _retire(context, message, submission)
        return
    if message is not None and submission.mdt_message_id is None:
        # A post that timed out may still have arrived: a press under it tells us its id.
        await services.store.summary_seen(submission.id, message.chat.id, message.message_id)
    vote_label = str(wording.text(language, f"vote_{vote.value}"))
    if vote.needs_reason:
        privately = await ask_reason(context, message, submission, user.id, user.full_name, vote)
        asked = "reason_asked_private" if privately else "reason_asked"
        await query.answer(
            str(wording.text(context.person.language if privately else language, asked))
        )
        return
    recorded = await record_vote(context, submission, user.id, vote, None)
    # The vote is committed (or refused with nothing written), its tally queued: the group's
    # next press may start while Telegram takes this one's answer (~100 ms). Holding the
    # group for it made every reviewer's press wait for the one before it to be answered.
    hand_over(context.application, update)
    if recorded:
        # The vote is committed: a failed answer must not put an error into the group.
        await answer_quietly(query, str(wording.text(language, "vote_recorded", vote=vote_label)))
    else:
        await query.answer(str(wording.text(language, "vote_decided")), show_alert=True)


async def _facts(
    services: Services,
    roles: Mapping[str, object],
    submission: SubmissionRow | None,
    message: Message | None,
    data: str,
    user_id: int,
) -> VoteFacts:
    """The stored state a press is judged by (and what Telegram says was pressed)."""
    current = False
    if submission is not None:
        latest = await services.store.submissions_of(submission.referral_id)
        current = bool(latest) and latest[-1].id == submission.id
    keyboard = message.reply_markup if message is not None else None
    carries = keyboard is not None and any(
        button.callback_data == data for row in keyboard.inline_keyboard for button in row
    )
    return VoteFacts(
        is_reviewer="reviewer" in roles,
        pressed_chat=message.chat.id if message is not None else None,
        pressed_message=message.message_id if message is not None else None,
        mdt_chat=services.mdt_chat_id,
        decided=submission is None or submission.decision is not None,
        current_version=current,
        summary_chat=submission.mdt_chat_id if submission is not None else None,
        summary_message=submission.mdt_message_id if submission is not None else None,
        carries_button=carries,
        is_submitter=submission is not None and submission.surgeon_id == user_id,
    )


async def _refuse(
    services: Services,
    query: CallbackQuery,
    user_id: int,
    roles: Mapping[str, object],
    refusal: Refusal,
    submission: SubmissionRow | None,
    press: VotePress,
) -> None:
    """One line to the presser, one audit row (rate-limited for strangers)."""
    message = query.message if isinstance(query.message, Message) else None
    await services.store.record_refusal(
        user_id,
        "vote_refused",
        {
            "reason": refusal.value,
            "submission": press.submission,
            "vote": press.vote,
            "chat_id": message.chat.id if message is not None else None,
            "message_id": message.message_id if message is not None else None,
        },
        registered=bool(roles),
        referral=submission.public_id if submission is not None else None,
    )
    await query.answer(
        str(services.wording.text(services.mdt_language, _REFUSAL_TEXT[refusal])), show_alert=True
    )


async def _retire(context: BotContext, message: Message | None, submission: SubmissionRow) -> None:
    """A copy of a summary that is not the live one (a re-post after an uncertain post made it
    redundant), pressed: its buttons go and it points to the live copy. Best effort: the
    press is refused either way, and a copy that cannot be edited changes no vote."""
    if message is None:
        return
    text = context.services.wording.text(
        context.services.mdt_language, "summary_retired", referral=submission.public_id
    )
    try:
        await context.bot.edit_message_text(
            str(text), message.chat.id, message.message_id, parse_mode=ParseMode.HTML
        )
    except TelegramError as exc:
        log.info("could not retire an old copy of %s: %s", submission.public_id, exc)


_REFUSAL_TEXT = {
    Refusal.not_reviewer: "vote_not_reviewer",
    Refusal.decided: "vote_decided",
    Refusal.wrong_chat: "vote_wrong_chat",
    Refusal.not_current: "vote_not_current",
    Refusal.wrong_message: "vote_wrong_message",
    Refusal.own_referral: "vote_own_referral",
}


async def on_reopen(update: Update, context: BotContext) -> None:
    """ "Update the referral" after the MDT asked for more: a new version, opened at the review."""
    query = update.callback_query
    surgeon = await surgeon_or_refuse(update, context)
    if query is None or query.data is None or surgeon is None or surgeon.telegram_id is None:
        return
    user_id, language = surgeon.telegram_id, surgeon.language
    services = context.services
    press = decode(query.data)
    if not isinstance(press, Reopen):
        await on_invalid_button(update, context)
        return
    try:
        referral = await services.store.referral(press.referral)
        if referral.surgeon_id != user_id:
            raise StoreError("not this surgeon's referral")
        if referral.version != press.version or referral.status != "more_info":
            # A button of an earlier request, answered since by a resubmitted version.
            await query.answer(
                plain(services.wording.text(language, "stale_other")), show_alert=True
            )
            return
        referral = await services.store.reopen(referral, actor=str(user_id))
    except StoreError as exc:
        await query.answer(str(exc)[:200], show_alert=True)
        return
    await query.answer()
    chat_id = surgeon.chat_id if surgeon.chat_id is not None else user_id
    notice = services.wording.text(
        language,
        "reopened",
        referral=referral_label(services, language, referral.public_id, referral.state),
        version=referral.version,
    )
    text, markup = review_screen(services, language, referral)
    await show_screen(
        context,
        referral,
        chat_id,
        (Markup(f"{notice}\n\n") + Markup(text), markup),
        edit_message=None,
    )
