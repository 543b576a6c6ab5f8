"""Reliable delivery: the outbox worker (its jobs are scheduled in jobs.py).

Delivery rules, for messages that matter (MDT summaries, tally edits, decisions, reminders):
- RetryAfter (429): wait as long as Telegram says, and pause the whole outbox meanwhile;
- connection failures, connect timeouts and 5xx: retry with exponential backoff (up to a minute);
- a read timeout, or a connection lost once the request was sent, on a *post*: it may have
  arrived, so it is marked `uncertain` and never sent again as it is. A summary is re-posted
  after NATARS_UNCERTAIN_REPOST_SECONDS, saying so, unless a press under the first copy showed
  it arrived; a private notice is retried (a duplicate is harmless, a missing decision is not);
  an *edit* is simply retried, since editing twice changes nothing;
- a post is marked as being sent (committed) before its call: after a crash such a row is
  reconciled as uncertain at start-up (reconcile_interrupted), never posted again blindly;
- ChatMigrated (the MDT group became a supergroup): the new chat id is stored and audited,
  the admins told, undecided summaries re-posted there, and the row retried at once;
- a refusal (400/403), or MAX_ATTEMPTS failed tries, marks the row failed and tells the admins;
  every other row flows on.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from datetime import timedelta

import httpx
from telegram import InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from natars_bot.bot.cases import previous_submission, surgeon_name
from natars_bot.bot.mdt_screens import compose_summary, compose_tally
from natars_bot.bot.services import BotContext, Services
from natars_bot.settings import Settings
from natars_bot.store import OutboxRow, Outgoing, SubmissionRow

__all__ = [
    "MAX_ATTEMPTS",
    "flush_outbox",
    "kick",
    "message_to",
    "reconcile_interrupted",
    "retry_delay",
    "summary_again",
]

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0
# Retries of one row before it is marked failed and the admins told (about 5 minutes of
# backoff); a flood wait or a moved chat does not count.
MAX_ATTEMPTS = 10


def kick(context: BotContext) -> None:
    """Deliver what was just queued now rather than at the next interval.

    A task of the application's (its errors reach the error handler like a job's) rather than
    a one-off JobQueue job: scheduling a job through APScheduler cost ~1 ms of CPU per vote in
    benchmarks/load.py, and the outbox's own delivery lock already keeps flushes apart.
    """
    context.application.create_task(flush_outbox(context), name="outbox-now")


async def flush_outbox(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send every due outbox message, in order, until done or Telegram asks to wait."""
    services: Services = context.bot_data["services"]
    # A kick runs in a task created by a handler, with a copy of its context: the outbox's
    # own writes are not that update's (an update whose transaction failed must not count
    # as handled because the error alert's delivery was recorded).
    services.store.handling_none()
    async with services.delivery_lock:  # the repeating job and a kick must not send twice
        # A delivery may queue a follow-up due at once (a summary's buttons, a move to a new
        # chat): a few passes deliver those without waiting for the next run of the job.
        for _ in range(3):
            rows = await services.store.due_outbox()
            for row in rows:
                if not await _deliver(context, services, row):
                    return
            if not rows:
                return


