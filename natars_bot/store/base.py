"""The SQLite store's foundation: one connection, explicit transactions, migrations, audit rows.

One long-lived connection, used on the event loop's thread (store/inline.py says why), WAL
journal, `synchronous=FULL` so that an acknowledged answer survives a power cut as well as a
killed process. Every write is one explicit `BEGIN IMMEDIATE` transaction that also appends its
audit row, and is committed before the bot replies.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from natars_bot.audit.chain import GENESIS_HASH, audit_hash
from natars_bot.dialogue.engine import DialogueState
from natars_bot.errors import StoreError
from natars_bot.store.inline import Connection, connect
from natars_bot.store.rows import AuditRow
from natars_bot.store.schema import MIGRATIONS

__all__ = ["Clock", "StoreBase"]

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StoreBase:
    """The connection, its transactions and the audit chain; the mixins add the tables' methods."""

    def __init__(self, connection: Connection, clock: Clock = _utc_now) -> None:
        self._db = connection
        self._clock = clock
        # The Telegram update being handled (its id and fingerprint), in the handler's context
        # only (the JobQueue's jobs run in tasks of their own and do not see it). A handler's
        # writes record it, so that after a crash an update Telegram delivers again is known.
        self._update: ContextVar[tuple[int, str] | None] = ContextVar("update", default=None)
        self.path: Path | None = None  # the database file, for readers with their own connection
        self._sites: list[str] | None = None
        self._write_lock = asyncio.Lock()
        # referral id → (state JSON, parsed state), most recent last (ReferralsMixin._state)
        self._states: OrderedDict[int, tuple[str, DialogueState]] = OrderedDict()

    @classmethod
    async def open(cls, path: str | Path, clock: Clock = _utc_now) -> Self:
        """Open (creating if needed) and migrate the database at `path`."""
        try:
            connection = connect(str(path))
        except sqlite3.Error as exc:  # a bare OperationalError, with no path in it
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        await connection.create_function("natars_audit_hash", 6, audit_hash, deterministic=True)
        store = cls(connection, clock)
        store.path = Path(path)
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
        row = await self._one("PRAGMA user_version")
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

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of a query."""
        return await self._db.execute_fetchall(sql, params)

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a query that returns at most one."""
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    def clock(self) -> datetime:
        """The current time, from the clock the store was opened with."""
        return self._clock()

    def now(self) -> str:
        """The current UTC time as stored (ISO 8601, seconds)."""
        return self._clock().astimezone(UTC).isoformat(timespec="seconds")

    @asynccontextmanager
    async def _transaction(self, *, record: bool = True) -> AsyncIterator[Connection]:
        # One connection serves the update handlers and the JobQueue's outbox and reminder
        # jobs, which interleave at every await: without this lock, one coroutine's statements
        # would run inside another's transaction ("cannot start a transaction within a
        # transaction", found by the load benchmark).
        async with self._write_lock, self._transaction_unlocked(record=record) as db:
            yield db
        # Statements run inline and never suspend (inline.py): a coroutine writing in a loop
        # lets the others run between its transactions.
        await asyncio.sleep(0)

    @asynccontextmanager
    async def _transaction_unlocked(self, *, record: bool = True) -> AsyncIterator[Connection]:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            update = self._update.get() if record else None
            if update is not None:
                await self._db.execute(
                    "INSERT OR IGNORE INTO handled_updates (update_id, fingerprint, handled_at)"
                    " VALUES (?, ?, ?)",
                    (*update, self.now()),
                )
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    def handling(self, update_id: int, fingerprint: str) -> None:
        """Note the update the current handler works on (see `_update`)."""
        self._update.set((update_id, fingerprint))

    async def was_handled(self, update_id: int, fingerprint: str) -> bool:
        """Whether this very update (same id, same content) had effects committed before."""
        row = await self._one(
            "SELECT 1 FROM handled_updates WHERE update_id = ? AND fingerprint = ?",
            (update_id, fingerprint),
        )
        return row is not None

    async def forget_handled(self, before: datetime) -> int:
        """Drop handled-update records older than `before` (Telegram redelivers an update for
        at most 24 hours); returns how many went."""
        async with self._transaction(record=False) as db:
            cursor = await db.execute(
                "DELETE FROM handled_updates WHERE handled_at < ?",
                (before.astimezone(UTC).isoformat(timespec="seconds"),),
            )
        return int(cursor.rowcount)

    async def _audit(
        self, actor: str, action: str, referral: str | None, detail: dict[str, Any]
    ) -> None:
        """Append an audit row; call inside a transaction.

        One statement reads the chain's head and appends the row hashed onto it (the hash is
        the SQL function natars_audit_hash, i.e. audit.audit_hash).
        """
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        await self._db.execute(
            "INSERT INTO audit (at, actor, action, referral, detail, prev_hash, hash)"
            " SELECT ?1, ?2, ?3, ?4, ?5, prev, natars_audit_hash(prev, ?1, ?2, ?3, ?4, ?5)"
            " FROM (SELECT COALESCE((SELECT hash FROM audit ORDER BY id DESC LIMIT 1), ?6)"
            " AS prev)",
            (self.now(), actor, action, referral, text, GENESIS_HASH),
        )

    async def audit_rows(self, referral: str | None = None) -> list[AuditRow]:
        """The audit trail (of one referral, by public id). This is a read-only operation."""
        query = "SELECT id, at, actor, action, referral, detail, prev_hash, hash FROM audit"
        params: tuple[Any, ...] = ()
        if referral is not None:
            query += " WHERE referral = ?"
            params = (referral,)
        rows = await self._all(query + " ORDER BY id", params)
        return [AuditRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]

    async def audit_chain(self) -> list[tuple[int, str, str, str, str | None, str, str, str]]:
        """Every audit row as stored (the detail as its JSON text), for checking the hash chain.

        This is a read-only operation.
        """
        return [
            tuple(row)
            for row in await self._all(
                "SELECT id, at, actor, action, referral, detail, prev_hash, hash FROM audit"
                " ORDER BY id"
            )
        ]

    async def record(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        """Append an audit row on its own (exports, refused requests)."""
        async with self._transaction():
            await self._audit(actor, action, None, detail)
