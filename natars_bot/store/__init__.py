"""The SQLite store: users, referrals and their progress, the MDT's votes, the outbox and the
audit trail. All SQL lives in this package; callers get frozen rows back.

    StoreError    an unknown user or referral, or an operation the data does not allow
"""

from __future__ import annotations

from natars_bot.store.mdt import MdtMixin
from natars_bot.store.rows import (
    ROLES,
    AuditRow,
    OutboxRow,
    Outgoing,
    ReferralRow,
    Role,
    SubmissionRow,
    UserRow,
)
from natars_bot.store.schema import MIGRATIONS
from natars_bot.store.snapshot import Snapshot
from natars_bot.store.users import UsersMixin

__all__ = [
    "MIGRATIONS",
    "ROLES",
    "AuditRow",
    "OutboxRow",
    "Outgoing",
    "ReferralRow",
    "Role",
    "Snapshot",
    "Store",
    "SubmissionRow",
    "UserRow",
]


class Store(UsersMixin, MdtMixin):
    """Async access to the database; create with `await Store.open(path)`."""
