"""What the MDT group and the referring surgeon see of a submission: summary, tally, decision,
reminder. Every message is composed here as an `Outgoing` for the outbox, never sent directly.

Vote buttons carry the submission (one version of a referral) and the vote (callbacks.Vote, codes
a, n, d, i); "Update the referral" carries the referral and the version the MDT asked about
(callbacks.Reopen). Both are resolved against the database, so they work after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from natars_bot.bot.callbacks import Reopen, encode
from natars_bot.bot.callbacks import Vote as VotePress
from natars_bot.bot.screens import answer_text, referral_label
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import to_referral, visible
from natars_bot.dialogue.flow import Flow
from natars_bot.dialogue.wording import TELEGRAM_TEXT_LIMIT, split_html
from natars_bot.mdt.rules import Ballot, Decision, Quorum, Vote, changes, tally
from natars_bot.protocol.eligibility import Assessment, Outcome, evaluate
from natars_bot.reports.times import short_stamp, stamp
from natars_bot.store import Outgoing, SubmissionRow

__all__ = [
    "VOTE_CODES",
    "compose_decision",
    "compose_reminder",
    "compose_summary",
    "compose_tally",
]

VOTE_CODES = {"a": Vote.approve, "n": Vote.not_eligible, "d": Vote.discuss, "i": Vote.more_info}
_CODE_OF = {vote: code for code, vote in VOTE_CODES.items()}
# Room left in the summary's last message for the tally that follows it.
_SUMMARY_PART = TELEGRAM_TEXT_LIMIT - 1200
_HIDDEN_FROM_MDT = ("screening_number", "note")  # the note is shown on its own


def assess(services: Services, submission: SubmissionRow) -> Assessment:
    """The engine's verdict on a submitted version (deterministic: same answers, same verdict)."""
    referral = to_referral(
        services.flow, submission.state, referral_id=submission.public_id, site=submission.site
    )
    return evaluate(referral, services.protocol)


def _summary_parts(
    services: Services, submission: SubmissionRow, previous: SubmissionRow | None, surgeon: str
) -> list[str]:
    flow, wording = services.flow, services.wording
    language = services.mdt_language
    state = submission.state
    rows = [
        {
            "label": q.label[language],
            "value": answer_text(services, language, q, state.answers.get(q.field)),
        }
        for q in visible(flow, state)
        if q.field not in _HIDDEN_FROM_MDT
    ]
    assessment = assess(services, submission)
    text = wording.render(
        "mdt_summary.html.j2",
        language,
        referral=submission.public_id,
        version=submission.version,
        site=submission.site,
        surgeon=surgeon,
        submitted=stamp(submission.submitted_at, services.zone, language),
        changes=_changes(services, flow, previous, submission),
        rows=rows,
        assessment=assessment,
        failed=[r for r in assessment.results if r.outcome is Outcome.failed],
        unknown=[r for r in assessment.results if r.outcome is Outcome.unknown],
        note=state.answers.get("note"),
    )
    return split_html(text, _SUMMARY_PART)


def _changes(
    services: Services, flow: Flow, previous: SubmissionRow | None, submission: SubmissionRow
) -> list[dict[str, str]]:
    if previous is None:
        return []
    language = services.mdt_language
    order = [q.field for q in flow.questions if q.field != "screening_number"]
    before = {k: v for k, v in previous.state.answers.items() if k != "screening_number"}
    after = {k: v for k, v in submission.state.answers.items() if k != "screening_number"}
    rows = []
    for field, old, new in changes(order, before, after):
        question = flow.question(field)
        rows.append(
            {
                "label": question.label[language],
                "before": answer_text(services, language, question, old)
                if field in before
                else "—",
                "after": answer_text(services, language, question, new) if field in after else "—",
            }
        )
    return rows


def _keyboard(services: Services, submission_id: int) -> dict[str, object]:
    language = services.mdt_language
    buttons = [
        InlineKeyboardButton(
            services.wording.text(language, f"vote_{vote.value}"),
            callback_data=encode(VotePress(submission=submission_id, vote=_CODE_OF[vote])),
        )
        for vote in Vote
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]]).to_dict()


