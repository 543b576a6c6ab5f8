"""When a handler fails: the log gets the traceback, the user a polite word in their language,
and the admins a private alert with the error's reference — once per kind of error per hour,
so that a failure repeated on every update does not flood them. The reference ties the three
together; the alert names the kind of error only, never the update's text (it may hold what a
surgeon typed).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from telegram import Update
from telegram.constants import ParseMode

from natars_bot.bot.delivery import kick
from natars_bot.bot.people import resolve_person
from natars_bot.bot.services import BotContext, Services
from natars_bot.store import Outgoing

__all__ = ["ALERT_EVERY", "on_error"]

log = logging.getLogger(__name__)

ALERT_EVERY = timedelta(hours=1)  # one admin alert per kind of error per this long


async def on_error(update: object, context: BotContext) -> None:
    """ptb's error handler: log, tell the user, alert the admins."""
    reference = secrets.token_hex(4)
    kind = type(context.error).__name__ if context.error is not None else "Error"
    log.error("error %s (%s) while handling an update", reference, kind, exc_info=context.error)
    services = context.bot_data.get("services")
    if not isinstance(services, Services):
        return
    await _alert_admins(context, services, kind, reference)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    # ptb hands the error handler a context of its own: who it was is read again (and if the
    # store is what failed, the user hears it in the first language).
    try:
        language = (await resolve_person(update, services)).language
    except Exception:
        language = services.flow.languages[0]
    text = (
        f"{services.wording.text(language, 'error')} "
        f"{services.wording.text(language, 'error_reference', id=reference)}"
    )
    try:
        await context.bot.send_message(update.effective_chat.id, text, parse_mode=ParseMode.HTML)
    except Exception:
        log.warning("could not tell the user about error %s", reference, exc_info=True)


async def _alert_admins(context: BotContext, services: Services, kind: str, reference: str) -> None:
    """Queue one alert to each admin, unless this kind was alerted within ALERT_EVERY."""
    alerted: dict[str, datetime] = context.bot_data.setdefault("errors_alerted", {})
    now = services.clock()
    if kind in alerted and now - alerted[kind] < ALERT_EVERY:
        return
    alerted[kind] = now
    try:
        admins = await services.store.admins()
        alerts = [
            Outgoing(
                kind="message",
                chat_id=admin,
                text=str(
                    services.wording.text(
                        services.flow.languages[0], "error_admin_alert", kind=kind, id=reference
                    )
                ),
            )
            for admin in admins
        ]
        if alerts:
            await services.store.queue(alerts)  # through the outbox: retried like any post
            kick(context)
    except Exception:  # the store itself may be what failed: the log has it
        log.warning("could not queue the admins' alert for error %s", reference, exc_info=True)
