"""Reasons for "Not eligible" and "Need more information": asked where the reviewer will see
them, taken however the reviewer answers, and nothing a reviewer types silently dropped.

Asked privately when the reviewer has a chat with the bot ("Reply here with your reason …"):
on a phone that is one tap away, and any text the reviewer then sends there is the reason —
no reply needed. A reviewer who never started a chat with the bot cannot be written to
(Telegram answers 403), so the prompt goes to the group instead, as a reply with ForceReply
selective to them. In the group the bot sees, in privacy mode, only replies to its own
messages: a reply to the prompt is the reason; a reply to the summary or the tally from a
reviewer whose reason is pending is taken too; a reply to another reviewer's prompt, or any
other reply to the bot, gets a word saying what to do instead.

A prompt whose send timed out or lost its connection may or may not have arrived: it is sent
again (twice at most). A duplicate prompt is harmless — the pending reason is the reviewer's,
not a message's — a missing one leaves the vote unrecorded.
"""

from __future__ import annotations

import logging

from markupsafe import Markup
from telegram import ForceReply, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError

from natars_bot.bot import answering
from natars_bot.bot.services import BotContext
from natars_bot.bot.votes import record_vote
from natars_bot.dialogue.wording import Wording
from natars_bot.mdt.rules import Vote
from natars_bot.store import SubmissionRow

__all__ = ["ask_reason", "on_group_reply", "on_private_text"]

log = logging.getLogger(__name__)

SEND_TRIES = 3  # an uncertain send (timeout, dropped connection) is tried again, twice


async def ask_reason(
    context: BotContext,
    message: Message | None,
    submission: SubmissionRow,
    reviewer_id: int,
    reviewer: str,
    vote: Vote,
) -> bool:
    """Ask the reviewer for their reason; True if privately, False if in the group."""
    services = context.services
    wording = services.wording
    language = context.person.language
    text = _private_prompt(wording, language, vote, submission.public_id)
    try:
        prompt = await _send(context, reviewer_id, text, None)
    except (Forbidden, BadRequest) as exc:  # no private chat with the bot (yet)
        log.info("reason prompt in the group: no private chat with %s (%s)", reviewer_id, exc)
    else:
        await services.store.add_reason_prompt(
            reviewer_id, prompt.message_id, submission.id, reviewer_id, vote
        )
        return True
    chat_id = message.chat.id if message is not None else services.mdt_chat_id
    if chat_id is None:
        return False
    group = services.mdt_language
    # A text mention makes the selective ForceReply open the reply box for this reviewer only.
    mention = Markup('<a href="tg://user?id={}">{}</a>').format(reviewer_id, reviewer)
    text = wording.text(
        group,
        "reason_prompt",
        reviewer=mention,
        vote=wording.text(group, f"vote_{vote.value}"),
        referral=submission.public_id,
    )
    prompt = await _send(
        context, chat_id, str(text), message.message_id if message is not None else None
    )
    await services.store.add_reason_prompt(
        chat_id, prompt.message_id, submission.id, reviewer_id, vote
    )
    return False


def _private_prompt(wording: Wording, language: str, vote: Vote, referral: str) -> str:
    """ "Reply here with your reason for … on NAT-…", in the reviewer's language."""
    label = wording.text(language, f"vote_{vote.value}")
    return str(wording.text(language, "reason_prompt_private", vote=label, referral=referral))


