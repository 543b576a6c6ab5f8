"""Handlers of the surgeon's triage dialogue: thin, in the order update → engine → store → reply.

The dialogue's state is the referral's own row, committed before every reply, rather than
ptb's ConversationHandler state: ConversationHandler keeps its state in memory and its
persistence writes only every `update_interval`, so after a crash the two copies would
disagree. Here a restarted bot reads the row and asks the first unanswered question.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ParseMode
from telegram.error import BadRequest

from ..answers import Rejected
from ..dialogue import (
    Accepted,
    DialogueState,
    answer,
    back,
    current,
    edit,
    new_failures,
    to_referral,
)
from ..eligibility import Assessment, evaluate
from ..errors import StoreError
from ..store import Outgoing, ReferralRow, SubmissionRow, UserRow
from .cases import surgeon_name
from .delivery import kick
from .mdt_screens import compose_summary
from .screens import (
    Screen,
    answer_text,
    failed_now_screen,
    question_screen,
    review_screen,
    verdict_screen,
)
from .services import BotContext, Services

__all__ = [
    "on_button",
    "on_cancel",
    "on_help",
    "on_language",
    "on_new",
    "on_private_only",
    "on_start",
    "on_status",
    "on_text",
    "show_screen",
    "surgeon_or_refuse",
    "user_language",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ helpers


async def user_language(services: Services, update: Update) -> str:
    """The language to answer this update's user in."""
    user = update.effective_user
    stored = await services.store.language_of(user.id) if user is not None else None
    return _language(services, user, stored)


def _language(services: Services, user: User | None, stored: str | None) -> str:
    """The language chosen with /language, else Chinese for a Chinese Telegram, else English."""
    if stored:
        return stored
    code = ((user.language_code if user is not None else None) or "").lower()
    return (
        "zh"
        if code.startswith("zh") and "zh" in services.flow.languages
        else services.flow.languages[0]
    )


async def surgeon_or_refuse(update: Update, context: BotContext) -> tuple[UserRow, str] | None:
    """The registered surgeon behind this update, or None after a polite refusal."""
    services = context.services
    user = update.effective_user
    roles, stored = await services.store.person(user.id) if user else ({}, None)
    language = _language(services, user, stored)
    if user is not None and "surgeon" in roles:
        return roles["surgeon"], language
    refusal = services.wording.text(language, "refused", user_id=user.id if user else "?")
    if update.callback_query is not None:
        await update.callback_query.answer(_plain(refusal), show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(refusal, parse_mode=ParseMode.HTML)
    return None


def _stale(services: Services, language: str) -> str:
    """The alert for a button that no longer applies."""
    return _plain(services.wording.text(language, "stale_button"))


def _plain(html: str) -> str:
    """Callback alerts are plain text of at most 200 characters."""
    for tag in ("<b>", "</b>", "<i>", "</i>", "<code>", "</code>"):
        html = html.replace(tag, "")
    return html[:200]


def _fixed(referral: ReferralRow) -> dict[str, Any]:
    return {"referral_id": referral.public_id, "site": referral.site}


def _assess(
    services: Services, referral: ReferralRow, state: DialogueState | None = None
) -> Assessment:
    state = state if state is not None else referral.state
    return evaluate(to_referral(services.flow, state, **_fixed(referral)), services.protocol)


async def show_screen(
    context: BotContext,
    referral: ReferralRow,
    chat_id: int,
    screen: Screen,
    *,
    edit_message: Message | None,
) -> None:
    """Show a screen: edit the pressed message in place, or send a new one (and strip the
    buttons from the previous question so that only one set is live)."""
    text, markup = screen
    if edit_message is not None:
        try:
            await edit_message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise
        await context.services.store.set_message(referral, edit_message.message_id)
        return
    # The old keyboard is tidied away while the new screen is sent: two independent calls,
    # one wait for Telegram instead of two.
    sent, _ = await asyncio.gather(
        context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup),
        _strip_buttons(context, chat_id, referral.message_id),
    )
    await context.services.store.set_message(referral, sent.message_id)


async def _strip_buttons(context: BotContext, chat_id: int, message_id: int | None) -> None:
    """Take the buttons off an earlier question, so that only one set is live."""
    if message_id is None:
        return
    # Already without buttons, or deleted by the surgeon: nothing to tidy then.
    with contextlib.suppress(BadRequest):
        await context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)


# ------------------------------------------------------------------ commands


async def on_start(update: Update, context: BotContext) -> None:
    """/start: greet, and resume a referral in progress."""
    found = await surgeon_or_refuse(update, context)
    if found is None or update.effective_chat is None or update.effective_message is None:
        return
    user, language = found
    services = context.services
    draft = await services.store.draft_of(user.telegram_id)
    if draft is None:
        await update.effective_message.reply_text(services.wording.text(language, "welcome"))
        return
    await _resume(update, context, draft, language)


