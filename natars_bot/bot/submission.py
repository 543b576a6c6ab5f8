"""Submitting a referral to the MDT, from its review: the submission and its summary are
committed together, and the outbox worker posts the summary (now, or when Telegram is
reachable again).
"""

from __future__ import annotations

from telegram.constants import ParseMode

from natars_bot.bot.actions import Press
from natars_bot.bot.cases import surgeon_name
from natars_bot.bot.delivery import kick
from natars_bot.bot.mdt_screens import compose_summary
from natars_bot.bot.screens import (
    referral_label,
    verdict_screen,
)
from natars_bot.bot.showing import assess
from natars_bot.store import Outgoing, SubmissionRow

__all__ = ["submit"]


async def submit(press: Press) -> None:
    """Submit to the MDT: the submission and its summary are committed together; the outbox
    worker posts the summary (now, or when Telegram is reachable again)."""
    services, referral = press.services, press.referral
    store = services.store
    assessment = assess(services, referral)
    versions = await store.submissions_of(referral.id)
    previous = versions[-1] if versions else None
    surgeon = await surgeon_name(services, referral.surgeon_id)
    submitted_at = services.clock()

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
    submitted = await store.referral(referral.id)
    await press.show(
        verdict_screen(services, press.language, referral, assessment, False), submitted
    )
    label = referral_label(services, press.language, referral.public_id, referral.state)
    text = services.wording.text(press.language, "submitted", referral=label)
    await press.context.bot.send_message(press.chat_id, text, parse_mode=ParseMode.HTML)
