"""The SQLite store: migrations, users, pseudonymous ids, drafts, and the audit hash chain."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from natars_bot.audit.chain import audit_hash
from natars_bot.dialogue.engine import DialogueState
from natars_bot.errors import StoreError
from natars_bot.store import MIGRATIONS, Store

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh database with a fixed clock."""
    opened = await Store.open(tmp_path / "t.sqlite3", clock=lambda: NOW)
    yield opened
    await opened.close()


async def test_a_new_database_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    """Opening creates the schema at the latest version, journal in WAL."""
    store = await Store.open(tmp_path / "new.sqlite3")
    await store.close()
    connection = sqlite3.connect(tmp_path / "new.sqlite3")
    assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer natars-bot is not touched."""
    path = tmp_path / "future.sqlite3"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this natars-bot"):
        await Store.open(path)


async def test_users_and_roles(store: Store) -> None:
    """A user may hold several roles; removing one leaves the others."""
    await store.add_user(1, "surgeon", site="A", name=None, actor="cli")
    await store.add_user(1, "reviewer", site="A", name="Dr A", actor="cli")
    assert set(await store.roles_of(1)) == {"surgeon", "reviewer"}
    assert await store.remove_user(1, "reviewer", actor="cli") == 1
    assert set(await store.roles_of(1)) == {"surgeon"}
    with pytest.raises(StoreError, match="no user 2"):
        await store.remove_user(2, None, actor="cli")
    with pytest.raises(StoreError, match="unknown role"):
        await store.add_user(3, "nurse", site=None, name=None, actor="cli")  # type: ignore[arg-type]


async def test_pseudonymous_ids_count_up_per_year(store: Store) -> None:
    """NAT-2026-0001, NAT-2026-0002…; one draft per surgeon at a time."""
    first = await store.start_referral(10, "A")
    with pytest.raises(StoreError, match="already has a referral in progress"):
        await store.start_referral(10, "A")
    second = await store.start_referral(11, "B")
    assert (first.public_id, second.public_id) == ("NAT-2026-0001", "NAT-2026-0002")
    await store.close_referral(first, "cancelled", actor="10")
    third = await store.start_referral(10, "A")
    assert third.public_id == "NAT-2026-0003"


async def test_state_is_saved_and_closed_drafts_are_frozen(store: Store) -> None:
    """Progress round-trips; a closed referral refuses further answers."""
    draft = await store.start_referral(10, "A")
    state = DialogueState(answers={"age_years": 62}, order=("age_years",))
    saved = await store.save_state(
        draft, state, actor="10", action="answer", detail={"field": "age_years"}
    )
    assert saved.state == state
    closed = await store.close_referral(saved, "submitted", actor="10", verdict="eligible")
    assert (closed.status, closed.verdict, closed.submitted_at) == (
        "submitted",
        "eligible",
        NOW.isoformat(),
    )
    with pytest.raises(StoreError, match="no longer in progress"):
        await store.save_state(closed, state, actor="10", action="answer", detail={})


async def test_every_change_is_chained_in_the_audit_trail(store: Store) -> None:
    """Each audit row's hash covers its content and the previous hash."""
    await store.add_user(10, "surgeon", site="A", name=None, actor="cli")
    draft = await store.start_referral(10, "A")
    await store.save_state(
        draft,
        DialogueState(answers={"sex": "male"}),
        actor="10",
        action="answer",
        detail={"field": "sex"},
    )
    rows = await store.audit_rows()
    assert [r.action for r in rows] == ["user_added", "referral_started", "answer"]
    assert rows[0].prev_hash == "0" * 64
    for previous, row in itertools.pairwise(rows):
        assert row.prev_hash == previous.hash
    for row in rows:
        detail = json.dumps(row.detail, ensure_ascii=False, sort_keys=True)
        assert row.hash == audit_hash(
            row.prev_hash, row.at, row.actor, row.action, row.referral, detail
        )
    assert [r.action for r in await store.audit_rows(draft.public_id)] == [
        "referral_started",
        "answer",
    ]