async def _resume(update: Update, context: BotContext, draft: ReferralRow, language: str) -> None:
    notice = context.services.wording.text(
        language, "resumed", referral=draft.public_id, answered=len(draft.state.answers)
    )
    await _ask(update, context, draft, language, notice)


async def _ask(
    update: Update, context: BotContext, draft: ReferralRow, language: str, notice: Markup
) -> None:
    """Show the current question under `notice`, as a new message."""
    if update.effective_chat is None:
        return
    screen = question_screen(context.services, language, draft, notice=notice)
    await show_screen(context, draft, update.effective_chat.id, screen, edit_message=None)


async def on_new(update: Update, context: BotContext) -> None:
    """/new: start a referral (or continue the one in progress)."""
    found = await surgeon_or_refuse(update, context)
    if found is None or update.effective_chat is None:
        return
    user, language = found
    services = context.services
    draft = await services.store.draft_of(user.telegram_id)
    if draft is not None:
        await _resume(update, context, draft, language)
        return
    draft = await services.store.start_referral(user.telegram_id, user.site)
    notice = services.wording.text(language, "started", referral=draft.public_id)
    await _ask(update, context, draft, language, notice)


async def on_cancel(update: Update, context: BotContext) -> None:
    """/cancel: discard the referral in progress (it stays in the audit trail)."""
    found = await surgeon_or_refuse(update, context)
    if found is None or update.effective_message is None:
        return
    user, language = found
    services = context.services
    draft = await services.store.draft_of(user.telegram_id)
    if draft is None:
        await update.effective_message.reply_text(services.wording.text(language, "no_draft"))
        return
    await services.store.close_referral(draft, "cancelled", actor=str(user.telegram_id))
    await update.effective_message.reply_text(
        services.wording.text(language, "cancelled", referral=draft.public_id),
        parse_mode=ParseMode.HTML,
    )


async def on_help(update: Update, context: BotContext) -> None:
    """/help: the commands and how to answer."""
    if update.effective_message is None:
        return
    language = await user_language(context.services, update)
    await update.effective_message.reply_text(context.services.wording.text(language, "help"))


async def on_status(update: Update, context: BotContext) -> None:
    """/status: the surgeon's latest referrals."""
    found = await surgeon_or_refuse(update, context)
    if found is None or update.effective_message is None:
        return
    user, language = found
    services = context.services
    referrals = await services.store.referrals_of(user.telegram_id)
    if not referrals:
        await update.effective_message.reply_text(services.wording.text(language, "status_none"))
        return
    rows = [
        {
            "public_id": r.public_id,
            "status_text": services.wording.text(language, f"status_{r.status}"),
            "date": r.updated_at[:10],
        }
        for r in referrals
    ]
    await update.effective_message.reply_text(
        services.wording.render("status.html.j2", language, rows=rows), parse_mode=ParseMode.HTML
    )


async def on_language(update: Update, context: BotContext) -> None:
    """/language: choose English or Chinese."""
    if update.effective_message is None:
        return
    language = await user_language(context.services, update)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("English", callback_data="l:en"),
                InlineKeyboardButton("中文", callback_data="l:zh"),
            ]
        ]
    )
    await update.effective_message.reply_text(
        context.services.wording.text(language, "language_prompt"), reply_markup=keyboard
    )


async def on_private_only(update: Update, context: BotContext) -> None:
    """/new or /start in a group: referrals belong in a private chat."""
    if update.effective_message is None:
        return
    language = await user_language(context.services, update)
    await update.effective_message.reply_text(
        context.services.wording.text(language, "private_only")
    )


# ------------------------------------------------------------------ answers


async def on_text(update: Update, context: BotContext) -> None:
    """A typed answer to the current question: accepted and saved, or re-prompted."""
    found = await surgeon_or_refuse(update, context)
    message = update.effective_message
    if found is None or message is None or update.effective_chat is None:
        return
    user, language = found
    services = context.services
    draft = await services.store.draft_of(user.telegram_id)
    if draft is None:
        await message.reply_text(services.wording.text(language, "no_draft"))
        return
    if current(services.flow, draft.state) is None:
        screen = review_screen(services, language, draft)
        notice = services.wording.text(language, "reprompt_no_question")
        await show_screen(
            context,
            draft,
            update.effective_chat.id,
            (f"{notice}\n\n{screen[0]}", screen[1]),
            edit_message=None,
        )
        return
    result = answer(services.flow, draft.state, text=message.text or "")
    if isinstance(result, Rejected):
        notice = Markup("⚠️ ") + _reprompt(services, language, result)
        screen = question_screen(services, language, draft, notice=notice)
        await show_screen(context, draft, update.effective_chat.id, screen, edit_message=None)
        return
    await _accept(
        context, draft, result, language, str(user.telegram_id), update.effective_chat.id, None
    )


