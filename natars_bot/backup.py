"""Backups with SQLite's online backup API, and the lock that marks a database as live.

`natars-bot run` (and the sandbox) hold an exclusive lock on `<real path of the database>.lock`
while they run. A backup may be taken at any time — the backup API copies a consistent
snapshot even while the bot writes — but a restore never replaces a live database, forced or
not. Backups are created 0600 (files.py).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from .audit import verify_chain
from .errors import StoreError
from .files import PRIVATE, private_database

__all__ = ["LiveLock", "backup", "is_live", "restore"]


class LiveLock:
    """An exclusive lock on `<database>.lock`, held for as long as a bot uses the database."""

    def __init__(self, database: Path) -> None:
        # On the resolved real path: a second bot reaching the same file through a symlink or
        # another relative path must meet the same lock.
        self.path = Path(f"{Path(database).resolve()}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; StoreError if another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE)
        try:
            os.fchmod(fd, PRIVATE)
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
    if force and target.exists():
        target.unlink()  # a fresh file: an old copy's pages must not mix with this one
    destination = sqlite3.connect(private_database(target))
    try:
        with destination:
            source.backup(destination)
        return _check(destination, target)
    finally:
        source.close()
        destination.close()


def restore(source: Path, database: Path, *, force: bool = False) -> int:
    """Replace `database` with the backup `source`; always refuses a database a running bot
    holds (the lock on its real path, so a symlink does not get round it): replacing it under
    the bot would have the bot re-issue ids and write onto a trail it no longer has.
    `force` is kept for the other refusals that may be overridden."""
    if not source.exists():
        raise StoreError(f"no backup at {source}")
    if is_live(database):
        refused = " (--force does not override this)" if force else ""
        raise StoreError(f"{database} is in use by a running bot: stop it first{refused}")
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        rows = _check(backup_db, source)
        target = sqlite3.connect(private_database(database))
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
