"""Coordinators' commands in Telegram: /cases, /case, /export (CSV and XLSX) and /stats.

Only coordinators and admins, only in a private chat: an export is never sent to a group, and
every export — or refused attempt — is in the audit trail.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from typing import Literal

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode

from natars_bot.bot.callbacks import CasesPage, decode, encode
from natars_bot.bot.presses import on_invalid_button
from natars_bot.bot.services import BotContext
from natars_bot.errors import StoreError
from natars_bot.reports.exports import flow_counts, write_log
from natars_bot.reports.stats import flow_text

__all__ = ["on_case", "on_cases", "on_cases_page", "on_export", "on_stats"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


async def _coordinator(update: Update, context: BotContext, what: str) -> str | None:
    """The user's language if they may have `what` here; else a refusal, audited, and None."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return None
    services, person = context.services, context.person
    language, roles = person.language, person.roles
    if person.has("coordinator", "admin") and person.private:
        return language
    # Rate-limited for strangers: one audit row per hour each, with a count (store.users).
    await services.store.record_refusal(
        user.id,
        f"{what}_refused",
        {"chat_type": chat.type, "roles": sorted(roles)},
        registered=bool(roles),
    )
    await message.reply_text(str(services.wording.text(language, "export_refused")))
    return None


async def on_stats(update: Update, context: BotContext) -> None:
    """/stats: the screening counts and the CONSORT-style picture."""
    language = await _coordinator(update, context, "stats")
    if language is None or update.effective_chat is None or update.effective_user is None:
        return
    services = context.services
    database = services.store.path
    if database is None:  # pragma: no cover - Store.open sets it
        return
    overall, sites = await asyncio.to_thread(flow_counts, database, services.protocol)
    from natars_bot.reports.consort import render_flow  # noqa: PLC0415 - matplotlib costs ~40 MB: load on first use

    picture = await asyncio.to_thread(render_flow, overall, sites, "png")  # matplotlib blocks
    await services.store.record(str(update.effective_user.id), "stats", {})
    await context.bot.send_photo(
        update.effective_chat.id,
        photo=picture,
        caption=Markup("<pre>{}</pre>").format(flow_text(overall, sites))[:1024],
        parse_mode=ParseMode.HTML,
    )


async def on_export(update: Update, context: BotContext) -> None:
    """/export [SINCE [UNTIL]]: the screening log (dates YYYY-MM-DD, inclusive): CSV, XLSX, JSON."""
    language = await _coordinator(update, context, "export")
    chat, user = update.effective_chat, update.effective_user
    if language is None or chat is None or user is None:
        return
    services = context.services
    dates = [a for a in context.args or [] if _DATE.match(a)]
    since, until = [*dates, None, None][:2]
    database = services.store.path
    if database is None:  # pragma: no cover - Store.open sets it
        return
    # Written in a worker thread from a read-only snapshot: the bot keeps answering meanwhile.
    files: dict[Literal["csv", "xlsx", "json"], io.BytesIO] = {
        "csv": io.BytesIO(),
        "xlsx": io.BytesIO(),
        "json": io.BytesIO(),
    }
    counts = [
        await asyncio.to_thread(
            write_log,
            database,
            services.protocol,
            fmt,
            target,
            since=since,
            until=until,
        )
        for fmt, target in files.items()
    ]
    rows = counts[0]
    today = datetime.now(UTC).date().isoformat()
    await services.store.record(
        str(user.id),
        "export",
        {"formats": list(files), "rows": rows, "since": since, "until": until},
    )
    caption = str(services.wording.text(language, "export_caption", rows=rows))
    for suffix, target in files.items():
        name = f"natars-screening-log-{today}.{'jsonl' if suffix == 'json' else suffix}"
        await context.bot.send_document(
            chat.id,
            document=target.getvalue(),
            filename=name,
            caption=caption,
        )


