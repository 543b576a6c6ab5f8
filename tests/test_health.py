"""The health server (natars_bot/health/): /healthz and /metrics of the real Application,
polling the local Bot API server, on a real database."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from telegram import Update
from telegram.ext import TypeHandler

from natars_bot import health
from natars_bot.bot.app import build_application, start_up
from natars_bot.sandbox.local_api import ApiError, LocalBotApi
from natars_bot.settings import Settings

from .harness import MDT_CHAT, TOKEN, BotUnderTest

SURGEON = 5001


class Watched:
    """A running bot with its health monitor, and an HTTP client for the monitor."""

    def __init__(self, bot: BotUnderTest, monitor: health.Monitor) -> None:
        self.bot = bot
        self.monitor = monitor
        assert monitor.port is not None
        self.url = f"http://127.0.0.1:{monitor.port}"

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(self.url + path, timeout=10)

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        response = await self.get("/healthz")
        return response.status_code, response.json()

    async def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, by name and labels."""
        response = await self.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    async def until(self, check: Callable[[], Any], timeout: float = 10.0) -> None:
        """Wait until an async check passes (what is observed after group 99 lands a moment
        after the harness sees the update as handled)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await check()
                return
            except AssertionError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.05)


@pytest.fixture
async def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Watched]:
    """The bot as tests/harness.py starts it, plus `health.install` (any free port, short
    thresholds), started and stopped as post_init and post_shutdown would."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("NATARS_HEALTH_ENABLED", "true")
    monkeypatch.setenv("NATARS_HEALTH_PORT", "0")
    monkeypatch.setenv("NATARS_HEALTH_POLL_STALE_SECONDS", "1.5")
    monkeypatch.setenv("NATARS_HEALTH_OUTBOX_STALE_SECONDS", "600")
    monkeypatch.setenv("NATARS_HEALTH_DATABASE_TIMEOUT_SECONDS", "0.2")
    server = LocalBotApi(TOKEN)
    base_url = await server.start()
    server.group(MDT_CHAT, "NATARS MDT")
    bot = BotUnderTest(server=server, database=tmp_path / "natars.sqlite3")
    settings = Settings(
        telegram_token=TOKEN,
        bot_api_url=base_url,
        database=bot.database,
        rate_limit=False,
        mdt_chat_id=MDT_CHAT,
        outbox_interval_seconds=0.2,
        reminder_check_seconds=0.2,
        read_delay_seconds=0.0,
    )
    application = build_application(settings)
    # Returns the monitor app.py installed, once it does; settings come from the environment.
    monitor = health.install(application, bot.database)
    assert health.install(application, bot.database) is monitor

    async def mark(update: Update, context: Any) -> None:
        bot.processed.add(update.update_id)
        bot._event.set()

    application.add_handler(TypeHandler(Update, mark), group=99)
    await application.initialize()
    await start_up(application)
    await monitor.start()  # idempotent: app.py's post_init may have started it already
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    bot.application = application
    try:
        yield Watched(bot, monitor)
    finally:
        await bot.stop()
        await monitor.stop()
        await server.stop()


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


async def test_healthz_reports_a_healthy_bot(watched: Watched) -> None:
    async def polled() -> None:
        assert watched.monitor.last_poll is not None

    await watched.until(polled)
    status, body = await watched.healthz()
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["problems"] == []
    last = datetime.fromisoformat(body["last_get_updates"])
    assert abs((datetime.now(UTC) - last).total_seconds()) < 5
    assert 0 <= body["seconds_since_get_updates"] < 5
    assert body["outbox"] == {"backlog": 0, "oldest_pending_age_seconds": None, "failed": 0}
    assert body["uncertain_deliveries"] == 0
    assert body["database_writable"] is True


async def test_metrics_count_updates_and_referrals(watched: Watched) -> None:
    bot = watched.bot
    await bot.register(SURGEON)
    surgeon = bot.person(SURGEON)
    await surgeon.says("/new")
    await surgeon.presses(surgeon.buttons()[0])
    await surgeon.says("hello")  # a typed answer to a button question: a plain message

    async def counted() -> None:
        samples = await watched.samples()
        assert samples[("natars_updates_total", _labels(kind="command"))] == 1
        assert samples[("natars_updates_total", _labels(kind="callback_query"))] == 1
        assert samples[("natars_updates_total", _labels(kind="message"))] == 1
        for kind in ("command", "callback_query", "message"):
            key = ("natars_update_handling_seconds_count", _labels(kind=kind))
            assert samples[key] == 1
            assert samples[("natars_update_handling_seconds_sum", _labels(kind=kind))] > 0
        assert samples[("natars_referrals", _labels(status="draft"))] == 1
        assert samples[("natars_referrals", _labels(status="approved"))] == 0
        assert samples[("natars_outbox_messages", _labels(status="pending"))] == 0
        assert samples[("natars_database_writable", ())] == 1
        assert samples[("natars_healthy", ())] == 1
        assert samples[("natars_last_get_updates_timestamp_seconds", ())] > 0

    await watched.until(counted)


# ptb warns when its error handler reads RetryAfter.retry_after (a float until ptb 23).
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_bot_api_errors_are_counted_by_kind(watched: Watched) -> None:
    bot = watched.bot
    refusals = {"sendMessage": 1}

    def flood(method: str, params: dict[str, Any]) -> None:
        if refusals.get(method):
            refusals[method] -= 1
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)

    bot.server.faults.append(flood)
    await bot.register(SURGEON)
    await bot.person(SURGEON).says("/new")

    async def counted() -> None:
        samples = await watched.samples()
        key = ("natars_bot_api_errors_total", _labels(method="sendMessage", kind="retry_after"))
        assert samples.get(key) == 1

    await watched.until(counted)
    assert refusals["sendMessage"] == 0


