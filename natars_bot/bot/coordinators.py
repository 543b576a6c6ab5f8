"""Coordinators' commands in Telegram: /export sends the screening log as a CSV document.

Only coordinators and admins, only in a private chat: an export is never sent to a group, and
every export — or refused attempt — is in the audit trail.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime

from markupsafe import Markup
from telegram import Update
from telegram.constants import ChatType, ParseMode

from ..consort import render_flow
from ..exports import flow_counts, log_rows
from ..screening_log import csv_chunks, write_xlsx
from ..stats import flow_text
from .services import BotContext
from .triage import user_language

__all__ = ["on_export", "on_stats"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


async def _coordinator(update: Update, context: BotContext, what: str) -> str | None:
    """The user's language if they may have `what` here; else a refusal, audited, and None."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return None
    services = context.services
    language = await user_language(services, update)
    roles = await services.store.roles_of(user.id)
    if {"coordinator", "admin"} & set(roles) and chat.type == ChatType.PRIVATE:
        return language
    await services.store.record(
        str(user.id), f"{what}_refused", {"chat_type": chat.type, "roles": sorted(roles)}
    )
    await message.reply_text(str(services.wording.text(language, "export_refused")))
    return None


async def on_stats(update: Update, context: BotContext) -> None:
    """/stats: the screening counts and the CONSORT-style picture."""
    language = await _coordinator(update, context, "stats")
    if language is None or update.effective_chat is None or update.effective_user is None:
        return
    services = context.services
    overall, sites = await flow_counts(services.store, services.flow, services.protocol)
    picture = await asyncio.to_thread(render_flow, overall, sites, "png")  # matplotlib blocks
    await services.store.record(str(update.effective_user.id), "stats", {})
    await context.bot.send_photo(
        update.effective_chat.id,
        photo=picture,
        caption=Markup("<pre>{}</pre>").format(flow_text(overall, sites))[:1024],
        parse_mode=ParseMode.HTML,
    )


async def on_export(update: Update, context: BotContext) -> None:
    """/export [SINCE [UNTIL]]: the screening log (dates YYYY-MM-DD, inclusive), CSV and XLSX."""
    language = await _coordinator(update, context, "export")
    chat, user = update.effective_chat, update.effective_user
    if language is None or chat is None or user is None:
        return
    services = context.services
    dates = [a for a in context.args or [] if _DATE.match(a)]
    since, until = [*dates, None, None][:2]
    rows = [
        row
        async for row in log_rows(
            services.store, services.flow, services.protocol, since=since, until=until
        )
    ]
    workbook = io.BytesIO()
    write_xlsx(rows, workbook)
    today = datetime.now(UTC).date().isoformat()
    await services.store.record(
        str(user.id),
        "export",
        {"formats": ["csv", "xlsx"], "rows": len(rows), "since": since, "until": until},
    )
    caption = str(services.wording.text(language, "export_caption", rows=len(rows)))
    for data, suffix in ((b"".join(csv_chunks(rows)), "csv"), (workbook.getvalue(), "xlsx")):
        await context.bot.send_document(
            chat.id,
            document=data,
            filename=f"natars-screening-log-{today}.{suffix}",
            caption=caption,
        )