async def _deliver(context: ContextTypes.DEFAULT_TYPE, services: Services, row: OutboxRow) -> bool:
    """Try one message; False when the rest of the outbox should wait (Telegram asked us to,
    or the connection is down). Every TelegramError ends here, with this row alone marked
    (retried with backoff, or failed at MAX_ATTEMPTS with the admins told): no row can stop
    the rows behind it for longer than one pass."""
    store = services.store
    chat_id = row.chat_id if row.chat_id is not None else services.mdt_chat_id
    if chat_id is None:
        log.warning("NATARS_MDT_CHAT_ID is not set: MDT message %d waits", row.id)
        await store.outbox_retry(row, MAX_BACKOFF, "NATARS_MDT_CHAT_ID is not set", count=False)
        return True
    if _summary_post(row) and await store.earlier_part_pending(row):
        # A long summary's parts in order: its leading part backed off (a 502, say), so the
        # part with the buttons waits for it rather than going first alone.
        await store.outbox_retry(row, 1.0, "an earlier part is not posted yet", count=False)
        return True
    summary = await store.summary_message(row.submission_id) if row.submission_id else None
    if summary is not None and _summary_post(row):
        # A re-post whose first copy turned up meanwhile (a press under it told us its id).
        await store.outbox_superseded(row)
        return True
    try:
        await _send(context, services, row, chat_id, summary)
        return True
    except RetryAfter as exc:
        delay, error = retry_delay(exc), str(exc)
        log.info("Telegram asks to wait %.0f s before message %d", delay, row.id)
        await store.outbox_retry(row, delay, error, count=False)
        return False
    except ChatMigrated as exc:
        await _migrated(services, row, summary[0] if summary else chat_id, int(exc.new_chat_id))
        return True
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            await store.outbox_sent(row, chat_id, summary[1] if summary else None)
            return True
        log.error("message %d refused by Telegram: %s", row.id, exc.message)
        await _fail(services, row, exc.message)
        return True
    except Forbidden as exc:
        log.error("message %d forbidden (bot removed or blocked?): %s", row.id, exc.message)
        await _fail(services, row, exc.message)
        return True
    except TimedOut as exc:
        if _before_sending(exc) or row.kind == "tally":
            await _retry_or_fail(services, row, f"timed out: {exc}")
            return False
        log.warning("message %d timed out after sending: it may have arrived", row.id)
        await _uncertain(services, row, f"read timeout: {exc}", _repost_after(context))
        return True
    except NetworkError as exc:  # connection refused, 5xx, …: the link, not this row
        if _after_sending(exc) and row.kind != "tally":
            log.warning("message %d: connection lost after sending; it may have arrived", row.id)
            await _uncertain(
                services, row, f"connection lost: {exc.message}", _repost_after(context)
            )
            return True
        log.info("message %d not delivered yet (%s); retrying", row.id, exc.message)
        await _retry_or_fail(services, row, exc.message)
        return False
    except TelegramError as exc:  # anything else Telegram says: this row's problem only
        log.warning("message %d not delivered (%s); retrying", row.id, exc.message)
        await _retry_or_fail(services, row, exc.message)
        return True


async def _send(
    context: ContextTypes.DEFAULT_TYPE,
    services: Services,
    row: OutboxRow,
    chat_id: int,
    summary: tuple[int, int] | None,
) -> None:
    """The Bot API call of one row, and its success recorded."""
    store = services.store
    markup = InlineKeyboardMarkup.de_json(row.markup, context.bot) if row.markup else None
    if row.kind == "tally":
        if summary is None:
            await store.outbox_retry(row, 2.0, "the summary is not posted yet", count=False)
            return
        await context.bot.edit_message_text(
            row.text, summary[0], summary[1], parse_mode=ParseMode.HTML, reply_markup=markup
        )
        await store.outbox_sent(row, summary[0], summary[1])
        return
    reply = None
    if row.reply_to_summary and summary is not None:
        reply = ReplyParameters(summary[1], allow_sending_without_reply=True)
    # A summary is posted without its vote buttons, which are added by an edit once its
    # message id is known: a copy whose post timed out (or whose bot died mid-call) and was
    # posted again never has live buttons, so there is never a second copy to vote on.
    buttons_later = row.kind == "summary" and markup is not None
    # Committed before the call: if the bot dies during it, the restart knows that this post
    # may have reached Telegram (reconcile_interrupted).
    await store.outbox_sending(row)
    message = await context.bot.send_message(
        chat_id,
        row.text,
        parse_mode=ParseMode.HTML,
        reply_markup=None if buttons_later else markup,
        reply_parameters=reply,
    )
    buttons = Outgoing(kind="tally", text=row.text, markup=row.markup) if buttons_later else None
    await store.outbox_sent(row, chat_id, message.message_id, buttons=buttons)


def _repost_after(context: ContextTypes.DEFAULT_TYPE) -> float:
    settings: Settings = context.bot_data["settings"]
    return settings.uncertain_repost_seconds


def _summary_post(row: OutboxRow) -> bool:
    """Whether a row posts (part of) a summary: the summary itself, or a leading part (an MDT
    message of a submission that is no reply to the summary)."""
    return row.kind == "summary" or (
        row.kind == "message"
        and row.chat_id is None
        and row.submission_id is not None
        and not row.reply_to_summary
    )


async def _uncertain(services: Services, row: OutboxRow, error: str, repost_after: float) -> None:
    """A post that may have arrived. A private notice is simply sent again (a duplicate is
    harmless, a missing decision is not). A summary is posted again after a few minutes,
    saying so, unless a press under the first copy shows it arrived; presses under a copy
    that is not the live one are refused and that copy retired (mdt.on_vote). Other MDT
    messages (a summary's leading part, a reminder) are left: the summary's row decides."""
    store = services.store
    if row.chat_id is not None:
        await store.outbox_retry(row, _backoff(row), error)
        return
    repost: list[Outgoing] = []
    if row.kind == "summary" and row.submission_id is not None:
        submission = await store.submission(row.submission_id)
        repost = await summary_again(services, submission, reposted=True)
    await store.outbox_uncertain(row, error, repost=repost, delay=repost_after)


