"""Scheduled online backups (NATARS_BACKUP_DIR, NATARS_BACKUP_KEEP), on python-telegram-bot's
JobQueue.

Once a day the running bot copies its database into NATARS_BACKUP_DIR with SQLite's online
backup (store/backup.py: a consistent snapshot while the bot writes, checked with SQLite's
integrity_check and the audit chain, its anchor written beside it and beside the database,
every file 0600), then deletes its own backups beyond the newest NATARS_BACKUP_KEEP. Its own
are the files named `natars-YYYYMMDDTHHMMSSZ.sqlite3` (and their `.anchor`): nothing else in
the folder is ever touched.

"Once a day" is read from the folder, not from the job's timer: the job looks every hour and
takes a backup when the newest one there is a day old (or there is none). JobQueue jobs are
not persisted, so a timer alone would start again at every restart, and a bot restarted more
often than daily would never back up. The copy runs in a worker thread (`asyncio.to_thread`),
so updates go on meanwhile.

A backup that fails is logged and the admins (role `admin`) are told in their private chats,
through the outbox; it is tried again at the next hourly look, and while it keeps failing the
admins hear of it at most once a day.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from telegram.ext import Application, ContextTypes

from natars_bot.bot.delivery import flush_outbox
from natars_bot.bot.services import Services
from natars_bot.settings import Settings
from natars_bot.store import Outgoing
from natars_bot.store.backup import anchor_path, backup

__all__ = [
    "CHECK_INTERVAL",
    "PERIOD",
    "BackupSchedule",
    "backup_name",
    "own_backups",
    "prune",
    "schedule_backups",
    "take_backup",
]

log = logging.getLogger(__name__)

PERIOD = timedelta(days=1)  # how old the newest backup may get
CHECK_INTERVAL = 3600.0  # seconds between looks at the folder
FIRST_CHECK = 60.0  # seconds after start-up: not in the middle of the start-up work
_NAME = re.compile(r"natars-(\d{8}T\d{6}Z)\.sqlite3")
_STAMP = "%Y%m%dT%H%M%SZ"


def backup_name(moment: datetime) -> str:
    """The file name of a backup taken at `moment` (UTC in the name; sorts by time)."""
    return f"natars-{moment.astimezone(UTC).strftime(_STAMP)}.sqlite3"


def own_backups(folder: Path) -> list[tuple[datetime, Path]]:
    """The backups this job wrote in `folder`, oldest first (other files are not ours).

    This is a read-only operation."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.fullmatch(path.name)
        if match and path.is_file():
            taken = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
            found.append((taken, path))
    return sorted(found)


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete our backups (and their anchors) beyond the newest `keep`; returns those deleted."""
    backups = own_backups(folder)
    gone = [path for _, path in backups[: max(0, len(backups) - keep)]]
    for path in gone:
        path.unlink(missing_ok=True)
        anchor_path(path).unlink(missing_ok=True)
    return gone


def take_backup(database: Path, folder: Path, keep: int, now: datetime) -> Path:
    """Back `database` up into `folder` as taken at `now`, checked, then prune to `keep`.

    Blocking (file copies, the chain's check): the job runs it in a worker thread. Raises
    StoreError (or OSError, sqlite3.Error) when the copy cannot be made or fails its check; a
    copy that failed its check is deleted, so that it is never counted as a good backup.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / backup_name(now)
    try:
        backup(database, target)
    except BaseException:
        target.unlink(missing_ok=True)
        anchor_path(target).unlink(missing_ok=True)
        raise
    prune(folder, keep)
    return target


@dataclass
class BackupSchedule:
    """What the hourly look needs: where, how many, and when the admins last heard of a
    failure (so that a backup failing hour after hour alerts them once a day)."""

    database: Path
    folder: Path
    keep: int
    alerted_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        """Whether a backup is due: none in the folder, the newest a day old, or the newest
        stamped later than `now` (the clock went back: its age says nothing)."""
        backups = own_backups(self.folder)
        if not backups:
            return True
        newest = backups[-1][0]
        return newest > now or now - newest >= PERIOD

    async def run(self, services: Services, now: datetime) -> Path | None:
        """Take the backup if due; the new file, or None when none was due or it failed (the
        failure logged, and the admins told unless they were within the last day)."""
        if not self.due(now):
            return None
        try:
            path = await asyncio.to_thread(take_backup, self.database, self.folder, self.keep, now)
        except Exception as exc:  # StoreError, OSError, sqlite3.Error: all mean "no backup"
            log.error("the scheduled backup into %s failed: %s", self.folder, exc, exc_info=exc)
            if self.alerted_at is None or now - self.alerted_at >= PERIOD:
                await _alert(services, self.folder, str(exc))
                self.alerted_at = now
            return None
        self.alerted_at = None  # a later failure is news again
        log.info("backup written: %s", path)
        return path


async def _alert(services: Services, folder: Path, error: str) -> None:
    """Queue a private message to each admin saying the backup failed and why."""
    store = services.store
    language = services.flow.languages[0]
    text = str(
        services.wording.text(
            language,
            "backup_failed_alert",
            folder=html.escape(str(folder)),
            error=html.escape(error[:300]),
        )
    )
    await store.queue(
        [Outgoing(kind="message", text=text, chat_id=a) for a in await store.admins()]
    )


def schedule_backups(application: Application, settings: Settings) -> BackupSchedule | None:  # type: ignore[type-arg]
    """Look for a due backup every hour (the first a minute after start-up) when
    NATARS_BACKUP_DIR is set; returns the schedule (None when backups are off)."""
    if settings.backup_dir is None:
        return None
    queue = application.job_queue
    if queue is None:  # pragma: no cover - the job-queue extra is a dependency
        raise RuntimeError("python-telegram-bot's job-queue extra is not installed")
    schedule = BackupSchedule(settings.database, settings.backup_dir, settings.backup_keep)

    async def look(context: ContextTypes.DEFAULT_TYPE) -> None:
        services: Services = context.bot_data["services"]
        if await schedule.run(services, services.clock()) is None and schedule.alerted_at:
            await flush_outbox(context)  # the admins hear of a failure now, not at the next pass

    queue.run_repeating(look, interval=CHECK_INTERVAL, first=FIRST_CHECK, name="backups")
    return schedule