def _tally(
    services: Services,
    ballots: Sequence[Ballot],
    decision: Decision | None,
    quorum: Quorum,
    discounted: Sequence[Ballot] = (),
) -> Markup:
    return Markup(  # rendered by our autoescaping template
        services.wording.render(
            "mdt_tally.html.j2",
            services.mdt_language,
            ballots=[_shown(services, ballot) for ballot in ballots],
            discounted=discounted,
            counts={vote.value: count for vote, count in tally(ballots).items()},
            decision=decision.value if decision else None,
            quorum=quorum,
        )
    )


def _shown(services: Services, ballot: Ballot) -> dict[str, object]:
    """A ballot as the tally lists it: when it was cast in local time, with the zone (a case
    waits days, so the date too)."""
    return {
        "vote": ballot.vote,
        "reviewer": ballot.reviewer,
        "reason": ballot.reason,
        "at": short_stamp(ballot.at, services.zone, services.mdt_language),
    }


def compose_summary(
    services: Services, submission: SubmissionRow, previous: SubmissionRow | None, surgeon: str
) -> list[Outgoing]:
    """The summary for the MDT group: leading parts, then the last part with tally and buttons."""
    parts = _summary_parts(services, submission, previous, surgeon)
    last = f"{parts[-1]}\n\n{_tally(services, [], None, services.quorum)}"
    return [
        *(Outgoing(kind="message", text=part) for part in parts[:-1]),
        Outgoing(kind="summary", text=last, markup=_keyboard(services, submission.id)),
    ]


def compose_tally(
    services: Services,
    submission: SubmissionRow,
    previous: SubmissionRow | None,
    surgeon: str,
    ballots: Sequence[Ballot],
    decision: Decision | None,
    *,
    discounted: Sequence[Ballot] = (),
) -> Outgoing:
    """The summary's last message again, with the new tally; without buttons once decided.

    `discounted`: votes of users no longer reviewers, shown struck through and not counted.
    """
    parts = _summary_parts(services, submission, previous, surgeon)
    tally_text = _tally(services, ballots, decision, services.quorum, discounted)
    text = f"{parts[-1]}\n\n{tally_text}"
    markup = None if decision else _keyboard(services, submission.id)
    return Outgoing(kind="tally", text=text, markup=markup)


def compose_decision(
    services: Services,
    submission: SubmissionRow,
    ballots: Sequence[Ballot],
    decision: Decision,
    language: str,
) -> Outgoing:
    """The decision, told to the referring surgeon in private, with the reviewers' reasons."""
    wording = services.wording
    relevant = {Decision.declined: Vote.not_eligible, Decision.more_info: Vote.more_info}.get(
        decision
    )
    reasons = [b for b in ballots if b.reason and (relevant is None or b.vote is relevant)]
    text = wording.render(
        "mdt_decision.html.j2",
        language,
        # The surgeon's own screening number: this notice goes to their private chat only.
        referral=referral_label(services, language, submission.public_id, submission.state),
        version=submission.version,
        decision=decision.value,
        reasons=reasons,
        # Composed when the decision is recorded, so the clock's now is the decision's time.
        decided=stamp(services.clock(), services.zone, language),
    )
    markup = None
    if decision is Decision.more_info:
        button = InlineKeyboardButton(
            wording.text(language, "update_referral"),
            callback_data=encode(
                Reopen(referral=submission.referral_id, version=submission.version)
            ),
        )
        markup = InlineKeyboardMarkup([[button]]).to_dict()
    return Outgoing(kind="message", text=text, chat_id=submission.surgeon_id, markup=markup)


def compose_reminder(
    services: Services, submission: SubmissionRow, ballots: Sequence[Ballot], now: datetime
) -> Outgoing:
    """A reminder replying to the summary: how long the case has waited, and the tally."""
    language = services.mdt_language
    waited = now - datetime.fromisoformat(submission.submitted_at)
    hours = int(waited.total_seconds() // 3600)
    age = (
        services.wording.text(language, "age_days", days=hours // 24)
        if hours >= 48
        else services.wording.text(language, "age_hours", hours=hours)
    )
    text = services.wording.render(
        "mdt_reminder.html.j2",
        language,
        referral=submission.public_id,
        version=submission.version,
        age=age,
        submitted=stamp(submission.submitted_at, services.zone, language),
        counts={vote.value: count for vote, count in tally(ballots).items()},
    )
    return Outgoing(kind="message", text=text, reply_to_summary=True)
