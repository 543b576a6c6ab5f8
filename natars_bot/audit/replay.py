"""The audit trail replayed against the state tables: what the trail says the MDT record is
(submitted versions with their answers, votes, decisions, statuses) compared with what the
tables hold. Pure: rows in, the differences out, each naming what changed.

The chain proves the trail was not edited since it was written (with an anchor: nor truncated
or rewritten); this proves the tables the bot and the exports read still say what the trail
does — an UPDATE of the votes table, a decision flipped, a submitted answer changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StateRows", "TrailRow", "answers_digest", "reconcile"]

_MDT_STATUSES = ("submitted", "approved", "declined", "more_info")


def answers_digest(answers: Mapping[str, Any]) -> str:
    """A digest of a version's answers, recorded in the trail when it is submitted."""
    text = json.dumps(answers, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TrailRow:
    """What replay reads of an audit row."""

    actor: str
    action: str
    referral: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StateRows:
    """The state tables, as replay compares them."""

    # (referral, version) → digest of the stored answers
    submissions: dict[tuple[str, int], str] = field(default_factory=dict)
    # (referral, version, reviewer) → (vote, reason)
    votes: dict[tuple[str, int, int], tuple[str, str | None]] = field(default_factory=dict)
    decisions: dict[tuple[str, int], str] = field(default_factory=dict)  # decided versions only
    statuses: dict[str, str] = field(default_factory=dict)  # referral → status
    referrals: int = 0
    users: int = 0


def reconcile(trail: Iterable[TrailRow], state: StateRows) -> list[str]:
    """Every difference between the trail's account and the tables, in a stable order."""
    trail = list(trail)
    if not trail and (state.referrals or state.users):
        return [
            f"the audit trail is empty, but the database holds {state.referrals} referrals"
            f" and {state.users} user roles (the trail was emptied)"
        ]
    submitted: dict[tuple[str, int], str | None] = {}
    votes: dict[tuple[str, int, int], tuple[str, str | None]] = {}
    decisions: dict[tuple[str, int], str] = {}
    statuses: dict[str, str] = {}
    for row in trail:
        if row.referral is None:
            continue
        version = int(row.detail.get("version", 0))
        if row.action == "referral_submitted":
            submitted[(row.referral, version)] = row.detail.get("answers")
            statuses[row.referral] = "submitted"
        elif row.action == "vote" and row.actor.lstrip("-").isdigit():
            key = (row.referral, version, int(row.actor))
            votes[key] = (str(row.detail.get("vote")), row.detail.get("reason"))
        elif row.action == "decision":
            decisions[(row.referral, version)] = str(row.detail.get("decision"))
            statuses[row.referral] = str(row.detail.get("decision"))
        elif row.action == "referral_reopened":
            statuses[row.referral] = "draft"
    problems = _compare("submission", submitted, state.submissions, answers=True)
    problems += _compare("vote", votes, state.votes)
    problems += _compare("decision", decisions, state.decisions)
    for referral, expected in sorted(statuses.items()):
        found = state.statuses.get(referral)
        if expected in _MDT_STATUSES and found != expected:
            problems.append(
                f"{referral}: status is {found} in the referrals table, {expected} in the trail"
            )
    return problems


def _name(key: tuple[Any, ...]) -> str:
    if len(key) == 3:
        return f"{key[0]} v{key[1]} by {key[2]}"
    return f"{key[0]} v{key[1]}"


def _compare(
    what: str,
    trail: Mapping[Any, Any],
    table: Mapping[Any, Any],
    *,
    answers: bool = False,
) -> list[str]:
    problems = []
    for key in sorted(set(trail) | set(table)):
        if key not in table:
            problems.append(f"{what} {_name(key)} is in the trail but missing from the tables")
        elif key not in trail:
            problems.append(f"{what} {_name(key)} is in the tables but not in the trail")
        elif answers:
            if trail[key] is not None and trail[key] != table[key]:
                problems.append(f"the answers of {_name(key)} differ from those submitted")
        elif trail[key] != table[key]:
            problems.append(
                f"{what} {_name(key)} is {_shown(table[key])} in the tables,"
                f" {_shown(trail[key])} in the trail"
            )
    return problems


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        vote, reason = value
        return f"{vote} ({reason})" if reason else str(vote)
    return str(value)
