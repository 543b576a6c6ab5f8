"""Backups with SQLite's online backup API, and the lock that marks a database as live.

`natars-bot run` (and the sandbox) hold an exclusive lock on `<database>.lock` while they run.
A backup may be taken at any time — the backup API copies a consistent snapshot even while the
bot writes — but a restore refuses to replace a live database unless forced.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from .audit import verify_chain
from .errors import StoreError

__all__ = ["LiveLock", "backup", "is_live", "restore"]


class LiveLock:
    """An exclusive lock on `<database>.lock`, held for as long as a bot uses the database."""

    def __init__(self, database: Path) -> None:
        self.path = Path(f"{database}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; StoreError if another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise StoreError(
                f"another natars-bot is running on {self.path.with_suffix('')}"
            ) from exc
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_live(database: Path) -> bool:
    """Whether a running bot holds the database's lock. This is a read-only check."""
    probe = LiveLock(database)
    if not probe.path.exists():
        return False
    try:
        probe.acquire()
    except StoreError:
        return True
    probe.release()
    return False


def backup(database: Path, target: Path, *, force: bool = False) -> int:
    """Copy a consistent snapshot of `database` to `target`; returns the audit rows copied."""
    if not database.exists():
        raise StoreError(f"no database at {database}")
    if target.exists() and not force:
        raise StoreError(f"{target} exists: choose another name or use --force")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        with destination:
            source.backup(destination)
        return _check(destination, target)
    finally:
        source.close()
        destination.close()


def restore(source: Path, database: Path, *, force: bool = False) -> int:
    """Replace `database` with the backup `source`; refuses a live database without `force`."""
    if not source.exists():
        raise StoreError(f"no backup at {source}")
    if is_live(database) and not force:
        raise StoreError(f"{database} is in use by a running bot: stop it first, or use --force")
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        rows = _check(backup_db, source)
        target = sqlite3.connect(database)
        try:
            with target:
                backup_db.backup(target)
        finally:
            target.close()
    finally:
        backup_db.close()
    return rows


def _check(connection: sqlite3.Connection, path: Path) -> int:
    """A copy is usable: a natars-bot schema whose audit chain verifies."""
    try:
        rows = connection.execute(
            "SELECT id, at, actor, action, referral, detail, prev_hash, hash FROM audit ORDER BY id"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a natars-bot database: {exc}") from exc
    broken = verify_chain(rows)
    if broken is not None:
        raise StoreError(f"{path}: audit trail broken at row {broken.row_id}: {broken.reason}")
    return len(rows)
