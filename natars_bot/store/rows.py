"""Rows as the store returns them: frozen dataclasses, no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..dialogue import DialogueState

__all__ = ["ROLES", "AuditRow", "ReferralRow", "Role", "UserRow"]

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
    state: DialogueState
    message_id: int | None
    verdict: str | None
    created_at: str
    updated_at: str
    submitted_at: str | None


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
