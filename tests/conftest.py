"""Shared fixtures: the end-to-end bot on a local Bot API server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest

from natars_bot.protocol.criteria import default_protocol
from natars_bot.sandbox.local_api import LocalBotApi

from .harness import MDT_CHAT, TOKEN, BotUnderTest


@pytest.fixture
async def bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotUnderTest]:
    """natars-bot running against a local Bot API server, with a fresh database."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = LocalBotApi(TOKEN)
    base_url = await server.start()
    server.group(MDT_CHAT, "NATARS MDT")
    under_test = BotUnderTest(server=server, database=tmp_path / "natars.sqlite3")
    await under_test.start(base_url)
    try:
        yield under_test
    finally:
        await under_test.stop()
        await server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """Under CI=true no test may skip: a missing Chromium or ../shared fails, saying what is
    missing, instead of letting CI go green without the test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where no test may skip: {reason}"


@pytest.fixture(autouse=True)
def _fresh_decisions() -> None:
    """Every test evaluates afresh: the engine memoises each criterion's decisions by the facts
    it reads, and a decision cached by an earlier test (or at collection) would hide a change
    in the code that decides — mutation testing found mutants surviving that way."""
    for criterion in default_protocol().criteria:
        criterion.memo.clear()


@pytest.fixture(autouse=True)
def _no_health_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bots the tests start serve no /healthz on the fixed port 8090 (tests/test_health.py
    turns it on, on a free port, where it is under test)."""
    monkeypatch.setenv("NATARS_HEALTH_ENABLED", "false")
