"""Users, their roles and their language."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from natars_bot.errors import StoreError
from natars_bot.store.base import Db, StoreBase
from natars_bot.store.rows import ROLES, Role, UserRow

__all__ = ["REFUSAL_WINDOW", "UsersMixin"]

REFUSAL_WINDOW = timedelta(hours=1)


class UsersMixin(StoreBase):
    """Registration (natars-bot users …) and per-user preferences."""

    async def add_user(
        self, telegram_id: int, role: Role, *, site: str | None, name: str | None, actor: str
    ) -> UserRow:
        """Register a role for a Telegram user (or update its site and name)."""
        if role not in ROLES:
            raise StoreError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        at = self.now()

        def add(db: Db) -> None:
            db.execute(
                "INSERT INTO users (telegram_id, role, site, name, added_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (telegram_id, role) DO UPDATE SET site = excluded.site,"
                " name = excluded.name",
                (telegram_id, role, site, name, at),
            )
            self._audit_in(
                db, actor, "user_added", None,
                {"telegram_id": telegram_id, "role": role, "site": site},
            )  # fmt: skip

        await self._write(add)
        return UserRow(telegram_id, role, site, name, at)

    async def remove_user(self, telegram_id: int, role: Role | None, *, actor: str) -> int:
        """Remove one role (or every role) of a user; returns how many were removed."""

        def remove(db: Db) -> int:
            if role is None:
                cursor = db.execute("DELETE FROM users WHERE telegram_id = ?", (telegram_id,))
            else:
                cursor = db.execute(
                    "DELETE FROM users WHERE telegram_id = ? AND role = ?", (telegram_id, role)
                )
            removed = cursor.rowcount
            if removed:
                self._audit_in(
                    db, actor, "user_removed", None, {"telegram_id": telegram_id, "role": role}
                )
            if removed and role in (None, "reviewer"):
                self._discount_votes_in(db, telegram_id, actor)
            return removed

        removed = await self._write(remove)
        if not removed:
            raise StoreError(f"no user {telegram_id}" + (f" with role {role}" if role else ""))
        return removed

    def _discount_votes_in(self, db: Db, telegram_id: int, actor: str) -> None:
        """Mark in the trail each undecided version whose votes by a removed reviewer stop
        counting (the votes stay stored; the store counts only current reviewers')."""
        rows = self._rows_in(
            db,
            "SELECT r.public_id, s.version, v.vote FROM votes v"
            " JOIN submissions s ON s.id = v.submission_id JOIN referrals r ON r.id = s.referral_id"
            " WHERE v.reviewer_id = ? AND s.decision IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM users WHERE telegram_id = ? AND role = 'reviewer')"
            " ORDER BY s.id",
            (telegram_id, telegram_id),
        )
        for public_id, version, vote in rows:
            self._audit_in(
                db,
                actor,
                "vote_discounted",
                str(public_id),
                {"version": int(version), "reviewer_id": telegram_id, "vote": str(vote)},
            )

    async def record_refusal(
        self,
        telegram_id: int,
        action: str,
        detail: dict[str, Any],
        *,
        registered: bool,
        referral: str | None = None,
    ) -> bool:
        """Audit a refused request; True if a row was written.

        A registered user's refusal is always one row. An unregistered user's gets at most one
        row per hour (REFUSAL_WINDOW), carrying in `unrecorded` how many of their refusals the
        previous row's hour left out, so that strangers cannot grow the trail without bound.
        """
        now = self.clock()
        at = self.now()

        def refuse(db: Db) -> bool:
            written = detail
            if not registered:
                row = self._row_in(
                    db,
                    "SELECT window_start, suppressed FROM refusal_windows WHERE telegram_id = ?",
                    (telegram_id,),
                )
                if row is not None and datetime.fromisoformat(row[0]) > now - REFUSAL_WINDOW:
                    db.execute(
                        "UPDATE refusal_windows SET suppressed = suppressed + 1"
                        " WHERE telegram_id = ?",
                        (telegram_id,),
                    )
                    return False
                written = {**detail, "unrecorded": int(row[1]) if row is not None else 0}
                db.execute(
                    "INSERT INTO refusal_windows (telegram_id, window_start, suppressed)"
                    " VALUES (?, ?, 0) ON CONFLICT (telegram_id) DO UPDATE"
                    " SET window_start = excluded.window_start, suppressed = 0",
                    (telegram_id, at),
                )
            self._audit_in(db, str(telegram_id), action, referral, written)
            return True

        return await self._write(refuse)

    async def users(self) -> list[UserRow]:
        """Every registered role, by Telegram id. This is a read-only operation."""
        return [
            UserRow(*row)
            for row in await self._all(
                "SELECT telegram_id, role, site, name, added_at FROM users"
                " ORDER BY telegram_id, role"
            )
        ]

    async def roles_of(self, telegram_id: int) -> dict[str, UserRow]:
        """The roles a Telegram user holds, by role name (empty for strangers)."""
        return {
            row[1]: UserRow(*row)
            for row in await self._all(
                "SELECT telegram_id, role, site, name, added_at FROM users WHERE telegram_id = ?",
                (telegram_id,),
            )
        }

    async def person(self, telegram_id: int) -> tuple[dict[str, UserRow], str | None]:
        """A user's roles by name (empty for strangers) and chosen language: the two lookups
        every update starts with, in one query."""
        rows = await self._all(
            "SELECT u.telegram_id, u.role, u.site, u.name, u.added_at, p.language"
            " FROM (SELECT ? AS id) AS q"
            " LEFT JOIN users AS u ON u.telegram_id = q.id"
            " LEFT JOIN preferences AS p ON p.telegram_id = q.id",
            (telegram_id,),
        )
        roles = {str(row[1]): UserRow(*row[:5]) for row in rows if row[1] is not None}
        return roles, (str(rows[0][5]) if rows and rows[0][5] is not None else None)

    async def language_of(self, telegram_id: int) -> str | None:
        """The language a user chose with /language, if any."""
        row = await self._one(
            "SELECT language FROM preferences WHERE telegram_id = ?", (telegram_id,)
        )
        return str(row[0]) if row else None

    async def set_language(self, telegram_id: int, language: str) -> None:
        """Remember a user's language."""
        await self._write(
            lambda db: db.execute(
                "INSERT INTO preferences (telegram_id, language) VALUES (?, ?)"
                " ON CONFLICT (telegram_id) DO UPDATE SET language = excluded.language",
                (telegram_id, language),
            )
        )