async def _send(context: BotContext, chat_id: int, text: str, reply_to: int | None) -> Message:
    """Send a prompt, again if the send was uncertain (Forbidden and BadRequest are answers)."""
    for attempt in range(1, SEND_TRIES + 1):
        try:
            return await context.bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                # ForceReply opens the reply box; in groups, privacy mode still lets replies to
                # the bot through.
                reply_markup=ForceReply(selective=True),
                reply_parameters=ReplyParameters(reply_to) if reply_to is not None else None,
            )
        except BadRequest:
            raise
        except NetworkError as exc:  # TimedOut included: it may or may not have arrived
            if attempt == SEND_TRIES:
                raise
            log.warning("reason prompt to %s uncertain (%s): sending again", chat_id, exc)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def on_group_reply(update: Update, context: BotContext) -> None:
    """A reply in the MDT group to one of the bot's messages."""
    message = update.effective_message
    services = context.services
    person = context.person
    if (
        message is None
        or message.reply_to_message is None
        or person.telegram_id is None
        or message.chat.id != services.mdt_chat_id
    ):
        return
    replied = message.reply_to_message
    if replied.from_user is None or replied.from_user.id != context.bot.id:
        return  # people talking to each other
    wording, language = services.wording, services.mdt_language
    asked = await services.store.reason_prompt(message.chat.id, replied.message_id)
    if asked is not None:
        submission_id, reviewer_id, vote = asked
        if reviewer_id != person.telegram_id:
            await message.reply_text(str(wording.text(language, "reason_for_another")))
            return
        await _take(context, message, submission_id, reviewer_id, vote, language)
        return
    # A reply to a case's summary (or its tally, the same message) is that case's pending
    # reason, if the reviewer has one there — never another case's.
    replied_case = await services.store.submission_posted_at(message.chat.id, replied.message_id)
    pending = (
        await services.store.pending_reason(person.telegram_id, submission_id=replied_case)
        if replied_case is not None and person.has("reviewer")
        else None
    )
    if pending is not None:
        _, _, submission_id, vote = pending
        await _take(context, message, submission_id, person.telegram_id, vote, language)
        return
    await message.reply_text(str(wording.text(language, "reason_not_asked")))


async def on_private_text(update: Update, context: BotContext) -> None:
    """Text in a private chat: a pending reason of the reviewer's, if the bot's last question
    there was its prompt; otherwise a typed answer to the triage dialogue."""
    message = update.effective_message
    person = context.person
    store = context.services.store
    if message is not None and person.telegram_id is not None and person.has("reviewer"):
        # Only a prompt asked here: one asked in the group is answered there (message ids of
        # two chats cannot be compared, and a text typed here may be a surgeon's answer).
        pending = await store.pending_reason(person.telegram_id, chat_id=person.chat_id)
        # A surgeon who reviews too answers whichever question the bot asked last.
        draft_after = (
            person.draft is not None
            and pending is not None
            and (person.draft.message_id or 0) > pending[1]
        )
        if pending is not None and not draft_after:
            _, _, submission_id, vote = pending
            language = person.language
            if await _take(context, message, submission_id, person.telegram_id, vote, language):
                await _still_pending(context, message, person.telegram_id, language)
            return
    await answering.on_text(update, context)


async def _still_pending(
    context: BotContext, message: Message, reviewer_id: int, language: str
) -> None:
    """After a reason taken here: another prompt still open here is asked again, so that the
    reviewer's next text is knowingly its reason."""
    store, wording = context.services.store, context.services.wording
    pending = await store.pending_reason(reviewer_id, chat_id=message.chat.id)
    if pending is None:
        return
    submission = await store.submission(pending[2])
    text = _private_prompt(wording, language, pending[3], submission.public_id)
    await message.reply_text(text, parse_mode=ParseMode.HTML)


async def _take(
    context: BotContext,
    message: Message,
    submission_id: int,
    reviewer_id: int,
    vote: Vote,
    language: str,
) -> bool:
    """Record the vote with the text as its reason (True), or say why not."""
    services = context.services
    wording = services.wording
    reason = " ".join((message.text or "").split())[:500]
    if not reason:
        await message.reply_text(str(wording.text(language, "reason_empty")))
        return False
    submission = await services.store.submission(submission_id)
    if submission.decision is not None:
        await message.reply_text(str(wording.text(language, "vote_decided")))
        return False
    if not await record_vote(context, submission, reviewer_id, vote, reason):
        # The role was removed, or the version resubmitted, since the prompt: say so once.
        await message.reply_text(str(wording.text(language, "vote_lapsed")))
        return False
    if message.chat.type == message.chat.PRIVATE:  # in the group, the tally shows it
        text = wording.text(
            language,
            "reason_taken",
            vote=wording.text(language, f"vote_{vote.value}"),
            referral=submission.public_id,
        )
        await message.reply_text(str(text), parse_mode=ParseMode.HTML)
    return True
