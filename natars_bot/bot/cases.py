"""Look-ups the MDT handlers and jobs share (the previous version, the surgeon's display name),
and what a coordinator reads of one referral (/case) or a page of them (/cases).

The views are pure: rows from the store in, Telegram HTML out, every time in the configured
zone with the zone shown (reports/times.py), every code in words of the reader's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from natars_bot.bot.screens import answer_text
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import visible
from natars_bot.mdt.rules import Ballot
from natars_bot.reports.stats import criterion_namer
from natars_bot.reports.times import local_moment, short_stamp, stamp
from natars_bot.store import ReferralRow, Store, SubmissionRow

__all__ = ["case_line", "case_text", "previous_submission", "surgeon_name"]

# What /case shows of the answers: what a coordinator looks a case up by. A question the
# dialogue did not ask (grade outside DDLPS) is left out.
CASE_FIELDS = ("histology", "grade", "tumor_size_cm", "sft_risk_score")


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


def case_line(services: Services, language: str, referral: ReferralRow) -> dict[str, Any]:
    """One referral as a line of /cases: id, site, histology, status in words, local date."""
    return {
        "public_id": referral.public_id,
        "site": referral.site,
        "histology": referral.state.answers.get("histology"),
        "status": services.wording.text(language, f"status_{referral.status}"),
        "date": local_moment(referral.created_at, services.zone).date().isoformat(),
    }


def case_text(
    services: Services,
    language: str,
    referral: ReferralRow,
    versions: Sequence[tuple[SubmissionRow, Sequence[Ballot]]],
) -> str:
    """/case: the referral's histology, size and grade, its status in words, and every version
    with its verdict, failed and open criteria by name, votes with reasons and the decision,
    times local. No screening number: coordinators read pseudonymous records."""
    wording, zone = services.wording, services.zone
    name = criterion_namer(services.protocol, language)
    state = versions[-1][0].state if versions else referral.state
    facts = [
        {
            "label": q.label[language],
            "value": answer_text(services, language, q, state.answers.get(q.field)),
        }
        for q in visible(services.flow, state)
        if q.field in CASE_FIELDS
    ]
    stopped = None
    if referral.status == "screen_failed":
        stopped = {
            "verdict": wording.text(language, f"verdict_{referral.verdict or 'ineligible'}"),
            "at": stamp(referral.updated_at, zone, language),
        }
    return wording.render(
        "case.html.j2",
        language,
        referral={
            "public_id": referral.public_id,
            "site": referral.site,
            "status": wording.text(language, f"status_{referral.status}"),
            "opened": stamp(referral.created_at, zone, language),
        },
        facts=facts,
        stopped=stopped,
        versions=[
            {
                "version": submission.version,
                "submitted": stamp(submission.submitted_at, zone, language),
                "verdict": wording.text(language, f"verdict_{submission.verdict}"),
                "failed": [name(c) for c in submission.failed],
                "unknown": [name(c) for c in submission.unknown],
                "ballots": [
                    {
                        "vote": ballot.vote.value,
                        "reviewer": ballot.reviewer,
                        "at": short_stamp(ballot.at, zone, language),
                        "reason": ballot.reason,
                    }
                    for ballot in ballots
                ],
                "decision": wording.text(language, f"decision_{submission.decision}")
                if submission.decision
                else wording.text(language, "case_pending"),
                "decided": stamp(submission.decided_at, zone, language)
                if submission.decided_at
                else None,
            }
            for submission, ballots in versions
        ],
    )
