"""Coordinators' commands in Telegram: /export sends the screening log as a CSV document.

Only coordinators and admins, only in a private chat: an export is never sent to a group, and
every export — or refused attempt — is in the audit trail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from telegram import Update
from telegram.constants import ChatType

from ..exports import log_rows
from ..screening_log import csv_chunks
from .services import BotContext
from .triage import user_language

__all__ = ["on_export"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


async def on_export(update: Update, context: BotContext) -> None:
    """/export [SINCE [UNTIL]]: the screening log (dates YYYY-MM-DD, inclusive) as CSV."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return
    services = context.services
    language = await user_language(services, update)
    roles = await services.store.roles_of(user.id)
    if not {"coordinator", "admin"} & set(roles) or chat.type != ChatType.PRIVATE:
        await services.store.record(
            str(user.id), "export_refused", {"chat_type": chat.type, "roles": sorted(roles)}
        )
        await message.reply_text(str(services.wording.text(language, "export_refused")))
        return
    dates = [a for a in context.args or [] if _DATE.match(a)]
    since, until = [*dates, None, None][:2]
    rows = [
        row
        async for row in log_rows(
            services.store, services.flow, services.protocol, since=since, until=until
        )
    ]
    data = b"".join(csv_chunks(rows))
    today = datetime.now(UTC).date().isoformat()
    await services.store.record(
        str(user.id), "export", {"format": "csv", "rows": len(rows), "since": since, "until": until}
    )
    await context.bot.send_document(
        chat.id,
        document=data,
        filename=f"natars-screening-log-{today}.csv",
        caption=str(services.wording.text(language, "export_caption", rows=len(rows))),
    )
