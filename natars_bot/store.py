"""The SQLite store: users, referrals and their progress, and the audit trail. All SQL lives here.

One long-lived aiosqlite connection (each await costs a thread hop, so few awaits per step), WAL
journal, `synchronous=FULL` so that an acknowledged answer survives a power cut as well as a
killed process. Every write is one explicit `BEGIN IMMEDIATE` transaction that also appends its
audit row, and is committed before the bot replies. Schema versions live in `PRAGMA user_version`
and migrate at start-up.

    StoreError    an unknown user or referral, or an operation the data does not allow
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from .dialogue import DialogueState
from .errors import StoreError

__all__ = ["ROLES", "AuditRow", "ReferralRow", "Store", "UserRow"]

Role = Literal["surgeon", "reviewer", "coordinator", "admin"]
ROLES: tuple[Role, ...] = ("surgeon", "reviewer", "coordinator", "admin")
Clock = Callable[[], datetime]

MIGRATIONS: tuple[str, ...] = (
    # 1: users, referrals with their dialogue state, the audit chain
    """
    CREATE TABLE users (
        telegram_id INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('surgeon', 'reviewer', 'coordinator', 'admin')),
        site TEXT,
        name TEXT,
        added_at TEXT NOT NULL,
        PRIMARY KEY (telegram_id, role)
    );
    CREATE TABLE preferences (
        telegram_id INTEGER PRIMARY KEY,
        language TEXT NOT NULL
    );
    CREATE TABLE referrals (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        surgeon_id INTEGER NOT NULL,
        site TEXT,
        status TEXT NOT NULL
            CHECK (status IN ('draft', 'screen_failed', 'submitted', 'cancelled')),
        state TEXT NOT NULL,
        message_id INTEGER,
        verdict TEXT,
        failed TEXT,
        unknown TEXT,
        protocol TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        submitted_at TEXT
    );
    CREATE UNIQUE INDEX one_draft_per_surgeon ON referrals (surgeon_id) WHERE status = 'draft';
    CREATE INDEX referrals_by_surgeon ON referrals (surgeon_id, id);
    CREATE TABLE bot_state (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        referral TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    """,
)
GENESIS_HASH = "0" * 64


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


def audit_hash(
    prev_hash: str, at: str, actor: str, action: str, referral: str | None, detail: str
) -> str:
    """The hash of an audit row: its content and the previous row's hash."""
    content = json.dumps([prev_hash, at, actor, action, referral, detail], ensure_ascii=False)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Async access to the database; create with `await Store.open(path)`."""

    def __init__(self, connection: aiosqlite.Connection, clock: Clock = _utc_now) -> None:
        self._db = connection
        self._clock = clock
        # The Telegram update being handled (updates are handled one at a time). Every write
        # records it, so that after a crash an update Telegram delivers again is recognised.
        self.update_id: int | None = None

    @classmethod
    async def open(cls, path: str | Path, clock: Clock = _utc_now) -> Store:
        """Open (creating if needed) and migrate the database at `path`."""
        try:
            connection = await aiosqlite.connect(str(path), isolation_level=None)
        except Exception as exc:  # sqlite3 raises a bare OperationalError with no path in it
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        connection.row_factory = aiosqlite.Row
        store = cls(connection, clock)
        try:
            await store._prepare()
        except BaseException:
            await connection.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection (pending transactions were all committed or rolled back)."""
        await self._db.close()

    async def _prepare(self) -> None:
        await self._db.execute("PRAGMA journal_mode = WAL")
        await self._db.execute("PRAGMA synchronous = FULL")
        await self._db.execute("PRAGMA foreign_keys = ON")
        await self._db.execute("PRAGMA busy_timeout = 5000")
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the database is at schema version {version}, newer than this natars-bot "
                f"({len(MIGRATIONS)}): upgrade natars-bot"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits first; the version bump is part of the same script.
            await self._db.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )

    def now(self) -> str:
        """The current UTC time as stored (ISO 8601, seconds)."""
        return self._clock().astimezone(UTC).isoformat(timespec="seconds")

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            if self.update_id is not None:
                await self._db.execute(
                    "INSERT INTO bot_state (key, value) VALUES ('last_update_id', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                    (self.update_id,),
                )
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    async def last_update_id(self) -> int:
        """The newest Telegram update whose effects were committed (0 before any)."""
        async with self._db.execute(
            "SELECT value FROM bot_state WHERE key = 'last_update_id'"
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _audit(
        self, actor: str, action: str, referral: str | None, detail: dict[str, Any]
    ) -> None:
        """Append an audit row; call inside a transaction."""
        async with self._db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1") as cursor:
            last = await cursor.fetchone()
        prev = str(last[0]) if last else GENESIS_HASH
        at = self.now()
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        await self._db.execute(
            "INSERT INTO audit (at, actor, action, referral, detail, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                at,
                actor,
                action,
                referral,
                text,
                prev,
                audit_hash(prev, at, actor, action, referral, text),
            ),
        )

    # ------------------------------------------------------------------ users

    async def add_user(
        self, telegram_id: int, role: Role, *, site: str | None, name: str | None, actor: str
    ) -> UserRow:
        """Register a role for a Telegram user (or update its site and name)."""
        if role not in ROLES:
            raise StoreError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        at = self.now()
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO users (telegram_id, role, site, name, added_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (telegram_id, role) DO UPDATE SET site = excluded.site,"
                " name = excluded.name",
                (telegram_id, role, site, name, at),
            )
            await self._audit(
                actor, "user_added", None, {"telegram_id": telegram_id, "role": role, "site": site}
            )
        return UserRow(telegram_id, role, site, name, at)

    async def remove_user(self, telegram_id: int, role: Role | None, *, actor: str) -> int:
        """Remove one role (or every role) of a user; returns how many were removed."""
        async with self._transaction() as db:
            if role is None:
                cursor = await db.execute("DELETE FROM users WHERE telegram_id = ?", (telegram_id,))
            else:
                cursor = await db.execute(
                    "DELETE FROM users WHERE telegram_id = ? AND role = ?", (telegram_id, role)
                )
            removed = cursor.rowcount
            if removed:
                await self._audit(
                    actor, "user_removed", None, {"telegram_id": telegram_id, "role": role}
                )
        if not removed:
            raise StoreError(f"no user {telegram_id}" + (f" with role {role}" if role else ""))
        return removed

    async def users(self) -> list[UserRow]:
        """Every registered role, by Telegram id. This is a read-only operation."""
        async with self._db.execute(
            "SELECT telegram_id, role, site, name, added_at FROM users ORDER BY telegram_id, role"
        ) as cursor:
            return [UserRow(*row) for row in await cursor.fetchall()]

    async def roles_of(self, telegram_id: int) -> dict[str, UserRow]:
        """The roles a Telegram user holds, by role name (empty for strangers)."""
        async with self._db.execute(
            "SELECT telegram_id, role, site, name, added_at FROM users WHERE telegram_id = ?",
            (telegram_id,),
        ) as cursor:
            return {row[1]: UserRow(*row) for row in await cursor.fetchall()}

    async def language_of(self, telegram_id: int) -> str | None:
        """The language a user chose with /language, if any."""
        async with self._db.execute(
            "SELECT language FROM preferences WHERE telegram_id = ?", (telegram_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def set_language(self, telegram_id: int, language: str) -> None:
        """Remember a user's language."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO preferences (telegram_id, language) VALUES (?, ?)"
                " ON CONFLICT (telegram_id) DO UPDATE SET language = excluded.language",
                (telegram_id, language),
            )

    # ------------------------------------------------------------------ referrals

    _REFERRAL_COLUMNS = (
        "id, public_id, surgeon_id, site, status, state, message_id, verdict,"
        " created_at, updated_at, submitted_at"
    )

    @staticmethod
    def _referral(row: Any) -> ReferralRow:
        values = list(row)
        values[5] = DialogueState.model_validate_json(values[5])
        return ReferralRow(*values)

    async def draft_of(self, surgeon_id: int) -> ReferralRow | None:
        """The surgeon's referral in progress, if any."""
        async with self._db.execute(
            f"SELECT {self._REFERRAL_COLUMNS} FROM referrals"
            " WHERE surgeon_id = ? AND status = 'draft'",
            (surgeon_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return self._referral(row) if row else None

    async def referral(self, referral_id: int) -> ReferralRow:
        """A referral by its row id; StoreError if there is none."""
        async with self._db.execute(
            f"SELECT {self._REFERRAL_COLUMNS} FROM referrals WHERE id = ?", (referral_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise StoreError(f"no referral #{referral_id}")
        return self._referral(row)

    async def referrals_of(self, surgeon_id: int, limit: int = 10) -> list[ReferralRow]:
        """The surgeon's latest referrals, newest first. This is a read-only operation."""
        async with self._db.execute(
            f"SELECT {self._REFERRAL_COLUMNS} FROM referrals WHERE surgeon_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (surgeon_id, limit),
        ) as cursor:
            return [self._referral(row) for row in await cursor.fetchall()]

    async def start_referral(self, surgeon_id: int, site: str | None) -> ReferralRow:
        """Open a draft with the next pseudonymous id of the year (NAT-2026-0007)."""
        now = self._clock().astimezone(UTC)
        prefix = f"NAT-{now.year}-"
        at = self.now()
        state = DialogueState().model_dump_json()
        async with self._transaction() as db:
            async with db.execute(
                "SELECT COUNT(*) FROM referrals WHERE public_id LIKE ?", (prefix + "%",)
            ) as cursor:
                row = await cursor.fetchone()
            public_id = f"{prefix}{(int(row[0]) if row else 0) + 1:04d}"
            try:
                cursor = await db.execute(
                    "INSERT INTO referrals (public_id, surgeon_id, site, status, state, created_at,"
                    " updated_at) VALUES (?, ?, ?, 'draft', ?, ?, ?)",
                    (public_id, surgeon_id, site, state, at, at),
                )
            except aiosqlite.IntegrityError as exc:
                raise StoreError("this surgeon already has a referral in progress") from exc
            await self._audit(str(surgeon_id), "referral_started", public_id, {"site": site})
            referral_id = cursor.lastrowid
        return await self.referral(int(referral_id or 0))

    async def save_state(
        self,
        referral: ReferralRow,
        state: DialogueState,
        *,
        actor: str,
        action: str,
        detail: dict[str, Any],
    ) -> ReferralRow:
        """Commit a draft's new dialogue state and its audit row (before the bot replies)."""
        at = self.now()
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE referrals SET state = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
                (state.model_dump_json(), at, referral.id),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"referral {referral.public_id} is no longer in progress")
            await self._audit(actor, action, referral.public_id, detail)
        return await self.referral(referral.id)

    async def set_message(self, referral: ReferralRow, message_id: int | None) -> None:
        """Remember which message shows the current question (it is edited in place)."""
        await self._db.execute(
            "UPDATE referrals SET message_id = ? WHERE id = ?", (message_id, referral.id)
        )

    async def close_referral(
        self,
        referral: ReferralRow,
        status: Literal["screen_failed", "submitted", "cancelled"],
        *,
        actor: str,
        verdict: str | None = None,
        failed: tuple[str, ...] = (),
        unknown: tuple[str, ...] = (),
        protocol: str | None = None,
    ) -> ReferralRow:
        """End a draft: stopped as ineligible, submitted to the MDT, or discarded."""
        at = self.now()
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE referrals SET status = ?, verdict = ?, failed = ?, unknown = ?,"
                " protocol = ?, updated_at = ?, submitted_at = CASE WHEN ? = 'submitted' THEN ? END"
                " WHERE id = ? AND status = 'draft'",
                (
                    status,
                    verdict,
                    json.dumps(failed),
                    json.dumps(unknown),
                    protocol,
                    at,
                    status,
                    at,
                    referral.id,
                ),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"referral {referral.public_id} is no longer in progress")
            await self._audit(
                actor,
                f"referral_{status}",
                referral.public_id,
                {
                    "verdict": verdict,
                    "failed": list(failed),
                    "unknown": list(unknown),
                    "protocol": protocol,
                },
            )
        return await self.referral(referral.id)

    # ------------------------------------------------------------------ audit

    async def audit_rows(self, referral: str | None = None) -> list[AuditRow]:
        """The audit trail (of one referral, by public id). This is a read-only operation."""
        query = "SELECT id, at, actor, action, referral, detail, prev_hash, hash FROM audit"
        params: tuple[Any, ...] = ()
        if referral is not None:
            query += " WHERE referral = ?"
            params = (referral,)
        async with self._db.execute(query + " ORDER BY id", params) as cursor:
            rows = await cursor.fetchall()
        return [AuditRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]
