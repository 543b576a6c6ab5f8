"""Backups with SQLite's online backup API, and the lock that marks a database as live.

`natars-bot run` (and the sandbox) hold an exclusive lock on `<real path of the database>.lock`
while they run. A backup may be taken at any time — the backup API copies a consistent
snapshot even while the bot writes — but a restore never replaces a live database, forced or
not. Backups are created 0600 (files.py).

Each backup is checked (SQLite's integrity_check, then the audit chain) and writes its trail's
anchor beside it (`<backup>.anchor`) and beside the database
(`<database>.anchor`, the last anchor known for it); a restore refuses a backup whose trail does
not extend that anchor unless forced — going back to it would lose audit rows.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from natars_bot.audit.chain import (
    Anchor,
    AuditTuple,
    head,
    parse_anchor,
    verify_anchor,
    verify_chain,
)
from natars_bot.errors import StoreError
from natars_bot.files import PRIVATE, open_private, private_database

__all__ = [
    "LiveLock",
    "anchor_path",
    "backup",
    "is_live",
    "read_anchor",
    "restore",
    "write_anchor",
]


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


def anchor_path(database: Path) -> Path:
    """Where the last anchor known for a database (or a backup) is kept: beside it."""
    return Path(f"{database}.anchor")


def read_anchor(database: Path) -> Anchor | None:
    """The anchor kept beside a database, if any; StoreError if it cannot be read."""
    path = anchor_path(database)
    if not path.exists():
        return None
    try:
        return parse_anchor(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StoreError(f"{path}: {exc}") from exc


def write_anchor(database: Path, anchor: Anchor) -> Path:
    """Keep `anchor` beside `database` (0600), replacing the one there."""
    path = anchor_path(database)
    with open_private(path) as file:
        file.write(anchor.to_json().encode("utf-8"))
    return path


def backup(database: Path, target: Path, *, force: bool = False) -> int:
    """Copy a consistent snapshot of `database` to `target`; returns the audit rows copied.

    The copy's anchor (its trail's head) is written beside it and beside the database: the
    last anchor a later restore must not fall behind."""
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
        rows = _check(destination, target)
    finally:
        source.close()
        destination.close()
    anchor = head(rows)
    write_anchor(target, anchor)
    known = read_anchor(database)
    if known is None or known.rows <= anchor.rows:
        write_anchor(database, anchor)
    return len(rows)


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
        known = read_anchor(database)
        behind = verify_anchor(rows, known) if known is not None else None
        if behind is not None and not force:
            raise StoreError(
                f"{source} does not extend the last anchor of {database} ({known}): "
                f"{behind.reason}; restoring it would lose audit rows (--force to restore anyway)"
            )
        target = sqlite3.connect(private_database(database))
        try:
            with target:
                backup_db.backup(target)
        finally:
            target.close()
    finally:
        backup_db.close()
    write_anchor(database, head(rows))  # what the database now holds is the new baseline
    return len(rows)


def _check(connection: sqlite3.Connection, path: Path) -> list[AuditTuple]:
    """A copy is usable: SQLite finds its file intact (integrity_check), and it is a natars-bot
    schema whose audit chain verifies."""
    try:
        problems = [str(r[0]) for r in connection.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise StoreError(f"{path} is damaged: {'; '.join(problems[:3])}")
        rows = connection.execute(
            "SELECT id, at, actor, action, referral, detail, prev_hash, hash FROM audit ORDER BY id"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a natars-bot database: {exc}") from exc
    broken = verify_chain(rows)
    if broken is not None:
        raise StoreError(f"{path}: audit trail broken at row {broken.row_id}: {broken.reason}")
    return [tuple(row) for row in rows]