_STATUSES = ("screen_failed", "submitted", "more_info", "approved", "declined")
_HISTOLOGIES = ("DDLPS", "LMS", "UPS", "SFT", "WDLPS", "other")
_PAGE = 10


async def on_cases(update: Update, context: BotContext) -> None:
    """/cases [STATUS] [HISTOLOGY] [SITE…]: recent referrals, ten a page, newest first."""
    language = await _coordinator(update, context, "cases")
    if language is None or update.effective_message is None:
        return
    words = context.args or []
    status = next((w for w in words if w in _STATUSES), "")
    histology = next((w.upper() for w in words if w.upper() in _HISTOLOGIES), "")
    rest = " ".join(w for w in words if w not in _STATUSES and w.upper() not in _HISTOLOGIES)
    sites = await context.services.store.sites()
    site = next((n for n, s in enumerate(sites) if rest and rest.lower() in s.lower()), -1)
    text, markup = await _cases_page(context, language, 0, status, histology, site)
    await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def on_cases_page(update: Update, context: BotContext) -> None:
    """The Older/Newer buttons under /cases (`k:<offset>:<status>:<histology>:<site>`)."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    services, language = context.services, context.person.language
    if not context.person.has("coordinator", "admin"):
        await query.answer(str(services.wording.text(language, "export_refused")), show_alert=True)
        return
    page = decode(query.data)
    if not isinstance(page, CasesPage) or page.offset < 0:
        await on_invalid_button(update, context)
        return
    await query.answer()
    text, markup = await _cases_page(
        context, language, page.offset, page.status, page.histology, page.site
    )
    if isinstance(query.message, Message):
        await query.message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def _cases_page(
    context: BotContext, language: str, offset: int, status: str, histology: str, site: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    services = context.services
    sites = await services.store.sites()
    site_name = sites[site] if 0 <= site < len(sites) else None
    rows, more = await services.store.cases(
        status=status or None,
        histology=histology or None,
        site=site_name,
        offset=offset,
        limit=_PAGE,
    )
    cases = [
        {
            "public_id": r.public_id,
            "site": r.site,
            "histology": r.state.answers.get("histology"),
            "status": services.wording.text(language, f"status_{r.status}"),
            "date": r.created_at[:10],
        }
        for r in rows
    ]
    filters = " · ".join(f for f in (status, histology, site_name or "") if f)
    text = services.wording.render(
        "cases.html.j2",
        language,
        cases=cases,
        first=offset + 1 if rows else 0,
        last=offset + len(rows),
        filters=filters,
    )
    buttons = []
    if offset > 0:
        buttons.append(
            InlineKeyboardButton(
                str(services.wording.text(language, "cases_previous")),
                callback_data=encode(
                    CasesPage(
                        offset=max(0, offset - _PAGE), status=status, histology=histology, site=site
                    )
                ),
            )
        )
    if more:
        buttons.append(
            InlineKeyboardButton(
                str(services.wording.text(language, "cases_next")),
                callback_data=encode(
                    CasesPage(offset=offset + _PAGE, status=status, histology=histology, site=site)
                ),
            )
        )
    return text, InlineKeyboardMarkup([buttons]) if buttons else None


async def on_case(update: Update, context: BotContext) -> None:
    """/case NAT-…: one referral's versions, votes and decision."""
    language = await _coordinator(update, context, "case")
    message = update.effective_message
    if language is None or message is None:
        return
    services = context.services
    if not context.args:
        await message.reply_text(str(services.wording.text(language, "case_usage")))
        return
    try:
        referral = await services.store.referral_by_public_id(context.args[0].upper())
    except StoreError as exc:
        await message.reply_text(str(exc))
        return
    versions = [
        {"submission": submission, "ballots": await services.store.ballots(submission.id)}
        for submission in await services.store.submissions_of(referral.id)
    ]
    text = services.wording.render("case.html.j2", language, referral=referral, versions=versions)
    await message.reply_text(text, parse_mode=ParseMode.HTML)