async def reconcile_interrupted(application: Application) -> None:  # type: ignore[type-arg]
    """At start-up: rows whose call began before the bot stopped are uncertain, not pending
    (they may have reached Telegram); an edit is simply done again."""
    services: Services = application.bot_data["services"]
    settings: Settings = application.bot_data["settings"]
    for row in await services.store.interrupted_sends():
        if row.kind == "tally":
            await services.store.outbox_retry(row, 0.0, "interrupted", count=False)
        else:
            log.warning("message %d was being sent when the bot stopped: uncertain", row.id)
            error = "interrupted: the bot stopped during the call"
            await _uncertain(services, row, error, settings.uncertain_repost_seconds)


async def _retry_or_fail(services: Services, row: OutboxRow, error: str) -> None:
    """Back off and retry, up to MAX_ATTEMPTS; then the row is failed and the admins told."""
    if row.attempts + 1 >= MAX_ATTEMPTS:
        await _fail(services, row, error)
    else:
        await services.store.outbox_retry(row, _backoff(row), error)


async def _fail(services: Services, row: OutboxRow, error: str) -> None:
    """Mark a row failed and queue an alert to each admin (an alert that fails alerts no one:
    no loop)."""
    admins = await services.store.admins()
    language = services.flow.languages[0]
    text = services.wording.text(
        language,
        "outbox_failed_alert",
        id=row.id,
        kind=row.kind,
        chat=row.chat_id if row.chat_id is not None else "MDT",
        error=error[:300],
    )
    alerts = [] if row.chat_id in admins else [message_to(admin, str(text)) for admin in admins]
    await services.store.outbox_failed(row, error, alerts)


async def _migrated(services: Services, row: OutboxRow, old: int, new: int) -> None:
    """Telegram moved a chat (a group upgraded to a supergroup). The MDT chat's move is stored
    and audited, the admins told, undecided cases' summaries re-posted there (the old chat takes
    no edits or votes), and the row retried at once; any other chat's row cannot follow."""
    store = services.store
    if row.chat_id is not None or old != services.mdt_chat_id:
        await _fail(services, row, f"chat {old} moved to {new}")
        return
    log.warning("the MDT chat %d moved to %d: set NATARS_MDT_CHAT_ID=%d", old, new, new)
    reposts = {}
    for submission_id in await store.undecided_in(old):
        submission = await store.submission(submission_id)
        reposts[submission_id] = await summary_again(services, submission)
    language = services.flow.languages[0]
    text = str(services.wording.text(language, "mdt_chat_moved_alert", old=old, new=new))
    notices = [message_to(admin, text) for admin in await store.admins()]
    await store.migrate_mdt_chat(old, new, reposts=reposts, notices=notices)
    services.mdt_chat_id = new
    await store.outbox_retry(row, 0.0, f"chat moved to {new}", count=False)


async def summary_again(
    services: Services, submission: SubmissionRow, *, reposted: bool = False
) -> list[Outgoing]:
    """A submission's summary as a new post, its tally as it stands now following it;
    `reposted` opens it with a line saying the first copy may not have arrived."""
    store = services.store
    previous = await previous_submission(store, submission)
    surgeon = await surgeon_name(services, submission.surgeon_id)
    outgoing = compose_summary(services, submission, previous, surgeon)
    if reposted:
        note = services.wording.text(services.mdt_language, "summary_reposted")
        outgoing[0] = replace(outgoing[0], text=f"{note}\n\n{outgoing[0].text}")
    ballots = await store.ballots(submission.id)
    discounted = await store.discounted_ballots(submission.id)
    if ballots or discounted:
        outgoing.append(
            compose_tally(
                services, submission, previous, surgeon, ballots, None, discounted=discounted
            )
        )
    return outgoing


def message_to(chat_id: int, text: str) -> Outgoing:
    """A plain message to one chat (an admin's alert, say), for the outbox."""
    return Outgoing(kind="message", text=text, chat_id=chat_id)


def retry_delay(exc: RetryAfter) -> float:
    """Seconds Telegram asks to wait."""
    with warnings.catch_warnings():
        # ptb 22 warns that retry_after will become a timedelta; both are handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def _before_sending(exc: TimedOut) -> bool:
    """Whether a timeout happened before the request could have reached Telegram."""
    cause = exc.__cause__
    return isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout)


def _after_sending(exc: NetworkError) -> bool:
    """Whether a connection failure came once the request was (perhaps wholly) sent: the
    server may have processed it, as after a read timeout."""
    cause = exc.__cause__
    return isinstance(cause, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError)


def _backoff(row: OutboxRow) -> float:
    return min(MAX_BACKOFF, 0.5 * 2.0 ** min(row.attempts, 8))
