"""Scheduled backups (NATARS_BACKUP_DIR/KEEP), driven by a fake clock: daily by the folder's
newest backup, checked, anchored, 0600, pruned to KEEP among their own files only, and a
failure told to the admins privately (once a day while it lasts)."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from telegram.ext import ApplicationBuilder

from natars_bot.audit.chain import parse_anchor, verify_chain
from natars_bot.bot.backups import (
    CHECK_INTERVAL,
    BackupSchedule,
    backup_name,
    own_backups,
    schedule_backups,
)
from natars_bot.bot.services import Services
from natars_bot.dialogue.flow import default_flow
from natars_bot.dialogue.wording import default_wording
from natars_bot.protocol.criteria import default_protocol
from natars_bot.settings import Settings
from natars_bot.store import Store
from natars_bot.store.backup import anchor_path

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
ADMIN = 900


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """A bot's services over a database with an admin and a few audit rows."""
    store = await Store.open(tmp_path / "bot.sqlite3", clock=lambda: T0)
    await store.add_user(ADMIN, "admin", site=None, name=None, actor="cli")
    await store.add_user(1001, "surgeon", site="A", name=None, actor="cli")
    await store.start_referral(1001, "A")
    yield Services(
        store=store, flow=default_flow(), protocol=default_protocol(), wording=default_wording()
    )
    await store.close()


def _schedule(tmp_path: Path, keep: int = 3) -> BackupSchedule:
    return BackupSchedule(tmp_path / "bot.sqlite3", tmp_path / "backups", keep)


async def _alerts(services: Services) -> list[str]:
    rows = await services.store.due_outbox(limit=100)
    return [row.text for row in rows if row.chat_id == ADMIN]


async def test_a_backup_a_day_by_the_newest_in_the_folder(
    services: Services, tmp_path: Path
) -> None:
    """The first look takes a backup; looks within the day do not; a day later another.
    Each is a checked copy (its chain verifies) with its anchor beside it, all 0600."""
    schedule = _schedule(tmp_path)
    first = await schedule.run(services, T0)
    assert first == tmp_path / "backups" / backup_name(T0)
    for hours in (1, 12, 23.9):
        assert await schedule.run(services, T0 + timedelta(hours=hours)) is None
    second = await schedule.run(services, T0 + timedelta(days=1))
    assert second is not None and second != first
    assert [path for _, path in own_backups(tmp_path / "backups")] == [first, second]
    head = await services.store.audit_head()
    for path in (first, second, anchor_path(first), anchor_path(second)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert parse_anchor(anchor_path(second).read_text(encoding="utf-8")) == head
    assert parse_anchor(anchor_path(tmp_path / "bot.sqlite3").read_text(encoding="utf-8")) == head
    with sqlite3.connect(second) as copy:
        rows = copy.execute(
            "SELECT id, at, actor, action, referral, detail, prev_hash, hash FROM audit"
        ).fetchall()
    assert len(rows) == head.rows and verify_chain(rows) is None
    assert await _alerts(services) == []


async def test_a_restarted_bot_does_not_back_up_twice_a_day(
    services: Services, tmp_path: Path
) -> None:
    """A new schedule (the bot restarted) goes by the files already there."""
    await _schedule(tmp_path).run(services, T0)
    assert await _schedule(tmp_path).run(services, T0 + timedelta(hours=2)) is None
    # A backup stamped in the future (the clock went back) says nothing about its age.
    assert await _schedule(tmp_path).run(services, T0 - timedelta(days=3)) is not None


async def test_only_the_newest_keep_of_its_own_files_are_kept(
    services: Services, tmp_path: Path
) -> None:
    """With KEEP 3, five daily backups leave the newest three (with their anchors); files the
    job did not write, even with similar names, stay."""
    folder = tmp_path / "backups"
    folder.mkdir()
    foreign = [
        folder / "notes.txt",
        folder / "natars-manual.sqlite3",
        folder / "natars-20200101T000000Z.sqlite3.bak",
    ]
    for path in foreign:
        path.write_text("not a scheduled backup", encoding="utf-8")
    schedule = _schedule(tmp_path, keep=3)
    taken = [await schedule.run(services, T0 + timedelta(days=n)) for n in range(5)]
    assert all(taken)
    kept = [path for _, path in own_backups(folder)]
    assert kept == taken[2:]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [p.name for p in foreign]
        + [p.name for p in kept]  # type: ignore[union-attr]
        + [anchor_path(p).name for p in kept]  # type: ignore[arg-type]
    )


async def test_a_failed_backup_tells_the_admins_once_a_day(
    services: Services, tmp_path: Path
) -> None:
    """A backup folder that cannot be made: the admins get one private alert naming it and
    the error; the hourly retries stay quiet for a day, then alert again; once the folder is
    fixed the backup is taken."""
    blocked = tmp_path / "backups"
    blocked.write_text("a file where the folder should be", encoding="utf-8")
    schedule = _schedule(tmp_path)
    assert await schedule.run(services, T0) is None
    [alert] = await _alerts(services)
    assert "backup" in alert and str(blocked) in alert and "File exists" in alert
    assert await schedule.run(services, T0 + timedelta(hours=1)) is None
    assert len(await _alerts(services)) == 1
    assert await schedule.run(services, T0 + timedelta(days=1, hours=1)) is None
    assert len(await _alerts(services)) == 2
    blocked.unlink()
    assert await schedule.run(services, T0 + timedelta(days=1, hours=2)) is not None
    assert len(await _alerts(services)) == 2


async def test_a_copy_that_fails_its_check_is_not_kept(services: Services, tmp_path: Path) -> None:
    """A database whose audit chain was edited: the copy fails its check, is deleted (it
    would otherwise count as the day's backup), and the admins are told why."""
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        db.execute("UPDATE audit SET actor = 'someone else' WHERE id = 1")
    schedule = _schedule(tmp_path)
    assert await schedule.run(services, T0) is None
    assert list((tmp_path / "backups").iterdir()) == []
    [alert] = await _alerts(services)
    assert "audit trail broken at row 1" in alert


async def test_the_job_runs_hourly_on_the_bots_clock(services: Services, tmp_path: Path) -> None:
    """schedule_backups adds one repeating JobQueue job (hourly); its callback reads the time
    from the services' clock, so a fake clock drives it; without NATARS_BACKUP_DIR, no job."""
    application = ApplicationBuilder().token("1:fake").build()
    off = Settings(database=tmp_path / "bot.sqlite3")  # type: ignore[call-arg]
    assert schedule_backups(application, off) is None
    assert application.job_queue is not None
    assert application.job_queue.jobs() == ()
    on = Settings(  # type: ignore[call-arg]
        database=tmp_path / "bot.sqlite3", backup_dir=tmp_path / "backups", backup_keep=2
    )
    schedule = schedule_backups(application, on)
    assert schedule is not None and schedule.keep == 2
    [job] = application.job_queue.jobs()
    assert job.name == "backups"
    assert job.job.trigger.interval == timedelta(seconds=CHECK_INTERVAL)
    now = [T0]
    services.clock = lambda: now[0]
    context: Any = SimpleNamespace(bot_data={"services": services})
    for hour in range(30):
        now[0] = T0 + timedelta(hours=hour)
        await job.callback(context)
    assert [taken for taken, _ in own_backups(tmp_path / "backups")] == [
        T0,
        T0 + timedelta(days=1),
    ]
