"""Handlers of the MDT group: votes by button, reasons by reply, and the surgeon's update after
"need more information". Thin: load → pure decision (natars_bot.mdt) → one store transaction
that also queues the messages → kick the outbox.
"""

from __future__ import annotations

import logging

from markupsafe import Markup
from telegram import ForceReply, Message, ReplyParameters, Update
from telegram.constants import ParseMode

from ..errors import StoreError
from ..mdt import Ballot, Vote, decide
from ..store import SubmissionRow
from .callbacks import Reopen, decode
from .callbacks import Vote as VotePress
from .cases import previous_submission, surgeon_name
from .delivery import kick
from .mdt_screens import VOTE_CODES, compose_decision, compose_tally
from .presses import on_invalid_button
from .screens import referral_label, review_screen
from .services import BotContext, Services
from .triage import plain, show_screen, surgeon_or_refuse

__all__ = ["on_reason", "on_reopen", "on_vote"]

log = logging.getLogger(__name__)


async def on_vote(update: Update, context: BotContext) -> None:
    """A reviewer's button under a summary: recorded at once, or a reason asked for first."""
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
    if "reviewer" not in await services.store.roles_of(user.id):
        await query.answer(str(wording.text(language, "vote_not_reviewer")), show_alert=True)
        return
    try:
        submission = await services.store.submission(press.submission)
    except StoreError:
        submission = None
    if submission is None or submission.decision is not None:
        await query.answer(str(wording.text(language, "vote_decided")), show_alert=True)
        return
    if isinstance(query.message, Message) and submission.mdt_message_id is None:
        # A post that timed out may still have arrived: a press under it tells us its id.
        await services.store.summary_seen(
            submission.id, query.message.chat.id, query.message.message_id
        )
    vote_label = str(wording.text(language, f"vote_{vote.value}"))
    if vote.needs_reason:
        await _ask_reason(context, query.message, submission, user.id, user.full_name, vote)
        await query.answer(str(wording.text(language, "reason_asked")))
        return
    await _record(context, submission, user.id, vote, None)
    await query.answer(str(wording.text(language, "vote_recorded", vote=vote_label)))


async def _ask_reason(
    context: BotContext,
    message: object,
    submission: SubmissionRow,
    reviewer_id: int,
    reviewer: str,
    vote: Vote,
) -> None:
    """Not eligible / Need more information: the vote counts once the reviewer replies."""
    services = context.services
    language = services.mdt_language
    chat_id = message.chat.id if isinstance(message, Message) else services.mdt_chat_id
    if chat_id is None:
        return
    # A text mention makes the selective ForceReply open the reply box for this reviewer only.
    mention = Markup('<a href="tg://user?id={}">{}</a>').format(reviewer_id, reviewer)
    text = services.wording.text(
        language,
        "reason_prompt",
        reviewer=mention,
        vote=services.wording.text(language, f"vote_{vote.value}"),
        referral=submission.public_id,
    )
    reply = ReplyParameters(message.message_id) if isinstance(message, Message) else None
    # ForceReply opens the reply box; in groups, privacy mode still lets replies to the bot through.
    prompt = await context.bot.send_message(
        chat_id,
        text,
        parse_mode=ParseMode.HTML,
        reply_markup=ForceReply(selective=True),
        reply_parameters=reply,
    )
    await services.store.add_reason_prompt(
        chat_id, prompt.message_id, submission.id, reviewer_id, vote
    )


async def on_reason(update: Update, context: BotContext) -> None:
    """A reply to a reason prompt, from the reviewer it asked: the vote is recorded with it."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or message.reply_to_message is None:
        return
    services = context.services
    asked = await services.store.reason_prompt(message.chat.id, message.reply_to_message.message_id)
    if asked is None:
        return  # a reply to something else: not ours
    submission_id, reviewer_id, vote = asked
    if user.id != reviewer_id:
        return
    reason = " ".join((message.text or "").split())[:500]
    if not reason:
        await message.reply_text(str(services.wording.text(services.mdt_language, "reason_empty")))
        return
    submission = await services.store.submission(submission_id)
    if submission.decision is not None:
        return
    await _record(context, submission, reviewer_id, vote, reason)


async def _record(
    context: BotContext, submission: SubmissionRow, reviewer_id: int, vote: Vote, reason: str | None
) -> None:
    """Record the vote, decide, and queue the tally (and the decision notice) in one transaction."""
    services = context.services
    store = services.store
    earlier = [b for b in await store.ballots(submission.id) if b.reviewer_id != reviewer_id]
    mine = Ballot(reviewer_id, await _reviewer(services, reviewer_id), vote, reason, store.now())
    ballots = [*earlier, mine]
    decision = decide(ballots, services.quorum)
    previous = await previous_submission(store, submission)
    surgeon = await surgeon_name(store, submission.surgeon_id)
    outgoing = [compose_tally(services, submission, previous, surgeon, ballots, decision)]
    if decision is not None:
        language = await store.language_of(submission.surgeon_id) or services.flow.languages[0]
        outgoing.append(compose_decision(services, submission, ballots, decision, language))
    try:
        await store.record_vote(
            submission, reviewer_id, vote, reason, decision=decision, outgoing=outgoing
        )
    except StoreError as exc:
        log.info("vote not recorded: %s", exc)
        return
    kick(context)


async def _reviewer(services: Services, reviewer_id: int) -> str:
    user = (await services.store.roles_of(reviewer_id)).get("reviewer")
    return user.name if user is not None and user.name else f"reviewer {reviewer_id}"


async def on_reopen(update: Update, context: BotContext) -> None:
    """ "Update the referral" after the MDT asked for more: a new version, opened at the review."""
    query = update.callback_query
    found = await surgeon_or_refuse(update, context)
    if query is None or query.data is None or found is None:
        return
    user, language = found
    services = context.services
    press = decode(query.data)
    if not isinstance(press, Reopen):
        await on_invalid_button(update, context)
        return
    try:
        referral = await services.store.referral(press.referral)
        if referral.surgeon_id != user.telegram_id:
            raise StoreError("not this surgeon's referral")
        if referral.version != press.version or referral.status != "more_info":
            # A button of an earlier request, answered since by a resubmitted version.
            await query.answer(
                plain(services.wording.text(language, "stale_other")), show_alert=True
            )
            return
        referral = await services.store.reopen(referral, actor=str(user.telegram_id))
    except StoreError as exc:
        await query.answer(str(exc)[:200], show_alert=True)
        return
    await query.answer()
    chat_id = update.effective_chat.id if update.effective_chat else user.telegram_id
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
