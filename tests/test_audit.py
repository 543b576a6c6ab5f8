"""The audit trail: `natars-bot audit verify` finds an edited or deleted row; `audit show`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from natars_bot.audit.chain import GENESIS_HASH, audit_hash, verify_chain
from natars_bot.cli import main
from natars_bot.dialogue.engine import DialogueState
from natars_bot.store import Store


@pytest.fixture
async def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database with a few audited changes, set as NATARS_DATABASE."""
    path = tmp_path / "audit.sqlite3"
    monkeypatch.setenv("NATARS_DATABASE", str(path))
    monkeypatch.chdir(tmp_path)
    store = await Store.open(path)
    await store.add_user(1, "surgeon", site="A", name=None, actor="cli")
    draft = await store.start_referral(1, "A")
    for age in (60, 61, 62):
        draft = await store.save_state(
            draft,
            DialogueState(answers={"age_years": age}),
            actor="1",
            action="answer",
            detail={"age": age},
        )
    await store.close()
    return path


def test_an_intact_chain_verifies(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every row follows the previous one and matches its hash."""
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.strip() == (
        "audit trail intact: 5 rows, no anchor; the tables agree with it"
    )


def test_an_edited_row_is_named(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Changing a row's content breaks its own hash: verify exits 1 naming that row."""
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE audit SET detail = ? WHERE id = 4", ('{"age": 99}',))
    assert main(["audit", "verify"]) == 1
    assert (
        "audit trail broken at row 4: its content does not match its hash"
        in capsys.readouterr().err
    )


def test_a_deleted_row_relinked_over_is_named(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Delete row 3 and re-link row 4 to row 2: the link looks right, but row 4's hash covers
    the hash it followed, so the chain still breaks there (a chain that did not hash its link
    would pass this)."""
    with sqlite3.connect(database) as connection:
        (second,) = connection.execute("SELECT hash FROM audit WHERE id = 2").fetchone()
        connection.execute("DELETE FROM audit WHERE id = 3")
        connection.execute("UPDATE audit SET prev_hash = ? WHERE id = 4", (second,))
    assert main(["audit", "verify"]) == 1
    assert (
        "audit trail broken at row 4: its content does not match its hash"
        in capsys.readouterr().err
    )


def test_a_deleted_row_is_named(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting a row breaks the next row's link."""
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM audit WHERE id = 3")
    assert main(["audit", "verify"]) == 1
    assert (
        "audit trail broken at row 4: does not follow the row before it" in capsys.readouterr().err
    )


def test_a_rewritten_row_with_a_fresh_hash_still_breaks_the_chain(database: Path) -> None:
    """Recomputing the edited row's own hash does not help: the next row no longer follows it."""
    with sqlite3.connect(database) as connection:
        at, actor, action, referral, prev = connection.execute(
            "SELECT at, actor, action, referral, prev_hash FROM audit WHERE id = 3"
        ).fetchone()
        detail = '{"age": 99}'
        connection.execute(
            "UPDATE audit SET detail = ?, hash = ? WHERE id = 3",
            (detail, audit_hash(prev, at, actor, action, referral, detail)),
        )
        rows = connection.execute("SELECT * FROM audit ORDER BY id").fetchall()
    broken = verify_chain(rows)
    assert broken is not None and broken.row_id == 4


def test_show_prints_a_referrals_history(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """audit show NAT-… lists that referral's rows; an unknown id exits 2."""
    assert main(["audit", "show", "NAT-2026-0001"]) == 0
    out = capsys.readouterr().out
    assert out.count("\tanswer\t") == 3 and "referral_started" in out
    assert main(["audit", "show", "NAT-1999-0001"]) == 2


def test_the_chain_starts_at_the_genesis_hash() -> None:
    """An empty chain verifies; a first row must point at the genesis hash."""
    assert verify_chain([]) is None
    row = (1, "t", "a", "x", None, "{}", "1" * 64, audit_hash("1" * 64, "t", "a", "x", None, "{}"))
    assert verify_chain([row]) is not None
    good = (
        1,
        "t",
        "a",
        "x",
        None,
        "{}",
        GENESIS_HASH,
        audit_hash(GENESIS_HASH, "t", "a", "x", None, "{}"),
    )
    assert verify_chain([good]) is None


def test_the_hash_of_a_row_is_fixed() -> None:
    """A known answer: the chain's format is a contract (a trail is checked by tools outside
    this code too), so the hash of a given row never changes — Chinese text in it included,
    hashed as UTF-8 rather than as \\u escapes."""
    detail = '{"field": "note", "value": "肿瘤较大"}'
    row = ("2026-11-25T09:30:00+00:00", "1001", "answer", "NAT-2026-0001", detail)
    assert (
        audit_hash(GENESIS_HASH, *row)
        == "35372748e56f1d282c9e2cc6c388fac2c95daaed8dfe45749571b8f3aa007f0e"
    )
    assert audit_hash("f" * 64, *row) != audit_hash(GENESIS_HASH, *row)
