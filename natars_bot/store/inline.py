"""SQLite on the event loop's own thread, behind the few async calls the store makes.

Why not aiosqlite, which the project started with: aiosqlite runs every call on a worker thread,
so each statement is a round trip between threads (a queue, a future, a wake-up of the event
loop through its self-pipe, two hand-overs of the GIL). benchmarks/load.py measured what that
costs a bot handling one update after another on a busy two-core machine: the same store with
its SQL run inline took natars-bot from 2.8x a bare python-telegram-bot bot's CPU per update to
1.3x, and from 33 % to 75 % of its throughput (2026-11-25, issue #7).

What inline gives up is the event loop running other coroutines while a statement runs. The bot
handles updates one at a time and commits each before replying, so the database is on every
update's critical path anyway; statements on indexed rows take microseconds, a commit's fsync
about 0.3 ms on the VM measured. Long reads keep their own connections in worker threads
(exports and statistics: store/snapshot.py), so nothing slow runs here. The one wait that can
stall the loop is SQLite's lock while another process writes (`natars-bot users …`: one short
transaction; busy_timeout caps the wait at 5 s).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Connection", "connect"]


class Connection:
    """The async methods the store awaits, each run at once on the calling thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        connection.row_factory = sqlite3.Row

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement; the cursor gives rowcount and lastrowid."""
        return self._connection.execute(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one query and return all its rows."""
        return self._connection.execute(sql, parameters).fetchall()

    async def executescript(self, script: str) -> None:
        """Run a script of statements (sqlite3 commits any open transaction first)."""
        self._connection.executescript(script)

    async def create_function(
        self, name: str, arguments: int, function: Callable[..., Any], *, deterministic: bool
    ) -> None:
        """Make a Python function callable from SQL on this connection."""
        self._connection.create_function(name, arguments, function, deterministic=deterministic)

    async def close(self) -> None:
        """Close the connection."""
        self._connection.close()


def connect(path: str) -> Connection:
    """Open the database at `path` in autocommit mode: the store writes BEGIN and COMMIT itself."""
    return Connection(sqlite3.connect(path, isolation_level=None))
