"""Typed answers: a text read against the question on screen, saved, and what follows shown.

What the surgeon saw is recorded (showing.py): a typed answer is taken only for a screen whose
message reached the chat, and only if written after it. After a crash or a failed reply
between saving an answer and showing the next question, the surgeon's next text gets the saved
answer and the current screen shown again, and answers nothing.
"""

from __future__ import annotations

import contextlib

from markupsafe import Markup
from telegram import Message, Update
from telegram.error import BadRequest

from natars_bot.bot.commands import reply
from natars_bot.bot.people import surgeon_or_refuse
from natars_bot.bot.screens import answer_text, answered_text, confirm_screen, failed_now_screen
from natars_bot.bot.services import BotContext, Services
from natars_bot.bot.showing import assess, current_screen, show_screen
from natars_bot.dialogue.answers import Rejected
from natars_bot.dialogue.engine import Accepted, Unsure, answer, new_failures
from natars_bot.store import ReferralRow

__all__ = ["accept", "on_not_text", "on_text", "reprompt", "show_again"]


async def on_text(update: Update, context: BotContext) -> None:
    """A typed answer to the question on screen: accepted and saved, or re-prompted."""
    surgeon = await surgeon_or_refuse(update, context)
    message = update.effective_message
    if surgeon is None or message is None or surgeon.chat_id is None:
        return
    services, language, draft, chat_id = (
        context.services,
        surgeon.language,
        surgeon.draft,
        surgeon.chat_id,
    )
    if draft is None:
        await message.reply_text(services.wording.text(language, "no_draft"))
        return
    if draft.shown_screen != draft.state.screen or message.message_id < _seen_from(draft):
        # The screen the state is on never reached the chat (a crash or a failed reply after
        # the last answer was saved), or this text was written before it did (message ids
        # grow through a chat, the surgeon's and the bot's alike): it answers a question the
        # surgeon has not seen.
        await show_screen(
            context,
            draft,
            chat_id,
            current_screen(services, language, draft, _saved(services, language, draft)),
        )
        return
    result = answer(services.flow, draft.state, text=message.text or "")
    if isinstance(result, Rejected):
        notice = Markup("⚠️ ") + reprompt(services, language, result)
        if result.reason == "no_question":
            notice = services.wording.text(language, "reprompt_no_question")
        await show_screen(
            context, draft, chat_id, current_screen(services, language, draft, notice)
        )
        return
    actor = str(surgeon.telegram_id)
    if isinstance(result, Unsure):
        draft = await services.store.save_state(
            draft,
            result.state,
            actor=actor,
            action="answer_unclear",
            detail={"field": result.question.field, "reason": result.state.pending.reason}
            if result.state.pending
            else {"field": result.question.field},
        )
        if result.state.pending is not None and not result.state.pending.options:
            services.held[draft.id] = (draft.state.screen, result.text)
        await show_screen(context, draft, chat_id, confirm_screen(services, language, draft))
        return
    await accept(context, draft, result, language, actor, chat_id, message.text or "")


def _seen_from(draft: ReferralRow) -> int:
    """The message id after which a typed text was written with the current screen in view:
    the first message that showed it — or its latest copy, when a new local Bot API server
    numbers messages from 1 again (Telegram never does)."""
    shown = [m for m in (draft.shown_from, draft.message_id) if m is not None]
    return min(shown, default=0)


def _saved(services: Services, language: str, draft: ReferralRow) -> Markup:
    """ "Saved: <the last answer>" above the screen shown again."""
    state = draft.state
    if not state.order:
        return services.wording.text(language, "saved_nothing")
    question = services.flow.question(state.order[-1])
    return services.wording.text(
        language,
        "saved_next",
        label=question.label.get(language, question.field),
        value=answer_text(services, language, question, state.answers.get(question.field)),
    )


def reprompt(services: Services, language: str, rejected: Rejected) -> Markup:
    """Why a typed answer was not taken, in the surgeon's language."""
    wording = services.wording
    key = f"reprompt_{rejected.reason}"
    if rejected.reason == "out_of_range":
        key += "_" + str(rejected.params.get("bound", "ge"))
    params = {k: v for k, v in rejected.params.items() if k not in ("bound", "field")}
    if rejected.reason in ("inexact", "range", "other_area"):
        why = f"why_exact_{rejected.params.get('field')}"
        params["why"] = wording.text(
            language, why if why in wording.messages else "why_exact_default"
        )
    return wording.text(language, key, **params)


async def accept(
    context: BotContext,
    draft: ReferralRow,
    accepted: Accepted,
    language: str,
    actor: str,
    chat_id: int,
    typed: str | None = None,
    pressed: Message | None = None,
    in_place: bool = False,
) -> None:
    """Save an accepted answer, then show what follows: an early fail, a question, the review.

    A pressed question's message keeps its prompt and the answer (the chat is the surgeon's
    record); what follows is a new message below it. `in_place`: a tick or a row answered on a
    group's screen, which is edited to show it (what follows is that screen again).
    """
    services = context.services
    after = assess(services, draft, accepted.state)
    # Every fail an answer causes is shown at once, on a screen of its own that asks to stop,
    # continue or change the answer: the state alone says what the surgeon has seen.
    fresh = new_failures(None, after, accepted.state)
    state = accepted.state
    if fresh:
        state = state.model_copy(
            update={
                "acknowledged": (*state.acknowledged, *fresh),
                "view": "failed",
                "failing": fresh,
            }
        )
    draft = await services.store.save_state(
        draft,
        state,
        actor=actor,
        action="answer",
        detail={"field": accepted.question.field, "value": accepted.value},
    )
    services.held.pop(draft.id, None)
    value = answer_text(services, language, accepted.question, accepted.value)
    recorded = services.wording.text(
        language,
        "answer_recorded",
        label=accepted.question.label.get(language, accepted.question.field),
        value=value,
    )
    if accepted.approximate and typed:
        recorded += Markup(" ") + services.wording.text(
            language, "approximate", text=typed.strip(), value=value
        )
    keep = None
    if pressed is not None and not in_place:
        keep = answered_text(services, language, accepted.question, accepted.value)
    if fresh:
        results = [after.result(criterion_id) for criterion_id in fresh]
        screen = failed_now_screen(services, language, draft, recorded, results)
    else:
        screen = current_screen(services, language, draft, recorded)
    await show_screen(context, draft, chat_id, screen, edit_message=pressed, keep=keep)


async def on_not_text(update: Update, context: BotContext) -> None:
    """A sticker, photo, voice note, location …: say what the bot can read."""
    surgeon = await surgeon_or_refuse(update, context)
    if surgeon is None:
        return
    key = "not_text" if surgeon.draft is not None else "no_draft"
    await reply(update, context.services.wording.text(surgeon.language, key))


async def show_again(update: Update, context: BotContext) -> None:
    """An update that was handled before (Telegram delivered it again after a crash): nothing is
    applied twice; in a surgeon's private chat the current screen is shown again."""
    person = context.person
    if not person.private or not person.has("surgeon") or person.chat_id is None:
        return
    services = context.services
    if update.callback_query is not None:
        # Old by now (the first delivery was answered, or expired): a failure here is no loss.
        with contextlib.suppress(BadRequest):
            await update.callback_query.answer()
    draft = person.draft
    if draft is None:
        return
    notice = services.wording.text(person.language, "again_current")
    await show_screen(
        context, draft, person.chat_id, current_screen(services, person.language, draft, notice)
    )
