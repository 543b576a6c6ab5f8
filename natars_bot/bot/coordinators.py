"""Coordinators' commands in Telegram: /cases, /case, /export (CSV, XLSX, JSON Lines), /stats.

Only coordinators and admins, only in a private chat: an export is never sent to a group, and
every export — or refused attempt — is in the audit trail.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import date

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode

from natars_bot.bot.callbacks import CaseOpen, CasesPage, decode, encode
from natars_bot.bot.cases import case_line, case_text
from natars_bot.bot.presses import on_invalid_button
from natars_bot.bot.services import BotContext, Services
from natars_bot.dialogue.wording import TELEGRAM_TEXT_LIMIT, split_html
from natars_bot.errors import StoreError
from natars_bot.reports.exports import LogFormat, flow_counts, write_log
from natars_bot.reports.stats import LINES, criterion_namer, flow_text
from natars_bot.reports.times import zone_label
from natars_bot.store import ReferralRow

__all__ = ["on_case", "on_cases", "on_cases_page", "on_export", "on_stats"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _valid(day: str) -> bool:
    """Whether a YYYY-MM-DD word is a real date (2026-02-30 is not)."""
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    return True


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
    """/stats: the CONSORT-style picture, then the counts in the coordinator's language, each
    excluding criterion named ("INC-12 ASA ≤ 3: 1")."""
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
    lines = {key: _plain(services, language, f"stats_{key}") for key in LINES}
    text = flow_text(
        overall, sites, lines=lines, criterion=criterion_namer(services.protocol, language)
    )
    await context.bot.send_photo(update.effective_chat.id, photo=picture)
    # The counts as messages of their own: with every criterion named they outgrow a
    # caption's 1,024 characters.
    for part in _preformatted(text):
        await context.bot.send_message(update.effective_chat.id, part, parse_mode=ParseMode.HTML)


def _preformatted(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Plain text as <pre> messages of at most `limit` characters, split between lines."""
    chunks: list[list[str]] = [[]]
    size = 0
    for line in text.split("\n"):
        if size + len(line) + 1 > limit and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += len(line) + 1
    return [str(Markup("<pre>{}</pre>").format("\n".join(lines))) for lines in chunks]


def _plain(services: Services, language: str, key: str) -> str:
    """A message's template as written (placeholders unfilled), for str.format."""
    texts = services.wording.messages[key]
    return texts.get(language) or texts[services.wording.languages[0]]


