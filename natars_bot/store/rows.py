"""Rows as the store returns them: frozen dataclasses, no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from natars_bot.dialogue.engine import DialogueState

__all__ = [
    "ROLES",
    "AuditRow",
    "OutboxRow",
    "Outgoing",
    "ReferralRow",
    "Role",
    "SubmissionRow",
    "UserRow",
]

Role = Literal["surgeon", "reviewer", "coordinator", "admin"]
ROLES: tuple[Role, ...] = ("surgeon", "reviewer", "coordinator", "admin")


@dataclass(frozen=True, slots=True)
class UserRow:
    """One role of one registered Telegram user."""

    telegram_id: int
    role: Role
    site: str | None
    name: str | None
    added_at: str


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """A referral as stored: its pseudonymous id, owner, status and dialogue progress."""

    id: int
    public_id: str
    surgeon_id: int
    site: str | None
    status: str
    version: int
    state: DialogueState
    message_id: int | None
    verdict: str | None
    created_at: str
    updated_at: str
    submitted_at: str | None
    shown_screen: int | None = None  # the dialogue screen whose message reached the chat
    shown_from: int | None = None  # the first message that showed it


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One link of the audit hash chain."""

    id: int
    at: str
    actor: str
    action: str
    referral: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class SubmissionRow:
    """One version of a referral as submitted to the MDT, with where its summary was posted."""

    id: int
    referral_id: int
    public_id: str
    surgeon_id: int
    site: str | None
    version: int
    state: DialogueState
    verdict: str
    failed: tuple[str, ...]
    unknown: tuple[str, ...]
    protocol: str
    submitted_at: str
    mdt_chat_id: int | None
    mdt_message_id: int | None
    decision: str | None
    decided_at: str | None
    remind_at: str | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A message that matters, waiting to be delivered (or delivered)."""

    id: int
    kind: str  # summary (posts, records the message id) | message | tally (edits the summary)
    chat_id: int | None  # None: the MDT group
    text: str
    markup: dict[str, Any] | None
    submission_id: int | None
    reply_to_summary: bool
    status: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to put in the outbox (the store adds ids and times)."""

    kind: str
    text: str
    chat_id: int | None = None
    markup: dict[str, Any] | None = None
    reply_to_summary: bool = False
