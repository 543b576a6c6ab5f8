"""aiosqlite as the store's driver, with each transaction one trip to its thread.

aiosqlite runs a connection on a thread of its own and hands it one call at a time through a
queue; every `await` is a round trip between threads (a future, a wake-up of the event loop
through its self-pipe, two hand-overs of the GIL: ~45 µs of CPU on the two-core VM measured).
The store used to await one such trip per statement, so a transaction of five statements cost
five, and its BEGIN … COMMIT spanned awaits during which other coroutines ran (they needed a
lock to stay out of it). That is why an earlier version ran sqlite3 on the event loop's thread
instead — at the price of the loop waiting, every update, on each commit's fsync
(`synchronous=FULL`) and, while another process wrote, on SQLite's busy timeout.

Here a transaction is one plain function over a `sqlite3.Connection`, and `Connection.transact`
sends the whole of it to aiosqlite's thread in one trip: BEGIN IMMEDIATE, the function's
statements, COMMIT (and its fsync) or ROLLBACK all run there, while the event loop handles other
chats' updates. Why a function rather than batched statements: the store's transactions read
inside themselves and decide from what they read (a vote re-checks the reviewer's role, a draft
update checks its screen, an id comes from a counter), which a list of statements fixed in
advance cannot express. And since aiosqlite's thread takes one call at a time, a transaction
can no longer interleave with another's statements: no lock is needed around it.

This subclasses aiosqlite's `Connection` and uses two of its non-public members, `_execute`
(queue a function for the thread and await its result) and `_conn` (the sqlite3 connection on
that thread): aiosqlite has no public call for "run this function on your thread". They are
why pyproject.toml pins aiosqlite to the minor version tested (0.22); tests/test_store_driver.py
fails if a new version changes them.

Every trip also reads `PRAGMA data_version`, which changes when *another* connection (another
process: `natars-bot users …`) has committed since the last trip, never for this connection's
own commits; `generation` counts those changes, so the store can drop what it cached before them
(store/base.py) on the very next read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiosqlite

__all__ = ["Connection", "connect"]

T = TypeVar("T")
Setup = Callable[[sqlite3.Connection], None]


class Connection(aiosqlite.Connection):
    """An aiosqlite connection whose transactions and queries each take one trip to its thread."""

    def __init__(self, path: str, setup: Setup) -> None:
        def connector() -> sqlite3.Connection:  # runs on the connection's thread
            # Autocommit mode: the store's transactions are explicit (BEGIN IMMEDIATE).
            connection = sqlite3.connect(path, isolation_level=None)
            try:
                connection.row_factory = sqlite3.Row
                setup(connection)
            except BaseException:
                connection.close()
                raise
            self._data_version = self._read_version(connection)
            return connection

        super().__init__(connector, iter_chunk_size=64)
        self._data_version = 0
        # Bumped (on the thread, before the trip's result is handed back) whenever a trip
        # finds that another connection committed since the one before.
        self.generation = 0

    async def transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` as one transaction on the connection's thread, in one trip.

        BEGIN IMMEDIATE first (so the write lock is taken before anything is read), COMMIT
        after `work` returns, ROLLBACK if it raises (the exception is then re-raised here).
        `work` runs on another thread: it must not touch the event loop nor await anything.
        """
        # aiosqlite leaves `_execute` unannotated (it is not public API).
        result: T = await self._execute(self._transact, work)  # type: ignore[no-untyped-call]
        return result

    async def fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one query, in one trip."""
        rows: list[sqlite3.Row] = await self._execute(  # type: ignore[no-untyped-call]
            self._fetchall, sql, parameters
        )
        return rows

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on the connection's thread outside any transaction the
        store begins (migrations: their scripts carry their own BEGIN … COMMIT)."""
        result: T = await self._execute(self._call, work)  # type: ignore[no-untyped-call]
        return result

    # ---- on the connection's thread

    def _transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._conn
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = work(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # not after a COMMIT that went through
                connection.execute("ROLLBACK")
            raise
        self._note_version(connection)
        return result

    def _fetchall(self, sql: str, parameters: Sequence[Any]) -> list[sqlite3.Row]:
        connection = self._conn
        rows = connection.execute(sql, parameters).fetchall()
        self._note_version(connection)
        return rows

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._conn
        result = work(connection)
        self._note_version(connection)
        return result

    def _note_version(self, connection: sqlite3.Connection) -> None:
        version = self._read_version(connection)
        if version != self._data_version:
            self._data_version = version
            self.generation += 1

    @staticmethod
    def _read_version(connection: sqlite3.Connection) -> int:
        return int(connection.execute("PRAGMA data_version").fetchone()[0])


async def connect(path: str, setup: Setup) -> Connection:
    """Open the database at `path` on a new connection thread; `setup(connection)` runs there
    first (pragmas, SQL functions). Raises sqlite3.Error if it cannot be opened."""
    connection = Connection(path, setup)
    await connection  # starts the thread and opens the database there
    return connection
