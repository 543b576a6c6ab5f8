"""Backups while the bot writes, and restores that refuse a live database."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from natars_bot.cli import main
from natars_bot.dialogue.engine import DialogueState
from natars_bot.errors import StoreError
from natars_bot.store import Store
from natars_bot.store.backup import LiveLock, backup, is_live, restore

from .harness import BotUnderTest


async def test_a_backup_taken_during_writes_opens_and_verifies(tmp_path: Path) -> None:
    """SQLite's online backup copies a consistent snapshot while answers are being committed."""
    database = tmp_path / "live.sqlite3"
    store = await Store.open(database)
    draft = await store.start_referral(1, "A")
    stop = asyncio.Event()

    async def write() -> int:
        count = 0
        nonlocal draft
        while not stop.is_set():
            count += 1
            draft = await store.save_state(
                draft,
                DialogueState(answers={"age_years": count % 100}),
                actor="1",
                action="answer",
                detail={"n": count},
            )
        return count

    writer = asyncio.create_task(write())
    copies = []
    for n in range(5):
        await asyncio.sleep(0.05)
        copies.append(await asyncio.to_thread(backup, database, tmp_path / f"copy{n}.sqlite3"))
    stop.set()
    written = await writer
    await store.close()
    assert written > 10 and copies == sorted(copies) and copies[-1] > 1
    for n in range(5):
        copy = sqlite3.connect(tmp_path / f"copy{n}.sqlite3")
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copy.close()


async def test_restore_refuses_a_live_database(bot: BotUnderTest, tmp_path: Path) -> None:
    """While a bot runs on the database, restore needs --force; a second bot may not start."""
    await bot.register(1001)
    saved = tmp_path / "saved.sqlite3"
    backup(bot.database, saved)
    assert is_live(bot.database)
    with pytest.raises(StoreError, match="in use by a running bot"):
        restore(saved, bot.database)
    with pytest.raises(StoreError, match="another natars-bot is running"):
        LiveLock(bot.database).acquire()
    await bot.stop()
    assert not is_live(bot.database)
    assert restore(saved, bot.database) >= 1


def test_backup_and_restore_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI: a backup refuses to overwrite; a restore brings back the registered users."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NATARS_DATABASE", str(tmp_path / "n.sqlite3"))
    assert main(["users", "add", "7", "--role", "coordinator"]) == 0
    assert main(["backup", "b.sqlite3"]) == 0
    assert main(["backup", "b.sqlite3"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["users", "remove", "7"]) == 0
    assert main(["restore", "b.sqlite3"]) == 0
    capsys.readouterr()
    assert main(["users", "list"]) == 0
    assert capsys.readouterr().out.startswith("7\tcoordinator")


def test_a_tampered_backup_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backup whose audit chain does not verify is never restored."""
    monkeypatch.setenv("NATARS_DATABASE", str(tmp_path / "n.sqlite3"))
    assert main(["users", "add", "7", "--role", "admin"]) == 0
    backup(tmp_path / "n.sqlite3", tmp_path / "b.sqlite3")
    with sqlite3.connect(tmp_path / "b.sqlite3") as copy:
        copy.execute("UPDATE audit SET actor = 'someone else'")
    with pytest.raises(StoreError, match="audit trail broken at row 1"):
        restore(tmp_path / "b.sqlite3", tmp_path / "n.sqlite3")


async def test_a_damaged_database_gives_no_backup(tmp_path: Path) -> None:
    """A database whose index pages were overwritten (a failing disk): SQLite's integrity_check
    on the copy fails, and the backup is refused rather than kept as a good one."""
    database = tmp_path / "damaged.sqlite3"
    store = await Store.open(database)
    for n in range(400):
        await store.add_user(n, "surgeon", site=f"site {n}", name=None, actor="cli")
    await store.close()
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode = DELETE")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        [(root,)] = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_users_1'"
        ).fetchall()
    with database.open("r+b") as file:  # garbage over the index's root page's cell pointers
        file.seek((root - 1) * page_size + 12)
        file.write(b"\xff" * 256)
    with pytest.raises(StoreError, match=r"damaged|malformed"):
        backup(database, tmp_path / "copy.sqlite3")
