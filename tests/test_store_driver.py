"""aiosqlite drives the store: one trip to its thread per transaction, the event loop free
while a commit or another process's lock is waited for, and changes made by another process
seen from the very next read."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from natars_bot.dialogue.engine import DialogueState
from natars_bot.errors import StoreError
from natars_bot.store import Store
from natars_bot.store.driver import Connection

from .harness import BotUnderTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh database."""
    opened = await Store.open(tmp_path / "d.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions sent to aiosqlite's thread, in order."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return sent


async def test_a_transaction_is_one_trip_to_the_thread(store: Store, trips: list[str]) -> None:
    """Saving an answer (update, audit row, handled update: five statements with BEGIN and
    COMMIT) takes one trip; so does each read."""
    await store.add_user(10, "surgeon", site="A", name=None, actor="cli")
    draft = await store.start_referral(10, "A")
    trips.clear()
    store.handling(7, "fingerprint")
    await store.save_state(
        draft, DialogueState(answers={"age_years": 61}), actor="10", action="answer", detail={}
    )
    assert trips == ["_transact"]
    await store.person(10)
    assert trips == ["_transact", "_fetchall"]
    assert await store.was_handled(7, "fingerprint")


async def test_the_loop_runs_while_another_process_holds_the_write_lock(
    store: Store, tmp_path: Path
) -> None:
    """While another process holds SQLite's write lock, a write waits on the connection's
    thread (busy timeout), not on the event loop: other coroutines keep running, and the write
    goes through once the lock is released."""
    other = sqlite3.connect(tmp_path / "d.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    write = asyncio.create_task(store.add_user(1, "surgeon", site="A", name=None, actor="cli"))
    ticks = 0
    for _ in range(20):  # 0.2 s of a loop that would stand still if the write blocked it
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not write.done()
    other.execute("ROLLBACK")
    other.close()
    await asyncio.wait_for(write, 5)
    assert set(await store.roles_of(1)) == {"surgeon"}


async def test_concurrent_writers_never_share_a_transaction(store: Store) -> None:
    """Fifty coroutines writing at once (no lock in the store): each write is its own
    transaction, all commit, and the audit chain stays one chain."""
    await asyncio.gather(
        *(store.add_user(n, "surgeon", site="A", name=None, actor="cli") for n in range(50))
    )
    drafts = await asyncio.gather(*(store.start_referral(n, "A") for n in range(50)))
    assert len({d.public_id for d in drafts}) == 50
    chain = await store.audit_chain()
    assert len(chain) == 100
    assert all(row[6] == previous[7] for previous, row in itertools.pairwise(chain))


async def test_a_failed_transaction_rolls_back_and_the_connection_goes_on(store: Store) -> None:
    """A transaction that raises leaves nothing behind and the next one starts cleanly."""
    draft = await store.start_referral(10, "A")
    await store.close_referral(draft, "cancelled", actor="10")
    rows = len(await store.audit_rows())
    with pytest.raises(StoreError, match="no longer in progress"):
        await store.close_referral(draft, "cancelled", actor="10")
    assert len(await store.audit_rows()) == rows
    again = await store.start_referral(10, "A")
    assert again.status == "draft"


async def test_synchronous_full_and_wal_on_the_stores_connection(store: Store) -> None:
    """The connection the store writes through runs with synchronous=FULL (2) in WAL."""
    assert tuple((await store._one("PRAGMA synchronous")) or ()) == (2,)
    assert tuple((await store._one("PRAGMA journal_mode")) or ()) == ("wal",)


async def test_another_processs_change_clears_the_caches(store: Store, tmp_path: Path) -> None:
    """A site first seen in another process's write (PRAGMA data_version moved) is in sites()
    after the very next read, though sites() is cached."""
    await store.start_referral(1, "A")
    assert await store.sites() == ["A"]
    other = await Store.open(tmp_path / "d.sqlite3")
    try:
        await other.start_referral(2, "B")
    finally:
        await other.close()
    assert await store.sites() == ["A"]  # nothing read since: still the cache
    await store.person(1)  # what every update starts with
    assert await store.sites() == ["A", "B"]


async def test_own_writes_do_not_count_as_another_processs(store: Store) -> None:
    """The connection's own commits leave data_version alone, so they keep the caches."""
    connection = store._db
    assert isinstance(connection, Connection)
    before = connection.generation
    await store.add_user(1, "surgeon", site="A", name=None, actor="cli")
    await store.person(1)
    assert connection.generation == before


async def test_a_surgeon_removed_by_another_process_is_refused_at_the_next_update(
    bot: BotUnderTest,
) -> None:
    """`natars-bot users remove` (another connection) between two answers: the very next
    answer is refused and not recorded."""
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    await surgeon.says("S-1001")
    cli = await Store.open(bot.database)
    try:
        await cli.remove_user(1001, None, actor="cli")
    finally:
        await cli.close()
    reply = await surgeon.says("61")
    assert "trial coordinator" in reply["text"]
    with sqlite3.connect(bot.database) as db:
        [(state,)] = db.execute("SELECT state FROM referrals WHERE surgeon_id = 1001").fetchall()
    assert "age_years" not in DialogueState.model_validate_json(state).answers


def test_aiosqlite_is_pinned_to_the_minor_version_tested() -> None:
    """pyproject pins aiosqlite to one minor version (driver.py uses two non-public members of
    its Connection), and that is the version installed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [pin] = [d for d in project["project"]["dependencies"] if d.startswith("aiosqlite")]
    match = re.fullmatch(r"aiosqlite>=(\d+)\.(\d+)(?:\.\d+)?,<(\d+)\.(\d+)", pin.replace(" ", ""))
    assert match is not None, pin
    major, minor, upper_major, upper_minor = map(int, match.groups())
    assert (upper_major, upper_minor) == (major, minor + 1)
    assert aiosqlite.__version__.split(".")[:2] == [str(major), str(minor)]