async def on_export(update: Update, context: BotContext) -> None:
    """/export [SINCE [UNTIL]]: the screening log (local dates YYYY-MM-DD, inclusive), a row per
    version, as CSV, XLSX and JSON Lines."""
    language = await _coordinator(update, context, "export")
    chat, user = update.effective_chat, update.effective_user
    if language is None or chat is None or user is None:
        return
    services = context.services
    dates = [date.fromisoformat(a) for a in context.args or [] if _DATE.match(a) and _valid(a)]
    since, until = [*dates, None, None][:2]
    database = services.store.path
    if database is None:  # pragma: no cover - Store.open sets it
        return
    # Written in a worker thread from a read-only snapshot: the bot keeps answering meanwhile.
    files: dict[LogFormat, io.BytesIO] = {
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
            zone=services.zone,
            since=since,
            until=until,
            flow=services.flow,
        )
        for fmt, target in files.items()
    ]
    rows = counts[0].rows
    await services.store.record(
        str(user.id),
        "export",
        {
            "formats": list(files),
            "rows": rows,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
    )
    now = services.local(services.clock())
    caption = str(
        services.wording.text(
            language,
            "export_log_caption",
            rows=rows,
            referrals=counts[0].referrals,
            zone=f"{services.zone.key} ({zone_label(now)})",
        )
    )
    for suffix, target in files.items():
        extension = "jsonl" if suffix == "json" else suffix
        name = f"natars-screening-log-{now.date().isoformat()}.{extension}"
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
    """/cases [STATUS] [HISTOLOGY] [SITE…]: recent referrals, ten a page, newest first; a button
    per referral opens it."""
    language = await _coordinator(update, context, "cases")
    if language is None or update.effective_message is None:
        return
    words = context.args or []
    status = next((w for w in words if w in _STATUSES), "")
    histology = next((w.upper() for w in words if w.upper() in _HISTOLOGIES), "")
    rest = " ".join(w for w in words if w not in _STATUSES and w.upper() not in _HISTOLOGIES)
    sites = await context.services.store.sites()
    site = next((n for n, s in enumerate(sites) if rest and rest.lower() in s.lower()), -1)
    page = CasesPage(offset=0, status=status, histology=histology, site=site)
    text, markup = await _cases_page(context, language, page)
    await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def on_cases_page(update: Update, context: BotContext) -> None:
    """The buttons under /cases: Older/Newer (`k:…`) show another page, a referral's button
    (`u:…`) opens it in the list's place, with a button back to the same page."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    services, language = context.services, context.person.language
    # In a private chat only: a forged press on a group's message (a summary) must not be
    # edited into a case's details there.
    if not context.person.has("coordinator", "admin") or not context.person.private:
        await query.answer(str(services.wording.text(language, "export_refused")), show_alert=True)
        return
    press = decode(query.data)
    if not isinstance(press, CasesPage) or press.offset < 0:
        await on_invalid_button(update, context)
        return
    if isinstance(press, CaseOpen):
        try:
            referral = await services.store.referral(press.referral)
        except StoreError as exc:
            await query.answer(str(exc), show_alert=True)
            return
        await query.answer()
        parts = await _case_parts(services, language, referral)
        back = CasesPage(
            offset=press.offset, status=press.status, histology=press.histology, site=press.site
        )
        back_markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        _word(services, language, "case_back"), callback_data=encode(back)
                    )
                ]
            ]
        )
        if isinstance(query.message, Message) and len(parts) == 1:
            await query.message.edit_text(
                parts[0], parse_mode=ParseMode.HTML, reply_markup=back_markup
            )
        elif query.message is not None:  # too long for the list's message: sent below it
            for part in parts:
                await context.bot.send_message(
                    query.message.chat.id, part, parse_mode=ParseMode.HTML
                )
        return
    await query.answer()
    text, markup = await _cases_page(context, language, press)
    if isinstance(query.message, Message):
        await query.message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)


def _word(services: Services, language: str, key: str) -> str:
    return str(services.wording.text(language, key))


async def _cases_page(
    context: BotContext, language: str, page: CasesPage
) -> tuple[str, InlineKeyboardMarkup | None]:
    services = context.services
    sites = await services.store.sites()
    site_name = sites[page.site] if 0 <= page.site < len(sites) else None
    rows, more = await services.store.cases(
        status=page.status or None,
        histology=page.histology or None,
        site=site_name,
        offset=page.offset,
        limit=_PAGE,
    )
    filters = " · ".join(f for f in (page.status, page.histology, site_name or "") if f)
    text = services.wording.render(
        "cases.html.j2",
        language,
        cases=[case_line(services, language, r) for r in rows],
        first=page.offset + 1 if rows else 0,
        last=page.offset + len(rows),
        filters=filters,
    )
    opens = [
        InlineKeyboardButton(
            r.public_id,
            callback_data=encode(
                CaseOpen(
                    offset=page.offset,
                    status=page.status,
                    histology=page.histology,
                    site=page.site,
                    referral=r.id,
                )
            ),
        )
        for r in rows
    ]
    keyboard = [opens[i : i + 2] for i in range(0, len(opens), 2)]
    paging = []
    if page.offset > 0:
        newer = CasesPage(
            offset=max(0, page.offset - _PAGE),
            status=page.status,
            histology=page.histology,
            site=page.site,
        )
        paging.append(
            InlineKeyboardButton(
                _word(services, language, "cases_previous"), callback_data=encode(newer)
            )
        )
    if more:
        older = CasesPage(
            offset=page.offset + _PAGE, status=page.status, histology=page.histology, site=page.site
        )
        paging.append(
            InlineKeyboardButton(
                _word(services, language, "cases_next"), callback_data=encode(older)
            )
        )
    if paging:
        keyboard.append(paging)
    return text, InlineKeyboardMarkup(keyboard) if keyboard else None


async def _case_parts(services: Services, language: str, referral: ReferralRow) -> list[str]:
    """/case's text for one referral, split into messages that fit."""
    versions = [
        (submission, await services.store.ballots(submission.id))
        for submission in await services.store.submissions_of(referral.id)
    ]
    return split_html(case_text(services, language, referral, versions), TELEGRAM_TEXT_LIMIT)


async def on_case(update: Update, context: BotContext) -> None:
    """/case NAT-…: one referral, every version with its votes, reasons and decision."""
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
    for part in await _case_parts(services, language, referral):
        await message.reply_text(part, parse_mode=ParseMode.HTML)
