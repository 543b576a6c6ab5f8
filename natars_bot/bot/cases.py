"""Look-ups the MDT handlers and jobs share: the previous version, the surgeon's display name."""

from __future__ import annotations

from natars_bot.bot.services import Services
from natars_bot.store import Store, SubmissionRow

__all__ = ["previous_submission", "surgeon_name"]


async def previous_submission(store: Store, submission: SubmissionRow) -> SubmissionRow | None:
    """The version submitted before this one, if any (its answers are compared in the summary)."""
    earlier = [
        s
        for s in await store.submissions_of(submission.referral_id)
        if s.version < submission.version
    ]
    return earlier[-1] if earlier else None


async def surgeon_name(services: Services, surgeon_id: int) -> str:
    """How the MDT sees the referring surgeon: the registered name, else their Telegram id
    (in the MDT's language)."""
    user = (await services.store.roles_of(surgeon_id)).get("surgeon")
    if user is not None and user.name:
        return user.name
    return str(services.wording.text(services.mdt_language, "surgeon_unnamed", id=surgeon_id))