def _reprompt(services: Services, language: str, rejected: Rejected) -> Markup:
    key = f"reprompt_{rejected.reason}"
    if rejected.reason == "out_of_range":
        key += "_" + str(rejected.params.get("bound", "ge"))
    params = {k: v for k, v in rejected.params.items() if k != "bound"}
    return services.wording.text(language, key, **params)


async def _accept(
    context: BotContext,
    draft: ReferralRow,
    accepted: Accepted,
    language: str,
    actor: str,
    chat_id: int,
    edit_message: Message | None,
) -> None:
    """Save an accepted answer, then show what follows: an early fail, a question, the review."""
    services = context.services
    after = _assess(services, draft, accepted.state)
    # Every fail an answer causes is shown (and acknowledged) at once, so the state alone says
    # what the surgeon has seen: no need to assess the answers before this one again.
    fresh = new_failures(None, after, accepted.state)
    state = accepted.state
    if fresh:
        state = state.model_copy(update={"acknowledged": (*state.acknowledged, *fresh)})
    draft = await services.store.save_state(
        draft,
        state,
        actor=actor,
        action="answer",
        detail={"field": accepted.question.field, "value": accepted.value},
    )
    recorded = services.wording.text(
        language,
        "answer_recorded",
        label=accepted.question.label.get(language, accepted.question.field),
        value=answer_text(services, language, accepted.question, accepted.value),
    )
    if fresh:
        results = [after.result(criterion_id) for criterion_id in fresh]
        screen = failed_now_screen(services, language, draft, recorded, results)
    elif current(services.flow, state) is None:
        review = review_screen(services, language, draft)
        screen = (f"{recorded}\n\n{review[0]}", review[1])
    else:
        screen = question_screen(services, language, draft, notice=recorded)
    await show_screen(context, draft, chat_id, screen, edit_message=edit_message)


# ------------------------------------------------------------------ buttons


@dataclass(frozen=True)
class _Press:
    """A button press on a surgeon's own draft, with what every action needs."""

    context: BotContext
    referral: ReferralRow
    language: str
    actor: str
    chat_id: int
    message: Message | None
    arguments: list[str]

    @property
    def services(self) -> Services:
        return self.context.services

    def number(self, position: int) -> int | None:
        """The callback data's integer argument at `position`, if it is one."""
        if len(self.arguments) > position and self.arguments[position].lstrip("-").isdigit():
            return int(self.arguments[position])
        return None

    async def show(self, screen: Screen, referral: ReferralRow | None = None) -> None:
        await show_screen(
            self.context, referral or self.referral, self.chat_id, screen, edit_message=self.message
        )


async def on_button(update: Update, context: BotContext) -> None:
    """Every inline button of the dialogue, dispatched on the callback data's first letter."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    action, _, rest = query.data.partition(":")
    if action == "l":
        await _set_language(update, context, rest)
        return
    found = await surgeon_or_refuse(update, context)
    if found is None:
        return
    user, language = found
    services = context.services
    arguments = rest.split(":")
    referral = await _own_draft(services, arguments[0], user.telegram_id)
    handler = _ACTIONS.get(action)
    if referral is None or handler is None:
        await query.answer(_stale(services, language), show_alert=True)
        return
    press = _Press(
        context=context,
        referral=referral,
        language=language,
        actor=str(user.telegram_id),
        chat_id=update.effective_chat.id if update.effective_chat else user.telegram_id,
        message=query.message if isinstance(query.message, Message) else None,
        arguments=arguments,
    )
    question = current(services.flow, referral.state)
    if action in ("a", "b") and (question is None or question.index != press.number(1)):
        # A button of a question already answered.
        await query.answer(_stale(services, language), show_alert=True)
        return
    # CallbackQueries need to be answered, even if no notification to the user is needed.
    # The answer and the work behind the press are independent: in flight together, the bot
    # waits on Telegram once per press rather than twice, and the spinner stops sooner.
    await asyncio.gather(query.answer(), handler(press))


async def _own_draft(services: Services, referral_id: str, surgeon_id: int) -> ReferralRow | None:
    """The draft a button belongs to, if it is this surgeon's and still in progress."""
    if not referral_id.isdigit():
        return None
    try:
        referral = await services.store.referral(int(referral_id))
    except StoreError:
        return None
    if referral.surgeon_id != surgeon_id or referral.status != "draft":
        return None
    return referral


