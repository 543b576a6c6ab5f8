"""Shared fixtures: the end-to-end bot on a local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from natars_bot.local_api import LocalBotApi

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
