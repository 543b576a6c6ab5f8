"""Files the product creates are readable by their owner only (0600), whatever the umask.

The database holds pseudonymised patient data and the audit trail; backups, exports and
anchors are copies of it. `open()` and SQLite create files as 0666 minus the umask (0644 under
the usual 022), so each is created here first with 0600 and chmod'ed, which also tightens a file
an older natars-bot left world-readable. SQLite gives its -wal and -shm files the database
file's own permissions, so a private database keeps its journal private too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["PRIVATE", "open_private", "private_database", "private_file"]

PRIVATE = 0o600
_SIDECARS = ("-wal", "-shm", "-journal", ".lock")


def private_file(path: Path) -> Path:
    """Create `path` empty if missing; either way leave it 0600. Returns `path`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)  # the umask may have taken bits away, or the file was older
    finally:
        os.close(fd)
    return path


def private_database(path: Path) -> Path:
    """The SQLite file at `path` (created if missing) and any journal or lock beside it: 0600.

    An empty file is a valid empty SQLite database, so creating it first is safe.
    """
    private_file(path)
    for suffix in _SIDECARS:
        sidecar = Path(f"{path}{suffix}")
        if sidecar.exists():
            sidecar.chmod(PRIVATE)
    return path


def open_private(path: Path) -> BinaryIO:
    """Open `path` for writing from the start (truncated), 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise
