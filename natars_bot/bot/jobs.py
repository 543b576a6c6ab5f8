"""The bot's repeating jobs (python-telegram-bot's JobQueue): the outbox worker, the reminder
check and the audit trail head's daily publication. Due times live in the database, so
nothing is lost when the bot restarts: JobQueue jobs themselves are not persisted.
"""

from __future__ import annotations

from telegram.ext import Application, ContextTypes

from natars_bot.bot.delivery import flush_outbox, message_to, summary_again
from natars_bot.bot.mdt_screens import compose_reminder
from natars_bot.bot.services import Services
from natars_bot.store.backup import write_anchor

__all__ = ["publish_head", "schedule", "send_reminders"]


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
    day = 24 * 3600.0
    queue.run_repeating(_publish_daily, interval=day, first=day, name="audit-head")


async def publish_head(services: Services, occasion: str) -> None:
    """Publish the audit trail's head where a database writer cannot reach it: to each
    admin's private chat (Telegram keeps it), and beside the database (`<database>.anchor`,
    which a restore must not fall behind). `natars-bot audit verify --anchor` with any head
    published fails on a trail truncated or rewritten since."""
    store = services.store
    anchor = await store.audit_head()
    if store.path is not None:
        write_anchor(store.path, anchor)
    language = services.flow.languages[0]
    text = str(
        services.wording.text(
            language,
            "audit_head_notice",
            anchor=str(anchor),
            occasion=services.wording.text(language, f"audit_head_{occasion}"),
        )
    )
    await store.queue([message_to(admin, text) for admin in await store.admins()])


async def _publish_daily(context: ContextTypes.DEFAULT_TYPE) -> None:
    services: Services = context.bot_data["services"]
    await publish_head(services, "daily")
    await flush_outbox(context)


async def send_reminders(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Re-announce undecided cases whose reminder is due; re-post a summary that never arrived."""
    services: Services = context.bot_data["services"]
    store = services.store
    now = services.clock()
    for submission in await store.due_reminders():
        ballots = await store.ballots(submission.id)
        if await store.summary_message(submission.id) is None:
            outgoing = await summary_again(services, submission)
        else:
            outgoing = [compose_reminder(services, submission, ballots, now)]
        await store.record_reminder(submission, now + services.reminder_delay, outgoing)
    await flush_outbox(context)