async def _press_answer(press: _Press) -> None:
    choice = press.number(2)
    result = answer(
        press.services.flow, press.referral.state, choice=-99 if choice is None else choice
    )
    if isinstance(result, Accepted):
        await _accept(
            press.context,
            press.referral,
            result,
            press.language,
            press.actor,
            press.chat_id,
            press.message,
        )


async def _press_back(press: _Press) -> None:
    services = press.services
    referral = await services.store.save_state(
        press.referral,
        back(services.flow, press.referral.state),
        actor=press.actor,
        action="back",
        detail={},
    )
    await press.show(question_screen(services, press.language, referral), referral)


async def _press_edit(press: _Press) -> None:
    services, flow = press.services, press.services.flow
    index = press.number(1)
    editing = (
        edit(flow, press.referral.state, flow.questions[index].field)
        if index is not None and 0 <= index < len(flow.questions)
        else Rejected("not_editable")
    )
    if isinstance(editing, Rejected):
        await press.show(review_screen(services, press.language, press.referral))
        return
    referral = await services.store.save_state(
        press.referral, editing, actor=press.actor, action="edit", detail={"field": editing.editing}
    )
    await press.show(question_screen(services, press.language, referral), referral)


async def _press_verdict(press: _Press) -> None:
    assessment = _assess(press.services, press.referral)
    await press.show(
        verdict_screen(press.services, press.language, press.referral, assessment, True)
    )


async def _press_review(press: _Press) -> None:
    await press.show(review_screen(press.services, press.language, press.referral))


async def _press_continue(press: _Press) -> None:
    await press.show(question_screen(press.services, press.language, press.referral))


async def _close(press: _Press, status: Literal["screen_failed"]) -> Assessment:
    """Store the verdict and end the draft; returns the assessment stored."""
    assessment = _assess(press.services, press.referral)
    await press.services.store.close_referral(
        press.referral,
        status,
        actor=press.actor,
        verdict=assessment.verdict.value,
        failed=assessment.failed,
        unknown=assessment.unknown,
        protocol=assessment.protocol_version,
    )
    return assessment


async def _press_stop(press: _Press) -> None:
    await _close(press, "screen_failed")
    text = press.services.wording.text(press.language, "stopped", referral=press.referral.public_id)
    await press.show((text, None))


async def _press_submit(press: _Press) -> None:
    """Submit to the MDT: the submission and its summary are committed together; the outbox
    worker posts the summary (now, or when Telegram is reachable again)."""
    services, referral = press.services, press.referral
    store = services.store
    assessment = _assess(services, referral)
    versions = await store.submissions_of(referral.id)
    previous = versions[-1] if versions else None
    surgeon = await surgeon_name(store, referral.surgeon_id)
    submitted_at = datetime.now(UTC)

    def compose(submission_id: int) -> list[Outgoing]:
        submission = SubmissionRow(
            id=submission_id,
            referral_id=referral.id,
            public_id=referral.public_id,
            surgeon_id=referral.surgeon_id,
            site=referral.site,
            version=referral.version,
            state=referral.state,
            verdict=assessment.verdict.value,
            failed=assessment.failed,
            unknown=assessment.unknown,
            protocol=assessment.protocol_version,
            submitted_at=submitted_at.isoformat(timespec="seconds"),
            mdt_chat_id=None,
            mdt_message_id=None,
            decision=None,
            decided_at=None,
            remind_at=None,
        )
        return compose_summary(services, submission, previous, surgeon)

    await store.submit(
        referral,
        verdict=assessment.verdict.value,
        failed=assessment.failed,
        unknown=assessment.unknown,
        protocol=assessment.protocol_version,
        remind_at=submitted_at + services.reminder_delay,
        compose=compose,
        actor=press.actor,
    )
    kick(press.context)
    await press.show(verdict_screen(services, press.language, referral, assessment, False))
    text = services.wording.text(press.language, "submitted", referral=press.referral.public_id)
    await press.context.bot.send_message(press.chat_id, text, parse_mode=ParseMode.HTML)


_ACTIONS: dict[str, Callable[[_Press], Awaitable[None]]] = {
    "a": _press_answer,
    "b": _press_back,
    "e": _press_edit,
    "v": _press_verdict,
    "r": _press_review,
    "c": _press_continue,
    "x": _press_stop,
    "s": _press_submit,
}


async def _set_language(update: Update, context: BotContext, language: str) -> None:
    query = update.callback_query
    user = update.effective_user
    services = context.services
    if query is None or user is None or language not in services.flow.languages:
        return
    await services.store.set_language(user.id, language)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(services.wording.text(language, "language_set"))
