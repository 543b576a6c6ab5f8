"""Tampering with the record is detected: `audit verify` with the anchor names each of the
probe's edits (a truncated tail, an emptied trail, a row edited and the chain recomputed, a
forged vote appended, the votes, decisions and answers tables edited); restore refuses a backup
behind the last anchor."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from natars_bot.audit.chain import GENESIS_HASH, audit_hash, parse_anchor
from natars_bot.cli import main
from natars_bot.errors import StoreError
from natars_bot.store.backup import backup, restore

from .harness import BotUnderTest
from .test_e2e_mdt import APPROVE, REVIEWER_3, _team, settled, submit, vote

ADMIN = 7001


def _rechain(db: sqlite3.Connection) -> None:
    """Recompute every hash, as a forger who knows the scheme would."""
    previous = GENESIS_HASH
    rows = db.execute(
        "SELECT id, at, actor, action, referral, detail FROM audit ORDER BY id"
    ).fetchall()
    for row_id, at, actor, action, referral, detail in rows:
        digest = audit_hash(previous, at, actor, action, referral, detail)
        db.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (previous, digest, row_id)
        )
        previous = digest


def truncate_the_tail(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit WHERE id > (SELECT MAX(id) - 5 FROM audit)")


def empty_the_trail(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit")


def edit_a_vote_and_recompute(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE audit SET detail = replace(detail, '\"approve\"', '\"not_eligible\"')"
        " WHERE id = (SELECT MIN(id) FROM audit WHERE action = 'vote')"
    )
    db.execute(
        "UPDATE votes SET vote = 'not_eligible' WHERE rowid = (SELECT MIN(rowid) FROM votes)"
    )
    _rechain(db)


def append_a_forged_vote(db: sqlite3.Connection) -> None:
    (last,) = db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    at, detail = "2026-12-01T10:00:00+00:00", '{"reason": null, "version": 1, "vote": "approve"}'
    args = (at, str(REVIEWER_3), "vote", "NAT-2026-0002", detail)
    db.execute(
        "INSERT INTO audit (at, actor, action, referral, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (*args, last, audit_hash(last, *args)),
    )


def edit_the_votes_table(db: sqlite3.Connection) -> None:
    db.execute("UPDATE votes SET vote = 'discuss' WHERE rowid = (SELECT MIN(rowid) FROM votes)")


def flip_a_decision(db: sqlite3.Connection) -> None:
    db.execute("UPDATE submissions SET decision = 'declined' WHERE decision = 'approved'")
    db.execute("UPDATE referrals SET status = 'declined' WHERE status = 'approved'")


def edit_an_answer(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE submissions SET state = json_set(state, '$.answers.asa_class', 4) WHERE id = 1"
    )


@pytest.fixture
async def record(
    bot: BotUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    """A database with an approved case and an open one voted on, the bot stopped; returns a
    backup of it (NATARS_DATABASE points there)."""
    surgeon, chen, liu = await _team(bot)
    await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await settled(bot, lambda: "MDT decision on" in surgeon.last()["text"])
    await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await bot.stop()
    copy = tmp_path / "record.sqlite3"
    backup(bot.database, copy)
    monkeypatch.setenv("NATARS_DATABASE", str(copy))
    return copy, ""


async def _cli(*args: str) -> int:
    """The command line, in a thread: it runs its own event loop."""
    return await asyncio.to_thread(main, list(args))


async def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    status = await _cli("audit", "verify", *args)
    captured = capsys.readouterr()
    return status, captured.out + captured.err


async def _head(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert await _cli("audit", "head") == 0
    return capsys.readouterr().out.strip()


async def test_an_untouched_record_verifies_with_its_anchor(
    record: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The head printed, then verify with it: intact, and the tables agree."""
    anchor = await _head(capsys)
    status, output = await _verify(capsys, "--anchor", anchor)
    assert status == 0, output
    assert f"extends the anchor {anchor}" in output and "the tables agree" in output


