"""Files at rest are 0600 whatever the umask; one bot per database even through a symlink;
start-up waits for the Bot API and says a wrong token in one line."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from natars_bot.bot.startup import wait_for_api
from natars_bot.cli import main
from natars_bot.errors import ConfigError, StoreError
from natars_bot.sandbox.local_api import ApiError, LocalBotApi
from natars_bot.settings import Settings
from natars_bot.store.backup import LiveLock, backup, restore

from .harness import TOKEN, BotUnderTest
from .test_e2e_mdt import _team, complete_and_submit


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask: every bit the code does not take away itself stays."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_its_journal_and_lock_are_0600(
    bot: BotUnderTest, open_umask: None
) -> None:
    """A database created 0644 by an older version, its WAL, SHM and lock: all 0600 once the
    bot has started (and SQLite's new journal files follow the database's mode)."""
    await bot.stop()
    for suffix in ("", "-wal", "-shm", ".lock"):
        path = Path(f"{bot.database}{suffix}")
        if path.exists():
            path.chmod(0o644)
    await bot.restart()
    surgeon, _, _ = await _team(bot)
    await complete_and_submit(surgeon)  # writes: the WAL exists now
    files = [Path(f"{bot.database}{s}") for s in ("", "-wal", "-shm", ".lock")]
    assert all(f.exists() for f in files)
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_backups_exports_and_pictures_are_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    """Every file the CLI writes: the database, a backup, a restored database, CSV, XLSX and
    JSON exports, the flow picture."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NATARS_DATABASE", str(tmp_path / "n.sqlite3"))
    assert main(["users", "add", "7", "--role", "coordinator"]) == 0
    assert main(["backup", "b.sqlite3"]) == 0
    assert main(["backup", "b.sqlite3", "--force"]) == 0
    monkeypatch.setenv("NATARS_DATABASE", str(tmp_path / "restored.sqlite3"))
    assert main(["restore", "b.sqlite3"]) == 0
    for fmt in ("csv", "xlsx", "json"):
        assert main(["export", "--format", fmt, "--output", f"log.{fmt}"]) == 0
    assert main(["stats", "--output", "flow.svg"]) == 0
    created = sorted(p for p in tmp_path.iterdir() if p.is_file())
    names = {p.name for p in created}
    assert {"n.sqlite3", "b.sqlite3", "restored.sqlite3", "log.csv", "log.xlsx"} <= names
    assert {"log.json", "flow.svg"} <= names
    assert {p.name: _mode(p) for p in created} == {p.name: 0o600 for p in created}


async def test_a_symlink_does_not_get_round_the_lock(bot: BotUnderTest, tmp_path: Path) -> None:
    """Through a symlink to the live database: a second bot may not start, and restore is
    refused, --force or not."""
    saved = tmp_path / "saved.sqlite3"
    backup(bot.database, saved)
    link = tmp_path / "elsewhere.sqlite3"
    link.symlink_to(bot.database)
    with pytest.raises(StoreError, match="another natars-bot is running"):
        LiveLock(link).acquire()
    for force in (False, True):
        with pytest.raises(StoreError, match="in use by a running bot"):
            restore(saved, link, force=force)
    with pytest.raises(StoreError, match="--force does not override"):
        restore(saved, bot.database, force=True)


@pytest.fixture
async def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A local Bot API server alone."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = LocalBotApi(TOKEN)
    base_url = await server.start()
    yield server, Settings(telegram_token=TOKEN, bot_api_url=base_url)  # type: ignore[arg-type]
    await server.stop()


async def test_start_up_waits_for_an_unreachable_api_with_backoff(
    api: tuple[LocalBotApi, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """The server is down: each try is logged (URL, never the token) and waits twice as long
    as the one before; once it is back, getMe succeeds."""
    server, settings = api
    await server.go_offline()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            await server.come_back()

    with caplog.at_level(logging.INFO):
        assert await wait_for_api(settings, sleep=sleep) == 4
    assert waits == [1.0, 2.0, 4.0]
    tries = [r.getMessage() for r in caplog.records if "not reachable" in r.getMessage()]
    assert len(tries) == 3 and all(settings.bot_api_url in t for t in tries)
    # (httpx logs URLs with the token at INFO; `natars-bot run` raises it to WARNING and
    # redacts every record: natars_bot.logs, tested in test_logs.py)
    assert not any(TOKEN in r.getMessage() for r in caplog.records if r.name != "httpx")


async def test_start_up_honours_retry_after(api: tuple[LocalBotApi, Settings]) -> None:
    """A 429 on getMe: the wait is the one Telegram asks for."""
    server, settings = api
    failures = [ApiError(429, "Too Many Requests: retry after 7", retry_after=7)]

    def flood(method: str, params: dict[str, Any]) -> None:
        if method == "getMe" and failures:
            raise failures.pop()

    server.faults.append(flood)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert await wait_for_api(settings, sleep=sleep) == 2
    assert waits == [7.0]


async def test_a_wrong_token_is_one_clear_error(api: tuple[LocalBotApi, Settings]) -> None:
    """The Bot API refuses the token: ConfigError at once, no retry."""
    _, settings = api
    wrong = settings.model_copy(
        update={"telegram_token": Settings(telegram_token="1:x").telegram_token}
    )  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="NATARS_TELEGRAM_TOKEN was refused"):
        await wait_for_api(wrong, tries=5)


async def test_a_429_on_the_command_menu_does_not_stop_the_bot(bot: BotUnderTest) -> None:
    """setMyCommands answered 429 at start-up: the bot waits as asked, publishes the menu and
    answers."""
    failures = [ApiError(429, "Too Many Requests: retry after 1", retry_after=1)]

    def flood(method: str, params: dict[str, Any]) -> None:
        if method == "setMyCommands" and failures:
            raise failures.pop()

    bot.server.faults.append(flood)
    bot.server.commands.clear()
    await bot.restart()
    assert failures == [] and bot.server.commands
    await bot.register(1001)
    reply = await bot.person(1001).says("/help")
    assert reply["text"]


async def test_run_with_a_wrong_token_exits_2_with_one_line(
    api: tuple[LocalBotApi, Settings], tmp_path: Path
) -> None:
    """`natars-bot run` with a token the Bot API refuses: exit status 2, one line on stderr
    naming the variable, no traceback."""
    _, settings = api
    env = {
        **os.environ,
        "NATARS_TELEGRAM_TOKEN": "42:not-the-token",
        "NATARS_BOT_API_URL": settings.bot_api_url,
        "NATARS_DATABASE": str(tmp_path / "n.sqlite3"),
        "NATARS_RATE_LIMIT": "false",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    # Not subprocess.run: the server answers from this test's event loop.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "natars_bot", "run", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, raw = await asyncio.wait_for(process.communicate(), 60)
    stderr = raw.decode()
    assert process.returncode == 2
    errors = [line for line in stderr.splitlines() if line.startswith("natars-bot:")]
    assert errors == [
        "natars-bot: NATARS_TELEGRAM_TOKEN was refused by the Bot API: check the token from "
        "@BotFather"
    ]
    assert "Traceback" not in stderr and "not-the-token" not in stderr
