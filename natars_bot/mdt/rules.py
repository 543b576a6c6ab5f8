"""The MDT's sign-off, pure: ballots in, a decision (or none yet) out; changes between versions.

Rules (shared with the reviewers in the summary): a case is *declined* once `declines` reviewers
vote "Not eligible" with a reason; *sent back for more information* as soon as a reviewer asks
for it with their questions; *approved* once `approvals` distinct reviewers approve and no
"Not eligible" stands. "Discuss at meeting" is recorded and shown, and decides nothing. A
reviewer's latest vote counts; votes belong to one submitted version and never carry over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Ballot", "Decision", "Quorum", "Vote", "changes", "decide", "tally"]


class Vote(StrEnum):
    """A reviewer's choice under the summary."""

    approve = "approve"
    not_eligible = "not_eligible"
    discuss = "discuss"
    more_info = "more_info"

    @property
    def needs_reason(self) -> bool:
        """Not eligible and Need more information are recorded only with a reason."""
        return self in (Vote.not_eligible, Vote.more_info)


class Decision(StrEnum):
    """How a submitted version ends."""

    approved = "approved"
    declined = "declined"
    more_info = "more_info"


@dataclass(frozen=True, slots=True)
class Ballot:
    """One reviewer's current vote on one version."""

    reviewer_id: int
    reviewer: str
    vote: Vote
    reason: str | None
    at: str


@dataclass(frozen=True, slots=True)
class Quorum:
    """How many distinct reviewers approve or decline a case."""

    approvals: int = 2
    declines: int = 2


def decide(ballots: Iterable[Ballot], quorum: Quorum) -> Decision | None:
    """The decision these ballots make, or None while the case stays open."""
    ballots = list(ballots)
    declines = [b for b in ballots if b.vote is Vote.not_eligible and b.reason]
    if len(declines) >= quorum.declines:
        return Decision.declined
    if any(b.vote is Vote.more_info and b.reason for b in ballots):
        return Decision.more_info
    approvals = [b for b in ballots if b.vote is Vote.approve]
    if len(approvals) >= quorum.approvals and not declines:
        return Decision.approved
    return None


def tally(ballots: Iterable[Ballot]) -> dict[Vote, int]:
    """Votes per choice, every choice present."""
    counts = dict.fromkeys(Vote, 0)
    for ballot in ballots:
        counts[ballot.vote] += 1
    return counts


def changes(
    order: Sequence[str], before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for every answer that differs between two versions, in `order`."""
    fields = [f for f in order if f in before or f in after]
    fields += sorted((set(before) | set(after)) - set(fields))
    return [(f, before.get(f), after.get(f)) for f in fields if before.get(f) != after.get(f)]
