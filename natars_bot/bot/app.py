"""Building and running the python-telegram-bot Application: the same code path for
`natars-bot run`, the offline sandbox and the end-to-end tests."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from natars_bot import health
from natars_bot.bot import answering, commands, coordinators, mdt, presses, reasons
from natars_bot.bot.backups import schedule_backups
from natars_bot.bot.callbacks import CasesPage, Language, Reopen, ScreenPress, Vote, decode
from natars_bot.bot.connections import bot_api_request
from natars_bot.bot.delivery import reconcile_interrupted
from natars_bot.bot.failures import on_error
from natars_bot.bot.jobs import schedule
from natars_bot.bot.menus import Menus
from natars_bot.bot.people import resolve_person
from natars_bot.bot.services import BotContext, Services
from natars_bot.bot.updates import PerChatUpdateProcessor
from natars_bot.dialogue.flow import Flow, default_flow
from natars_bot.dialogue.wording import Wording, default_wording
from natars_bot.files import private_database
from natars_bot.mdt.rules import Quorum
from natars_bot.protocol.criteria import Protocol, default_protocol
from natars_bot.settings import Settings
from natars_bot.store import Store
from natars_bot.store.backup import LiveLock

__all__ = ["build_application", "shut_down", "start_up"]

log = logging.getLogger(__name__)
# Updates in flight at once (across chats). Each waits mostly on Telegram; 32 keeps the memory
# of a burst bounded while 50 surgeons at 100 ms latency still see one round trip or two.
MAX_CONCURRENT_UPDATES = 32


def build_application(
    settings: Settings,
    *,
    flow: Flow | None = None,
    protocol: Protocol | None = None,
    wording: Wording | None = None,
) -> Application:  # type: ignore[type-arg]
    """The bot, configured from `settings`; the store is opened by `start_up` (post_init)."""
    flow = flow or default_flow()
    builder = (
        ApplicationBuilder()
        .token(settings.token())
        .base_url(settings.bot_api_url)
        .base_file_url(settings.bot_api_url.removesuffix("/bot") + "/file/bot")
        .context_types(ContextTypes(context=BotContext))
        # Different chats at once, each chat's updates in order (updates.py says why).
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
        # Bot API calls (not getUpdates, one at a time) on a pool that stays cheap with
        # ~100 calls in flight under Telegram's latency (connections.py says why).
        .request(
            bot_api_request(
                read_timeout=settings.request_timeout_seconds,
                write_timeout=settings.request_timeout_seconds,
            )
        )
        .post_init(start_up)
        .post_shutdown(shut_down)
    )
    if settings.rate_limit:
        # Telegram's flood limits: ~30 messages/s per bot, 20/min per group (off in tests).
        builder = builder.rate_limiter(AIORateLimiter())  # type: ignore[arg-type]
    application = builder.build()
    application.bot_data["settings"] = settings
    application.bot_data["parts"] = (
        flow,
        protocol or default_protocol(),
        wording or default_wording(flow.languages),
    )
    private = filters.ChatType.PRIVATE
    handlers: list[Any] = [
        CommandHandler("start", commands.on_start, filters=private),
        CommandHandler("new", commands.on_new, filters=private),
        CommandHandler(["new", "start"], commands.on_private_only, filters=~private),
        CommandHandler(["status", "cancel", "language"], commands.on_wrong_place, filters=~private),
        CommandHandler(
            ["cases", "case", "stats", "export"], _coordinators_in_a_group, filters=~private
        ),
        CommandHandler("cancel", commands.on_cancel, filters=private),
        CommandHandler("help", commands.on_help),
        CommandHandler("status", commands.on_status, filters=private),
        CommandHandler("language", commands.on_language, filters=private),
        CommandHandler("export", coordinators.on_export),
        CommandHandler("stats", coordinators.on_stats),
        CommandHandler("cases", coordinators.on_cases),
        CommandHandler("case", coordinators.on_case),
        # Every button goes through the one codec (callbacks.py); ptb routes by the type of
        # press it decodes to, and data the codec does not know get one polite alert.
        CallbackQueryHandler(mdt.on_vote, pattern=_decodes_to(Vote)),
        CallbackQueryHandler(mdt.on_reopen, pattern=_decodes_to(Reopen)),
        CallbackQueryHandler(coordinators.on_cases_page, pattern=_decodes_to(CasesPage)),
        CallbackQueryHandler(presses.on_button, pattern=_decodes_to(ScreenPress, Language)),
        CallbackQueryHandler(presses.on_invalid_button),
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, reasons.on_private_text),
        MessageHandler(
            private & ~filters.TEXT & ~filters.COMMAND & ~filters.StatusUpdate.ALL,
            answering.on_not_text,
        ),
        MessageHandler(
            filters.ChatType.GROUPS & filters.REPLY & filters.TEXT & ~filters.COMMAND,
            reasons.on_group_reply,
        ),
    ]
    application.add_handler(TypeHandler(Update, begin_update), group=-1)
    application.add_handlers(handlers)
    application.add_error_handler(on_error)
    # /healthz and /metrics (natars_bot/health/): its handlers time and count every update;
    # the server starts with the bot (start_up) and stops with it (shut_down).
    health.install(application, settings.database)
    return application


async def _coordinators_in_a_group(update: Update, context: BotContext) -> None:
    """A coordinator's command in a group: refused and audited whoever asks (the log must not
    land in a group); a coordinator hears where it works, anyone else the coordinators' own
    refusal."""
    person = context.person
    text = update.effective_message.text if update.effective_message else None
    command = (text or "/export").split()[0].lstrip("/").split("@")[0]
    handlers = {
        "cases": coordinators.on_cases,
        "case": coordinators.on_case,
        "stats": coordinators.on_stats,
        "export": coordinators.on_export,
    }
    if not person.has("coordinator", "admin") or person.telegram_id is None:
        await handlers.get(command, coordinators.on_export)(update, context)
        return
    chat_type = update.effective_chat.type if update.effective_chat else None
    await context.services.store.record_refusal(
        person.telegram_id,
        f"{command if command in handlers else 'export'}_refused",
        {"chat_type": chat_type, "roles": sorted(person.roles)},
        registered=True,
    )
    await commands.on_wrong_place(update, context)


def _decodes_to(*kinds: type) -> Any:
    """A CallbackQueryHandler pattern: data that the codec decodes to one of `kinds`."""

    def matches(data: object) -> bool:
        return isinstance(data, str) and isinstance(decode(data), kinds)

    return matches


def fingerprint(update: Update) -> str:
    """What tells a redelivered update from a new one that reuses its id: its whole content."""
    return hashlib.sha256(update.to_json().encode()).hexdigest()[:32]


async def begin_update(update: Update, context: BotContext) -> None:
    """Group -1, before every handler: who is talking (people.py), then whether this update
    was handled before."""
    context.person = person = await resolve_person(update, context.services)
    menus = context.bot_data.get("menus")
    if isinstance(menus, Menus):
        menus.refresh(context.application, person)
    await skip_replayed(update, context)


async def skip_replayed(update: Update, context: BotContext) -> None:
    """Recognise an update whose effects are already committed; note the update for the store.

    Telegram delivers an update again when the bot died before confirming it (the next
    getUpdates offset). Applying a typed answer twice would answer the *next* question with it.
    Every committed transaction records the update's id and fingerprint (handled_updates), so a
    redelivered update is known by both — not by comparing ids, which restart at 1 on a new
    local server and may become random on Telegram. It gets the current screen again.
    """
    services = context.services
    printed = fingerprint(update)
    if await services.store.was_handled(update.update_id, printed):
        log.info("update %d was handled before: showing the current screen", update.update_id)
        await answering.show_again(update, context)
        raise ApplicationHandlerStop
    services.store.handling(update.update_id, printed)


async def start_up(application: Application) -> None:  # type: ignore[type-arg]
    """post_init: open the store, share the services, publish the command menu."""
    settings: Settings = application.bot_data["settings"]
    flow, protocol, wording = application.bot_data["parts"]
    lock = LiveLock(settings.database)
    lock.acquire()  # one bot per database (its real path); `natars-bot restore` checks it too
    application.bot_data["lock"] = lock
    store = await Store.open(private_database(settings.database))
    # Telegram may have moved the MDT group (a supergroup upgrade, stored by the outbox).
    mdt_chat_id = await store.mdt_chat(settings.mdt_chat_id)
    if mdt_chat_id != settings.mdt_chat_id:
        log.warning(
            "the MDT group moved to chat %s: posting there; set NATARS_MDT_CHAT_ID=%s",
            mdt_chat_id,
            mdt_chat_id,
        )
    application.bot_data["services"] = Services(
        store=store,
        flow=flow,
        protocol=protocol,
        wording=wording,
        mdt_chat_id=mdt_chat_id,
        mdt_language=settings.mdt_language,
        quorum=Quorum(settings.approvals_needed, settings.declines_needed),
        reminder_delay=timedelta(hours=settings.reminder_hours),
        read_delay=timedelta(seconds=settings.read_delay_seconds),
        zone=settings.zone(),
        clock=store.clock,  # one clock for the handlers, the jobs and the store (tests fake it)
    )
    # Telegram redelivers an unconfirmed update for at most 24 hours: two days of handled
    # updates recognise every repeat and keep the table small — at start-up and then hourly.
    await _forget_handled(application)
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            lambda context: _forget_handled(context.application),
            interval=3600,
            first=3600,
            name="forget_handled",
        )
    if settings.mdt_chat_id is None:
        log.warning("NATARS_MDT_CHAT_ID is not set: submissions wait in the outbox until it is")
    # Posts whose call began before the last stop may have reached Telegram: never blindly.
    await reconcile_interrupted(application)
    schedule(application, settings.outbox_interval_seconds, settings.reminder_check_seconds)
    schedule_backups(application, settings)  # NATARS_BACKUP_DIR: a checked backup daily
    # Each person's "/" menu lists what they can use there (menus.py).
    menus = Menus(wording, flow.languages)
    application.bot_data["menus"] = menus
    await menus.publish_all(application, store)
    monitor = application.bot_data.get("health")
    if isinstance(monitor, health.Monitor):
        await monitor.start()


async def _forget_handled(application: Application) -> None:  # type: ignore[type-arg]
    """Drop the records of updates handled more than two days ago."""
    services: Services = application.bot_data["services"]
    await services.store.forget_handled(services.store.clock() - timedelta(days=2))


async def shut_down(application: Application) -> None:  # type: ignore[type-arg]
    """post_shutdown: stop the health server, close the store."""
    monitor = application.bot_data.get("health")
    if isinstance(monitor, health.Monitor):
        await monitor.stop()
    services = application.bot_data.get("services")
    if isinstance(services, Services):
        await services.store.close()
    lock = application.bot_data.pop("lock", None)
    if isinstance(lock, LiveLock):
        lock.release()