async def test_unhealthy_without_getupdates_and_errors_counted(watched: Watched) -> None:
    async def polled() -> None:
        assert watched.monitor.last_poll is not None

    await watched.until(polled)
    await watched.bot.server.go_offline()

    async def stale() -> None:
        status, body = await watched.healthz()
        assert status == 503
        assert body["status"] == "unhealthy"
        assert any("getUpdates" in problem for problem in body["problems"]), body

    await watched.until(stale)
    samples = await watched.samples()
    assert samples[("natars_healthy", ())] == 0
    key = ("natars_bot_api_errors_total", _labels(method="getUpdates", kind="network"))
    assert samples.get(key, 0) >= 1
    await watched.bot.server.come_back()


async def test_unhealthy_when_the_database_is_not_writable(watched: Watched) -> None:
    status, _ = await watched.healthz()
    assert status == 200
    # Another process holding SQLite's write lock: the bot could not commit either.
    holder = sqlite3.connect(watched.bot.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        status, body = await watched.healthz()
        assert status == 503
        assert body["database_writable"] is False
        assert any("not writable" in problem for problem in body["problems"]), body
        samples = await watched.samples()
        assert samples[("natars_database_writable", ())] == 0
        assert await _probe(watched.monitor.port) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    status, body = await watched.healthz()
    assert status == 200, body
    assert await _probe(watched.monitor.port) == 0


async def test_unhealthy_when_the_database_is_gone(watched: Watched, tmp_path: Path) -> None:
    # The volume was unmounted or the file moved away: the read-only check opens nothing.
    gone = tmp_path / "moved.sqlite3"
    watched.monitor.database = gone
    status, body = await watched.healthz()
    assert status == 503
    assert body["database_writable"] is False
    assert any("cannot be read" in problem for problem in body["problems"]), body
    assert not gone.exists()  # the checks never create a database


async def test_outbox_backlog_age_and_uncertain_deliveries(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    # Rows as the store writes them; the pending ones are due only tomorrow, so the worker
    # leaves them alone (a backlog as a long flood wait would leave it).
    with closing(sqlite3.connect(watched.bot.database)) as db, db:
        for row_status, created in (
            ("pending", now - timedelta(hours=1)),
            ("pending", now - timedelta(minutes=5)),
            ("uncertain", now - timedelta(hours=2)),
            ("failed", now - timedelta(hours=3)),
        ):
            db.execute(
                "INSERT INTO outbox (kind, chat_id, text, status, next_attempt_at, created_at)"
                " VALUES ('message', 1, 'x', ?, ?, ?)",
                (
                    row_status,
                    (now + timedelta(days=1)).isoformat(timespec="milliseconds"),
                    created.isoformat(timespec="milliseconds"),
                ),
            )
    status, body = await watched.healthz()
    # An hour-old pending message is past NATARS_HEALTH_OUTBOX_STALE_SECONDS (600 here).
    assert status == 503, body
    assert len(body["problems"]) == 1, body
    assert "oldest pending outbox message" in body["problems"][0]
    assert body["outbox"]["backlog"] == 2
    assert body["outbox"]["failed"] == 1
    assert body["uncertain_deliveries"] == 1
    assert 3590 < body["outbox"]["oldest_pending_age_seconds"] < 3700
    samples = await watched.samples()
    assert samples[("natars_outbox_messages", _labels(status="pending"))] == 2
    assert samples[("natars_outbox_messages", _labels(status="uncertain"))] == 1
    assert 3590 < samples[("natars_outbox_oldest_pending_age_seconds", ())] < 3700


async def test_the_health_server_can_be_off(tmp_path: Path) -> None:
    server = LocalBotApi(TOKEN)
    base_url = await server.start()
    try:
        application = build_application(
            Settings(
                telegram_token=TOKEN,
                bot_api_url=base_url,
                database=tmp_path / "natars.sqlite3",
                rate_limit=False,
            )
        )
        monitor = health.install(
            application,
            tmp_path / "natars.sqlite3",
            health.HealthSettings(health_enabled=False, health_port=0),
        )
        await monitor.start()
        assert monitor.port is None
        await monitor.stop()
    finally:
        await server.stop()


def test_error_kinds_follow_ptb() -> None:
    def answer(code: int, **parameters: int) -> bytes:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": "x"}
        if parameters:
            body["parameters"] = parameters
        return json.dumps(body).encode()

    assert health.error_kind(400, answer(400, migrate_to_chat_id=-100)) == "chat_migrated"
    assert health.error_kind(429, answer(429, retry_after=3)) == "retry_after"
    assert health.error_kind(400, answer(400)) == "bad_request"
    assert health.error_kind(403, answer(403)) == "forbidden"
    assert health.error_kind(401, answer(401)) == "invalid_token"
    assert health.error_kind(409, answer(409)) == "conflict"
    assert health.error_kind(502, b"<html>bad gateway</html>") == "server_error"


async def _probe(port: int | None) -> int:
    """`python -m natars_bot.health` (the container's HEALTHCHECK) against this monitor."""
    env = {**os.environ, "NATARS_HEALTH_PORT": str(port), "NATARS_HEALTH_HOST": "0.0.0.0"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "natars_bot.health",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return await process.wait()