TAMPERING: list[tuple[Callable[[sqlite3.Connection], None], str]] = [
    (truncate_the_tail, "rows, fewer than the"),
    (empty_the_trail, "the audit trail is empty, but the database holds"),
    (edit_a_vote_and_recompute, "is not the one the anchor saw (the trail was rewritten)"),
    (append_a_forged_vote, "vote NAT-2026-0002 v1 by 3003 is in the trail but missing"),
    (edit_the_votes_table, "vote NAT-2026-0001 v1 by 3001 is discuss in the tables, approve"),
    (flip_a_decision, "decision NAT-2026-0001 v1 is declined in the tables, approved in the trail"),
    (edit_an_answer, "the answers of NAT-2026-0001 v1 differ from those submitted"),
]


@pytest.mark.parametrize(("tamper", "named"), TAMPERING, ids=[t.__name__ for t, _ in TAMPERING])
async def test_each_edit_is_detected_and_named(
    record: tuple[Path, str],
    capsys: pytest.CaptureFixture[str],
    tamper: Callable[[sqlite3.Connection], None],
    named: str,
) -> None:
    """The probe's edit, made with sqlite3 as anyone with the file could: verify with the
    anchor exits 1 and says what changed."""
    copy, _ = record
    anchor = await _head(capsys)
    with sqlite3.connect(copy) as db:
        tamper(db)
    status, output = await _verify(capsys, "--anchor", anchor)
    assert status == 1
    assert named in output, output


async def test_the_anchor_file_beside_the_database_is_used_by_default(
    record: tuple[Path, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """After a backup the database's anchor file holds the head: a plain `audit verify`
    catches a truncation; an anchor file given by path works as well."""
    copy, _ = record
    anchor_file = tmp_path / "head.anchor"
    capsys.readouterr()
    assert await _cli("audit", "head", "--output", str(anchor_file)) == 0
    assert await _cli("backup", str(tmp_path / "b2.sqlite3")) == 0
    with sqlite3.connect(copy) as db:
        truncate_the_tail(db)
    status, output = await _verify(capsys)
    assert status == 1 and "fewer than the" in output
    status, output = await _verify(capsys, "--anchor", str(anchor_file))
    assert status == 1 and "fewer than the" in output


async def test_restore_refuses_a_backup_behind_the_last_anchor(
    record: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A backup taken, the trail grown and backed up again: restoring the older one would lose
    rows, so it is refused unless forced; the newer one restores."""
    copy, _ = record
    old = tmp_path / "old.sqlite3"
    assert await _cli("backup", str(old)) == 0
    assert await _cli("users", "add", "77", "--role", "coordinator") == 0
    assert await _cli("backup", str(tmp_path / "new.sqlite3")) == 0
    with pytest.raises(StoreError, match="does not extend the last anchor"):
        await asyncio.to_thread(restore, old, copy)
    assert await asyncio.to_thread(restore, tmp_path / "new.sqlite3", copy) > 0
    assert await asyncio.to_thread(lambda: restore(old, copy, force=True)) > 0
    status, output = await _verify(capsys)
    assert status == 0, output  # the forced restore is the new baseline


async def test_each_decision_publishes_the_head_to_the_admins(
    bot: BotUnderTest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision sends the admin the trail's head and keeps it beside the database (0600);
    that head then catches a truncation made after it."""
    surgeon, chen, liu = await _team(bot)
    await bot.register(ADMIN, role="admin")
    bot.server.private_chat(bot.person(ADMIN, "Admin").user)
    await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await settled(bot, lambda: bool(bot.server.bot_messages(ADMIN)))
    [notice] = bot.server.bot_messages(ADMIN)
    assert "audit trail head (after an MDT decision)" in notice["text"]
    anchor = notice["text"].split("): ", 1)[1].split(".", 1)[0]
    sidecar = Path(f"{bot.database}.anchor")
    assert parse_anchor(sidecar.read_text()) == parse_anchor(anchor)
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    await bot.stop()
    monkeypatch.setenv("NATARS_DATABASE", str(bot.database))
    status, output = await _verify(capsys, "--anchor", anchor)
    assert status == 0, output
    with sqlite3.connect(bot.database) as db:
        db.execute("DELETE FROM audit WHERE id > (SELECT MAX(id) - 3 FROM audit)")
    status, output = await _verify(capsys, "--anchor", anchor)
    assert status == 1 and "fewer than the" in output
