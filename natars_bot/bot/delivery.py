"""Reliable delivery: the outbox worker and the reminder job (python-telegram-bot's JobQueue).

Delivery rules, for messages that matter (MDT summaries, tally edits, decisions, reminders):
- RetryAfter (429): wait as long as Telegram says, and pause the whole outbox meanwhile;
- connection failures, connect timeouts and 5xx: retry with exponential backoff (up to a minute);
- a read timeout on a *post*: it may have arrived, so it is marked `uncertain` and never posted
  again blindly (the reminder re-posts an undecided case whose summary never got a message id);
  an *edit* is simply retried, since editing twice changes nothing;
- a refusal (400/403) is final and logged.
"""

from __future__ import annotations

import logging
import warnings
from datetime import UTC, datetime, timedelta

import httpx
from telegram import InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from ..store import OutboxRow
from .cases import previous_submission, surgeon_name
from .mdt_screens import compose_reminder, compose_summary
from .services import BotContext, Services

__all__ = ["flush_outbox", "kick", "schedule", "send_reminders"]

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0


def schedule(
    application: Application,  # type: ignore[type-arg]
    outbox_interval: float,
    reminder_interval: float,
) -> None:
    """Start the outbox worker and the reminder check (due times live in the database, so
    nothing is lost when the bot restarts: JobQueue jobs themselves are not persisted)."""
    queue = application.job_queue
    if queue is None:  # pragma: no cover - the job-queue extra is a dependency
        raise RuntimeError("python-telegram-bot's job-queue extra is not installed")
    queue.run_repeating(flush_outbox, interval=outbox_interval, first=0, name="outbox")
    queue.run_repeating(send_reminders, interval=reminder_interval, first=1, name="reminders")


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
    async with services.delivery_lock:  # the repeating job and a kick must not send twice
        for row in await services.store.due_outbox():
            if not await _deliver(context, services, row):
                break


async def _deliver(context: ContextTypes.DEFAULT_TYPE, services: Services, row: OutboxRow) -> bool:
    """Try one message; False when the rest of the outbox should wait."""
    store = services.store
    chat_id = row.chat_id if row.chat_id is not None else services.mdt_chat_id
    if chat_id is None:
        log.warning("NATARS_MDT_CHAT_ID is not set: MDT message %d waits", row.id)
        await store.outbox_retry(row, MAX_BACKOFF, "NATARS_MDT_CHAT_ID is not set")
        return True
    markup = InlineKeyboardMarkup.de_json(row.markup, context.bot) if row.markup else None
    summary = await store.summary_message(row.submission_id) if row.submission_id else None
    try:
        if row.kind == "tally":
            if summary is None:
                await store.outbox_retry(row, 2.0, "the summary is not posted yet")
                return True
            await context.bot.edit_message_text(
                row.text, summary[0], summary[1], parse_mode=ParseMode.HTML, reply_markup=markup
            )
            await store.outbox_sent(row, summary[0], summary[1])
            return True
        reply = None
        if row.reply_to_summary and summary is not None:
            reply = ReplyParameters(summary[1], allow_sending_without_reply=True)
        message = await context.bot.send_message(
            chat_id,
            row.text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_parameters=reply,
        )
        await store.outbox_sent(row, chat_id, message.message_id)
        return True
    except RetryAfter as exc:
        with warnings.catch_warnings():
            # ptb 22 warns that retry_after will become a timedelta; both are handled here.
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            wait = exc.retry_after
            error = str(exc)
        delay = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        log.info("Telegram asks to wait %.0f s before message %d", delay, row.id)
        await store.outbox_retry(row, delay, error)
        return False
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            await store.outbox_sent(row, chat_id, summary[1] if summary else None)
            return True
        log.error("message %d refused by Telegram: %s", row.id, exc.message)
        await store.outbox_give_up(row, "failed", exc.message)
        return True
    except Forbidden as exc:
        log.error("message %d forbidden (bot removed or blocked?): %s", row.id, exc.message)
        await store.outbox_give_up(row, "failed", exc.message)
        return True
    except TimedOut as exc:
        if _before_sending(exc) or row.kind == "tally":
            await store.outbox_retry(row, _backoff(row), f"timed out: {exc}")
            return False
        log.warning("message %d timed out after sending: it may have arrived; not resent", row.id)
        await store.outbox_give_up(row, "uncertain", f"read timeout: {exc}")
        return True
    except NetworkError as exc:  # connection refused, 5xx, …
        log.info("message %d not delivered yet (%s); retrying", row.id, exc.message)
        await store.outbox_retry(row, _backoff(row), exc.message)
        return False


def _before_sending(exc: TimedOut) -> bool:
    """Whether a timeout happened before the request could have reached Telegram."""
    cause = exc.__cause__
    return isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout)


def _backoff(row: OutboxRow) -> float:
    return min(MAX_BACKOFF, 0.5 * 2.0 ** min(row.attempts, 8))


async def send_reminders(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Re-announce undecided cases whose reminder is due; re-post a summary that never arrived."""
    services: Services = context.bot_data["services"]
    store = services.store
    now = datetime.now(UTC)
    for submission in await store.due_reminders():
        ballots = await store.ballots(submission.id)
        if await store.summary_message(submission.id) is None:
            previous = await previous_submission(store, submission)
            surgeon = await surgeon_name(store, submission.surgeon_id)
            outgoing = compose_summary(services, submission, previous, surgeon)
        else:
            outgoing = [compose_reminder(services, submission, ballots, now)]
        await store.record_reminder(submission, now + services.reminder_delay, outgoing)
    await flush_outbox(context)
