"""Recording a reviewer's vote: the tally and, when it decides the case, the decision notice,
queued in the same transaction as the vote; shared by the buttons (mdt.py) and the reasons
(reasons.py)."""

from __future__ import annotations

import logging

from natars_bot.bot.cases import previous_submission, surgeon_name
from natars_bot.bot.delivery import kick
from natars_bot.bot.jobs import publish_head
from natars_bot.bot.mdt_screens import compose_decision, compose_tally
from natars_bot.bot.services import BotContext, Services
from natars_bot.errors import StoreError
from natars_bot.mdt.rules import Ballot, Vote, decide
from natars_bot.store import SubmissionRow

__all__ = ["record_vote", "reviewer_name"]

log = logging.getLogger(__name__)


async def record_vote(
    context: BotContext, submission: SubmissionRow, reviewer_id: int, vote: Vote, reason: str | None
) -> bool:
    """Record the vote, decide, and queue the tally (and the decision notice) in one
    transaction; False when the store's own authority check refused it (nothing written).
    One submission's votes are counted one at a time (Services.vote_lock)."""
    async with context.services.vote_lock(submission.id):
        return await _record(context, submission, reviewer_id, vote, reason)


async def _record(
    context: BotContext, submission: SubmissionRow, reviewer_id: int, vote: Vote, reason: str | None
) -> bool:
    services = context.services
    store = services.store
    # Quorum from current reviewers only: the store leaves removed reviewers' votes out.
    earlier = [b for b in await store.ballots(submission.id) if b.reviewer_id != reviewer_id]
    mine = Ballot(
        reviewer_id, await reviewer_name(services, reviewer_id), vote, reason, store.now()
    )
    ballots = [*earlier, mine]
    decision = decide(ballots, services.quorum)
    previous = await previous_submission(store, submission)
    surgeon = await surgeon_name(services, submission.surgeon_id)
    discounted = [
        b for b in await store.discounted_ballots(submission.id) if b.reviewer_id != reviewer_id
    ]
    outgoing = [
        compose_tally(
            services, submission, previous, surgeon, ballots, decision, discounted=discounted
        )
    ]
    if decision is not None:
        language = await store.language_of(submission.surgeon_id) or services.flow.languages[0]
        outgoing.append(compose_decision(services, submission, ballots, decision, language))
    try:
        await store.record_vote(
            submission, reviewer_id, vote, reason, decision=decision, outgoing=outgoing
        )
    except StoreError as exc:
        log.info("vote not recorded: %s", exc)
        await store.record_refusal(
            reviewer_id,
            "vote_refused",
            {"reason": "at_count", "submission": submission.id, "error": str(exc)},
            registered=True,
            referral=submission.public_id,
        )
        return False
    if decision is not None:
        await publish_head(services, "decision")  # every decision anchors the trail
    kick(context)
    return True


async def reviewer_name(services: Services, reviewer_id: int) -> str:
    """How the MDT reads a reviewer: their registered name, else "reviewer <id>"."""
    user = (await services.store.roles_of(reviewer_id)).get("reviewer")
    if user is not None and user.name:
        return user.name
    return str(services.wording.text(services.mdt_language, "reviewer_unnamed", id=reviewer_id))