async def test_a_failed_write_leaves_nothing_behind(store: Store) -> None:
    """The draft update and its audit row commit together or not at all."""
    draft = await store.start_referral(10, "A")
    before = len(await store.audit_rows())
    await store.close_referral(draft, "cancelled", actor="10")
    with pytest.raises(StoreError):
        await store.close_referral(draft, "submitted", actor="10")
    assert len(await store.audit_rows()) == before + 1


async def test_handled_updates_are_known_by_id_and_content(store: Store) -> None:
    """A write made while handling an update records its id and fingerprint: the same update
    is recognised; a new update reusing the id (a restarted server) is not."""
    assert not await store.was_handled(41, "a")
    store.handling(41, "a")
    await store.start_referral(10, "A")
    assert await store.was_handled(41, "a")
    assert not await store.was_handled(41, "b")  # same id, other content: a new update
    assert not await store.was_handled(1, "a")
    assert await store.forget_handled(NOW + timedelta(days=1)) == 1
    assert not await store.was_handled(41, "a")


async def test_a_draft_read_back_is_what_the_database_holds(store: Store, tmp_path: Path) -> None:
    """Parsed states are reused only while the stored JSON is the same text."""
    draft = await store.start_referral(1, "A")
    saved = await store.save_state(
        draft, DialogueState(answers={"age_years": 61}), actor="1", action="answer", detail={}
    )
    assert (await store.referral(draft.id)).state == saved.state
    # Changed behind the store's back (as a restored backup would be): the new text is parsed.
    other = sqlite3.connect(tmp_path / "t.sqlite3")
    other.execute(
        "UPDATE referrals SET state = ? WHERE id = ?",
        (DialogueState(answers={"age_years": 70}).model_dump_json(), draft.id),
    )
    other.commit()
    other.close()
    assert (await store.referral(draft.id)).state.answers == {"age_years": 70}


async def test_ids_continue_without_a_counter_and_restart_each_year(tmp_path: Path) -> None:
    """A database from before the id counter goes on from its count; a new year starts at 1."""
    path = tmp_path / "years.sqlite3"
    store = await Store.open(path, clock=lambda: NOW)
    for surgeon in (1, 2):
        await store.start_referral(surgeon, "A")
    await store.close()
    older = sqlite3.connect(path)
    older.execute("DELETE FROM bot_state WHERE key LIKE 'sequence:%'")
    older.commit()
    older.close()
    store = await Store.open(path, clock=lambda: NOW)
    assert (await store.start_referral(3, "A")).public_id == "NAT-2026-0003"
    assert (await store.start_referral(4, "A")).public_id == "NAT-2026-0004"
    await store.close()
    next_year = await Store.open(path, clock=lambda: NOW.replace(year=2027))
    assert (await next_year.start_referral(5, "A")).public_id == "NAT-2027-0001"
    await next_year.close()


async def test_strangers_refusals_are_one_audit_row_an_hour_with_a_count(tmp_path: Path) -> None:
    """An unregistered user's refusals: the first of each hour is a row carrying how many the
    hour before left unrecorded; a registered user's refusals are each a row."""
    now = [NOW]
    store = await Store.open(tmp_path / "r.sqlite3", clock=lambda: now[0])
    try:
        written = [
            await store.record_refusal(9, "cases_refused", {}, registered=False) for _ in range(4)
        ]
        assert written == [True, False, False, False]
        now[0] = NOW + timedelta(minutes=59)
        assert not await store.record_refusal(9, "cases_refused", {}, registered=False)
        now[0] = NOW + timedelta(minutes=61)
        assert await store.record_refusal(9, "vote_refused", {"x": 1}, registered=False)
        assert await store.record_refusal(8, "cases_refused", {}, registered=False)
        assert await store.record_refusal(7, "vote_refused", {}, registered=True)
        assert await store.record_refusal(7, "vote_refused", {}, registered=True)
        rows = [(r.actor, r.action, r.detail) for r in await store.audit_rows()]
    finally:
        await store.close()
    assert rows == [
        ("9", "cases_refused", {"unrecorded": 0}),
        ("9", "vote_refused", {"x": 1, "unrecorded": 4}),
        ("8", "cases_refused", {"unrecorded": 0}),
        ("7", "vote_refused", {}),
        ("7", "vote_refused", {}),
    ]
