"""The SQLite store's foundation: one connection, explicit transactions, migrations, audit rows.

One long-lived connection driven by aiosqlite (store/driver.py says how: each transaction is
one synchronous function, run whole on aiosqlite's thread in one trip), WAL journal,
`synchronous=FULL` so that an acknowledged answer survives a power cut as well as a killed
process. Every write is one explicit `BEGIN IMMEDIATE` transaction that also appends its audit
row, and is committed before the bot replies; the event loop runs other updates meanwhile,
never waiting on the commit's fsync nor on SQLite's busy timeout.

Methods named `_…_in(db, …)` are parts of transactions: they take the sqlite3 connection and
run on the connection's thread, inside `_write`.
"""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from natars_bot.audit.chain import GENESIS_HASH, audit_hash
from natars_bot.dialogue.engine import DialogueState
from natars_bot.errors import StoreError
from natars_bot.store.driver import Connection, connect
from natars_bot.store.rows import AuditRow
from natars_bot.store.schema import MIGRATIONS

__all__ = ["Clock", "StoreBase"]

Clock = Callable[[], datetime]
T = TypeVar("T")
Db = sqlite3.Connection  # inside a transaction, on the connection's thread


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _setup(connection: sqlite3.Connection) -> None:
    """Pragmas and SQL functions, on the connection's thread before its first statement."""
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")
    # A wait for another process's write lock happens on the connection's thread, not the loop.
    connection.execute("PRAGMA busy_timeout = 5000")
    connection.create_function("natars_audit_hash", 6, audit_hash, deterministic=True)


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring the schema up to date (one script per migration, each committing itself)."""
    row = connection.execute("PRAGMA user_version").fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise StoreError(
            f"the database is at schema version {version}, newer than this natars-bot "
            f"({len(MIGRATIONS)}): upgrade natars-bot"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first; the version bump is part of the same script.
        connection.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
        )


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
        # The connection's `generation` when the caches were last known good: it moves when
        # another process commits (PRAGMA data_version, store/driver.py), and then the caches
        # go, so that such a change shows from the very next read.
        self._generation = connection.generation
        # referral id → (state JSON, parsed state), most recent last (ReferralsMixin._state)
        self._states: OrderedDict[int, tuple[str, DialogueState]] = OrderedDict()

    @classmethod
    async def open(cls, path: str | Path, clock: Clock = _utc_now) -> Self:
        """Open (creating if needed) and migrate the database at `path`."""
        try:
            connection = await connect(str(path), _setup)
        except sqlite3.Error as exc:  # a bare OperationalError, with no path in it
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        try:
            await connection.call(_migrate)
        except BaseException:
            await connection.close()
            raise
        store = cls(connection, clock)
        store.path = Path(path)
        return store

    async def close(self) -> None:
        """Close the connection and stop its thread (every transaction committed or rolled
        back: each is one call on the thread)."""
        await self._db.close()

    def _fresh(self) -> None:
        """Drop the caches if another process committed since they were filled."""
        if self._db.generation != self._generation:
            self._generation = self._db.generation
            self._forget()

    def _forget(self) -> None:
        """Drop what is cached from the database (the parsed states check their own text)."""
        self._sites = None

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of a query (one trip to the connection's thread)."""
        rows = await self._db.fetchall(sql, params)
        self._fresh()
        return rows

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a query that returns at most one."""
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _write(self, work: Callable[[Db], T], *, record: bool = True) -> T:
        """Run `work(db)` as one transaction, in one trip to the connection's thread, and
        record there the update being handled (if any, and `record`)."""
        # Read here: the context variable belongs to the handler's task, not to the thread.
        update = self._update.get() if record else None
        handled_at = self.now() if update is not None else ""

        def transaction(db: Db) -> T:
            result = work(db)
            if update is not None:
                db.execute(
                    "INSERT OR IGNORE INTO handled_updates (update_id, fingerprint, handled_at)"
                    " VALUES (?, ?, ?)",
                    (*update, handled_at),
                )
            return result

        result = await self._db.transact(transaction)
        self._fresh()
        return result

    @staticmethod
    def _rows_in(db: Db, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of a query inside a transaction."""
        return db.execute(sql, params).fetchall()

    @staticmethod
    def _row_in(db: Db, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a query inside a transaction."""
        row: sqlite3.Row | None = db.execute(sql, params).fetchone()
        return row

    def clock(self) -> datetime:
        """The current time, from the clock the store was opened with."""
        return self._clock()

    def now(self) -> str:
        """The current UTC time as stored (ISO 8601, seconds)."""
        return self._clock().astimezone(UTC).isoformat(timespec="seconds")

    def handling(self, update_id: int, fingerprint: str) -> None:
        """Note the update the current handler works on (see `_update`)."""
        self._update.set((update_id, fingerprint))

    def handling_none(self) -> None:
        """Work started from a handler but not its own (a task it created copies its context):
        its writes must not mark the handler's update as handled."""
        self._update.set(None)

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
        cutoff = before.astimezone(UTC).isoformat(timespec="seconds")
        return await self._write(
            lambda db: (
                db.execute("DELETE FROM handled_updates WHERE handled_at < ?", (cutoff,)).rowcount
            ),
            record=False,
        )

    def _audit_in(
        self, db: Db, actor: str, action: str, referral: str | None, detail: dict[str, Any]
    ) -> None:
        """Append an audit row inside a transaction.

        One statement reads the chain's head and appends the row hashed onto it (the hash is
        the SQL function natars_audit_hash, i.e. audit.audit_hash).
        """
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        db.execute(
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
        await self._write(lambda db: self._audit_in(db, actor, action, None, detail))
