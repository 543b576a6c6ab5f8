"""The database as the health server reads it: its own read-only connection in a worker
thread, and whether SQLite would let a writer in."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """What the database says, read in a worker thread."""

    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending: datetime | None = None
    referrals: dict[str, int] = field(default_factory=dict)
    read_error: str | None = None
    write_error: str | None = None


def _connect(database: Path, mode: str, timeout: float) -> sqlite3.Connection:
    """A connection of our own; `mode=ro`/`rw` never creates a missing database file."""
    uri = f"{database.resolve().as_uri()}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def read_snapshot(database: Path, timeout: float) -> Snapshot:
    """Read the outbox and referral counts, and test that the database takes writes.

    Runs in a worker thread. The read connection is read-only; the write probe takes SQLite's
    write lock and releases it without writing (a rollback of an empty transaction), so it
    can delay the bot's next commit by microseconds and never changes a byte of the data.
    """
    snapshot = Snapshot()
    try:
        connection = _connect(database, "ro", timeout)
        try:
            snapshot.outbox = {
                str(status): int(count)
                for status, count in connection.execute(
                    "SELECT status, COUNT(*) FROM outbox GROUP BY status"
                )
            }
            (oldest,) = connection.execute(
                "SELECT MIN(created_at) FROM outbox WHERE status = 'pending'"
            ).fetchone()
            snapshot.oldest_pending = _instant(oldest) if oldest else None
            snapshot.referrals = {
                str(status): int(count)
                for status, count in connection.execute(
                    "SELECT status, COUNT(*) FROM referrals GROUP BY status"
                )
            }
        finally:
            connection.close()
    except sqlite3.Error as exc:
        snapshot.read_error = str(exc)
    try:
        connection = _connect(database, "rw", timeout)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error as exc:
        snapshot.write_error = str(exc)
    return snapshot


def _instant(text: str) -> datetime:
    """A stored UTC timestamp (ISO 8601, with or without its offset)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
